"""Behaviour tests that kill mutants the rest of the suite let through.

Each test states a result of the training loop, the solver state or the
public API that a small change of the code (found by mutation testing of
``recfreq/base.py``, ``recfreq/_solvers.py`` and ``recfreq/_engine/cpu.py``)
would alter.
"""

import numpy as np
import pytest

from recfreq import BaselinePredictor, MatrixFactorization
from _helpers import planted_ratings, tiny_ratings


@pytest.fixture(scope="module")
def mf_fitted():
    X, y = planted_ratings(n_users=40, n_items=30, n_ratings=600, seed=3)
    return MatrixFactorization(n_factors=4, max_iter=3, random_state=0).fit(X, y), X, y


# ------------------------------------------------------------------ recommend
def test_recommend_default_n_is_ten(mf_fitted):
    model, _, _ = mf_fitted
    items, scores = model.recommend([0, 1])
    assert items.shape == scores.shape == (2, 10)


def test_recommend_scalar_user_is_one_row(mf_fitted):
    model, _, _ = mf_fitted
    items, scores = model.recommend(5, n=4)
    ref_items, ref_scores = model.recommend([5], n=4)
    assert items.shape == (1, 4)
    np.testing.assert_array_equal(items, ref_items)
    np.testing.assert_array_equal(scores, ref_scores)


def test_recommend_scores_are_the_predictions_in_the_model_dtype(mf_fitted):
    model, _, _ = mf_fitted
    users = np.array([0, 7, 13])
    items, scores = model.recommend(users, n=5, exclude_seen=False)
    assert scores.dtype == model.predict([[0, 0]]).dtype == np.float32
    pairs = np.column_stack([np.repeat(users, 5), items.ravel()])
    # scored by one matrix product rather than row by row: equal up to float32 rounding
    np.testing.assert_allclose(scores.ravel(), model.predict(pairs), rtol=1e-6)


def test_recommend_errors_name_the_argument(mf_fitted):
    model, _, _ = mf_fitted
    with pytest.raises(ValueError, match="^n must be a positive integer"):
        model.recommend([0], n=0)
    with pytest.raises(ValueError, match="^batch_size must be a positive integer"):
        model.recommend([0], batch_size=0)
    with pytest.raises(ValueError, match=r"users must be a 1-D array of user ids, got shape \(1, 2\)"):
        model.recommend([[0, 1]])
    with pytest.raises(ValueError, match="^user ids contain NaN"):
        model.recommend([np.nan])
    with pytest.raises(ValueError, match="required by MatrixFactorization"):
        model.recommend([])


# ------------------------------------------------------------ early stopping
def test_validation_score_is_the_rmse_of_the_held_out_rows():
    # every row has its own user and item, so the held-out rows are exactly
    # those whose user the fitted model does not know, and their predictions
    # are the cold-start fallback
    n = 60
    rng = np.random.default_rng(1)
    X = np.column_stack([np.arange(n), 1000 + np.arange(n)])
    y = rng.uniform(1, 5, n)
    model = MatrixFactorization(n_factors=2, max_iter=3, early_stopping=True, validation_fraction=0.25,
                                random_state=0).fit(X, y)
    held_out = ~np.isin(X[:, 0], model.user_ids_)
    assert held_out.sum() == 15
    pred = model.predict(X[held_out]).astype(np.float64)
    rmse = np.sqrt(np.mean((pred - y[held_out]) ** 2))
    assert len(model.validation_scores_) == model.n_iter_
    np.testing.assert_allclose(model.validation_scores_[-1], rmse, rtol=1e-6)


# ---------------------------------------------------------------- partial_fit
def test_first_partial_fit_follows_random_state():
    X, y = tiny_ratings()
    a = MatrixFactorization(n_factors=3, random_state=7).partial_fit(X, y)
    b = MatrixFactorization(n_factors=3, random_state=7).partial_fit(X, y)
    c = MatrixFactorization(n_factors=3, random_state=8).partial_fit(X, y)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert not np.array_equal(a.user_factors_, c.user_factors_)
    assert a.loss_curve_ == b.loss_curve_ and len(a.loss_curve_) == 1
    assert a.validation_scores_ == []


