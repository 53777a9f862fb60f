"""Behaviour that the kernel replays do not see, each pinned by a test that fails when it breaks.

* A warm-started ``fit`` counts the frequencies of its own training data: the
  counts restart, they do not pile up over the fits (``fa-sgd``'s step sizes
  and mixed-dimension blocks read them).
* ``validation_scores_`` is the RMSE (regressors) or the log loss
  (classifiers) of the model's own predictions on the held-out rows, which
  are recomputed here from ``random_state`` as ``BaseRecommender.fit`` draws
  them.
* ``dense_batch_size`` reaches every kernel that has dense parameters (the
  replays of ``test_replay_estimators.py`` and ``test_reference_fm_mixed.py``
  match the reference at two values; here the FM's two values differ).
* With two threads the factorization machine steps its hot rows on per-thread
  copies; their changes must reach the shared rows, so a two-thread fit moves
  the hot rows as a one-thread fit does.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils import check_random_state

from recfreq import (BaselinePredictor, FactorizationMachine, FactorizationMachineClassifier, MatrixFactorization,
                     NeuralCF, OverparamMF)
from recfreq._engine import cpu as engine_cpu
from recfreq._kernels.cpu import openmp_helpers as _openmp_helpers
from recfreq._solvers import SOLVER_NAMES

import test_reference_fm_mixed as fm_mixed_replay
from _helpers import tiny_ratings


def _rows_of(ids, values):
    """Row of each value in the fitted ``ids`` (user_ids_/item_ids_), computed from the public ids."""
    position = {v: r for r, v in enumerate(np.asarray(ids).tolist())}
    return np.array([position[v] for v in np.asarray(values).tolist()])


def _two_batches():
    """Two rating batches over partly different users and items."""
    X1, y1 = tiny_ratings(seed=1)
    X2, y2 = tiny_ratings(n_users=10, n_items=12, n_ratings=60, seed=2)
    return (X1, y1), (X2 + 3, y2)


# ------------------------------------------------- warm-start frequency counts
@pytest.mark.parametrize("make", [
    lambda: BaselinePredictor(max_iter=2, random_state=0),
    lambda: MatrixFactorization(n_factors=3, max_iter=2, random_state=0),
    lambda: MatrixFactorization(n_factors=3, max_iter=2, embedding_dims="mixed", n_dim_blocks=2, random_state=0),
    lambda: OverparamMF(n_factors=3, inner_dim=4, max_iter=2, random_state=0),
], ids=["baseline", "mf", "mf-mixed", "overparam"])
@pytest.mark.parametrize("solver", ["fa-sgd", "adagrad"])
def test_warm_start_counts_only_the_new_training_data(make, solver):
    (X1, y1), (X2, y2) = _two_batches()
    model = make().set_params(solver=solver).fit(X1, y1)
    model.set_params(warm_start=True).fit(X2, y2)
    users, items = _rows_of(model.user_ids_, X2[:, 0]), _rows_of(model.item_ids_, X2[:, 1])
    np.testing.assert_array_equal(model.user_state_.counts, np.bincount(users, minlength=len(model.user_ids_)))
    np.testing.assert_array_equal(model.item_state_.counts, np.bincount(items, minlength=len(model.item_ids_)))
    assert model.user_state_.n_samples == model.item_state_.n_samples == len(y2)
    # and the first fit counted its own data only
    first = make().set_params(solver=solver).fit(X1, y1)
    np.testing.assert_array_equal(first.user_state_.counts, np.bincount(_rows_of(first.user_ids_, X1[:, 0])))


@pytest.mark.parametrize("model_cls", [FactorizationMachine, FactorizationMachineClassifier])
@pytest.mark.parametrize("embedding_dims", ["uniform", "mixed"])
def test_fm_warm_start_counts_only_the_new_training_data(model_cls, embedding_dims):
    (X1, y1), (X2, y2) = _two_batches()
    if model_cls is FactorizationMachineClassifier:
        y1, y2 = (y1 >= 4).astype(int), (y2 >= 4).astype(int)
    model = model_cls(n_factors=3, max_iter=2, solver="fa-sgd", embedding_dims=embedding_dims, n_dim_blocks=2,
                      random_state=0).fit(X1, y1)
    model.set_params(warm_start=True).fit(X2, y2)
    # ids only: every row has one non-zero "user=u" and one "item=i" feature
    names = [f"user={u}" for u in X2[:, 0]] + [f"item={i}" for i in X2[:, 1]]
    expected = np.bincount(_rows_of(model.feature_names_, names), minlength=len(model.feature_names_))
    np.testing.assert_array_equal(model.feature_state_.counts, expected)
    assert model.feature_state_.n_samples == len(y2)


@pytest.mark.parametrize("solver", ["fa-sgd", "adagrad"])
def test_ncf_warm_start_counts_only_the_new_training_data(solver):
    (X1, _), (X2, _) = _two_batches()
    y1 = np.ones(len(X1), dtype=int)
    y2 = np.ones(len(X2), dtype=int)
    y2[::5] = 0  # explicit negatives emit one sample, positives 1 + n_negatives
    model = NeuralCF(n_factors=3, hidden_layers=(4, 2), n_negatives=2, max_iter=2, solver=solver,
                     random_state=0).fit(X1, y1)
    model.set_params(warm_start=True).fit(X2, y2)
    users, items = _rows_of(model.user_ids_, X2[:, 0]), _rows_of(model.item_ids_, X2[:, 1])
    emitted = np.where(y2 == 1, 3, 1)
    np.testing.assert_array_equal(model.user_state_.counts,
                                  np.bincount(users, weights=emitted, minlength=len(model.user_ids_)))
    np.testing.assert_array_equal(model.item_state_.counts, np.bincount(items, minlength=len(model.item_ids_)))
    assert model.user_state_.n_samples == emitted.sum()
    assert model.n_training_positives_ == (y2 == 1).sum()


# ------------------------------------------------------- validation scores
def _held_out(random_state, n, fraction):
    """The rows ``BaseRecommender.fit`` holds out: the first draw of its random state."""
    n_val = max(1, int(round(fraction * n)))
    is_val = np.zeros(n, dtype=bool)
    is_val[check_random_state(random_state).choice(n, n_val, replace=False)] = True
    return is_val


def _log_loss(p, y):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


EARLY = dict(early_stopping=True, validation_fraction=0.25, max_iter=3, n_iter_no_change=10, dtype="float64",
             random_state=4)


@pytest.mark.parametrize("make", [
    lambda: BaselinePredictor(**EARLY),
    lambda: MatrixFactorization(n_factors=3, **EARLY),
    lambda: OverparamMF(n_factors=3, inner_dim=4, **EARLY),
    lambda: FactorizationMachine(n_factors=3, **EARLY),
], ids=["baseline", "mf", "overparam", "fm"])
def test_validation_scores_are_the_rmse_on_the_held_out_rows(make):
    X, y = tiny_ratings(n_ratings=100, seed=3)
    model = make().fit(X, y)
    is_val = _held_out(EARLY["random_state"], len(y), EARLY["validation_fraction"])
    assert len(model.validation_scores_) == model.n_iter_ == 3
    assert model.t_ == 3 * (~is_val).sum()  # trained on the other rows only
    rmse = np.sqrt(np.mean((model.predict(X[is_val]) - y[is_val]) ** 2))
    np.testing.assert_allclose(model.validation_scores_[-1], rmse, rtol=1e-12)
    # not the training rows' score, nor another metric of the held-out rows
    assert not np.isclose(model.validation_scores_[-1], np.mean(np.abs(model.predict(X[is_val]) - y[is_val])))


def test_fm_classifier_validation_scores_are_the_log_loss_on_the_held_out_rows():
    X, y = tiny_ratings(n_ratings=100, seed=3)
    y = (y >= 4).astype(int)
    model = FactorizationMachineClassifier(n_factors=3, **EARLY).fit(X, y)
    is_val = _held_out(EARLY["random_state"], len(y), EARLY["validation_fraction"])
    expected = _log_loss(model.predict_proba(X[is_val])[:, 1], y[is_val])
    np.testing.assert_allclose(model.validation_scores_[-1], expected, rtol=1e-12)


def test_ncf_validation_scores_are_the_log_loss_on_the_held_out_rows():
    """With n_negatives=0 the validation set is exactly the held-out rows (no sampled negatives)."""
    X, _ = tiny_ratings(n_ratings=100, seed=3)
    y = (np.arange(len(X)) % 3 != 0).astype(int)  # a third are explicit negatives
    model = NeuralCF(n_factors=3, hidden_layers=(4, 2), n_negatives=0, **EARLY).fit(X, y)
    is_val = _held_out(EARLY["random_state"], len(y), EARLY["validation_fraction"])
    expected = _log_loss(model.predict_proba(X[is_val])[:, 1], y[is_val])
    np.testing.assert_allclose(model.validation_scores_[-1], expected, rtol=1e-10)


# ------------------------------------------------------ dense_batch_size (FM)
@pytest.mark.parametrize("model_cls", [FactorizationMachine, FactorizationMachineClassifier])
def test_fm_mixed_dense_batch_size_changes_the_projections(model_cls):
    """``test_reference_fm_mixed.py`` matches the reference at 1 and 7; the two must also differ."""
    (F, y), _ = fm_mixed_replay._batches(model_cls is FactorizationMachineClassifier)
    params = dict(n_factors=4, embedding_dims="mixed", mixed_dim_exponent=0.6, n_dim_blocks=3, solver="sgd",
                  learning_rate=0.03, dense_learning_rate=0.2, max_iter=3, dtype="float64", n_jobs=1,
                  random_state=0)
    one, seven = (model_cls(dense_batch_size=b, **params).fit(F, y) for b in (1, 7))
    assert (one.feature_embedding_.group_n_layers > 0).any()
    assert not np.allclose(one.feature_embedding_.dense, seven.feature_embedding_.dense, rtol=1e-6, atol=0)


# --------------------------------------------------------- FM hot rows, two threads
def _hot_row_design(n, seed=0):
    """Cold one-hot users and items, a two-valued group and a numeric column in every sample.

    Columns 0-99 users, 100-159 items, 160-161 the group, 162 the numeric
    column, whose true weight is 0.8: each of the last three rows is in at
    least a third of the samples, so they are hot under two threads.
    """
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 100, n), rng.integers(0, 60, n)
    group, year = rng.integers(0, 2, n), rng.normal(size=n)
    rows = np.repeat(np.arange(n), 4)
    cols = np.stack([users, 100 + items, 160 + group, np.full(n, 162)], 1).ravel()
    vals = np.stack([np.ones(n), np.ones(n), np.ones(n), year], 1).ravel()
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, 163))
    y = 3.5 + 0.8 * year + 0.4 * group + rng.normal(0, 0.2, n)
    return X, y


@pytest.fixture
def two_threads(monkeypatch):
    """Let n_jobs=2 run two OpenMP threads even where fewer processors are usable.

    The cap on processors would otherwise turn n_jobs=2 into one thread on a
    one-core CI runner, and the hot-row path would never run. Two threads on
    one core are still two threads with their own copies.
    """
    if not _openmp_helpers.openmp_enabled():
        pytest.skip("built without OpenMP: n_jobs=2 runs one thread by design")
    monkeypatch.setattr(engine_cpu, "usable_cpus", lambda: max(2, _openmp_helpers.openmp_num_procs()))


#: per solver: learning_rate on the short and on the long design (None: the default). With
#: two threads a hot row's private copy drifts for up to 64 samples before its
#: change is added to the shared row; the sum of the two threads' drifts is
#: close to the one-thread result only while that drift is small, i.e. while
#: learning_rate * 64 * x_j^2 is well below 1 (sgd at 0.05 on the numeric
#: column doubles its steps and oscillates). The frequency solvers and Adagrad
#: shrink the steps of frequent rows themselves.
HOT_ROW_SETTINGS = {"sgd": (0.005, 0.01), "fa-sgd": (None, None), "cf-sgd": (None, None), "adagrad": (None, None)}


@pytest.mark.parametrize("n_samples", [120, 2000], ids=["one-publication-per-epoch", "many-publications"])
@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_fm_hot_rows_under_two_threads_move_as_with_one(two_threads, solver, n_samples):
    """Every thread's changes to the hot rows reach the shared rows.

    With 120 samples each thread's share (60) is shorter than the
    publication interval (64 samples), so almost all of a thread's changes
    reach the shared rows in the publication at the end of its share; with
    2000 they go out every 64 samples. Two threads differ from one by the
    staleness of the copies and Hogwild on the cold rows: over 20 repeats of
    each case the hot weights differed from the one-thread ones by at most
    18 % of their size (Adagrad on the short design), while changes that never
    reach the shared rows leave them at zero (a difference of 100 %). Where
    the second thread only starts once the first is done (one busy core), the
    run equals the one-thread run: lost changes still show, but the test
    cannot show that two threads ran.
    """
    X, y = _hot_row_design(n_samples)
    short = n_samples < 1000
    params = dict(n_factors=3, solver=solver, learning_rate=HOT_ROW_SETTINGS[solver][0 if short else 1],
                  max_iter=8 if short else 3, dtype="float64", init_std=0.1, random_state=0)
    one = FactorizationMachine(n_jobs=1, **params).fit(X, y)
    two = FactorizationMachine(n_jobs=2, **params).fit(X, y)
    hot = engine_cpu.hot_rows(two.feature_state_.counts, two.feature_state_.n_samples)
    assert {160, 161, 162} <= set(hot.tolist())
    rows = [160, 161, 162]
    size = np.abs(one.feature_bias_[rows]).max()
    assert size > 0.3, (solver, one.feature_bias_[rows])  # training moves the hot weights far from zero
    np.testing.assert_allclose(two.feature_bias_[rows], one.feature_bias_[rows], atol=0.4 * size,
                               err_msg=f"{solver}: the hot rows' weights under two threads")
    rmse = [np.sqrt(np.mean((m.predict(X) - y) ** 2)) for m in (one, two)]
    assert rmse[1] < 1.2 * rmse[0] + 0.02, rmse
