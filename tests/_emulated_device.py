"""An emulated CUDA device: the device backend interface, on the CPU.

:class:`EmulatedDevice` implements the interface of
``recfreq._device_backend.DeviceBackend`` without a GPU. ``load_module``
compiles the CUDA source with g++ and ``_cuda_emulation/emulation.h`` (which
maps the CUDA language onto fibers, see its header comment) into a shared
library, cached on disk; ``launch`` runs a kernel through ctypes on NumPy
arrays. Device arrays are :class:`EmulatedArray`, a thin wrapper around a
NumPy array (``.host``) that tests may inspect.

Mistakes that CuPy would let through become exceptions here:

* host side (``TypeError``/``ValueError`` before anything runs): a NumPy array
  that was never uploaded, an array of the wrong dtype, a scalar that is a
  Python number or of the wrong width (each argument is compared with the
  kernel parameter's C type), a wrong number of arguments, a launch beyond
  the CUDA limits;
* kernel side (:class:`EmulatedKernelError` subclasses, naming the kernel,
  block and thread): a divergent ``__syncthreads``, a warp collective that
  names an exited lane or reads a lane outside its mask, a failed device
  ``assert``, a deadlock.

Out-of-bounds accesses are not caught (they corrupt memory or crash, as on a
GPU), and the emulator is sequentially consistent, so it cannot show races.

The one source rewrite: ``extern __shared__ [__align__(N)] T name[];``
becomes a pointer to the emulator's 48 KiB dynamic shared buffer (C++ has no
storage class that accepts both that declaration and static ``__shared__``
arrays). Other declaration forms of dynamic shared memory are not supported.
"""

import ctypes
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from recfreq._device_backend import check_launch

__all__ = [
    "DeadlockError",
    "DeviceAssertionError",
    "DivergentBarrierError",
    "EmulatedArray",
    "EmulatedCompileError",
    "EmulatedDevice",
    "EmulatedKernelError",
    "WarpCollectiveError",
]

EMULATION_DIR = Path(__file__).resolve().parent / "_cuda_emulation"
EMULATION_HEADER = EMULATION_DIR / "emulation.h"


class EmulatedCompileError(RuntimeError):
    """g++ could not compile a kernel source for the emulated device."""


class EmulatedKernelError(RuntimeError):
    """A kernel misbehaved on the emulated device; the message names the kernel, block and thread."""


class DivergentBarrierError(EmulatedKernelError):
    """Not every live thread of a block reached the same ``__syncthreads``."""


class WarpCollectiveError(EmulatedKernelError):
    """A shuffle or vote named an exited lane, read outside its mask, or lanes disagreed."""


class DeviceAssertionError(EmulatedKernelError):
    """A device ``assert`` failed (or ``__trap`` was called)."""


class DeadlockError(EmulatedKernelError):
    """Every remaining thread of a block waits and none can continue."""


# Codes returned by emu_launch (emulation.h, enum ErrorCode).
_ERRORS = {
    1: DivergentBarrierError,
    2: WarpCollectiveError,
    3: DeviceAssertionError,
    4: DeadlockError,
    5: EmulatedKernelError,
}

# C parameter types (as emulation.h spells them) -> accepted NumPy dtypes.
_C_TYPES = {
    "bool": (np.dtype(np.bool_),),
    "char": (np.dtype(np.int8), np.dtype(np.uint8)),
    "signed char": (np.dtype(np.int8),),
    "unsigned char": (np.dtype(np.uint8),),
    "short": (np.dtype(np.int16),),
    "unsigned short": (np.dtype(np.uint16),),
    "int": (np.dtype(np.int32),),
    "unsigned int": (np.dtype(np.uint32),),
    "long": (np.dtype(np.int64),),
    "unsigned long": (np.dtype(np.uint64),),
    "long long": (np.dtype(np.int64),),
    "unsigned long long": (np.dtype(np.uint64),),
    "float": (np.dtype(np.float32),),
    "double": (np.dtype(np.float64),),
}

