"""Compile checks for the CUDA sources: nvcc for each architecture, and NVRTC as CuPy runs it.

Two compilers build recfreq's kernels: NVRTC at run time (through CuPy's
``RawModule``) and, in these checks only, nvcc. Both must accept every
source without a warning, for every target architecture, with the defines
and name expressions the host code uses.

* :func:`nvcc_compile` runs ``nvcc -c`` with warnings as errors. The name
  expressions are instantiated by taking each kernel's address in an
  appended line, so templates are compiled, not only parsed.
* :func:`nvrtc_compile` builds the source through the program object CuPy
  compiles ``RawModule`` sources with (``cupy.cuda.compiler._NVRTCProgram``),
  with the options CuPy assembles for it, for an architecture named here.
  CuPy's public ``RawModule.compile()`` asks the driver for the device's
  architecture, so it cannot run without a GPU. This reaches into CuPy
  internals (checked with CuPy 14.2); it stays in the tests, never in the
  package. NVRTC has no option that turns warnings into errors under the
  same options, so any warning in the program log fails the check instead.

Both skip (with the reason) when their compiler is missing, unless
``RECFREQ_REQUIRE_CUDA_COMPILERS=1`` is set, as CI does, where a missing
compiler fails.

A clean nvcc build is remembered (a marker file named by a hash of the
compiler's version, the command's options and the full source text, beside the
emulated device's compiled modules): CI runs these checks twice (in the README's
test command and in its CUDA step), and nvcc takes seconds per large module and
architecture. The same compiler, options and source give the same verdict, so a
marker only saves the second identical run; any change to the source, a header,
an option or nvcc compiles again. Failed builds leave no marker.

A source to check is a :class:`CudaModule`. The package's modules are listed
in :func:`package_modules`: add each new ``.cu`` there with the name
expressions and defines the host code compiles it with (a test fails when a
``.cu`` file of the package is not listed).
"""

import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from recfreq._device_backend import _assemble_source, _package_sources, enum_defines
from recfreq._solvers import Solver

from _devices import REQUIRE_ENV, skip_or_fail  # noqa: F401  (REQUIRE_ENV is re-exported)

__all__ = [
    "ARCHITECTURES",
    "CudaCompileError",
    "CudaModule",
    "TEST_KERNEL_DIR",
    "find_nvcc",
    "kernel_parameters",
    "nvcc_compile",
    "nvrtc_compile",
    "package_modules",
    "package_source_files",
    "require_nvcc",
    "require_nvrtc",
    "toy_kernel_modules",
]

#: Compute capabilities checked. CUDA 13 dropped sm_70 and earlier.
ARCHITECTURES = ("sm_75", "sm_80", "sm_90")

#: Options nvcc gets in every check; warnings of the CUDA front end, ptxas and
#: the host compiler are errors.
NVCC_OPTIONS = ("-std=c++17", "-Werror", "all-warnings", "-Xcompiler=-Wall,-Wextra,-Werror")

TEST_KERNEL_DIR = Path(__file__).resolve().parent / "cuda_kernels"


class CudaCompileError(RuntimeError):
    """A CUDA source did not compile cleanly (errors or warnings)."""


@dataclass(frozen=True)
class CudaModule:
    """One compilation unit as the host code builds it.

    Parameters
    ----------
    filename : str
        Source file name (in the package's CUDA folder, or in
        ``tests/cuda_kernels`` for the test kernels).
    name_expressions : tuple of str
        Kernels the host launches, e.g. ``("mf_epoch<float>", "mf_epoch<double>")``.
    defines : dict
        ``#define`` values prepended to the source.
    options : tuple of str
        Extra compiler options the host passes to ``RawModule``.
    in_tests : bool
        The source lives in ``tests/cuda_kernels`` (headers still come from
        the package).
    """

    filename: str
    name_expressions: tuple
    defines: dict = field(default_factory=dict)
    options: tuple = ()
    in_tests: bool = False

    def source(self):
        """The full source text, local headers inlined, defines prepended."""
        roots = (TEST_KERNEL_DIR, _package_sources()) if self.in_tests else (_package_sources(),)
        return _assemble_source(self.filename, self.defines, roots)

    def __str__(self):
        return self.filename


SOLVER_DEFINES = enum_defines(Solver, "SOLVER_")


