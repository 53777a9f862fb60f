"""Every kernel's argument spec matches its CUDA parameter list and its Cython keywords."""

import inspect
import re
from pathlib import Path

import pytest

from recfreq._engine import specs as _kernel_spec
from recfreq._kernels.cpu import baseline as _baseline, mf as _mf, ncf as _ncf

CUDA = Path(_kernel_spec.__file__).parents[1] / "_kernels" / "cuda"
SOURCES = {"baseline_epoch": "baseline.cu", "mf_epoch": "mf.cu", "mf_predict": "mf.cu"}
#: Kernels specified ahead of their CUDA source (a later issue writes them): only
#: their Cython keywords are checked here, and test_cuda_sources_are_listed fails
#: as soon as a .cu defines one of them, so that it moves to SOURCES.
NO_CUDA_YET = {"ncf_epoch"}
CYTHON = {"baseline_epoch": _baseline.baseline_epoch, "mf_epoch": _mf.mf_epoch, "mf_predict": _mf.mf_predict,
          "ncf_epoch": _ncf.ncf_epoch}
CPU_ONLY = {"n_threads", "thread_work"}


def cuda_parameters(kernel):
    text = (CUDA / SOURCES[kernel]).read_text()
    match = re.search(r"__global__\s+void\s+" + kernel + r"\s*\((.*?)\)\s*\{", text, flags=re.S)
    assert match, f"no __global__ {kernel} in {SOURCES[kernel]}"
    params = []
    for raw in match.group(1).split(","):
        words = raw.replace("__restrict__", "").split()
        name = words[-1].lstrip("*")
        c_type = " ".join(words[:-1]) + ("*" if words[-1].startswith("*") else "")
        params.append((name, c_type.replace(" *", "*")))
    return tuple(params)


def test_cuda_sources_are_listed():
    """Every spec'd kernel is checked against its CUDA source, or is known to have none yet."""
    assert set(SOURCES) | NO_CUDA_YET == set(_kernel_spec.KERNELS) and not set(SOURCES) & NO_CUDA_YET
    for kernel in NO_CUDA_YET:
        for source in CUDA.glob("*.cu"):
            assert not re.search(r"__global__\s+void\s+" + kernel + r"\b", source.read_text()), \
                f"{source.name} defines {kernel}: move it from NO_CUDA_YET to SOURCES"


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_cuda_kernel_parameters_follow_the_spec(kernel):
    assert cuda_parameters(kernel) == _kernel_spec.KERNELS[kernel]


@pytest.mark.parametrize("kernel", sorted(_kernel_spec.KERNELS))
def test_cython_keywords_follow_the_spec(kernel):
    # the CPU epoch returns its loss (the GPU's adds to `loss`); predict writes `out` on both
    cpu_only = CPU_ONLY | _kernel_spec.CPU_ONLY.get(kernel, set())
    cython_names = set(inspect.signature(CYTHON[kernel]).parameters) - cpu_only
    spec_names = {name for name, _ in _kernel_spec.KERNELS[kernel]} - _kernel_spec.DEVICE_ONLY[kernel]
    assert cython_names == spec_names


def test_the_solver_part_is_shared():
    for kernel, params in _kernel_spec.KERNELS.items():
        if kernel.endswith("_epoch"):
            names = [name for name, _ in params]
            config = [name for name, _ in _kernel_spec.SOLVER_CONFIG]
            start = names.index(config[0])
            assert names[start:start + len(config)] == config
            for prefix in ("user", "item"):
                for name, _ in _kernel_spec.table_state(prefix):
                    assert name in names


def test_arguments_take_the_exact_scalar_widths():
    import numpy as np
    values = {name: 1 for name, _ in _kernel_spec.KERNELS["mf_predict"]}
    args = _kernel_spec.arguments("mf_predict", values, np.float32)
    assert [type(a) for a in args] == [int, int, np.int64, np.float64, int, int, int, int, np.int32, int]