# extern __shared__ [__align__(N)] TYPE NAME[];
_EXTERN_SHARED = re.compile(
    r"\bextern\s+__shared__\s+"
    r"(?:__align__\s*\((?:[^()]|\([^()]*\))*\)\s*)*"
    r"(?P<type>[A-Za-z_][\w:<>,\s]*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*\[\s*\]\s*;"
)

# All launches share one lock: the emulator keeps its state in globals.
_LAUNCH_LOCK = threading.Lock()


class EmulatedArray:
    """A device array of the emulated device: a C-contiguous NumPy array.

    Parameters
    ----------
    host : ndarray
        The array the kernels read and write (owned by this object).
    """

    __slots__ = ("host",)

    def __init__(self, host):
        if not isinstance(host, np.ndarray) or not host.flags.c_contiguous:
            raise ValueError("an emulated device array wraps a C-contiguous NumPy array.")
        self.host = host

    shape = property(lambda self: self.host.shape)
    dtype = property(lambda self: self.host.dtype)
    size = property(lambda self: self.host.size)
    nbytes = property(lambda self: self.host.nbytes)
    ndim = property(lambda self: self.host.ndim)

    def __len__(self):
        return len(self.host)

    def __repr__(self):
        return f"EmulatedArray(shape={self.shape}, dtype={self.dtype})"


class _Param:
    __slots__ = ("c_type", "pointer", "dtypes")

    def __init__(self, c_type):
        self.c_type = c_type
        self.pointer = c_type.endswith("*")
        base = c_type[:-1] if self.pointer else c_type
        base = base.removeprefix("const ")
        self.dtypes = _C_TYPES.get(base)


class _Kernel:
    def __init__(self, module, index, name, signature):
        self.module = module
        self.index = index
        self.name = name
        self.signature = signature
        self.params = [_Param(t) for t in signature.split(",")] if signature else []
        for position, param in enumerate(self.params):
            if param.dtypes is None:
                raise TypeError(
                    f"kernel '{name}': parameter {position} has a type the emulated device cannot pass "
                    f"({param.c_type!r} in signature {signature!r}); use arithmetic scalars and pointers to them."
                )


