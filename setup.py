"""Build script for recfreq's Cython extensions.

Metadata lives in pyproject.toml; this file only describes the compiled
extensions, because they need a compiler probe that declarative config cannot do.

Environment switches
--------------------
RECFREQ_NO_OPENMP=1
    Build without OpenMP even when the compiler supports it (the kernels then run
    on one thread; ``n_jobs`` is accepted and ignored with a warning).
RECFREQ_DEBUG=1
    Turn on Cython's bounds checking, wraparound and initialized checks, and
    compile with ``-O0 -g``. Use it to chase a kernel that corrupts memory.

RECFREQ_SIMD_VARIANTS=0
    Build the kernel modules for the portable baseline only (no x86-64-v3/v4
    variants; a faster build for development).

No ``-march=native`` and no ``-ffast-math``: wheels must run on any x86-64 CPU and
the kernels must give the same floats as the NumPy reference implementation.

SIMD variants
-------------
On x86-64 each kernel module of ``DISPATCHED`` is compiled once more for every
micro-architecture level of ``SIMD_VARIANTS`` the compiler accepts
(``-march=x86-64-v3``: AVX2 + FMA; ``-march=x86-64-v4``: AVX-512), from the same
generated C with the module's init function renamed (``mf_x86_64_v3``).
``recfreq/_engine/simd.py`` imports the best one the CPU runs (or the one
``RECFREQ_CPU_VARIANT`` names). Other architectures build the baseline alone.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

EXTENSIONS = ["openmp_helpers", "cpu_features", "epoch_order", "baseline", "mf", "fm", "ncf"]
# the modules that hold training and prediction loops: built once per SIMD variant
DISPATCHED = ["baseline", "mf", "fm", "ncf"]
# (module suffix, compiler flags) of the variants beside the baseline (names as in recfreq/_engine/simd.py)
SIMD_VARIANTS = [("x86_64_v3", ["-march=x86-64-v3"]), ("x86_64_v4", ["-march=x86-64-v4"])]
VARIANT_SOURCES = os.path.join("build", "recfreq-simd-variants")


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _compiles(compile_args, link_args, source):
    """Whether the C compiler builds and links ``source`` with the given flags."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    tmpdir = tempfile.mkdtemp(prefix="recfreq-probe-")
    try:
        src = os.path.join(tmpdir, "probe.c")
        with open(src, "w") as fh:
            fh.write(textwrap.dedent(source))
        cmd = compiler + ["-Werror"] + compile_args + [src, "-o", os.path.join(tmpdir, "probe")] + link_args
        try:
            return subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or None if it does not work.

    The probe compiles and links a tiny program that calls omp_get_max_threads,
    because a compiler can accept ``-fopenmp`` and still lack the runtime library.
    """
    if sys.platform == "win32":
        return ["/openmp"], []
    candidates = [(["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        candidates.insert(0, (["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
    source = """
        #include <omp.h>
        int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
        """
    for compile_args, link_args in candidates:
        if _compiles(compile_args, link_args, source):
            return compile_args, link_args
    return None


def _vectorization_flags():
    """Flags that let loops vectorize without changing any floating-point result.

    ``-fopenmp-simd`` honours ``#pragma omp simd`` (the dot products' reduction)
    without the OpenMP runtime; ``-fno-math-errno`` lets sqrtf vectorize in the
    Adagrad step (the kernels never read errno). Neither is part of what makes
    ``-ffast-math`` unsafe: no reassociation elsewhere, no finite-math
    assumptions.
    """
    if sys.platform == "win32":
        return []
    source = "int main(void) { return 0; }"
    return [flag for flag in ("-fopenmp-simd", "-fno-math-errno") if _compiles([flag], [], source)]


def _simd_variants():
    """The variants this compiler builds here: x86-64 only, each flag probed."""
    import platform

    if _env_flag_off("RECFREQ_SIMD_VARIANTS") or sys.platform == "win32":
        return []
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return []
    source = "int main(void) { return 0; }"
    return [(suffix, flags) for suffix, flags in SIMD_VARIANTS if _compiles(flags, [], source)]


def _env_flag_off(name):
    return os.environ.get(name, "").strip().lower() in {"0", "false", "no", "off"}


def _variant_extensions(name, suffix, flags, template):
    """The extension ``name`` + ``_`` + ``suffix``: the module's generated C, compiled
    with ``flags`` under a renamed init function (a wrapper file that includes it)."""
    os.makedirs(VARIANT_SOURCES, exist_ok=True)
    wrapper = os.path.join(VARIANT_SOURCES, f"{name}_{suffix}.c")
    text = (f"/* generated by setup.py: {name}.c as the module {name}_{suffix} */\n"
            f"#define PyInit_{name} PyInit_{name}_{suffix}\n#include \"{name}.c\"\n")
    current = None
    if os.path.exists(wrapper):
        with open(wrapper) as fh:
            current = fh.read()
    if current != text:  # rewritten only when it changes, so the build does not redo it
        with open(wrapper, "w") as fh:
            fh.write(text)
    generated = f"recfreq/_kernels/cpu/{name}.c"
    return Extension(
        f"recfreq._kernels.cpu.{name}_{suffix}",
        [wrapper],
        include_dirs=[np.get_include(), "recfreq/_kernels/cpu"],
        define_macros=template.define_macros,
        extra_compile_args=template.extra_compile_args + flags,
        extra_link_args=template.extra_link_args,
        depends=[generated],
    )


def _extensions():
    debug = _env_flag("RECFREQ_DEBUG")
    compile_args = ["-O0", "-g"] if debug else ["-O3"]
    link_args = []
    if sys.platform == "win32":
        compile_args = ["/Od"] if debug else ["/O2"]
    compile_args += _vectorization_flags()

    openmp = None if _env_flag("RECFREQ_NO_OPENMP") else _openmp_flags()
    if openmp is None:
        reason = "RECFREQ_NO_OPENMP is set" if _env_flag("RECFREQ_NO_OPENMP") else (
            "the compiler could not build an OpenMP test program")
        warnings.warn(
            f"recfreq is being built WITHOUT OpenMP ({reason}): training runs on one "
            "thread and n_jobs has no effect.",
            stacklevel=1,
        )
    else:
        compile_args += openmp[0]
        link_args += openmp[1]

    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
    extensions = [
        Extension(
            f"recfreq._kernels.cpu.{name}",
            [f"recfreq/_kernels/cpu/{name}.pyx"],
            include_dirs=[np.get_include()],
            define_macros=macros,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
        for name in EXTENSIONS
    ]
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": not debug,
        "embedsignature": True,
    }
    extensions = cythonize(extensions, compiler_directives=directives)
    # the variants compile the C that cythonize has just generated for the baseline
    template = extensions[EXTENSIONS.index("mf")]
    for suffix, flags in _simd_variants():
        extensions += [_variant_extensions(name, suffix, flags, template) for name in DISPATCHED]
    return extensions


setup(ext_modules=_extensions())