def package_modules():
    """The package's CUDA modules, as the host code compiles them.

    Each ``.cu`` file under ``recfreq/_kernels/cuda`` must appear here (with
    the defines and name expressions of its ``load_module`` call); the
    headers are checked through the modules that include them and on their
    own. The list comes from the engine's own plan, so the checks compile
    exactly what ``device="cuda"`` loads.
    """
    from recfreq._engine.cuda import COMPILE_OPTIONS, module_plan

    return [CudaModule(filename, expressions, defines, COMPILE_OPTIONS)
            for filename, (expressions, defines) in module_plan().items()]


def package_source_files(suffix):
    """Names of the package's CUDA files with the given suffix (".cu", ".cuh")."""
    return sorted(p.name for p in _package_sources().iterdir() if p.name.endswith(suffix))


def toy_kernel_modules():
    """The test-only kernels (tests/cuda_kernels), built like package modules."""
    return [
        CudaModule(
            "toys.cu",
            (
                "dot_warp<float>",
                "dot_warp<double>",
                "block_sum<float>",
                "block_sum<double>",
                "block_sum_dynamic",
                "histogram",
                "atomics",
                "collectives",
                "shuffle_types",
                "indices",
                "scalars",
                "intrinsics",
            ),
            in_tests=True,
        ),
        CudaModule(
            "broken.cu",
            (
                "barrier_in_branch",
                "two_barriers",
                "exit_before_barrier",
                "shuffle_exited_lane",
                "shuffle_outside_mask",
                "mask_without_caller",
                "mismatched_collectives",
                "shuffle_against_barrier",
                "checked_index",
            ),
            in_tests=True,
        ),
        CudaModule("solver_codes.cu", ("solver_codes",), defines=SOLVER_DEFINES, in_tests=True),
        CudaModule("rng_draws.cu", ("rng_draws", "rng_blocks", "bit_stream_draws"), in_tests=True),
        CudaModule("order_samples.cu", ("order_samples",), in_tests=True),
    ]


# -- nvcc ------------------------------------------------------------------------


