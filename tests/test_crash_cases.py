"""Calls that once killed the interpreter, each run in its own process.

Each case is a short scenario (fit, change a parameter, call again) run by
``_subprocess.run_cases`` in a forked process: a segfault, an abort inside
libgomp or a hang fails that case's test with the signal and the child's
stderr, and the rest of the run goes on. Inside the child a case passes when
every call keeps the robustness contract of ``_robustness.checked_call``
(a clear ValueError/TypeError/FloatingPointError that leaves the estimator
unchanged, or a result) and a model that trained successfully predicts
finite values.

The cases are enumerated, not sampled: every estimator configuration times
every change of the solver state between two calls (each ordered pair of
solvers, ``counter_halflife`` added or removed, a dtype or shape parameter
changed), under ``partial_fit`` and under a ``warm_start`` refit; oversized
``n_jobs`` in training and in prediction under a 4 GB address-space limit;
the factorization machine on sparse designs with empty columns.
"""

import itertools
import re

import pytest

from _robustness import ESTIMATORS, TARGET_KIND
from _subprocess import Case, run_cases, run_python
from recfreq._solvers import SOLVER_NAMES

#: Runs once in the forking child; every case sees these names. Nothing here
#: may start a thread (no fit): the cases are forked from this process.
SETUP = """
import warnings
import numpy as np
import scipy.sparse as sp
import tqdm.auto  # imported by the first fit: once here instead of once per case
import recfreq._engine
from _robustness import ESTIMATORS, TARGET_KIND, Raised, checked_call, make, tiny_data

tqdm.auto.tqdm.monitor_interval = 0  # no tqdm monitor thread in the cases
warnings.simplefilter("ignore")  # cases judge outcomes, not warnings


def new_rows_batch(X, y):
    '''X plus six rows of ids never seen before: partial_fit must grow every table.'''
    extra = X[:6] + np.array([50, 60])
    return np.vstack([X, extra]), np.concatenate([y, y[:6]])


def assert_predicts(est, X):
    '''A model that trained without error predicts finite values of the right shape.'''
    n = X.shape[0]
    if hasattr(est, "predict_proba"):
        proba = checked_call(est, "predict_proba", X)
        assert not isinstance(proba, Raised), f"a fitted model cannot predict: {proba}"
        assert proba.shape == (n, 2) and np.isfinite(proba).all(), proba
        scores = checked_call(est, "decision_function", X)
        assert not isinstance(scores, Raised), f"a fitted model cannot score: {scores}"
        assert scores.shape == (n,) and np.isfinite(scores).all(), scores
    else:
        pred = checked_call(est, "predict", X)
        assert not isinstance(pred, Raised), f"a fitted model cannot predict: {pred}"
        assert pred.shape == (n,) and np.isfinite(pred).all(), pred


def assert_recommends(est):
    '''recommend for two known users and an unknown one: raises cleanly or gives finite scores.'''
    out = checked_call(est, "recommend", [0, 1, 999], n=3, exclude_seen=False)
    if not isinstance(out, Raised):
        items, scores = out
        assert items.shape == scores.shape == (3, 3), (items.shape, scores.shape)
        assert np.isfinite(scores).all(), scores


def survive(est, method, X, *args, **kwargs):
    '''Call under the contract; after a training call that returned, the model must predict.'''
    out = checked_call(est, method, X, *args, **kwargs)
    print(f"{method}: {out!r}"[:300])
    if not isinstance(out, Raised) and method in ("fit", "partial_fit"):
        assert_predicts(est, X)
    return out
"""

#: RLIMIT_AS for the thread-count cases: with it, creating ~1000 threads
#: (8 MB of stack each) fails on any machine, as it does on a small one.
FOUR_GB = 4 * 2**30

HAS_FACTORS = [n for n in ESTIMATORS if n != "BaselinePredictor"]
FM_NAMES = [n for n in ESTIMATORS if n.startswith("FactorizationMachine")]
NCF_NAMES = [n for n in ESTIMATORS if n.startswith("NeuralCF")]
MIXABLE = [n for n in ESTIMATORS if n.startswith(("MatrixFactorization", "FactorizationMachine"))]


def _fitted(name, **params):
    """Lines that fit ``name`` with ``params`` on tiny data (the fit itself must keep the contract)."""
    return f"""
X, y = tiny_data({name!r})
X2, y2 = new_rows_batch(X, y)
est = make({name!r}, random_state=0, **{params!r})
out = survive(est, "fit", X, y)
assert not isinstance(out, Raised), f"the starting fit failed: {{out}}"
"""


