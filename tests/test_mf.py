"""MatrixFactorization-specific behaviour: neighbours, parameters, quality on MovieLens."""

import numpy as np
import pytest

from recfreq import MatrixFactorization
from recfreq.datasets import load_movielens
from recfreq.metrics import rmse
from recfreq.model_selection import train_test_split

from _helpers import planted_ratings


@pytest.fixture(scope="module")
def fitted():
    X, y = planted_ratings()
    return MatrixFactorization(n_factors=6, max_iter=10, random_state=0).fit(X, y), X


def test_similar_items_are_cosine_neighbours(fitted):
    model, X = fitted
    items = model.item_ids_[:5]
    neighbours, sims = model.similar_items(items, n=4)
    assert neighbours.shape == sims.shape == (5, 4)
    assert (np.diff(sims, axis=1) <= 1e-7).all()
    unit = model.item_factors_ / np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    for row, (item, nbrs) in enumerate(zip(items, neighbours)):
        assert item not in nbrs
        brute = unit[row] @ unit.T
        brute[row] = -np.inf
        np.testing.assert_array_equal(nbrs, model.item_ids_[np.argsort(-brute, kind="stable")[:4]])
    with pytest.raises(KeyError, match="Unknown item"):
        model.similar_items([10**9])
    with pytest.raises(ValueError, match="positive integer"):
        model.similar_items(items, n=0)


def test_n_parameters_counts_every_learned_scalar(fitted):
    model, _ = fitted
    n_rows = model.user_factors_.shape[0] + model.item_factors_.shape[0]
    assert model.n_parameters_ == n_rows * (6 + 1)


@pytest.mark.parametrize("params, match", [
    ({"n_factors": 0}, "n_factors"),
    ({"n_factors": 2.5}, "n_factors"),
    ({"init_std": -1.0}, "init_std"),
    ({"alpha_bias": -0.1}, "alpha_bias"),
])
def test_bad_parameters(params, match):
    X, y = planted_ratings(n_ratings=500)
    with pytest.raises(ValueError, match=match):
        MatrixFactorization(**params).fit(X, y)


def test_alpha_bias_separates_bias_regularization():
    X, y = planted_ratings()
    loose = MatrixFactorization(n_factors=4, alpha_bias=0.0, random_state=0, max_iter=5).fit(X, y)
    # fa-sgd's first steps are 0.5: alpha_bias beyond 4 would make them overshoot (|1 - 0.5 alpha| > 1)
    tight = MatrixFactorization(n_factors=4, alpha_bias=2.0, random_state=0, max_iter=5).fit(X, y)
    assert np.abs(tight.user_bias_).mean() < 0.5 * np.abs(loose.user_bias_).mean()


def test_fa_sgd_default_step_assumes_rating_scale_targets():
    """Targets with a std of about 60 overshoot fa-sgd's default step; the error says what to do."""
    X, y = planted_ratings(n_ratings=2000)
    y_large = (y - 3) * 60
    with pytest.raises(FloatingPointError, match="learning_rate"):
        MatrixFactorization(n_factors=4, random_state=0).fit(X, y_large)
    scaled = MatrixFactorization(n_factors=4, random_state=0, learning_rate=0.5 / 60).fit(X, y_large)
    assert np.isfinite(scaled.predict(X)).all()
    assert np.isfinite(MatrixFactorization(n_factors=4, solver="sgd", learning_rate=1e-4,
                                           random_state=0).fit(X, y_large).predict(X)).all()


@pytest.mark.slow
def test_default_model_quality_on_bundled_movielens_100k():
    """Issue 3: default MatrixFactorization reaches test RMSE <= 0.925 on 80/20 (seed 0)."""
    X, y = load_movielens("100k", return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    scores = [rmse(y_test, MatrixFactorization(random_state=seed).fit(X_train, y_train).predict(X_test))
              for seed in range(3)]
    assert max(scores) <= 0.925, scores


def test_cf_sgd_counter_ignores_a_later_threads_stamp():
    # Under n_jobs > 1 a thread can visit a row that a thread further along in
    # the epoch has already stamped. That visit must not "decay" the counter by
    # 2 ** (+gap / h), which overflowed to infinity and made every fit diverge.
    # Planting future stamps makes the situation deterministic with one thread.
    X, y = planted_ratings(n_users=30, n_items=20, n_ratings=400, seed=0)
    params = dict(solver="cf-sgd", counter_halflife=1000, max_iter=1, n_jobs=1, random_state=0)
    model = MatrixFactorization(**params).fit(X, y)
    before = model.item_state_.counter.copy()
    future = model.t_ + 10**9
    model.item_state_.last_seen[:] = future
    model.partial_fit(X, y)
    visits = np.bincount(model._item_encoder.transform(X[:, 1]), minlength=before.shape[0])
    # no decay for those visits: the counters just add them, and the later stamps stay
    np.testing.assert_allclose(model.item_state_.counter, before + visits)
    assert (model.item_state_.last_seen == future).all()
    assert np.isfinite(model.item_factors_).all()
