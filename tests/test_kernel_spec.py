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
#: the CUDA source of every kernel (written out here, independently of the engine's table)
SOURCES = {"baseline_epoch": "baseline.cu", "mf_epoch": "mf.cu", "mf_predict": "mf.cu",
           "mf_projected_epoch": "mf.cu", "mf_ranking_epoch": "mf.cu", "mf_score_items": "mf.cu", "fm_epoch": "fm.cu",
           "fm_ranking_epoch": "fm.cu", "fm_projected_epoch": "fm.cu", "fm_predict": "fm.cu", "ncf_epoch": "ncf.cu",
           "ncf_sample_starts": "ncf.cu", "ncf_predict": "ncf.cu", "ncf_score_items": "ncf.cu",
           "project_rows": "projection.cu"}
CYTHON = {"baseline_epoch": _baseline.baseline_epoch, "mf_epoch": _mf.mf_epoch, "mf_predict": _mf.mf_predict,
          "mf_projected_epoch": _mf.mf_projected_epoch, "mf_ranking_epoch": _mf.mf_ranking_epoch,
          "fm_epoch": _fm.fm_epoch, "fm_ranking_epoch": _fm.fm_ranking_epoch,
          "fm_projected_epoch": _fm.fm_projected_epoch, "fm_predict": _fm.fm_predict, "ncf_epoch": _ncf.ncf_epoch}
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


def test_every_kernel_is_on_cuda_and_on_the_cpu_or_gpu_only():
    from recfreq._engine.cuda import SOURCES as ENGINE_SOURCES

    assert set(SOURCES) == set(_kernel_spec.KERNELS) and ENGINE_SOURCES == SOURCES
    # every kernel has its Cython entry point, except the GPU-only ones (the CPU computes those in NumPy)
    assert set(CYTHON) | _kernel_spec.GPU_ONLY == set(_kernel_spec.KERNELS)
    assert not set(CYTHON) & _kernel_spec.GPU_ONLY
    assert set(CYTHON) == set(_kernel_spec.DEVICE_ONLY) == set(_kernel_spec.CPU_ONLY)
    # and every __global__ function of the package is a spec'd kernel
    for path in CUDA.glob("*.cu"):
        for name in re.findall(r"__global__\s+void\s+(\w+)\s*\(", path.read_text()):
            assert SOURCES.get(name) == path.name, (name, path.name)


def test_kernels_with_working_memory_end_with_the_scratch_part():
    for kernel, params in _kernel_spec.KERNELS.items():
        names = [name for name, _ in params]
        if "scratch" in names:
            assert params[-2:] == _kernel_spec.SCRATCH, kernel
            assert kernel in _kernel_spec.GPU_ONLY or {"scratch", "scratch_per_block"} <= _kernel_spec.DEVICE_ONLY[kernel]


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_cuda_kernel_parameters_follow_the_spec(kernel):
    assert cuda_parameters(kernel) == _kernel_spec.KERNELS[kernel]


@pytest.mark.parametrize("kernel", sorted(CYTHON))
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