def _after_change(name, fit_params, change, calls=("partial_fit", "warm_fit")):
    """Cases: fit with ``fit_params``, ``set_params(**change)``, then each call of ``calls``."""
    cases = []
    label = ",".join(f"{k}={v}" for k, v in change.items())
    start = ",".join(f"{k}={v}" for k, v in fit_params.items())
    for call in calls:
        body = {
            "partial_fit": "survive(est, 'partial_fit', X2, y2)",
            "warm_fit": "est.set_params(warm_start=True)\nsurvive(est, 'fit', X2, y2)",
            "cold_fit": "survive(est, 'fit', X2, y2)",
            "predict": "assert_predicts(est, X2)",
            "recommend": "assert_recommends(est)",
        }[call]
        code = _fitted(name, **fit_params) + f"est.set_params(**{change!r})\n" + body + "\n"
        cases.append(Case(f"{name}[{start}]->{label}->{call}", code))
    return cases


def _solver_switch_cases():
    """Every estimator x every ordered pair of different solvers x (partial_fit, warm refit)."""
    cases = []
    for name in ESTIMATORS:
        for old, new in itertools.permutations(SOLVER_NAMES, 2):
            cases += _after_change(name, {"solver": old}, {"solver": new})
            if new == "cf-sgd":  # into cf-sgd with a half-life: last-visit stamps appear too
                cases += _after_change(name, {"solver": old}, {"solver": new, "counter_halflife": 5.0})
    return cases


def _halflife_cases():
    """cf-sgd: a counter half-life added after fit, or removed."""
    cases = []
    for name in ESTIMATORS:
        cases += _after_change(name, {"solver": "cf-sgd"}, {"counter_halflife": 5.0})
        cases += _after_change(name, {"solver": "cf-sgd", "counter_halflife": 5.0}, {"counter_halflife": None})
    return cases


def _shape_cases():
    """Parameters that size the tables or the network, changed after fit: every later call must cope.

    Under ``adagrad``, whose accumulators have the shape of the parameters
    (plain SGD keeps no per-row state; the solver switches above cover it).
    """
    cases = []
    every_call = ("partial_fit", "warm_fit", "predict", "recommend")
    fit_params = {"solver": "adagrad"}
    for name in ESTIMATORS:
        cases += _after_change(name, fit_params, {"dtype": "float64"}, every_call)
    for name in HAS_FACTORS:
        cases += _after_change(name, fit_params, {"n_factors": 4 if "mixed" not in name else 2}, every_call)
    for name in MIXABLE:
        other = "uniform" if "mixed" in name else "mixed"
        cases += _after_change(name, fit_params, {"embedding_dims": other}, every_call)
    cases += _after_change("OverparamMF", fit_params, {"inner_dim": 5, "n_layers": 3}, every_call)
    for name in NCF_NAMES:
        for model in sorted({"gmf", "mlp", "neumf"} - {name.split("-")[1]}):
            cases += _after_change(name, fit_params, {"model": model}, every_call)
        cases += _after_change(name, fit_params, {"hidden_layers": (6, 3, 2)}, every_call)
    cases += _after_change("FactorizationMachine", fit_params, {"task": "classification"},
                           ("predict", "recommend", "cold_fit"))
    return cases


def _n_jobs_cases():
    """Oversized thread counts in training and in prediction, under a 4 GB address-space limit."""
    cases = []
    for name in ESTIMATORS:
        for n_jobs in (1000, 10**6, 2**40):
            fit_code = f"""
X, y = tiny_data({name!r})
est = make({name!r}, random_state=0, n_jobs={n_jobs})
survive(est, "fit", X, y)
"""
            cases.append(Case(f"{name}[n_jobs={n_jobs}]->fit", fit_code, address_space=FOUR_GB))
            predict_code = _fitted(name) + f"""
est.set_params(n_jobs={n_jobs})
assert_predicts(est, X2)
assert_recommends(est)
survive(est, "partial_fit", X2, y2)
"""
            cases.append(Case(f"{name}[n_jobs={n_jobs}]->predict,recommend,partial_fit", predict_code,
                              address_space=FOUR_GB))
    return cases


