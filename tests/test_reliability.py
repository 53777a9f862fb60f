"""The reliability guarantees every estimator gives (the user guide's "Robustness" section).

* A call that raises leaves the estimator exactly as it was (every fitted
  attribute compared before and after), divergence included.
* Solver state always fits the solver the kernel runs: parameters may change
  between ``partial_fit`` calls, structural ones are refused.
* ``n_jobs`` is capped at the usable processors; the threads that did the
  work are observable.
* Divergence is judged by what a user would see: a finite loss and
  predictions that cannot overflow (or, for regression, explode far beyond
  the targets).
* Values the model's dtype cannot represent are refused up front.

Cases that could kill the interpreter are repeated in subprocesses in
``test_crash_cases.py``; these in-process tests pin the exact behaviour.
"""

import copy
import dataclasses
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from recfreq import (BaselinePredictor, FactorizationMachine, FactorizationMachineClassifier,
                     MatrixFactorization, NeuralCF, OverparamMF)
from recfreq import _engine
from recfreq._kernels.cpu import openmp_helpers as _openmp_helpers
from recfreq._solvers import SOLVER_NAMES, Solver, TableState
from recfreq.base import effective_n_threads, usable_cpus
from recfreq.datasets import make_synthetic_ratings

from _helpers import tiny_ratings

RATING_MODELS = [
    lambda: BaselinePredictor(max_iter=2, random_state=0),
    lambda: MatrixFactorization(n_factors=3, max_iter=2, random_state=0),
    lambda: MatrixFactorization(n_factors=3, max_iter=2, random_state=0, embedding_dims="mixed"),
    lambda: OverparamMF(n_factors=3, inner_dim=4, max_iter=2, random_state=0),
    lambda: FactorizationMachine(n_factors=3, max_iter=2, random_state=0),
    lambda: FactorizationMachine(n_factors=3, max_iter=2, random_state=0, embedding_dims="mixed"),
]
ALL_MODELS = RATING_MODELS + [
    lambda: FactorizationMachineClassifier(n_factors=3, max_iter=2, random_state=0),
    lambda: NeuralCF(n_factors=3, hidden_layers=(4, 2), max_iter=2, random_state=0),
]
IDS = ["baseline", "mf", "mf-mixed", "overparam", "fm", "fm-mixed", "fm-classifier", "ncf"]


def _targets(est, y):
    if isinstance(est, NeuralCF):
        return None
    if isinstance(est, FactorizationMachineClassifier):
        return (y > 3).astype(int)
    return y


def _fit(est, X, y):
    return est.fit(X, _targets(est, y))


def _partial_fit(est, X, y):
    return est.partial_fit(X, _targets(est, y))


def _snapshot(est):
    return {name: copy.deepcopy(getattr(est, name)) for name in est._fitted_attribute_names()}


def _same(a, b):
    if isinstance(a, np.random.RandomState):
        return isinstance(b, np.random.RandomState) and _same(a.get_state(), b.get_state())
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if sp.issparse(a) or sp.issparse(b):
        return sp.issparse(a) and sp.issparse(b) and a.shape == b.shape and (a != b).nnz == 0
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, z) for x, z in zip(a, b))
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return type(a) is type(b) and _same(vars(a), vars(b))
    return a == b or (a != a and b != b)


def assert_unchanged(before, est):
    after = _snapshot(est)
    assert before.keys() == after.keys(), set(before) ^ set(after)
    for name in before:
        assert _same(before[name], after[name]), f"{name} changed by a call that raised"


@pytest.fixture(scope="module")
def data():
    return tiny_ratings()


# ------------------------------------------------------- failed calls change nothing
@pytest.mark.parametrize("make", ALL_MODELS, ids=IDS)
def test_failed_partial_fit_after_new_ids_leaves_the_model_as_it_was(make, data):
    X, y = data
    est = _fit(make(), X, y)
    before = _snapshot(est)
    # new users and items first, then a NaN id: the error comes after growing would start
    bad_X = np.vstack([X[:5] + 1000, [[np.nan, 1.0]]])
    with pytest.raises(ValueError):
        _partial_fit(est, bad_X, np.append(y[:5], 3.0))
    assert_unchanged(before, est)
    est.predict(X[:3])  # still works


@pytest.mark.parametrize("make", ALL_MODELS, ids=IDS)
@pytest.mark.parametrize("params", [{"learning_rate": -1.0}, {"alpha": -0.1}, {"solver": "newton"},
                                    {"n_factors": True}, {"max_iter": 0}],
                         ids=["negative-lr", "negative-alpha", "unknown-solver", "bool-int", "zero-iter"])
