"""Overparameterized and mixed-dimension tables: structure, collapse, initial spread."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from recfreq import MatrixFactorization, OverparamMF
from recfreq._projection import ProjectedTable

from _helpers import planted_ratings


@pytest.fixture(scope="module")
def data():
    return planted_ratings(n_users=150, n_items=90, n_ratings=3000)


@pytest.mark.parametrize("n_layers", [2, 3])
def test_collapsed_predictions_equal_the_factored_model(data, n_layers):
    X, y = data
    model = OverparamMF(n_factors=4, inner_dim=7, n_layers=n_layers, max_iter=3, dtype="float64",
                        random_state=0).fit(X, y)
    U, *As = model.user_embedding_layers_
    V, *Bs = model.item_embedding_layers_
    assert U.shape == (model.user_ids_.shape[0], 7) and As[-1].shape == (7, 4) and len(As) == n_layers - 1
    P, Q = U, V
    for A, B in zip(As, Bs):
        P, Q = P @ A, Q @ B
    u = model._user_encoder.transform(X[:, 0])
    i = model._item_encoder.transform(X[:, 1])
    factored = model.global_mean_ + model.user_bias_[u] + model.item_bias_[i] + np.einsum("ij,ij->i", P[u], Q[i])
    np.testing.assert_allclose(model.predict(X), factored, rtol=1e-10)


def test_to_matrix_factorization_round_trips(data):
    X, y = data
    model = OverparamMF(n_factors=4, inner_dim=6, max_iter=3, random_state=0).fit(X, y)
    mf = model.to_matrix_factorization()
    assert type(mf) is MatrixFactorization
    np.testing.assert_array_equal(mf.predict(X), model.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(mf)).predict(X), model.predict(X))
    np.testing.assert_array_equal(mf.recommend(X[:5, 0], n=3)[0], model.recommend(X[:5, 0], n=3)[0])
    assert mf.n_parameters_ == (mf.user_factors_.shape[0] + mf.item_factors_.shape[0]) * 5
    assert clone(mf).get_params()["n_factors"] == 4
    mf.set_params(warm_start=True, max_iter=1).fit(X, y)  # the collapsed model trains on as plain MF
    assert np.isfinite(mf.predict(X)).all()


@pytest.mark.parametrize("dims, k", [([64], 16), ([8], 16), ([32, 32], 16)])
def test_initial_product_has_the_spread_of_plain_rows(dims, k):
    table = ProjectedTable.factored(4000, dims, k, np.random.default_rng(0), 0.1, np.float64)
    assert table.collapse().std() == pytest.approx(0.1, rel=0.05)


def test_mixed_blocks_follow_the_width_rule():
    counts = np.round(5000 / np.arange(1, 3001) ** 1.1) + 1
    table = ProjectedTable.mixed(counts, 32, 4, 0.3, np.random.default_rng(0), 0.1, np.float64)
    blocks = table.row_group
    # blocks hold about equal shares of the samples, most frequent rows first
    shares = np.array([counts[blocks == b].sum() for b in range(4)]) / counts.sum()
    assert np.all(np.abs(shares - 0.25) < 0.1), shares
    mean = np.array([counts[blocks == b].mean() for b in range(4)])
    expected = np.maximum(1, np.round(32 * (mean / mean.max()) ** 0.3)).astype(int)
    np.testing.assert_array_equal(table.group_in_dim, expected)
    assert table.group_in_dim[0] == 32 and table.group_n_layers[0] == 0  # no projection at width k
    assert (table.group_n_layers[1:] == 1).all()
    assert table.n_parameters == int((counts.size and table.row_width().sum())) + int(
        (table.group_in_dim[1:] * 32).sum())
    assert table.collapse().std() == pytest.approx(0.1, rel=0.05)


def test_mixed_model_counts_its_real_parameters_and_saves_memory():
    # MDE saves memory on skewed frequencies (on flat ones the projections cost more)
    from recfreq.datasets import make_synthetic_ratings

    X, y = make_synthetic_ratings(n_users=3000, n_items=1500, n_ratings=30000, user_skew=1.2,
                                  item_skew=1.2, random_state=0)
    uniform = MatrixFactorization(n_factors=16, max_iter=2, random_state=0).fit(X, y)
    mixed = MatrixFactorization(n_factors=16, max_iter=2, embedding_dims="mixed", random_state=0).fit(X, y)
    tables = (mixed.user_embedding_, mixed.item_embedding_)
    assert mixed.n_parameters_ == sum(t.rows.size + t.dense.size for t in tables) + (
        mixed.user_bias_.size + mixed.item_bias_.size)
    assert mixed.n_parameters_ < uniform.n_parameters_
    assert mixed.user_factors_.shape == uniform.user_factors_.shape  # materialised for prediction


def test_exponent_zero_is_uniform_mf(data):
    """alpha = 0 gives every block width k and no projection: plain MF rows."""
    X, y = data
    mixed = MatrixFactorization(n_factors=8, max_iter=3, embedding_dims="mixed", mixed_dim_exponent=0.0,
                                solver="sgd", dtype="float64", random_state=0).fit(X, y)
    assert (mixed.user_embedding_.group_n_layers == 0).all()
    assert np.isfinite(mixed.predict(X)).all()
    assert mixed.n_parameters_ == (mixed.user_bias_.size + mixed.item_bias_.size) * 9


def test_partial_fit_adds_new_rows_to_the_narrowest_block(data):
    X, y = data
    model = MatrixFactorization(n_factors=8, embedding_dims="mixed", random_state=0).partial_fit(X, y)
    narrow = model.user_embedding_.new_row_group
    X_new = np.array([[10**6, X[0, 1]], [10**6 + 1, X[1, 1]]])
    model.partial_fit(X_new, np.array([4.0, 2.0]))
    assert (model.user_embedding_.row_group[-2:] == narrow).all()
    assert model.user_factors_.shape[0] == model.user_embedding_.n_rows
    assert np.isfinite(model.predict(X_new)).all()


@pytest.mark.parametrize("params, match", [
    ({"inner_dim": 0}, "inner_dim"), ({"n_layers": 1}, "n_layers"),
    ({"dense_learning_rate": -1.0}, "dense_learning_rate"), ({"dense_batch_size": 0}, "dense_batch_size"),
])
def test_bad_overparam_parameters(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        OverparamMF(**params).fit(X, y)


def test_bad_mixed_parameters(data):
    X, y = data
    with pytest.raises(ValueError, match="embedding_dims"):
        MatrixFactorization(embedding_dims="tiny").fit(X, y)
    with pytest.raises(ValueError, match="n_dim_blocks"):
        MatrixFactorization(embedding_dims="mixed", n_dim_blocks=0).fit(X, y)


def test_refit_as_uniform_drops_the_mixed_tables(data):
    X, y = data
    model = MatrixFactorization(n_factors=4, embedding_dims="mixed", max_iter=1, random_state=0).fit(X, y)
    model.set_params(embedding_dims="uniform").fit(X, y)
    assert not hasattr(model, "user_embedding_") and not hasattr(model, "item_embedding_")
    assert model.n_parameters_ == (model.user_bias_.size + model.item_bias_.size) * 5
