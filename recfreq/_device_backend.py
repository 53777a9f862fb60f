"""The device backend interface that the CUDA host code is written against.

The host side of ``device="cuda"`` (binding training arrays, compiling the
kernels, launching one kernel per epoch, copying results back) talks to a
GPU only through the few operations of :class:`DeviceBackend`. Two classes
implement it:

* :class:`CupyBackend` here, which runs the kernels on a CUDA device through
  CuPy (imported lazily, only when the backend is created);
* an emulated device in the test suite, which compiles the same CUDA sources
  with a C++ compiler and runs them on the CPU, so the GPU code is tested on
  machines without a GPU. It also turns host-side mistakes that CuPy lets
  through (an array that was never uploaded, a scalar of the wrong width)
  into exceptions, which is why the host code must stay within this
  interface.

Kernel sources ship as package data in ``recfreq/_kernels/cuda``;
:func:`kernel_source` reads one and prepends the ``#define`` lines the host
injects (for example the solver codes, from :func:`enum_defines`).

Conventions every backend follows
---------------------------------
* Device arrays are C-contiguous and have ``shape``, ``dtype``, ``size`` and
  ``nbytes``; nothing else about them is part of the interface.
* Kernel arguments are passed positionally, in the kernel's parameter order:
  device arrays for pointer parameters and NumPy scalars of the parameter's
  exact width for the others (``np.int32`` for ``int``, ``np.int64`` for
  ``long long``, ``np.uint64`` for ``unsigned long long``, ``np.float32`` for
  ``float``, ``np.float64`` for ``double``). A Python ``int`` or ``float`` is
  refused: CuPy would pass it as a 64-bit value whatever the kernel expects.
* A size-0 device array reaches the kernel as a null pointer (CuPy's
  behaviour, which the emulated device copies).
* Grid and block are an int or a tuple of up to 3 ints, within the limits
  :func:`check_launch` enforces for every backend.
* Launches are asynchronous on a GPU; :meth:`DeviceBackend.download` and
  :meth:`DeviceBackend.synchronize` wait for them.
"""

import importlib.resources
import re
from enum import IntEnum
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = [
    "CUDA_SOURCE_PACKAGE",
    "CupyBackend",
    "DeviceBackend",
    "KERNEL_SCALAR_TYPES",
    "MAX_BLOCK",
    "MAX_GRID",
    "MAX_SHARED_MEMORY",
    "MAX_THREADS_PER_BLOCK",
    "check_launch",
    "check_scalar_argument",
    "enum_defines",
    "kernel_source",
]

#: Package that holds the ``.cu`` and ``.cuh`` sources.
CUDA_SOURCE_PACKAGE = "recfreq._kernels.cuda"

#: Launch limits every device since compute capability 3.0 shares. A
#: launch beyond them fails on a GPU (CuPy raises ``CUDADriverError``); the
#: host checks before launching so both backends report the same error.
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)
#: Shared memory per block without the opt-in attribute (which CuPy's
#: launch does not set): static and dynamic together.
MAX_SHARED_MEMORY = 48 * 1024

#: NumPy scalar types accepted as kernel arguments (the widths a kernel
#: parameter can have).
KERNEL_SCALAR_TYPES = (
    np.bool_,
    np.int8,
    np.uint8,
    np.int16,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.float32,
    np.float64,
)


