"""The shared contract suite, run for the factorization machines.

``tests/test_contract.py`` assumes the MF family's fitted attributes
(``user_bias_``, ``user_state_``); the FM keeps one table of feature rows
instead. The generic tests are imported from there and run here against the
FM factories; the three that read MF attributes have FM versions below.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from recfreq import FactorizationMachine, FactorizationMachineClassifier
from recfreq._engine.cuda import use_backend
from recfreq._solvers import SOLVER_NAMES

from _devices import emulated_device

from _helpers import (assert_grid_applied_every_solver_and_refit_the_best, planted_ratings,
                      tiny_ratings)
from test_contract import (  # noqa: F401  (collected here with this module's fixtures)
    test_clone_and_pickle_round_trip,
    test_different_seeds_give_different_orders,
    test_divergence_raises_and_leaves_the_estimator_unfitted,
    test_dtype_is_preserved,
    test_early_stopping_records_validation_rmse,
    test_fit_returns_self_and_shapes,
    test_grid_search_and_pipeline,
    test_joblib_persistence_and_parallel_cross_validation,
    test_loss_decreases_and_beats_the_mean,
    test_recfreq_scorers_and_cv_splitter_in_grid_search,
    test_recommend_ranks_unseen_items,
    test_single_thread_is_bit_for_bit_reproducible,
    test_string_ids,
    test_tol_stops_on_training_loss,
    test_two_threads_are_close_to_one,
    test_verbose_shows_a_progress_bar,
    test_warm_start_continues_from_previous_fit,
)

ESTIMATORS = {
    "FactorizationMachine": lambda **kw: FactorizationMachine(**{"max_iter": 5, "n_factors": 8, **kw}),
    "FactorizationMachine-mixed": lambda **kw: FactorizationMachine(
        **{"max_iter": 5, "n_factors": 8, "embedding_dims": "mixed", "n_dim_blocks": 3, **kw}),
    # two epochs on the emulated device, as in test_contract.py
    "FactorizationMachine-cuda": lambda **kw: FactorizationMachine(
        **{"max_iter": 2, "n_factors": 8, "device": "cuda", **kw}),
    "FactorizationMachine-mixed-cuda": lambda **kw: FactorizationMachine(
        **{"max_iter": 2, "n_factors": 8, "embedding_dims": "mixed", "n_dim_blocks": 3, "device": "cuda", **kw}),
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
    return planted_ratings(), planted_ratings(n_ratings=3600)


@pytest.fixture
def data(request, _planted):
    """6000 planted ratings; 3600 for the -cuda entries (see test_contract.py)."""
    full, small = _planted
    callspec = getattr(request.node, "callspec", None)
    return small if callspec and str(callspec.params.get("make", "")).endswith("-cuda") else full


def _row(model, name):
    return np.flatnonzero(model.feature_names_ == name)[0]


def test_unknown_ids_fall_back_to_known_parts(make, data):
    X, y = data
    model = make(random_state=0, clip_predictions=False).fit(X, y)
    u, i = X[0]
    pred = model.predict(np.array([[u, i], [10**9, i], [u, 10**9], [10**9, 10**9]]))
    assert np.isfinite(pred).all()
    w0 = model.intercept_[0]
    assert pred[3] == pytest.approx(w0)
    # an unknown id adds no row: one known row left, so no pairwise term
    assert pred[1] == pytest.approx(w0 + model.feature_bias_[_row(model, f"item={i}")], rel=1e-6)
    assert pred[2] == pytest.approx(w0 + model.feature_bias_[_row(model, f"user={u}")], rel=1e-6)


def test_huge_sparse_ids_do_not_allocate_huge_tables(make):
    X, y = tiny_ratings()
    X_big = X.copy()
    X_big[:, 0] = X[:, 0] * 10**12 + 7
    model = make(random_state=0).fit(X_big, y)
    assert model.feature_bias_.shape[0] == len(np.unique(X[:, 0])) + len(np.unique(X[:, 1]))
    np.testing.assert_allclose(model.predict(X_big), make(random_state=0).fit(X, y).predict(X))
    X_obj = np.array([[2**70 + int(a), int(b)] for a, b in X], dtype=object)
    assert np.isfinite(make(random_state=0).fit(X_obj, y).predict(X_obj)).all()


def test_partial_fit_continues_and_grows(make, solver, data):
    X, y = data
    model = make(solver=solver, random_state=0)
    model.partial_fit(X[:3000], y[:3000])
    n_users = model.user_ids_.shape[0]
    counts_before = model.feature_state_.counts.sum()
    model.partial_fit(X[3000:], y[3000:])
    assert model.n_iter_ == 2
    assert model.t_ == len(y)
    assert model.user_ids_.shape[0] == len(np.unique(X[:, 0])) >= n_users
    # one user row and one item row per sample
    assert model.feature_state_.counts.sum() == counts_before + 2 * (len(y) - 3000)
    assert model.feature_state_.n_samples == len(y)
    assert np.isfinite(model.predict(X)).all()


def _side(X):
    frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1]})
    frame["group"] = np.where(X[:, 0] % 3 == 0, "a", "b")
    frame["tags"] = [["t1", "t2"] if i % 2 else ["t3"] for i in X[:, 1]]
    frame["size"] = (X[:, 1] % 7).astype(float)
    return frame


def test_grid_search_over_solver_learning_rate_and_factors_with_side_features(data):
    X, y = data
    grid = GridSearchCV(FactorizationMachine(max_iter=3, random_state=0),
                        {"solver": list(SOLVER_NAMES), "learning_rate": [None, 0.01], "n_factors": [2, 8]},
                        scoring="neg_root_mean_squared_error", cv=KFold(2, shuffle=True, random_state=0))
    grid.fit(_side(X), y)
    assert_grid_applied_every_solver_and_refit_the_best(
        grid, FactorizationMachine(max_iter=3, random_state=0), _side(X), y,
        fixed={"learning_rate": None, "n_factors": 8})


def test_classifier_in_grid_search_and_cross_validation(data):
    from sklearn.model_selection import cross_val_score

    X, y = data
    labels = (y >= 4).astype(int)
    grid = GridSearchCV(FactorizationMachineClassifier(max_iter=3, random_state=0),
                        {"solver": list(SOLVER_NAMES), "n_factors": [2, 8]}, scoring="roc_auc", cv=2)
    grid.fit(_side(X), labels)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_score_ > 0.6
    scores = cross_val_score(FactorizationMachineClassifier(max_iter=3, random_state=0), X, labels, cv=3,
                             scoring="neg_log_loss")
    assert np.isfinite(scores).all()
