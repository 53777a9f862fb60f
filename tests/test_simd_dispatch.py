"""The SIMD variants of the CPU kernels: the choice at run time, RECFREQ_CPU_VARIANT, and every
variant this machine runs against the NumPy reference."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import recfreq
from recfreq._engine import simd

from _subprocess import child_env

TESTS = Path(__file__).resolve().parent
AVAILABLE = simd.available_variants()


def _run(code, variant):
    """Run ``code`` in a fresh interpreter with RECFREQ_CPU_VARIANT=variant."""
    env = {**child_env(), "RECFREQ_CPU_VARIANT": variant}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_the_baseline_is_always_built_and_runnable():
    assert "baseline" in simd.built_variants()
    assert "baseline" in simd.cpu_variants()
    assert simd.variant() in AVAILABLE


def test_automatic_choice_is_the_widest_usable():
    assert simd.select_variant("", ["baseline", "x86-64-v3", "x86-64-v4"], ["baseline", "x86-64-v3"]) == "x86-64-v3"
    assert simd.select_variant(None, ["baseline"], ["baseline", "x86-64-v3", "x86-64-v4"]) == "baseline"
    assert simd.select_variant("", ["baseline", "x86-64-v3", "x86-64-v4"],
                               ["baseline", "x86-64-v3", "x86-64-v4"]) == "x86-64-v4"


def test_forcing_a_variant_checks_name_cpu_and_build():
    built, runnable = ["baseline", "x86-64-v3"], ["baseline", "x86-64-v3", "x86-64-v4"]
    assert simd.select_variant("baseline", built, runnable) == "baseline"
    with pytest.raises(ValueError, match="RECFREQ_CPU_VARIANT='avx2' is not a CPU variant; use one of"):
        simd.select_variant("avx2", built, runnable)
    with pytest.raises(RuntimeError, match="this CPU does not support it"):
        simd.select_variant("x86-64-v3", built, ["baseline"])
    with pytest.raises(RuntimeError, match="no x86-64-v4 build"):
        simd.select_variant("x86-64-v4", built, runnable)


def test_a_bad_variant_in_the_environment_is_a_clear_error_and_show_versions_names_it():
    code = """
import io, numpy as np, recfreq
from recfreq import MatrixFactorization
out = io.StringIO(); recfreq.show_versions(file=out)
assert "CPU SIMD: unusable: RECFREQ_CPU_VARIANT='sse9'" in out.getvalue(), out.getvalue()
try:
    MatrixFactorization(n_factors=2, max_iter=1).fit(np.array([[0, 0], [1, 1]]), np.array([1.0, 2.0]))
except ValueError as exc:
    assert "is not a CPU variant" in str(exc), exc
    print("refused")
"""
    done = _run(code, "sse9")
    assert done.returncode == 0 and "refused" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("name", AVAILABLE)
def test_a_forced_variant_is_the_one_that_runs(name):
    code = """
import sys, numpy as np, recfreq
from recfreq import MatrixFactorization
from recfreq._engine import simd
MatrixFactorization(n_factors=2, max_iter=1).fit(np.array([[0, 0], [1, 1]]), np.array([1.0, 2.0]))
loaded = sorted(m for m in sys.modules if m.startswith("recfreq._kernels.cpu.mf"))
print(simd.variant(), loaded)
"""
    done = _run(code, name)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = "recfreq._kernels.cpu.mf" + simd.VARIANTS[name]
    assert done.stdout.split()[0] == name and f"['{expected}']" in done.stdout, done.stdout


def test_a_variant_and_the_baseline_are_distinct_modules_in_one_process():
    loaded = [simd.kernel_module("mf", use=name) for name in AVAILABLE]
    assert len({id(m) for m in loaded}) == len(AVAILABLE)
    assert all(Path(m.__file__).name.startswith("mf" + simd.VARIANTS[name] + ".")
               for m, name in zip(loaded, AVAILABLE))


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_thread_is_bit_for_bit_reproducible_within_a_variant(name, dtype, monkeypatch):
    monkeypatch.setattr(simd, "_chosen", name)
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 30, 400), rng.integers(0, 20, 400)])
    y = rng.uniform(1, 5, 400)
    for solver in ("sgd", "adagrad"):
        fits = [recfreq.MatrixFactorization(n_factors=16, solver=solver, max_iter=3, dtype=dtype, n_jobs=1,
                                            random_state=1).fit(X, y) for _ in range(2)]
        np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
        np.testing.assert_array_equal(fits[0].item_bias_, fits[1].item_bias_)


OTHER_VARIANTS = [name for name in AVAILABLE if name != simd.variant()]


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_VARIANTS)
def test_the_reference_tests_pass_on_every_variant_this_cpu_runs(name):
    # the test process itself runs the automatic choice; the others, forced in turn
    files = sorted(str(p) for p in TESTS.glob("test_reference_*.py"))
    env = {**child_env(), "RECFREQ_CPU_VARIANT": name}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *files],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