@runtime_checkable
class DeviceBackend(Protocol):
    """Operations the CUDA host code may use.

    ``DeviceArray`` below is whatever array type the backend uses (a CuPy
    array, or the emulator's wrapper around a NumPy array) and ``Module`` a
    compiled set of kernels.
    """

    #: Short name used in test ids and messages ("cupy", "emulated").
    name: str

    def upload(self, array: np.ndarray) -> Any:
        """Copy a NumPy array to the device (as a C-contiguous array)."""

    def zeros(self, shape, dtype) -> Any:
        """Allocate a zero-filled device array."""

    def download(self, array) -> np.ndarray:
        """Copy a device array back to a new NumPy array (waits for the device)."""

    def load_module(self, code: str, name_expressions: Sequence[str], options: tuple = ()) -> Any:
        """Compile CUDA source text into a module.

        Parameters
        ----------
        code : str
            The complete source, usually from :func:`kernel_source`.
        name_expressions : sequence of str
            The kernels to make launchable, as C++ expressions naming one
            function each: ``"dot"`` or a template instantiation such as
            ``"mf_epoch<float>"``.
        options : tuple of str
            Compiler options (``"-DNAME=1"``, ``"--std=c++17"``, ...).
        """

    def launch(self, module, name_expression: str, grid, block, args: Sequence, shared_mem: int = 0) -> None:
        """Launch a kernel of ``module``.

        Parameters
        ----------
        module
            A module from :meth:`load_module`.
        name_expression : str
            One of the module's name expressions.
        grid, block : int or tuple of up to 3 ints
            Launch dimensions, checked by :func:`check_launch`.
        args : sequence
            Positional arguments: device arrays and NumPy scalars of the
            parameters' exact types.
        shared_mem : int
            Bytes of dynamic shared memory.
        """

    def synchronize(self) -> None:
        """Wait until every launched kernel has finished."""


def _dims(value, what, limits):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        dims = (int(value),)
    else:
        try:
            dims = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{what} must be an int or a tuple of up to 3 ints, got {value!r}.") from None
        if not 1 <= len(dims) <= 3 or any(isinstance(v, bool) for v in value):
            raise TypeError(f"{what} must be an int or a tuple of up to 3 ints, got {value!r}.")
    dims = dims + (1,) * (3 - len(dims))
    for axis, (n, limit) in enumerate(zip(dims, limits)):
        if not 1 <= n <= limit:
            raise ValueError(f"{what} dimension {'xyz'[axis]} is {n}; it must be in [1, {limit}].")
    return dims


def check_launch(grid, block, shared_mem=0):
    """Check a launch configuration against the CUDA limits.

    Parameters
    ----------
    grid, block : int or tuple of up to 3 ints
        Launch dimensions.
    shared_mem : int, default=0
        Bytes of dynamic shared memory per block.

    Returns
    -------
    grid, block : tuple of 3 ints
        The dimensions, padded with ones.

    Raises
    ------
    ValueError
        If a dimension is out of range, the block has more than
        ``MAX_THREADS_PER_BLOCK`` threads or the dynamic shared memory
        exceeds ``MAX_SHARED_MEMORY`` (static shared memory is checked by the
        compiler).
    """
    grid = _dims(grid, "grid", MAX_GRID)
    block = _dims(block, "block", MAX_BLOCK)
    threads = block[0] * block[1] * block[2]
    if threads > MAX_THREADS_PER_BLOCK:
        raise ValueError(f"a block of {block} has {threads} threads; at most {MAX_THREADS_PER_BLOCK} are allowed.")
    if isinstance(shared_mem, bool) or not isinstance(shared_mem, (int, np.integer)):
        raise TypeError(f"shared_mem must be an int number of bytes, got {shared_mem!r}.")
    if not 0 <= shared_mem <= MAX_SHARED_MEMORY:
        raise ValueError(f"shared_mem is {shared_mem} bytes; it must be in [0, {MAX_SHARED_MEMORY}].")
    return grid, block


def check_scalar_argument(value, position):
    """Refuse a kernel argument that is neither a device array nor a sized NumPy scalar.

    Used by backends that cannot check the kernel's parameter types (CuPy):
    at least a Python number, whose width would be guessed, never reaches a
    kernel.
    """
    if isinstance(value, KERNEL_SCALAR_TYPES):
        return
    if isinstance(value, np.ndarray):
        raise TypeError(
            f"kernel argument {position} is a NumPy array that was not uploaded to the device; "
            "pass backend.upload(array)."
        )
    raise TypeError(
        f"kernel argument {position} is of type {type(value).__name__}; pass a device array or a NumPy "
        "scalar of the parameter's exact type (np.int32 for int, np.float32 for float, ...)."
    )


