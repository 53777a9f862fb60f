"""Every kernel's argument spec matches its CUDA parameter list and its Cython keywords."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from recfreq._engine import specs as _kernel_spec
from recfreq._kernels.cpu import baseline as _baseline, fm as _fm, mf as _mf, ncf as _ncf
from recfreq._projection import ProjectedTable

CUDA = Path(_kernel_spec.__file__).parents[1] / "_kernels" / "cuda"
SOURCES = {"baseline_epoch": "baseline.cu", "mf_epoch": "mf.cu", "mf_predict": "mf.cu"}
#: Kernels whose CUDA source is not written yet (a later issue): only their
#: Cython side is checked against the spec here, and the spec is what their
#: CUDA kernels will have to take.
NO_CUDA_YET = {"mf_projected_epoch", "mf_ranking_epoch", "fm_epoch", "fm_projected_epoch", "fm_ranking_epoch",
               "ncf_epoch"}
CYTHON = {"baseline_epoch": _baseline.baseline_epoch, "mf_epoch": _mf.mf_epoch, "mf_predict": _mf.mf_predict,
          "mf_projected_epoch": _mf.mf_projected_epoch, "mf_ranking_epoch": _mf.mf_ranking_epoch,
          "fm_epoch": _fm.fm_epoch, "fm_ranking_epoch": _fm.fm_ranking_epoch,
          "fm_projected_epoch": _fm.fm_projected_epoch, "ncf_epoch": _ncf.ncf_epoch}
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


def test_every_kernel_is_either_on_cuda_or_listed_as_not_yet():
    assert set(SOURCES) | NO_CUDA_YET == set(_kernel_spec.KERNELS)
    assert not set(SOURCES) & NO_CUDA_YET
    assert set(CYTHON) == set(_kernel_spec.KERNELS) == set(_kernel_spec.DEVICE_ONLY) == set(_kernel_spec.CPU_ONLY)
    # a kernel that gains a .cu must move from NO_CUDA_YET to SOURCES (and so be checked)
    for path in CUDA.glob("*.cu"):
        for kernel in NO_CUDA_YET:
            assert not re.search(r"__global__\s+void\s+" + kernel + r"\s*\(", path.read_text()), (kernel, path)


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_cuda_kernel_parameters_follow_the_spec(kernel):
    assert cuda_parameters(kernel) == _kernel_spec.KERNELS[kernel]


@pytest.mark.parametrize("kernel", sorted(_kernel_spec.KERNELS))
def test_cython_keywords_follow_the_spec(kernel):
    # the CPU epoch returns its loss (the GPU's adds to `loss`); predict writes `out` on both
    cython_names = set(inspect.signature(CYTHON[kernel]).parameters) - CPU_ONLY - _kernel_spec.CPU_ONLY[kernel]
    spec_names = {name for name, _ in _kernel_spec.KERNELS[kernel]} - _kernel_spec.DEVICE_ONLY[kernel]
    assert cython_names == spec_names
    # what the CPU binding supplies is really a keyword of the Cython kernel, and not in the spec
    assert _kernel_spec.CPU_ONLY[kernel] <= set(inspect.signature(CYTHON[kernel]).parameters)
    assert not _kernel_spec.CPU_ONLY[kernel] & {name for name, _ in _kernel_spec.KERNELS[kernel]}


def test_the_solver_part_is_shared():
    for kernel, params in _kernel_spec.KERNELS.items():
        if kernel.endswith("_epoch"):
            names = [name for name, _ in params]
            config = [name for name, _ in _kernel_spec.SOLVER_CONFIG]
            start = names.index(config[0])
            assert names[start:start + len(config)] == config
            prefixes = [name[:-len("_frequency")] for name in names if name.endswith("_frequency")]
            assert prefixes, kernel
            for prefix in prefixes:
                for entry in _kernel_spec.table_state(prefix):
                    assert entry in params


def test_projected_tables_are_one_shared_part_named_as_the_table_gives_them():
    table = ProjectedTable.factored(3, [4], 2, np.random.default_rng(0), 0.1, np.float64)
    table.allocate_accumulators(True)
    for kernel, prefixes in (("mf_projected_epoch", ("user", "item")), ("fm_projected_epoch", ("feature",))):
        params = _kernel_spec.KERNELS[kernel]
        for prefix in prefixes:
            part = _kernel_spec.projected_table(prefix)
            start = params.index(part[0])
            assert params[start:start + len(part)] == part
            assert [name for name, _ in part] == list(table.kernel_kwargs(prefix))


def test_arguments_take_the_exact_scalar_widths():
    values = {name: 1 for name, _ in _kernel_spec.KERNELS["mf_predict"]}
    args = _kernel_spec.arguments("mf_predict", values, np.float32)
    assert [type(a) for a in args] == [int, int, np.int64, np.float64, int, int, int, int, np.int32, int]