@pytest.mark.parametrize("new", ["user", "item"])
def test_partial_fit_with_only_new_users_or_only_new_items_trains_them(new):
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=3, random_state=0, learning_rate=0.05).fit(X, y)
    n_users, n_items = len(model.user_ids_), len(model.item_ids_)
    # one batch whose only unseen id is one user (or one item), rated well above the mean
    if new == "user":
        X_new = np.column_stack([np.full(5, 500), X[:5, 1]])
    else:
        X_new = np.column_stack([X[:5, 0], np.full(5, 500)])
    model.partial_fit(X_new, np.full(5, 5.0))
    grown = (n_users + (new == "user"), n_items + (new == "item"))
    assert (len(model.user_ids_), len(model.item_ids_)) == grown
    assert (model.user_factors_.shape[0], model.item_factors_.shape[0]) == grown
    assert (model.user_bias_.shape[0], model.item_bias_.shape[0]) == grown
    assert (model.user_state_.n_rows, model.item_state_.n_rows) == grown
    # the new row was trained: its bias moved towards the high ratings
    bias = model.user_bias_ if new == "user" else model.item_bias_
    assert bias[-1] > 0


def test_failed_continuation_names_the_call_and_the_parameter():
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=3, random_state=0, max_iter=1).fit(X, y)
    model.set_params(n_factors=4)
    with pytest.raises(ValueError, match=r"^partial_fit continues the fitted MatrixFactorization, but n_factors=4 "
                                         r"\(fitted with 3\) changed"):
        model.partial_fit(X, y)
    model.set_params(warm_start=True)
    with pytest.raises(ValueError, match=r"^fit with warm_start=True continues the fitted MatrixFactorization, "
                                         r"but n_factors=4 \(fitted with 3\)"):
        model.fit(X, y)


def test_continuation_lists_every_changed_structural_parameter():
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=3, random_state=0, max_iter=1).fit(X, y)
    model.set_params(n_factors=4, embedding_dims="mixed")
    with pytest.raises(ValueError, match=r"n_factors=4 \(fitted with 3\), embedding_dims='mixed' "
                                         r"\(fitted with 'uniform'\) changed"):
        model.partial_fit(X, y)


def test_continuation_accepts_an_equal_structure_given_as_another_sequence():
    from recfreq import NeuralCF

    X, y = tiny_ratings()
    y = (y >= 3.5).astype(int)  # NeuralCF learns interactions
    model = NeuralCF(n_factors=2, hidden_layers=(4, 2), max_iter=1, random_state=0).fit(X, y)
    model.set_params(hidden_layers=[4, 2], dtype=np.float32)  # the same layers and dtype, spelt differently
    model.partial_fit(X, y)
    assert model.n_iter_ == 2
    model.set_params(hidden_layers=[4, 3])
    with pytest.raises(ValueError, match=r"hidden_layers=\[4, 3\] \(fitted with \(4, 2\)\)"):
        model.partial_fit(X, y)


# ------------------------------------------------------------------- n_jobs
class _FakeOpenMP:
    """An OpenMP runtime on a machine of 8 processors with OMP_NUM_THREADS=6."""

    enabled = True

    @classmethod
    def openmp_enabled(cls):
        return cls.enabled

    @staticmethod
    def openmp_max_threads():
        return 6

    @staticmethod
    def openmp_num_procs():
        return 8


@pytest.fixture
def eight_processors(monkeypatch):
    from recfreq._engine import cpu

    fake = type("FakeOpenMP", (_FakeOpenMP,), {})
    monkeypatch.setattr(cpu, "_openmp", lambda: fake)
    return fake