def test_partial_fit_revalidates_parameters(make, params, data):
    X, y = data
    est = _fit(make(), X, y)
    if not set(params) <= set(est.get_params()):
        pytest.skip("parameter not offered by this estimator")
    before = _snapshot(est)
    est.set_params(**params)
    with pytest.raises((ValueError, TypeError)):
        _partial_fit(est, X + 50, y)
    assert_unchanged(before, est)


@pytest.mark.parametrize("make", RATING_MODELS, ids=IDS[:6])
def test_diverging_partial_fit_restores_the_state_before_the_batch(make, data):
    X, y = data
    est = _fit(make(), X, y)
    before = _snapshot(est)
    est.set_params(solver="sgd", learning_rate=1e12)
    with pytest.raises(FloatingPointError, match="learning_rate"):
        _partial_fit(est, np.vstack([X, [[777, 888]]]), np.append(y, 5.0) * 1e6)
    assert_unchanged(before, est)


@pytest.mark.parametrize("make", ALL_MODELS, ids=IDS)
def test_failed_fit_keeps_the_previous_fit(make, data):
    X, y = data
    est = _fit(make(), X, y)
    before = _snapshot(est)
    with pytest.raises(ValueError):
        _fit(est, X[:, :1], y)
    with pytest.raises(ValueError):
        _fit(est.set_params(validation_fraction=0.999999, early_stopping=True), X[:2], y[:2])
    assert_unchanged(before, est)


