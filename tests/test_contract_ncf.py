"""The shared contract suite, run for NeuralCF (every model x solver).

``tests/test_contract.py`` assumes explicit ratings (RMSE, ``user_bias_``,
``t_ == epochs x rows``); NeuralCF learns from implicit feedback with sampled
negatives, so the same contract points are checked here on implicit data:
fit returns self and shapes, dtypes, n_jobs=1 reproducibility, seeds matter,
the loss decreases, unknown ids, string ids, huge ids, clone/pickle/joblib,
warm_start and partial_fit continue, Hogwild with two threads, divergence,
early stopping, tol, recommend, grid search / pipeline / cross-validation,
the progress bar and bad input. Generic tests that fit are imported as is.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from recfreq._engine import build_info, usable_cpus
from recfreq._engine.cuda import use_backend
from recfreq import NeuralCF
from recfreq._solvers import SOLVER_NAMES
from recfreq.metrics import hit_rate_at_k

from _devices import emulated_device
from _helpers import (assert_grid_applied_every_solver_and_refit_the_best, planted_ratings,
                      tiny_ratings)
from test_contract import test_verbose_shows_a_progress_bar  # noqa: F401  (collected with this module's fixtures)

ESTIMATORS = {
    "NeuralCF-gmf": lambda **kw: NeuralCF(**{"model": "gmf", "max_iter": 4, "n_factors": 8,
                                             "positive_threshold": 3.5, **kw}),
    "NeuralCF-mlp": lambda **kw: NeuralCF(**{"model": "mlp", "max_iter": 4, "hidden_layers": (16, 8, 4),
                                             "positive_threshold": 3.5, **kw}),
    "NeuralCF-neumf": lambda **kw: NeuralCF(**{"model": "neumf", "max_iter": 4, "n_factors": 4,
                                               "hidden_layers": (16, 8), "positive_threshold": 3.5, **kw}),
    # GMF and MLP are the two halves of this network (the kernel's paths with k = 0 and d = 0
    # are checked against the reference in tests/test_cuda_models.py)
    "NeuralCF-neumf-cuda": lambda **kw: NeuralCF(**{"model": "neumf", "max_iter": 2, "n_factors": 4,
                                                    "hidden_layers": (16, 8), "positive_threshold": 3.5,
                                                    "device": "cuda", **kw}),
}


@pytest.fixture(params=sorted(ESTIMATORS))
def make(request):
    if request.param.endswith("-cuda"):  # on the emulated CUDA device (tests/_emulated_device.py)
        with use_backend(emulated_device()):
            yield ESTIMATORS[request.param]
    else:
        yield ESTIMATORS[request.param]


@pytest.fixture(scope="module")
def _planted():
    return planted_ratings(n_ratings=3000), planted_ratings(n_ratings=2400)


@pytest.fixture
def data(request, _planted):
    """Ratings >= 3.5 are positives, the rest explicit negatives (positive_threshold): 3000 rows;
    2400 for the -cuda entry, whose every epoch the emulated device runs fiber by fiber on the
    CPU (partial_fit still gets two batches: 2000 rows, then 400)."""
    full, small = _planted
    callspec = getattr(request.node, "callspec", None)
    return small if callspec and str(callspec.params.get("make", "")).endswith("-cuda") else full


def _emitted(model, y):
    pos = int((np.asarray(y) >= model.positive_threshold).sum())
    return pos * (1 + model.n_negatives) + len(y) - pos


def test_fit_returns_self_and_shapes(make, solver, data):
    X, y = data
    model = make(solver=solver, random_state=0)
    assert model.fit(X, y) is model
    assert model.predict(X[:17]).shape == (17,)
    assert model.predict_proba(X[:17]).shape == (17, 2)
    assert np.isfinite(model.decision_function(X[:17])).all()
    assert model.n_iter_ == model.max_iter == len(model.loss_curve_)
    assert model.t_ == model.n_iter_ * _emitted(model, y)
    assert model.user_ids_.shape[0] == len(np.unique(X[:, 0]))
    assert model.n_features_in_ == 2
    assert model.n_parameters_ == sum(a.size for a in model._parameter_arrays())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(make, dtype, data):
    X, y = data
    model = make(dtype=dtype, random_state=0).fit(X, y)
    assert model.decision_function(X[:5]).dtype == np.dtype(dtype)
    assert model.predict_proba(X[:5]).dtype == np.dtype(dtype)
    for array in model._parameter_arrays():
        assert array.dtype == np.dtype(dtype)


def test_single_thread_is_bit_for_bit_reproducible(make, solver, data):
    X, y = data
    a = make(solver=solver, random_state=3, n_jobs=1).fit(X, y).decision_function(X)
    b = make(solver=solver, random_state=3, n_jobs=1).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(a, b)


def test_different_seeds_give_different_models(make, data):
    X, y = data
    a = make(random_state=1).fit(X, y).decision_function(X)
    b = make(random_state=2).fit(X, y).decision_function(X)
    assert not np.array_equal(a, b)


def test_loss_decreases(make, solver, data):
    X, y = data
    model = make(solver=solver, random_state=0, max_iter=8).fit(X, y)
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_unknown_ids_never_raise_or_nan(make, data):
    X, y = data
    model = make(random_state=0).fit(X, y)
    u, i = X[0]
    rows = np.array([[u, i], [10**9, i], [u, 10**9], [10**9, 10**9]])
    assert np.isfinite(model.decision_function(rows)).all()
    assert set(model.predict(rows)) <= {0, 1}


def test_string_ids():
    X, y = tiny_ratings()
    # zero-padded, so the strings sort like the numbers: same rows, same sampled items
    Xs = np.array([[f"u{a:03d}", f"i{b:03d}"] for a, b in X], dtype=object)
    make = ESTIMATORS["NeuralCF-neumf"]
    num = make(random_state=0, dtype="float64").fit(X, y).decision_function(X)
    txt = make(random_state=0, dtype="float64").fit(Xs, y).decision_function(Xs)
    np.testing.assert_allclose(num, txt)
    with pytest.raises(TypeError, match="same kind"):
        make(random_state=0).fit(Xs, y).predict(X)


def test_huge_sparse_ids_do_not_allocate_huge_tables(make):
    X, y = tiny_ratings()
    X_big = X.copy()
    X_big[:, 0] = X[:, 0] * 10**12 + 7
    model = make(random_state=0).fit(X_big, y)
    assert model.user_mlp_factors_.shape[0] == model.user_gmf_factors_.shape[0] == len(np.unique(X[:, 0]))
    np.testing.assert_allclose(model.decision_function(X_big), make(random_state=0).fit(X, y).decision_function(X))


def test_clone_and_pickle_round_trip(make, solver, data):
    X, y = data
    model = make(solver=solver, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.decision_function(X), restored.decision_function(X))
    restored.partial_fit(X, y)  # the restored solver state keeps training
    fresh = clone(model)
    assert fresh.get_params() == model.get_params()
    assert not hasattr(fresh, "t_")
    np.testing.assert_array_equal(fresh.fit(X, y).decision_function(X), model.decision_function(X))


def test_warm_start_continues_from_previous_fit(make, solver, data):
    X, y = data
    warm = make(solver=solver, random_state=0, max_iter=2, warm_start=True).fit(X, y)
    first = warm.decision_function(X)
    warm.fit(X, y)
    assert warm.t_ == 4 * _emitted(warm, y)
    cold = make(solver=solver, random_state=0, max_iter=2).fit(X, y)
    np.testing.assert_array_equal(cold.decision_function(X), first)
    assert not np.array_equal(warm.decision_function(X), first)


def test_partial_fit_continues_and_grows(make, solver, data):
    X, y = data
    model = make(solver=solver, random_state=0)
    model.partial_fit(X[:2000], y[:2000])
    n_users = model.user_ids_.shape[0]
    model.partial_fit(X[2000:], y[2000:])
    assert model.n_iter_ == 2
    assert model.t_ == _emitted(model, y)
    assert model.user_state_.n_samples == _emitted(model, y)
    assert model.user_ids_.shape[0] == len(np.unique(X[:, 0])) >= n_users
    assert model.positive_items_.nnz == int((y >= 3.5).sum())
    assert np.isfinite(model.decision_function(X)).all()


def _hit_rate(model, X_train, X_test):
    top, _ = model.recommend(X_test[:, 0], n=10)
    return hit_rate_at_k(X_test, top, k=10)


def test_two_threads_are_close_to_one(make, solver):
    """Hogwild changes the trajectory, not the quality: training log loss medians over seeds agree,
    and two threads both do work (the kernels count each thread's samples). (Whether the
    trajectory differs is not asserted: a loaded machine may run one thread's half of the
    epoch entirely before the other's, which replays the one-thread order exactly.)"""
    X, y = planted_ratings(n_ratings=3000)
    if make().device == "cuda":  # n_jobs does not reach a GPU launch (see test_contract.py)
        one, two = (make(solver=solver, random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, y) for n_jobs in (1, 2))
        np.testing.assert_array_equal(one.decision_function(X), two.decision_function(X))
        return
    models = {n_jobs: [make(solver=solver, random_state=seed, n_jobs=n_jobs, max_iter=6).fit(X, y)
                       for seed in range(3)] for n_jobs in (1, 2)}
    one, two = (np.median([m.loss_curve_[-1] for m in models[n]]) for n in (1, 2))
    assert np.isfinite(two)
    assert abs(one - two) < 0.05 * one
    second = models[2][0]
    if second.device == "cpu" and usable_cpus() >= 2 and build_info()["openmp"]:
        assert second._samples_per_thread.shape == (2,) and (second._samples_per_thread > 0).all()


def test_divergence_raises_and_leaves_the_estimator_unfitted(make, data):
    X, y = data
    model = make(solver="sgd", learning_rate=1e30, dense_learning_rate=1e30, init_std=1e10, random_state=0)
    with pytest.raises(FloatingPointError, match="learning_rate"):
        model.fit(X, y)
    assert not hasattr(model, "t_")
    with pytest.raises(Exception, match="not fitted"):
        model.predict(X)


def test_early_stopping_records_validation_log_loss(make, data):
    X, y = data
    model = make(early_stopping=True, validation_fraction=0.2, max_iter=50, n_iter_no_change=2,
                 tol=1e-2, random_state=0).fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_ < 50
    assert all(np.isfinite(model.validation_scores_))


def test_tol_stops_on_training_loss(make, data):
    X, y = data
    model = make(tol=10.0, n_iter_no_change=1, max_iter=30, random_state=0).fit(X, y)
    assert model.n_iter_ == 2


def test_recommend_ranks_unseen_items(make, data):
    X, y = data
    model = make(random_state=0).fit(X, y)
    users = np.unique(X[:, 0])[:20]
    items, scores = model.recommend(np.append(users, 10**9), n=7)
    assert items.shape == scores.shape == (21, 7)
    assert (np.diff(scores, axis=1) <= 0).all()
    for u, recs in zip(users, items[:-1]):
        assert not set(X[X[:, 0] == u, 1]) & set(recs.tolist())
        assert len(set(recs.tolist())) == 7
    pairs = np.column_stack([np.repeat(users, 7), items[:-1].ravel()])
    np.testing.assert_allclose(model.decision_function(pairs), scores[:-1].ravel(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="positive integer"):
        model.recommend(users, n=0)


def test_grid_search_pipeline_and_cross_validation(make, data):
    X, y = data
    labels = (y >= 3.5).astype(int)
    grid = GridSearchCV(make(random_state=0, positive_threshold=None, max_iter=2),
                        {"solver": list(SOLVER_NAMES), "learning_rate": [None, 0.01]},
                        scoring="roc_auc", cv=KFold(2, shuffle=True, random_state=0))
    grid.fit(X, labels)
    assert_grid_applied_every_solver_and_refit_the_best(
        grid, make(random_state=0, positive_threshold=None, max_iter=2), X, labels)
    pipe = Pipeline([("ids", FunctionTransformer(lambda A: A[:, :2])), ("model", make(random_state=0))])
    pipe.fit(np.column_stack([X, np.zeros(len(X))]), y)
    assert pipe.predict_proba(np.column_stack([X[:4], np.zeros(4)])).shape == (4, 2)
    # the emulated CUDA device lives in this process only: the device variant cross-validates here
    n_jobs = 1 if make().device == "cuda" else 2
    scores = cross_val_score(make(random_state=0, positive_threshold=None, max_iter=2), X, labels, cv=2,
                             n_jobs=n_jobs, scoring="neg_log_loss")
    assert np.isfinite(scores).all()


def test_joblib_persistence(make, data, tmp_path):
    import joblib

    X, y = data
    model = make(random_state=0).fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").decision_function(X),
                                  model.decision_function(X))


def test_bad_parameters_and_input(make, data):
    X, y = data
    with pytest.raises(ValueError):
        make(n_negatives=-1).fit(X, y)
    with pytest.raises(ValueError):
        make(solver="adam").fit(X, y)
    with pytest.raises(ValueError, match="2"):
        make().fit(X[:, :1], y)
    with pytest.raises(ValueError, match="binary y"):
        make(positive_threshold=None).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        make(positive_threshold=None).fit(X, np.array(["a"] * len(y)))
    with pytest.raises(ValueError, match="numeric ratings"):
        make().fit(X, np.array(["a"] * len(y)))