_DEFINE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def enum_defines(enum: type[IntEnum], prefix: str) -> dict[str, int]:
    """``#define`` values for every member of an integer enum.

    Examples
    --------
    >>> from recfreq._solvers import Solver
    >>> enum_defines(Solver, "SOLVER_")["SOLVER_FA_SGD"]
    1
    """
    return {f"{prefix}{member.name}": int(member) for member in enum}


def _format_define(name, value):
    if not _DEFINE_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid macro name.")
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (int, np.integer)):
        return f"#define {name} {int(value)}"
    if isinstance(value, (float, np.floating)):
        return f"#define {name} {float(value)!r}"
    if isinstance(value, str) and "\n" not in value:
        return f"#define {name} {value}"
    raise TypeError(f"#define {name}: value {value!r} is not an int, float or one-line string.")


_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
_PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\s*$")


def _package_sources():
    return importlib.resources.files(CUDA_SOURCE_PACKAGE)


def _read_with_includes(name, seen, roots):
    """Source text of ``name`` (found in the first root that has it), local includes inlined."""
    for root in roots:
        path = root.joinpath(name)
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            break
    else:
        raise FileNotFoundError(f"CUDA source {name!r} is not in {[str(r) for r in roots]}.")
    out = [f'#line 1 "{name}"']
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LOCAL_INCLUDE.match(line)
        if match is None:
            # Inlined text is one file: "#pragma once" would only draw a
            # warning there (each header is inlined once anyway).
            out.append("" if _PRAGMA_ONCE.match(line) else line)
            continue
        header = match.group(1)
        if header not in seen:  # every local header is include-once
            seen.add(header)
            out.append(_read_with_includes(header, seen, roots))
        out.append(f'#line {number + 1} "{name}"')
    return "\n".join(out)


def kernel_source(filename: str, defines=None) -> str:
    """Read a CUDA source from the package, with its local headers inlined.

    ``#include "x.cuh"`` lines naming files of the same package folder are
    replaced by the header text (each header once), with ``#line``
    directives so that compiler messages keep their file names and lines.
    Inlining makes the returned text self-contained: NVRTC needs no include
    path, and CuPy's compile cache, keyed on the source text, sees a header
    change.

    Parameters
    ----------
    filename : str
        File name inside ``recfreq/_kernels/cuda`` (``"mf.cu"``).
    defines : mapping of str to int, float or str, optional
        Macros defined before the source, in order (see
        :func:`enum_defines`).

    Returns
    -------
    str
        The source text.
    """
    return _assemble_source(filename, defines, (_package_sources(),))


def _assemble_source(filename, defines, roots):
    lines = [_format_define(name, value) for name, value in (defines or {}).items()]
    lines.append(_read_with_includes(filename, {filename}, roots))
    return "\n".join(lines) + "\n"


class CupyBackend:
    """Run kernels on the current CUDA device through CuPy.

    Creating the backend imports CuPy and checks that a device is usable
    (``ImportError`` otherwise, with an install command).
    """

    name = "cupy"

    def __init__(self):
        from recfreq._backend import import_cupy

        self._cupy = import_cupy()

    def upload(self, array):
        return self._cupy.ascontiguousarray(self._cupy.asarray(array))

    def zeros(self, shape, dtype):
        return self._cupy.zeros(shape, dtype=dtype)

    def download(self, array):
        return self._cupy.asnumpy(array)

    def load_module(self, code, name_expressions, options=()):
        # CuPy compiles on first use and caches the binary on disk, keyed on
        # the source, options and name expressions.
        return self._cupy.RawModule(code=code, options=tuple(options), name_expressions=tuple(name_expressions))

    def launch(self, module, name_expression, grid, block, args, shared_mem=0):
        grid, block = check_launch(grid, block, shared_mem)
        for position, arg in enumerate(args):
            if not isinstance(arg, self._cupy.ndarray):
                check_scalar_argument(arg, position)
        kernel = module.get_function(name_expression)
        kernel(grid, block, tuple(args), shared_mem=int(shared_mem))

    def synchronize(self):
        self._cupy.cuda.get_current_stream().synchronize()
