"""The build: OpenMP reporting, solver codes, show_versions."""

import io
import os

import pytest

import recfreq
from recfreq._kernels.cpu import openmp_helpers as _openmp_helpers
from recfreq._solvers import SOLVER_NAMES, Solver
from recfreq.base import effective_n_threads


def test_python_and_compiled_solver_codes_agree():
    codes = _openmp_helpers.solver_codes()
    assert set(codes) == set(SOLVER_NAMES)
    for name, code in codes.items():
        assert Solver.from_name(name) == code


def test_show_versions_reports_build_and_cuda():
    out = io.StringIO()
    recfreq.show_versions(file=out)
    text = out.getvalue()
    assert recfreq.__version__ in text
    assert "OpenMP:" in text and "threads:" in text
    assert "CUDA:" in text
    assert "numpy" in text and "scikit-learn" in text


def test_openmp_state_is_consistent():
    threads = _openmp_helpers.openmp_max_threads()
    assert threads >= 1
    if not _openmp_helpers.openmp_enabled():
        assert threads == 1


@pytest.mark.skipif(os.environ.get("RECFREQ_NO_OPENMP", "") not in ("", "0"), reason="built without OpenMP on purpose")
def test_openmp_is_on_where_the_compiler_supports_it():
    # gcc on Linux supports OpenMP; a silent fallback there would be a build bug
    import sys

    if sys.platform.startswith("linux"):
        assert _openmp_helpers.openmp_enabled()


def test_effective_n_threads():
    assert effective_n_threads(None) == 1
    assert effective_n_threads(1) == 1
    assert effective_n_threads(-1) == _openmp_helpers.openmp_max_threads()
    with pytest.raises(ValueError):
        effective_n_threads(0)


def test_unknown_solver_name():
    with pytest.raises(ValueError, match="Unknown solver"):
        Solver.from_name("lbfgs")


def test_solver_state_bytes():
    import numpy as np

    from recfreq._solvers import TableState

    sizes = {s: TableState.allocate(Solver.from_name(s), 100, {"factors": (8,), "bias": ()}, np.float32).nbytes
             for s in SOLVER_NAMES}
    assert sizes == {"sgd": 0, "fa-sgd": 800, "cf-sgd": 800, "adagrad": 100 * 9 * 4}