def test_n_jobs_resolution_on_eight_processors(eight_processors):
    import warnings

    from recfreq.base import effective_n_threads

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert effective_n_threads(None, warn=True) == 1
        for n_jobs in range(1, 9):  # up to the processors: as given
            assert effective_n_threads(n_jobs, warn=True) == n_jobs
        assert effective_n_threads(np.int64(3), warn=True) == 3
        # negative: counted from the threads OpenMP would use (6), never below one
        assert [effective_n_threads(-k) for k in range(1, 9)] == [6, 5, 4, 3, 2, 1, 1, 1]
        assert effective_n_threads(9) == 8  # capped silently without warn
    with pytest.warns(RuntimeWarning, match=r"n_jobs=9 exceeds the 8 processor\(s\) this process may use; "
                                            r"training with 8 thread\(s\)"):
        assert effective_n_threads(9, warn=True) == 8
    for bad in (True, np.bool_(False), 2.0, "2"):
        with pytest.raises(TypeError, match="n_jobs must be an integer or None"):
            effective_n_threads(bad)
    with pytest.raises(ValueError, match="n_jobs == 0"):
        effective_n_threads(0)


def test_n_jobs_without_openmp_is_one_thread_with_a_warning(eight_processors):
    import warnings

    from recfreq.base import effective_n_threads

    eight_processors.enabled = False
    for n_jobs in (2, 4):
        with pytest.warns(RuntimeWarning, match="built without OpenMP: n_jobs > 1 runs on one thread"):
            assert effective_n_threads(n_jobs) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert effective_n_threads(1) == 1


# ---------------------------------------------------------------- hot rows
def test_hot_rows_keep_the_most_frequent_rows_and_the_lower_index_on_ties():
    from recfreq._engine.cpu import hot_rows
    from recfreq._solvers import Solver, TableState

    rng = np.random.default_rng(0)
    counts = rng.integers(1, 4, 600)  # many ties at any cut-off
    state = TableState.allocate(Solver.SGD, 600, {"bias": ()}, np.float64)
    state.add_counts(rng.permutation(np.repeat(np.arange(600), counts)))
    for max_rows in (1, 2, 256):
        hot = hot_rows(state.counts, state.n_samples, min_share=0.0, max_rows=max_rows)
        # by descending count, then ascending index
        expected = np.sort(np.lexsort((np.arange(600), -counts))[:max_rows])
        assert hot.dtype == np.int32 and hot.flags.c_contiguous
        np.testing.assert_array_equal(hot, expected)
    fresh = TableState.allocate(Solver.SGD, 5, {"bias": ()}, np.float64)
    for empty in (hot_rows(state.counts, state.n_samples, max_rows=0), hot_rows(fresh.counts, fresh.n_samples)):
        assert empty.shape == (0,) and empty.dtype == np.int32


def test_n_jobs_minus_one_under_omp_num_threads_one_is_one_thread(eight_processors, monkeypatch):
    from recfreq.base import effective_n_threads

    monkeypatch.setattr(eight_processors, "openmp_max_threads", staticmethod(lambda: 1))
    assert effective_n_threads(-1) == 1
    assert effective_n_threads(-2) == 1


# --------------------------------------------------------------- divergence
def test_large_but_healthy_targets_are_not_divergence():
    # the divergence limit scales with the largest |target|: ratings near 1e7
    # give predictions near 1e7, which is not divergence
    X, y = tiny_ratings()
    model = BaselinePredictor(max_iter=3, random_state=0).fit(X, 1e7 + y)
    pred = model.predict(X).astype(np.float64)
    assert np.all(np.abs(pred - 1e7) < 10)


# -------------------------------------------------------------- warm start
def test_warm_start_fit_that_diverges_leaves_the_previous_model():
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=3, max_iter=2, random_state=0).fit(X, y)
    before = {name: np.copy(getattr(model, name)) for name in ("user_factors_", "item_factors_", "user_bias_",
                                                              "item_bias_")}
    t_before = model.t_
    model.set_params(warm_start=True, learning_rate=1e6, max_iter=5)
    with pytest.raises(FloatingPointError):
        model.fit(X, y)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)
    assert model.t_ == t_before


