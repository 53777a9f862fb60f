"""Every kernel's argument spec matches its CUDA parameter list and its Cython keywords."""

import inspect
import re
from pathlib import Path

import pytest

from recfreq._engine import specs as _kernel_spec
from recfreq._kernels.cpu import baseline as _baseline, mf as _mf

CUDA = Path(_kernel_spec.__file__).parents[1] / "_kernels" / "cuda"
SOURCES = {"baseline_epoch": "baseline.cu", "mf_epoch": "mf.cu", "mf_predict": "mf.cu"}
CYTHON = {"baseline_epoch": _baseline.baseline_epoch, "mf_epoch": _mf.mf_epoch, "mf_predict": _mf.mf_predict}
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


@pytest.mark.parametrize("kernel", sorted(_kernel_spec.KERNELS))
def test_cuda_kernel_parameters_follow_the_spec(kernel):
    assert cuda_parameters(kernel) == _kernel_spec.KERNELS[kernel]


@pytest.mark.parametrize("kernel", sorted(_kernel_spec.KERNELS))
def test_cython_keywords_follow_the_spec(kernel):
    # the CPU epoch returns its loss (the GPU's adds to `loss`); predict writes `out` on both
    cython_names = set(inspect.signature(CYTHON[kernel]).parameters) - CPU_ONLY
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
