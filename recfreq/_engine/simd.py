"""Which SIMD build variant of the CPU kernels this process runs.

The kernel modules (``baseline``, ``mf``, ``fm``, ``ncf`` of
``recfreq._kernels.cpu``) are compiled once for the portable baseline and, on
x86-64, once more per micro-architecture level the compiler supports
(``setup.py``): ``x86-64-v3`` (AVX2 + FMA) and ``x86-64-v4`` (AVX-512). The
first time recfreq needs a kernel, the best variant that is built and that the
CPU runs is chosen, once for the process; ``RECFREQ_CPU_VARIANT`` forces one
(an error names what this CPU and build offer when it cannot be used).

Every variant runs the same loops: they differ in rounding only where a
fused multiply-add (x86-64-v3 and up) or another vector width reorders a sum,
and a variant is bit-for-bit reproducible with ``n_jobs=1``.
"""

import importlib
import importlib.util
import os
import sys

__all__ = ["ENV_VARIABLE", "VARIANTS", "DISPATCHED_MODULES", "available_variants", "built_variants",
           "cpu_variants", "kernel_module", "select_variant", "variant"]

#: the environment variable that forces a variant
ENV_VARIABLE = "RECFREQ_CPU_VARIANT"
#: every variant, from the most portable; the module suffix of each
VARIANTS = {"baseline": "", "x86-64-v3": "_x86_64_v3", "x86-64-v4": "_x86_64_v4"}
#: the x86-64 level each variant needs (recfreq._kernels.cpu.cpu_features.x86_64_level)
_LEVEL = {"baseline": 1, "x86-64-v3": 3, "x86-64-v4": 4}
#: the modules compiled once per variant; the others (openmp_helpers, epoch_order, cpu_features) exist once
DISPATCHED_MODULES = ("baseline", "mf", "fm", "ncf")

_chosen = None


def built_variants():
    """The variants whose kernel modules are installed (every dispatched module present)."""
    return [name for name, suffix in VARIANTS.items()
            if all(importlib.util.find_spec(f"recfreq._kernels.cpu.{module}{suffix}") is not None
                   for module in DISPATCHED_MODULES)]


def cpu_variants():
    """The variants this CPU (and operating system) can run, built or not."""
    from .._kernels.cpu import cpu_features

    level = cpu_features.x86_64_level()
    return [name for name in VARIANTS if _LEVEL[name] <= level]


def available_variants():
    """The variants both built and runnable here, from the most portable."""
    runnable = set(cpu_variants())
    return [name for name in built_variants() if name in runnable]


def select_variant(requested, built, runnable):
    """The variant to use: ``requested`` (None or "" for automatic) checked against
    the ``built`` and ``runnable`` ones; automatic picks the last (widest) of both."""
    usable = [name for name in VARIANTS if name in built and name in runnable]
    if not requested:
        return usable[-1]
    if requested not in VARIANTS:
        raise ValueError(f"{ENV_VARIABLE}={requested!r} is not a CPU variant; use one of "
                         f"{', '.join(repr(v) for v in VARIANTS)} (this machine can use "
                         f"{', '.join(repr(v) for v in usable)}), or unset it to choose automatically.")
    if requested not in runnable:
        raise RuntimeError(f"{ENV_VARIABLE}={requested!r}: this CPU does not support it (it runs "
                           f"{', '.join(repr(v) for v in runnable)}); unset {ENV_VARIABLE} or choose one of those.")
    if requested not in built:
        raise RuntimeError(f"{ENV_VARIABLE}={requested!r}: this installation has no {requested} build of the "
                           f"kernels (built: {', '.join(repr(v) for v in built)}); the compiler or platform "
                           "did not support it when recfreq was built.")
    return requested


def variant():
    """The variant this process uses, chosen on the first call (then fixed)."""
    global _chosen
    if _chosen is None:
        _chosen = select_variant(os.environ.get(ENV_VARIABLE, "").strip(), built_variants(), cpu_variants())
    return _chosen


def kernel_module(module, use=None):
    """The compiled module ``recfreq._kernels.cpu.<module>`` of the variant in use
    (or of ``use``, which the tests pass to run every variant in one process)."""
    suffix = VARIANTS[use or variant()] if module in DISPATCHED_MODULES else ""
    base = f"recfreq._kernels.cpu.{module}"
    if not suffix or f"{base}{suffix}" in sys.modules:
        return importlib.import_module(f"{base}{suffix}")
    had_base = base in sys.modules
    loaded = importlib.import_module(f"{base}{suffix}")
    # A Cython module also registers itself in sys.modules under the name it was
    # compiled as (the baseline's) when that name is free: a later import of the
    # baseline would then get this variant. Take that entry back.
    if not had_base and sys.modules.get(base) is loaded:
        del sys.modules[base]
    return loaded