def test_diverging_fit_reports_exploding_predictions_and_keeps_the_model_unfitted():
    # the finite-parameters check alone let this through: predictions were [6.9e27, nan, 2.1e22]
    X, y = [[0, 0], [0, 1], [0, 2]], [0, 0, 70046.0]
    est = MatrixFactorization(solver="sgd", n_factors=3, max_iter=2, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        est.fit(X, y)
    assert not hasattr(est, "user_factors_")


def test_a_healthy_fit_on_large_targets_is_not_called_divergence():
    X, y = make_synthetic_ratings(n_users=40, n_items=30, n_ratings=600, random_state=0)
    est = MatrixFactorization(n_factors=4, solver="adagrad", max_iter=5, random_state=0).fit(X, y * 1e4)
    pred = est.predict(X)
    assert np.isfinite(pred).all() and np.abs(pred).max() < 1e6


# ------------------------------------------------------- solver state follows the solver
@pytest.mark.parametrize("make", ALL_MODELS, ids=IDS)
@pytest.mark.parametrize("first", SOLVER_NAMES)
@pytest.mark.parametrize("second", SOLVER_NAMES)
def test_solver_switch_between_calls_trains_with_fresh_state_of_the_new_solver(make, first, second, data):
    X, y = data
    est = _fit(make().set_params(solver=first), X, y)
    est.set_params(solver=second, counter_halflife=50.0)
    _partial_fit(est, X, y)
    est.set_params(warm_start=True, solver=first)
    _fit(est, X, y)
    pred = est.predict(X[:5])
    assert np.isfinite(np.asarray(pred, dtype=float)).all()
    states = [getattr(est, n) for n in ("user_state_", "item_state_", "feature_state_") if hasattr(est, n)]
    for state in states:
        assert state.solver == Solver.from_name(first)
        assert bool(state.accumulators) == (first == "adagrad")


def test_state_of_a_new_solver_starts_fresh_and_counts_carry_over(data):
    X, y = data
    est = MatrixFactorization(n_factors=3, solver="sgd", max_iter=2, random_state=0).fit(X, y)
    counts = est.user_state_.counts.copy()
    est.set_params(solver="adagrad")
    est.partial_fit(X[:10], y[:10])
    acc = est.user_state_.accumulators["factors"]
    touched = np.unique(est._user_encoder.transform(X[:10, 0]))
    assert (acc[touched] > 0).all()
    untouched = np.setdiff1d(np.arange(acc.shape[0]), touched)
    assert (acc[untouched] == 0).all()  # fresh: nothing from before the switch
    np.testing.assert_array_equal(est.user_state_.counts, counts + np.bincount(
        est._user_encoder.transform(X[:10, 0]), minlength=counts.shape[0]))


def test_halflife_added_after_fit_decays_from_now(data):
    X, y = data
    est = MatrixFactorization(n_factors=3, solver="cf-sgd", max_iter=2, random_state=0).fit(X, y)
    t = est.t_
    est.set_params(counter_halflife=10.0)
    est._match_solver_state()
    assert (est.user_state_.last_seen == t).all()


def test_engine_refuses_state_that_lacks_what_the_solver_reads(data):
    X, y = data
    est = MatrixFactorization(n_factors=3, solver="sgd", max_iter=1, random_state=0).fit(X, y)
    users = est._user_encoder.transform(X[:, 0])
    items = est._item_encoder.transform(X[:, 1])
    common = dict(device="cpu", user_index=users, item_index=items, ratings=y.astype(np.float32),
                  user_factors=est.user_factors_, item_factors=est.item_factors_, user_bias=est.user_bias_,
                  item_bias=est.item_bias_, user_state=est.user_state_, item_state=est.item_state_,
                  global_mean=est.global_mean_, alpha=0.1, alpha_bias=0.1, t_start=0, n_threads=1)
    for solver, what in ((Solver.ADAGRAD, "accum"), (Solver.CF_SGD, "counter"), (Solver.FA_SGD, "frequency")):
        with pytest.raises(ValueError, match=what):
            _engine.mf_epoch(config=_engine.solver_config(solver, 0.1, 0.5, None), **common)
    est.set_params(solver="cf-sgd")
    est._match_solver_state()
    common.update(user_state=est.user_state_, item_state=est.item_state_)
    with pytest.raises(ValueError, match="last_seen"):
        _engine.mf_epoch(config=_engine.solver_config(Solver.CF_SGD, 0.1, 0.5, 100.0), **common)


def test_table_state_for_solver_keeps_matching_state():
    state = TableState.allocate(Solver.ADAGRAD, 4, {"factors": (2,), "bias": ()}, np.float32)
    state.accumulators["bias"][:] = 3
    same = state.for_solver(Solver.ADAGRAD, {"factors": (2,), "bias": ()}, np.float32, False, 0)
    assert (same.accumulators["bias"] == 3).all()
    other = state.for_solver(Solver.SGD, {"factors": (2,), "bias": ()}, np.float32, False, 0)
    assert other.accumulators == {} and other.counts is state.counts


# ------------------------------------------------------- fitted structure
@pytest.mark.parametrize("make, params", [
    (ALL_MODELS[1], {"n_factors": 5}),
    (ALL_MODELS[1], {"embedding_dims": "mixed"}),
    (ALL_MODELS[3], {"inner_dim": 7}),
    (ALL_MODELS[4], {"task": "classification"}),
    (ALL_MODELS[7], {"model": "gmf"}),
    (ALL_MODELS[7], {"n_factors": 5}),
    (ALL_MODELS[7], {"hidden_layers": (6, 3)}),
    (ALL_MODELS[0], {"dtype": "float64"}),
], ids=["mf-k", "mf-dims", "overparam-m", "fm-task", "ncf-model", "ncf-k", "ncf-layers", "dtype"])
def test_predictions_read_the_fitted_structure_and_continuing_refuses_a_new_one(make, params, data):
    X, y = data
    est = _fit(make(), X, y)
    methods = [m for m in ("predict", "predict_proba", "decision_function") if hasattr(est, m)]
    before = {m: getattr(est, m)(X[:7]) for m in methods}
    top = est.recommend(X[:3, 0], n=3)
    snap = _snapshot(est)
    est.set_params(**params)
    for m in methods:
        np.testing.assert_array_equal(getattr(est, m)(X[:7]), before[m])
    np.testing.assert_array_equal(est.recommend(X[:3, 0], n=3)[1], top[1])
    with pytest.raises(ValueError, match="changed the model's shape"):
        _partial_fit(est, X, y)
    with pytest.raises(ValueError, match="changed the model's shape"):
        _fit(est.set_params(warm_start=True), X, y)
    assert_unchanged(snap, est)
    if "task" not in params:  # a classification FM needs labels, not ratings
        _fit(est.set_params(warm_start=False), X, y)  # a new fit takes the new structure
        for name, value in params.items():
            assert est._fitted_param(name) == value


# ------------------------------------------------------- n_jobs
def test_n_jobs_is_capped_at_the_usable_processors_with_a_warning(data):
    X, y = data
    usable = usable_cpus()
    with pytest.warns(RuntimeWarning, match="exceeds"):
        est = MatrixFactorization(n_factors=2, max_iter=1, n_jobs=10**6).fit(X, y)
    if _openmp_helpers.openmp_enabled():
        assert est._samples_per_thread.shape[0] == usable
    assert effective_n_threads(2**40) == usable if _openmp_helpers.openmp_enabled() else 1
    assert effective_n_threads(-10**6) == 1
    assert effective_n_threads(None) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(est.predict(X)).all()  # predict caps silently
    with pytest.raises(TypeError):
        effective_n_threads(1.5)
    with pytest.raises(ValueError):
        effective_n_threads(0)


@pytest.mark.skipif(not _openmp_helpers.openmp_enabled() or usable_cpus() < 2,
                    reason="needs OpenMP and two usable processors")
@pytest.mark.parametrize("make", ALL_MODELS, ids=IDS)
def test_two_threads_both_do_work(make):
    X, y = make_synthetic_ratings(n_users=120, n_items=80, n_ratings=3000, random_state=1)
    one = _fit(make().set_params(n_jobs=1), X, y)
    two = _fit(make().set_params(n_jobs=2), X, y)
    np.testing.assert_array_equal(one._samples_per_thread, [one._samples_per_thread.sum()])
    assert two._samples_per_thread.shape == (2,) and (two._samples_per_thread > 0).all()
    assert two._samples_per_thread.sum() == one._samples_per_thread.sum()
    # (that the two-thread parameters differ is not asserted: a loaded machine may run
    # one thread's half of the epoch entirely before the other's, which replays the
    # one-thread order exactly)


# ------------------------------------------------------- inputs the dtype cannot hold
def test_values_beyond_the_dtype_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="beyond the range of float32"):
        MatrixFactorization().fit(X, np.where(np.arange(len(y)) == 0, 1e300, y))
    MatrixFactorization(dtype="float64", max_iter=1, solver="adagrad").fit(X, y)  # fine in float64
    side = np.column_stack([X, np.full(len(X), 1e200)])
    with pytest.raises(ValueError, match="column 2"):
        FactorizationMachine(standardize=False).fit(side, y)
    with pytest.raises(ValueError, match="Complex"):
        MatrixFactorization().fit(X, y + 1j)
    with pytest.raises(ValueError, match="Complex"):
        FactorizationMachine().fit(np.column_stack([X, X[:, 0] + 1j]).astype(object), y)
    with pytest.raises(ValueError, match="0 feature"):
        FactorizationMachine().fit(sp.csr_matrix((5, 0)), np.ones(5))