def test_warm_start_fit_with_new_ids_grows_reproducibly():
    X, y = tiny_ratings()
    X_new = np.vstack([X, [[500, 600], [501, 0]]])
    y_new = np.concatenate([y, [4.0, 2.0]])
    fits = []
    for _ in range(2):
        model = MatrixFactorization(n_factors=3, max_iter=2, random_state=0).fit(X, y)
        model.set_params(warm_start=True).fit(X_new, y_new)
        fits.append(model)
    assert len(fits[0].user_ids_) == len(np.unique(X_new[:, 0]))
    np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
    assert np.isfinite(fits[0].predict([[500, 600]])).all()


def test_early_stopping_without_tol_stops_when_the_validation_score_stalls():
    # held-out rows of unseen users and items all get the cold-start
    # prediction, so the validation RMSE never improves after the first epoch
    n = 60
    X = np.column_stack([np.arange(n), 1000 + np.arange(n)])
    y = np.random.default_rng(1).uniform(1, 5, n)
    model = MatrixFactorization(n_factors=2, max_iter=50, tol=None, n_iter_no_change=2, early_stopping=True,
                                validation_fraction=0.25, random_state=0).fit(X, y)
    assert model.n_iter_ == 3


def test_frequency_of_a_single_training_sample_is_one():
    from recfreq._solvers import Solver, TableState

    state = TableState.allocate(Solver.FA_SGD, 3, {"bias": ()}, np.float64)
    state.add_counts(np.array([1]))
    np.testing.assert_array_equal(state.frequency(), [0.0, 1.0, 0.0])


def test_early_stopping_without_tol_keeps_training_while_the_score_improves():
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=1500, seed=2)
    model = BaselinePredictor(max_iter=8, tol=None, n_iter_no_change=2, early_stopping=True,
                              learning_rate=0.002, random_state=0).fit(X, y)
    # small steps: every epoch improves the validation RMSE, by far less than 1
    assert np.all(np.diff(model.validation_scores_) < 0)
    assert model.n_iter_ == 8


def test_recommend_in_batches_and_beyond_the_catalogue(mf_fitted):
    model, _, _ = mf_fitted
    users = np.arange(5)
    items, scores = model.recommend(users, n=4)
    for batch_size in (1, 2):
        b_items, b_scores = model.recommend(users, n=4, batch_size=batch_size)
        np.testing.assert_array_equal(b_items, items)
        np.testing.assert_array_equal(b_scores, scores)
    # n above the catalogue: every item once, best first; seen items last, at -inf
    n_items = len(model.item_ids_)
    all_items, all_scores = model.recommend(users, n=n_items + 5)
    assert all_items.shape == (5, n_items)
    for row, s in zip(all_items, all_scores):
        assert sorted(row.tolist()) == sorted(model.item_ids_.tolist())
        finite = s[np.isfinite(s)]
        assert np.all(np.diff(finite) <= 0) and np.isneginf(s[finite.shape[0]:]).all()
    n_seen = np.diff(model.user_items_.indptr)[:5]
    assert [int(np.isneginf(s).sum()) for s in all_scores] == n_seen.tolist()


def test_early_stopping_holds_out_at_least_one_row_and_no_more_than_asked():
    # round(validation_fraction * n) rows, at least one: with 10 rows and 0.1, exactly one is held out
    X, y = tiny_ratings(n_ratings=10)
    model = MatrixFactorization(n_factors=2, max_iter=3, early_stopping=True, validation_fraction=0.1, tol=None,
                                n_iter_no_change=10, random_state=0).fit(X, y)
    assert model.t_ == 9 * model.n_iter_
    model = MatrixFactorization(n_factors=2, max_iter=3, early_stopping=True, validation_fraction=0.01, tol=None,
                                n_iter_no_change=10, random_state=0).fit(X, y)
    assert model.t_ == 9 * model.n_iter_  # 0.01 * 10 rounds to 0: still one row held out