class EmulatedModule:
    """Kernels of one compiled source (see :meth:`EmulatedDevice.load_module`)."""

    def __init__(self, library_path, name_expressions):
        self.path = library_path
        self._lib = lib = ctypes.CDLL(str(library_path))
        lib.emu_kernel_count.restype = ctypes.c_int
        lib.emu_kernel_name.restype = ctypes.c_char_p
        lib.emu_kernel_name.argtypes = [ctypes.c_int]
        lib.emu_kernel_signature.restype = ctypes.c_char_p
        lib.emu_kernel_signature.argtypes = [ctypes.c_int]
        lib.emu_last_error.restype = ctypes.c_char_p
        lib.emu_switch_count.restype = ctypes.c_ulonglong
        lib.emu_launch.restype = ctypes.c_int
        lib.emu_launch.argtypes = [
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_ulonglong,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        self.kernels = {}
        for index in range(lib.emu_kernel_count()):
            name = lib.emu_kernel_name(index).decode()
            signature = lib.emu_kernel_signature(index).decode()
            self.kernels[name] = _Kernel(self, index, name, signature)
        assert list(self.kernels) == list(name_expressions)

    def signature(self, name_expression):
        """The kernel's parameter types, e.g. ``"float*,const int*,int,double"``."""
        return self._kernel(name_expression).signature

    @property
    def switch_count(self):
        """Fiber switches made by this library so far (a speed measure)."""
        return self._lib.emu_switch_count()

    def _kernel(self, name_expression):
        try:
            return self.kernels[name_expression]
        except KeyError:
            raise ValueError(
                f"{name_expression!r} is not a name expression of this module; it has {sorted(self.kernels)}."
            ) from None


def _compiler_identity(compiler):
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def _default_cache_dir():
    root = os.environ.get("RECFREQ_EMULATION_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recfreq-cuda-emulation"


def _split_options(options):
    """Keep the preprocessor options (-D, -U, -I) and the C++ standard; ignore GPU-only ones."""
    kept = []
    std = "-std=c++17"
    for option in options:
        if option.startswith(("-D", "-U", "-I")) and len(option) > 2:
            kept.append(option)
        elif option.startswith(("--std=", "-std=")):
            std = "-std=" + option.split("=", 1)[1]
    return std, kept


def rewrite_extern_shared(code):
    """Turn each ``extern __shared__ T name[];`` into a pointer to the dynamic shared buffer."""

    def replace(match):
        text = match.group(0)
        new = (
            f"{match.group('type').strip()}* const {match.group('name')} = "
            f"static_cast<{match.group('type').strip()}*>(::emu::dynamic_shared_memory());"
        )
        return new + "\n" * text.count("\n")  # keep line numbers

    return _EXTERN_SHARED.sub(replace, code)


class EmulatedDevice:
    """The device backend interface, emulated on the CPU (see the module docstring).

    Parameters
    ----------
    cache_dir : path, optional
        Where compiled modules are kept. Default: ``$RECFREQ_EMULATION_CACHE``,
        else ``~/.cache/recfreq-cuda-emulation``.
    compiler : str, default="g++"
    use_ucontext : bool, default=False
        Switch fibers with glibc's ``swapcontext`` instead of the x86-64
        assembly routine (the fallback on other architectures).
    """

    name = "emulated"

    def __init__(self, cache_dir=None, compiler="g++", use_ucontext=False):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        self.compiler = compiler
        self.use_ucontext = use_ucontext
        self._identity = None
        self._modules = {}

    # -- arrays ---------------------------------------------------------------

    def upload(self, array):
        """Copy a NumPy array to the device."""
        if isinstance(array, EmulatedArray):
            raise TypeError("upload expects a NumPy array; this one is already on the device.")
        return EmulatedArray(np.array(array, order="C", copy=True))

    def zeros(self, shape, dtype):
        """A zero-filled device array."""
        return EmulatedArray(np.zeros(shape, dtype=dtype))

    def download(self, array):
        """Copy a device array back to a new NumPy array."""
        if not isinstance(array, EmulatedArray):
            raise TypeError(f"download expects a device array, got {type(array).__name__}.")
        return array.host.copy()

    def synchronize(self):
        """Launches run synchronously here: nothing to wait for."""

    # -- modules --------------------------------------------------------------

    def load_module(self, code, name_expressions, options=()):
        """Compile ``code`` with g++ (cached on disk by a hash of everything that shapes the build)."""
        name_expressions = tuple(name_expressions)
        if not name_expressions:
            raise ValueError("load_module needs at least one name expression.")
        if self._identity is None:
            self._identity = _compiler_identity(self.compiler)
        std, preprocessor = _split_options(options)
        # -fcf-protection=none: the hand-written context switch does not keep a
        # shadow stack, so the library must not claim to support one.
        flags = [
            std,
            "-O2",
            "-fPIC",
            "-shared",
            "-ffp-contract=off",
            "-fno-strict-aliasing",
            "-fcf-protection=none",
            *preprocessor,
        ]
        if self.use_ucontext:
            flags.append("-DEMU_USE_UCONTEXT=1")
        table = "".join(f"EMU_KERNEL({json.dumps(ne)}, {ne})\n" for ne in name_expressions)
        full = (
            rewrite_extern_shared(code)
            + '\n#line 1 "<emulated kernel table>"\nEMU_KERNEL_TABLE_BEGIN\n'
            + table
            + "EMU_KERNEL_TABLE_END\n"
        )
        key = hashlib.sha256(
            json.dumps([self._identity, flags, EMULATION_HEADER.read_text(), full]).encode()
        ).hexdigest()[:32]
        module = self._modules.get(key)
        if module is not None:
            return module
        library = self.cache_dir / f"{key}.so"
        if not library.exists():
            self._compile(full, flags, library)
        module = self._modules[key] = EmulatedModule(library, name_expressions)
        return module

    def _compile(self, full_source, flags, library):
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Build under temporary names and rename: concurrent test processes
        # never see a half-written library.
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as work:
            source = Path(work) / "kernel.cpp"
            source.write_text(full_source)
            target = Path(work) / "kernel.so"
            command = [
                self.compiler,
                *flags,
                "-include",
                str(EMULATION_HEADER),
                "-x",
                "c++",
                str(source),
                "-o",
                str(target),
            ]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise EmulatedCompileError(
                    f"g++ could not build the kernel source for the emulated device:\n{result.stderr[-6000:]}"
                )
            os.replace(target, library)

    # -- launches -------------------------------------------------------------

    def launch(self, module, name_expression, grid, block, args, shared_mem=0):
        """Run a kernel to completion (see ``DeviceBackend.launch``).

        Raises
        ------
        TypeError
            Arguments that do not match the kernel's parameters.
        ValueError
            A launch configuration beyond the CUDA limits.
        EmulatedKernelError
            The kernel misbehaved (a subclass names the kind).
        """
        grid, block = check_launch(grid, block, shared_mem)
        if not isinstance(module, EmulatedModule):
            raise TypeError(f"launch expects a module from load_module, got {type(module).__name__}.")
        kernel = module._kernel(name_expression)
        args = tuple(args)
        if len(args) != len(kernel.params):
            raise TypeError(
                f"kernel '{kernel.name}' takes {len(kernel.params)} arguments ({kernel.signature}), "
                f"{len(args)} were given."
            )
        keep = []
        pointers = (ctypes.c_void_p * max(len(args), 1))()
        for position, (arg, param) in enumerate(zip(args, kernel.params)):
            cell = self._argument(kernel, position, arg, param)
            keep.append(cell)
            pointers[position] = ctypes.addressof(cell) if isinstance(cell, ctypes.c_void_p) else cell.ctypes.data
        grid_c = (ctypes.c_uint * 3)(*grid)
        block_c = (ctypes.c_uint * 3)(*block)
        with _LAUNCH_LOCK:
            code = module._lib.emu_launch(kernel.index, grid_c, block_c, int(shared_mem), pointers)
            message = module._lib.emu_last_error().decode(errors="replace") if code else ""
        del keep
        if code:
            raise _ERRORS.get(code, EmulatedKernelError)(message)

    @staticmethod
    def _argument(kernel, position, arg, param):
        where = f"argument {position} of kernel '{kernel.name}' (parameter type {param.c_type})"
        if param.pointer:
            if isinstance(arg, np.ndarray):
                raise TypeError(f"{where} is a NumPy array that was not uploaded; pass device.upload(array).")
            if not isinstance(arg, EmulatedArray):
                raise TypeError(f"{where} must be a device array, got {type(arg).__name__}.")
            if arg.dtype not in param.dtypes:
                raise TypeError(f"{where} is an array of {arg.dtype}; expected {param.dtypes[0]}.")
            # A size-0 array is a null pointer, as in CuPy.
            return ctypes.c_void_p(arg.host.ctypes.data if arg.size else None)
        if isinstance(arg, (EmulatedArray, np.ndarray)):
            raise TypeError(f"{where} is an array; the parameter is a scalar.")
        if not isinstance(arg, np.generic):
            raise TypeError(
                f"{where} is a Python {type(arg).__name__}; pass a NumPy scalar of the exact width, "
                f"np.{param.dtypes[0].name}(...)."
            )
        if arg.dtype not in param.dtypes:
            raise TypeError(f"{where} is a {arg.dtype} scalar; expected np.{param.dtypes[0].name}.")
        return np.array(arg)