def test_standardizing_huge_numeric_columns_does_not_overflow(data):
    X, y = data
    side = np.column_stack([X, np.arange(len(X)) * 1e200])
    est = FactorizationMachine(n_factors=2, max_iter=2, random_state=0).fit(side, y)
    assert np.isfinite(est.predict(side)).all()
    with pytest.raises(ValueError, match="beyond the range"):
        est.predict(np.column_stack([X[:2], [1e300, 1e300]]))


def test_fm_prediction_that_overflows_is_refused_not_returned(data):
    X, y = data
    est = FactorizationMachine(n_factors=2, max_iter=1, standardize=False, random_state=0).fit(
        np.column_stack([X, np.ones(len(X))]), y)
    with pytest.raises(ValueError, match="overflow"):
        est.predict(np.column_stack([X[:2], [1e30, 1e30]]))


def test_side_column_of_another_kind_is_named(data):
    X, y = data
    side = np.column_stack([X, np.where(X[:, 0] % 2, "a", "b")]).astype(object)
    side[:, :2] = X
    est = FactorizationMachine(n_factors=2, max_iter=1).fit(side, y)
    other = side[:3].copy()
    other[:, 2] = [1, 2, 3]
    with pytest.raises(TypeError, match="Column 2"):
        est.predict(other)


# ------------------------------------------------------- arguments of the other entry points
@pytest.mark.parametrize("make", ALL_MODELS[:2] + ALL_MODELS[4:5] + ALL_MODELS[7:], ids=["baseline", "mf", "fm", "ncf"])
@pytest.mark.parametrize("kwargs", [{"batch_size": -1}, {"batch_size": 0}, {"n": 0}, {"n": True},
                                    {"batch_size": 2.5}])
def test_recommend_refuses_bad_sizes(make, kwargs, data):
    X, y = data
    est = _fit(make(), X, y)
    with pytest.raises(ValueError, match="positive integer"):
        est.recommend(X[:2, 0], **kwargs)


def test_fm_recommend_refuses_duplicate_candidates(data):
    X, y = data
    est = FactorizationMachine(n_factors=2, max_iter=1).fit(X, y)
    seen = X[X[:, 0] == X[0, 0], 1][0]
    with pytest.raises(ValueError, match="duplicate"):
        est.recommend([X[0, 0]], items=[seen, seen, seen])
    items, scores = est.recommend([X[0, 0]], items=np.unique(X[:, 1]), n=3)
    assert seen not in items[0][np.isfinite(scores[0])]