#: Sparse designs (24 samples) that leave feature rows untrained or have none at all.
SPARSE_DESIGNS = {
    "empty columns": "sp.csr_matrix(np.where(np.arange(7) % 3 == 2, 0.0, "
                     "rng.normal(size=(24, 7)) * (rng.random((24, 7)) < 0.5)))",
    "no columns": "sp.csr_matrix((24, 0))",
    "all zero": "sp.csr_matrix((24, 5))",
    "one zero column": "sp.csr_matrix(np.zeros((24, 1)))",
}


def _sparse_design_cases():
    """Factorization machines on CSR designs with empty columns, no columns or no non-zero at all."""
    cases = []
    for (design, expr), name, solver in itertools.product(SPARSE_DESIGNS.items(), FM_NAMES, SOLVER_NAMES):
        code = f"""
rng = np.random.default_rng(0)
Xs = {expr}
_, y = tiny_data({name!r})
est = make({name!r}, random_state=0, solver={solver!r})
out = survive(est, "fit", Xs, y)
if not isinstance(out, Raised):
    survive(est, "partial_fit", Xs, y)
    wider = sp.hstack([Xs, sp.csr_matrix((24, 3))]).tocsr()  # more columns than in fit
    checked_call(est, "partial_fit", wider, y)
    assert_predicts(est, Xs)
"""
        cases.append(Case(f"{name}[sparse design: {design}, solver={solver}]", code))
    return cases


CASES = _solver_switch_cases() + _halflife_cases() + _shape_cases() + _n_jobs_cases() + _sparse_design_cases()


@pytest.fixture(scope="module")
def outcomes(request):
    """Run the cases this session selected (all of them, unless ``-k`` narrows it), once."""
    selected = {item.callspec.params["case"].name for item in request.session.items
                if getattr(item, "originalname", None) == "test_case_keeps_the_contract"}
    return run_cases([case for case in CASES if case.name in selected], setup=SETUP)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case_keeps_the_contract(case, outcomes):
    outcome = outcomes[case.name]
    if not outcome.ok:
        pytest.fail(f"{case.name}: {outcome.describe()}\n--- case code ---{case.code}", pytrace=False)


# ------------------------------------------------------- the harness itself
def test_harness_reports_a_segfault_as_a_failure():
    [outcome] = run_cases([Case("segv", "import ctypes\nctypes.string_at(0)")]).values()
    assert not outcome.ok
    assert outcome.returncode == -11
    assert "SIGSEGV" in outcome.describe()
    assert "Segmentation fault" in outcome.stderr  # faulthandler names the crash and the line


def test_harness_reports_a_hang_and_keeps_going():
    cases = [Case("hang", "import time\ntime.sleep(600)", timeout=1.0), Case("after", "x = 1")]
    outcomes = run_cases(cases)
    assert outcomes["hang"].timed_out and not outcomes["hang"].ok
    assert "hung" in outcomes["hang"].describe()
    assert outcomes["after"].ok


def test_harness_reports_exceptions_with_their_traceback():
    [outcome] = run_cases([Case("boom", "raise AssertionError('the model changed')")]).values()
    assert outcome.returncode == 1 and "the model changed" in outcome.stderr


def test_harness_caps_the_address_space():
    cases = [Case("big", "bytearray(3 * 2**30)", address_space=2 * 2**30), Case("small", "bytearray(2**20)",
                                                                                  address_space=2 * 2**30)]
    outcomes = run_cases(cases)
    assert outcomes["big"].returncode == 1 and "MemoryError" in outcomes["big"].stderr
    assert outcomes["small"].ok


def test_harness_runs_the_recfreq_under_test():
    import recfreq

    [outcome] = run_cases([Case("same", f"import recfreq\nassert recfreq.__file__ == {recfreq.__file__!r}, "
                                        "recfreq.__file__")]).values()
    assert outcome.ok, outcome.describe()


def test_run_python_reports_the_signal():
    outcome = run_python("import os, signal\nos.kill(os.getpid(), signal.SIGABRT)", timeout=60)
    assert outcome.returncode == -6 and "SIGABRT" in outcome.describe()
    assert run_python("import recfreq", timeout=60).ok


def test_every_estimator_is_enumerated():
    names = {case.name.split("[")[0] for case in CASES}
    assert names == set(ESTIMATORS)
    switches = [case.name for case in CASES if re.search(r"->solver=[a-z-]+->partial_fit$", case.name)]
    assert len(switches) == len(ESTIMATORS) * 12  # 4 x 3 ordered pairs of solvers
    assert set(TARGET_KIND) == set(ESTIMATORS)