def find_nvcc():
    """Path of nvcc (PATH, then $CUDA_HOME/bin, then /usr/local/cuda/bin), or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    return None


def require_nvcc():
    """nvcc's path; skips (or fails under CI's requirement) when there is none."""
    nvcc = find_nvcc()
    if nvcc is None:
        skip_or_fail("nvcc is not installed (no CUDA toolkit on PATH, $CUDA_HOME or /usr/local/cuda)")
    return nvcc


def _instantiations(name_expressions):
    # Taking a kernel's address instantiates it (templates included) for the
    # device; an external-linkage variable draws no unused warning.
    return "".join(
        f"\nvoid* recfreq_compile_check_{i} = (void*)&{expr};" for i, expr in enumerate(name_expressions)
    )


def nvcc_compile(source, name_expressions, arch, options=(), nvcc=None, filename="module.cu"):
    """Compile CUDA source text with ``nvcc -c`` for one architecture.

    Parameters
    ----------
    source : str
    name_expressions : sequence of str
        Kernels to instantiate.
    arch : str
        ``"sm_75"``, ``"sm_80"``, ...
    options : tuple of str
        Extra options (the host's ``RawModule`` options, e.g. ``-D``).
    nvcc : str, optional
        Compiler path (default: :func:`find_nvcc`).
    filename : str
        Name of the temporary file, as it appears in messages.

    Raises
    ------
    CudaCompileError
        With nvcc's output, on any error or warning.
    """
    nvcc = nvcc or find_nvcc()
    full_source = source + _instantiations(name_expressions) + "\n"
    marker = _clean_build_marker(nvcc, [f"-arch={arch}", *NVCC_OPTIONS, *options], full_source)
    if marker is not None and marker.exists():
        return  # this compiler built exactly this source with these options cleanly before
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / filename
        path.write_text(full_source)
        output_file = str(Path(work) / "out.o")
        command = [nvcc, "-c", "-x", "cu", f"-arch={arch}", *NVCC_OPTIONS, *options, str(path), "-o", output_file]
        result = subprocess.run(command, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "warning" in output.lower():
        raise CudaCompileError(f"nvcc -arch={arch} failed on {filename}:\n{output}")
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{filename} -arch={arch}: built without a warning\n")


@functools.cache
def _compiler_version(compiler):
    result = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def _clean_build_marker(compiler, options, source):
    """The marker file of a clean build of ``source`` with ``options`` by ``compiler`` (None: do not remember)."""
    from _emulated_device import _default_cache_dir

    version = _compiler_version(compiler)
    if version is None:
        return None
    key = hashlib.sha256(json.dumps([version, list(options), source]).encode()).hexdigest()[:32]
    return _default_cache_dir() / "nvcc-clean" / key


# -- NVRTC through CuPy's program object ----------------------------------------------


def require_nvrtc():
    """CuPy's compiler module, with a loadable NVRTC; skips (or fails in CI) otherwise."""
    try:
        from cupy.cuda import compiler
    except ImportError as exc:
        skip_or_fail(f"CuPy is not installed ({exc}); install the gpu-test extra")
    try:
        compiler._get_nvrtc_version()
    except Exception as exc:  # CuPy raises its own error types when libnvrtc is missing
        skip_or_fail(f"NVRTC cannot be loaded ({exc}); install the nvidia-cuda-nvrtc wheel (gpu-test extra)")
    return compiler


def cupy_nvrtc_options(options, arch):
    """The options CuPy's ``RawModule`` hands NVRTC for ``options`` on a device of ``arch``.

    Mirrors ``RawModule`` -> ``compile_with_cache`` (include paths and the
    C++ standard), ``_compile_with_cache_cuda`` (``-ftz=true``) and
    ``compile_using_nvrtc`` (the architecture and
    ``--device-as-default-execution-space``).
    """
    from cupy._core import core

    number = arch.removeprefix("sm_")
    return core.assemble_cupy_compiler_options(tuple(options)) + (
        "-ftz=true",
        f"-arch=sm_{number}",
        "--device-as-default-execution-space",
    )


def nvrtc_compile(source, name_expressions, arch, options=(), filename="module.cu"):
    """Compile CUDA source text with NVRTC exactly as CuPy would on a device of ``arch``.

    Returns
    -------
    dict
        Name expression -> lowered (mangled) name, as CuPy records it.

    Raises
    ------
    CudaCompileError
        On a compile error or any warning in the program log.
    """
    compiler = require_nvrtc()
    program = compiler._NVRTCProgram(source, filename, name_expressions=tuple(name_expressions), method="cubin")
    log = io.StringIO()
    full_options = cupy_nvrtc_options(options, arch)
    try:
        _, mapping = program.compile(full_options, log)
    except compiler.CompileException as exc:
        raise CudaCompileError(f"NVRTC ({arch}) failed on {filename}:\n{exc}") from None
    if "warning" in log.getvalue().lower():
        raise CudaCompileError(f"NVRTC ({arch}) warned on {filename}:\n{log.getvalue()}")
    return mapping


# -- kernel parameter lists from the source -----------------------------------------


def kernel_parameters(source, kernel):
    """The parameter list of a ``__global__`` function, read from its source text.

    For checks that a kernel's parameters (names and order) match the host's
    argument spec; the emulated device checks the types of each launch.

    Parameters
    ----------
    source : str
    kernel : str
        The function's name (no template arguments).

    Returns
    -------
    list of (str, str)
        ``(type, name)`` per parameter, the type with whitespace normalized and
        ``__restrict__`` removed: ``("const float*", "x")``.
    """
    pattern = re.compile(
        r"__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?" + re.escape(kernel) + r"\s*\("
    )
    matches = list(pattern.finditer(source))
    if len(matches) != 1:
        raise ValueError(f"expected one __global__ function {kernel!r} in the source, found {len(matches)}.")
    depth, start = 1, matches[0].end()
    for end in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[end], 0)
        if depth == 0:
            break
    text = re.sub(r"//[^\n]*|/\*.*?\*/", " ", source[start:end], flags=re.S)
    parameters, depth, current = [], 0, ""
    for char in text + ",":
        if char == "," and depth == 0:
            if current.strip():
                parameters.append(current)
            current = ""
            continue
        depth += {"(": 1, "<": 1, ")": -1, ">": -1}.get(char, 0)
        current += char
    result = []
    for parameter in parameters:
        parameter = re.sub(r"\b__restrict__\b", " ", parameter.split("=")[0])
        match = re.fullmatch(r"\s*(.*?)\s*\b([A-Za-z_]\w*)\s*", parameter, flags=re.S)
        type_text = re.sub(r"\s+", " ", match.group(1)).replace(" *", "*").strip()
        result.append((type_text, match.group(2)))
    return result
