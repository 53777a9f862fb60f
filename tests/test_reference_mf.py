"""The compiled MF epoch implements the rules of docs/solvers.md exactly (float64, one thread)."""

import numpy as np
import pytest
from sklearn.utils import check_random_state

from recfreq import MatrixFactorization
from recfreq import _engine
from recfreq._solvers import SOLVER_NAMES, Solver

import _reference as ref
from _helpers import tiny_ratings

RTOL = 1e-10


def _replay(model_params, batches):
    """Replay fit (first batch, max_iter epochs) + partial_fit (later batches) in NumPy."""
    k, seed = model_params["n_factors"], model_params["random_state"]
    solver = Solver.from_name(model_params["solver"])
    cfg = _engine.solver_config(solver, model_params["learning_rate"], model_params["frequency_exponent"],
                                model_params["counter_halflife"])
    alpha, alpha_bias = model_params["alpha"], model_params["alpha_bias"]
    init_std = model_params["init_std"]
    u_of = ref.row_numbering([X[:, 0] for X, _ in batches])
    i_of = ref.row_numbering([X[:, 1] for X, _ in batches])
    users, items = list(u_of), list(i_of)
    blocks = {"factors": (k,), "bias": ()}
    ust = ref.new_state(len(users), blocks, solver)
    ist = ref.new_state(len(items), blocks, solver)

    # initialisation order of MatrixFactorization: user factors then item factors
    # for the ids of the first batch, then new rows as later batches add them
    rng = check_random_state(seed)
    first_X = batches[0][0]
    n_u0, n_i0 = len(np.unique(first_X[:, 0])), len(np.unique(first_X[:, 1]))
    P = np.zeros((len(users), k))
    Q = np.zeros((len(items), k))
    P[:n_u0] = rng.standard_normal((n_u0, k)) * init_std
    Q[:n_i0] = rng.standard_normal((n_i0, k)) * init_std
    bu, bi = np.zeros(len(users)), np.zeros(len(items))
    mu = batches[0][1].mean()
    t, losses, n_u, n_i = 0, [], n_u0, n_i0
    for call, (X, y) in enumerate(batches):
        uu = np.array([u_of[v] for v in X[:, 0]])
        ii = np.array([i_of[v] for v in X[:, 1]])
        if call > 0:  # partial_fit: grow (users first, then items), counts add up
            new_u, new_i = uu.max() + 1 - n_u, ii.max() + 1 - n_i
            new_u, new_i = max(new_u, 0), max(new_i, 0)
            if new_u or new_i:
                P[n_u:n_u + new_u] = rng.standard_normal((new_u, k)) * init_std
                Q[n_i:n_i + new_i] = rng.standard_normal((new_i, k)) * init_std
                n_u, n_i = n_u + new_u, n_i + new_i
        ust["counts"] += np.bincount(uu, minlength=len(users))
        ist["counts"] += np.bincount(ii, minlength=len(items))
        ust["n_samples"] += len(y)
        ist["n_samples"] += len(y)
        n_epochs = model_params["max_iter"] if call == 0 else 1
        # the order key of this call, drawn from the model's RandomState (see ref.device_epoch_orders)
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        for epoch in range(n_epochs):
            order = ref.keyed_order(len(y), order_seed, epoch)
            sse = ref.mf_epoch(uu, ii, y, order, mu, P, Q, bu, bi, cfg, alpha, alpha_bias, t, ust, ist)
            losses.append(sse / len(y))
            t += len(y)
    return P, Q, bu, bi, losses, ust, ist


@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)])
def test_fit_and_partial_fit_match_reference(solver, halflife):
    X, y = tiny_ratings(seed=5)
    X2, y2 = tiny_ratings(n_users=14, n_items=12, n_ratings=50, seed=6)
    X2 = X2 + 4  # some new users/items, some known
    params = dict(n_factors=3, solver=solver, learning_rate=0.2 if solver != "sgd" else 0.03,
                  alpha=0.04, alpha_bias=0.01, max_iter=3, frequency_exponent=0.55,
                  counter_halflife=halflife, init_std=0.3, dtype="float64", random_state=11)
    model = MatrixFactorization(**params).fit(X, y).partial_fit(X2, y2)
    P, Q, bu, bi, losses, ust, ist = _replay(params, [(X, y), (X2, y2)])
    np.testing.assert_allclose(model.user_factors_, P, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.user_bias_, bu, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.item_bias_, bi, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
    if solver == "adagrad":
        np.testing.assert_allclose(model.user_state_.accumulators["factors"], ust["accum"]["factors"], rtol=RTOL)
    if solver == "cf-sgd":
        np.testing.assert_allclose(model.item_state_.counter, ist["counter"], rtol=RTOL)


def test_predict_kernel_matches_formula():
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=4, dtype="float64", random_state=0, max_iter=3).fit(X, y)
    rows_u = model._user_encoder.transform(X[:, 0])
    rows_i = model._item_encoder.transform(X[:, 1])
    expected = (model.global_mean_ + model.user_bias_[rows_u] + model.item_bias_[rows_i]
                + np.einsum("ij,ij->i", model.user_factors_[rows_u], model.item_factors_[rows_i]))
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)


def test_float32_tracks_float64():
    X, y = tiny_ratings()
    a = MatrixFactorization(n_factors=4, dtype="float32", random_state=0, max_iter=5).fit(X, y).predict(X)
    b = MatrixFactorization(n_factors=4, dtype="float64", random_state=0, max_iter=5).fit(X, y).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-4)
