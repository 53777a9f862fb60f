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

No ``-march=native`` and no ``-ffast-math``: wheels must run on any x86-64 CPU and
the kernels must give the same floats as the NumPy reference implementation.
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

EXTENSIONS = ["openmp_helpers", "epoch_order", "baseline", "mf", "fm", "ncf"]


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
    return cythonize(extensions, compiler_directives=directives)


setup(ext_modules=_extensions())
