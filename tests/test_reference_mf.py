"""The compiled MF epoch implements the rules of docs/solvers.md exactly (float64, one thread)."""

import numpy as np
import pytest
from sklearn.utils import check_random_state

from recfreq import MatrixFactorization
from recfreq import _engine
from recfreq._engine._checks import check_clock
from recfreq._solvers import SOLVER_NAMES, Solver, TableState

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


def _one_epoch_inputs(solver, halflife, seed=2):
    """Tables, states and samples (already in epoch order) of one mf_epoch call, and their reference copies."""
    X, y = tiny_ratings(seed=seed)
    users, items = ref.row_numbering([X[:, 0]]), ref.row_numbering([X[:, 1]])
    uu = np.array([users[v] for v in X[:, 0]], dtype=np.int32)
    ii = np.array([items[v] for v in X[:, 1]], dtype=np.int32)
    rng = np.random.default_rng(seed)
    k, nu, ni = 3, len(users), len(items)
    arrays = dict(user_factors=rng.normal(0, 0.3, (nu, k)), item_factors=rng.normal(0, 0.3, (ni, k)),
                  user_bias=rng.normal(0, 0.1, nu), item_bias=rng.normal(0, 0.1, ni))
    blocks = {"factors": (k,), "bias": ()}
    states = []
    for index, n_rows in ((uu, nu), (ii, ni)):
        state = TableState.allocate(Solver.from_name(solver), n_rows, blocks, np.float64, halflife is not None)
        state.add_counts(index)
        states.append(state)
    ref_states = [ref.new_state(s.n_rows, blocks, s.solver, s.counts, s.n_samples) for s in states]
    return uu, ii, y, arrays, states, ref_states


@pytest.mark.parametrize("t_span_of", [lambda n: n, lambda n: 2 * n + 3, lambda n: 7 * n + n // 2 + 1],
                         ids=["stride-1", "stride-2.x", "stride-7.5"])
@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)])
def test_a_clock_stride_matches_the_reference(solver, halflife, t_span_of):
    # a DSGD block of n samples in a stratum of t_span: sample i is step t_start + floor((i+1) t_span / n)
    uu, ii, y, arrays, (ust, ist), (rust, rist) = _one_epoch_inputs(solver, halflife)
    n, t_start = len(y), 40
    t_span = t_span_of(n)
    cfg = _engine.solver_config(Solver.from_name(solver), 0.2, 0.55, halflife)
    expected = {name: a.copy() for name, a in arrays.items()}
    sse = _engine.mf_epoch(device="cpu", user_index=uu, item_index=ii, ratings=y, **arrays, user_state=ust,
                           item_state=ist, config=cfg, global_mean=3.3, alpha=0.04, alpha_bias=0.01,
                           t_start=t_start, t_span=t_span, n_threads=1)
    ref_sse = ref.mf_epoch(uu, ii, y, np.arange(n), 3.3, expected["user_factors"], expected["item_factors"],
                           expected["user_bias"], expected["item_bias"], cfg, 0.04, 0.01, t_start, rust, rist,
                           t_span=t_span)
    np.testing.assert_allclose(sse, ref_sse, rtol=RTOL)
    for name in arrays:
        np.testing.assert_allclose(arrays[name], expected[name], rtol=RTOL, atol=1e-13, err_msg=name)
    if halflife is not None:
        np.testing.assert_array_equal(ist.last_seen, rist["last_seen"])
        # the last sample is the last step of the span, whatever the stride
        assert ust.last_seen.max() == t_start + t_span


@pytest.mark.parametrize("solver, halflife", [("fa-sgd", None), ("cf-sgd", 13.0)])
def test_the_clock_stride_reaches_the_clocked_solvers(solver, halflife):
    # t_span = n is the serial epoch exactly; another span moves fa-sgd's and the half-life's clock
    results = []
    for t_span in (None, "n", "3n"):
        uu, ii, y, arrays, (ust, ist), _ = _one_epoch_inputs(solver, halflife)
        span = {None: None, "n": len(y), "3n": 3 * len(y)}[t_span]
        _engine.mf_epoch(device="cpu", user_index=uu, item_index=ii, ratings=y, **arrays, user_state=ust,
                         item_state=ist, config=_engine.solver_config(Solver.from_name(solver), 0.2, 0.55, halflife),
                         global_mean=3.3, alpha=0.04, alpha_bias=0.01, t_start=500, t_span=span, n_threads=1)
        results.append(arrays["user_factors"])
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])


def test_a_clock_the_kernel_cannot_keep_is_refused():
    uu, ii, y, arrays, (ust, ist), _ = _one_epoch_inputs("fa-sgd", None)
    common = dict(device="cpu", user_index=uu, item_index=ii, ratings=y, **arrays, user_state=ust, item_state=ist,
                  config=_engine.solver_config(Solver.FA_SGD, 0.2, 0.5, None), global_mean=3.3, alpha=0.04,
                  alpha_bias=0.01, n_threads=1)
    n = len(y)
    before = arrays["user_factors"].copy()
    for t_start, t_span, match in ((0, n - 1, "at least one step per sample"), (-1, n, "t_start >= 0"),
                                   (2**63 - n, n, "overflows")):
        with pytest.raises(ValueError, match=match):
            _engine.mf_epoch(**common, t_start=t_start, t_span=t_span)
    np.testing.assert_array_equal(arrays["user_factors"], before)
    # (i + 1) * (t_span mod n) must fit a long long too: a block of 4e9 samples with a fractional stride
    with pytest.raises(ValueError, match="overflows"):
        check_clock(4_000_000_000, 0, 3 * 4_000_000_000 - 1)
    assert check_clock(4_000_000_000, 0, 3 * 4_000_000_000) == 12_000_000_000  # a whole stride is fine
    assert _engine.specs.KERNELS["mf_epoch"][-2] == ("t_span", "long long")
