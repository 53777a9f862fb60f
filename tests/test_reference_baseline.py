"""The compiled baseline epoch implements the rules of docs/solvers.md exactly (float64, one thread)."""

import numpy as np
import pytest

from recfreq import BaselinePredictor
from recfreq import _engine
from recfreq._solvers import Solver, TableState

import _reference as ref
from _helpers import tiny_ratings

RTOL = 1e-10


def _config(solver, halflife):
    return _engine.solver_config(Solver.from_name(solver), learning_rate=0.3 if solver != "sgd" else 0.05,
                                 frequency_exponent=0.6, counter_halflife=halflife)


@pytest.mark.parametrize("halflife", [None, 7.0])
def test_engine_epoch_matches_reference(solver, halflife):
    X, y = tiny_ratings()
    users, items = X[:, 0].astype(np.int32), X[:, 1].astype(np.int32)
    n_users, n_items = users.max() + 1, items.max() + 1
    rng = np.random.default_rng(1)
    user_bias, item_bias = rng.normal(0, 0.1, n_users), rng.normal(0, 0.1, n_items)
    cfg = _config(solver, halflife)
    code = Solver.from_name(solver)
    states = []
    for index, n in ((users, n_users), (items, n_items)):
        st = TableState.allocate(code, n, {"bias": ()}, np.float64, track_last_seen=halflife is not None)
        st.add_counts(index)
        states.append(st)
    ref_states = [ref.new_state(n, {"bias": ()}, code, counts=st.counts, n_samples=st.n_samples)
                  for n, st in ((n_users, states[0]), (n_items, states[1]))]
    ref_ub, ref_ib = user_bias.copy(), item_bias.copy()

    t = 5  # a model that has already seen 5 samples
    for epoch in range(3):
        order = rng.permutation(len(y))
        sse = _engine.baseline_epoch(
            device="cpu", user_index=users[order], item_index=items[order], ratings=y[order],
            user_bias=user_bias, item_bias=item_bias, user_state=states[0], item_state=states[1],
            config=cfg, global_mean=3.4, alpha=0.03, t_start=t, n_threads=1)
        ref_sse = ref.baseline_epoch(users, items, y, order, 3.4, ref_ub, ref_ib, cfg, 0.03, t,
                                     ref_states[0], ref_states[1])
        t += len(y)
        np.testing.assert_allclose(sse, ref_sse, rtol=RTOL)
        np.testing.assert_allclose(user_bias, ref_ub, rtol=RTOL, atol=1e-14)
        np.testing.assert_allclose(item_bias, ref_ib, rtol=RTOL, atol=1e-14)
    for st, rst in zip(states, ref_states):
        if code == Solver.CF_SGD:
            np.testing.assert_allclose(st.counter, rst["counter"], rtol=RTOL)
            if halflife is not None:
                np.testing.assert_array_equal(st.last_seen, rst["last_seen"])
        if code == Solver.ADAGRAD:
            np.testing.assert_allclose(st.accumulators["bias"], rst["accum"]["bias"], rtol=RTOL)


def test_estimator_fit_then_partial_fit_matches_reference(solver):
    """fit (3 epochs) + partial_fit with new users and items, replayed by the reference."""
    X, y = tiny_ratings(seed=3)
    X2, y2 = tiny_ratings(n_users=15, n_items=11, n_ratings=40, seed=4)
    X2 = X2 + 3  # shift ids: some rows are new users/items, some are known
    params = dict(solver=solver, learning_rate=0.2 if solver != "sgd" else 0.05, alpha=0.03,
                  max_iter=3, frequency_exponent=0.6, counter_halflife=11.0 if solver == "cf-sgd" else None,
                  dtype="float64", random_state=7)
    model = BaselinePredictor(**params).fit(X, y).partial_fit(X2, y2)

    cfg = _engine.solver_config(Solver.from_name(solver), params["learning_rate"], 0.6, params["counter_halflife"])
    # replay with IdEncoder's numbering of rows
    u_of, i_of = ref.row_numbering([X[:, 0], X2[:, 0]]), ref.row_numbering([X[:, 1], X2[:, 1]])
    all_users = list(u_of)
    enc = lambda A: (np.array([u_of[v] for v in A[:, 0]]), np.array([i_of[v] for v in A[:, 1]]))
    (u1, i1), (u2, i2) = enc(X), enc(X2)
    nu, ni = len(u_of), len(i_of)
    code = Solver.from_name(solver)
    ust = ref.new_state(nu, {"bias": ()}, code, counts=np.bincount(u1, minlength=nu), n_samples=len(y))
    ist = ref.new_state(ni, {"bias": ()}, code, counts=np.bincount(i1, minlength=ni), n_samples=len(y))
    ub, ib = np.zeros(nu), np.zeros(ni)
    mu = y.mean()
    # one order key per call: fit visits 3 epochs over len(y), partial_fit 1 over len(y2)
    calls = ref.device_epoch_orders(7, [len(y), len(y2)], [3, 1])
    t = 0
    losses = []
    for order in next(calls):
        losses.append(ref.baseline_epoch(u1, i1, y, order, mu, ub, ib, cfg, 0.03, t, ust, ist) / len(y))
        t += len(y)
    # partial_fit: counts grow by the new batch, one more epoch with the next shuffler
    ust["counts"] = ust["counts"] + np.bincount(u2, minlength=nu)
    ist["counts"] = ist["counts"] + np.bincount(i2, minlength=ni)
    ust["n_samples"] = ist["n_samples"] = len(y) + len(y2)
    losses.append(ref.baseline_epoch(u2, i2, y2, next(calls)[0], mu, ub, ib, cfg, 0.03, t, ust, ist) / len(y2))

    np.testing.assert_allclose(model.user_bias_, ub, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(model.item_bias_, ib, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
    assert model.t_ == 3 * len(y) + len(y2)
    np.testing.assert_array_equal(model.user_ids_, all_users)
