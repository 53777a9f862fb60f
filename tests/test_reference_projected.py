"""The projected-row MF kernel (factored and mixed tables) implements its rule exactly."""

import copy

import numpy as np
import pytest

from recfreq import _engine
from recfreq._projection import ProjectedTable
from recfreq._solvers import Solver, TableState

import _reference as ref
from _helpers import tiny_ratings

RTOL = 1e-10


def _tables(kind, users, items, rng):
    n_users, n_items = users.max() + 1, items.max() + 1
    if kind == "factored-2":
        return (ProjectedTable.factored(n_users, [5], 3, rng, 0.3, np.float64),
                ProjectedTable.factored(n_items, [5], 3, rng, 0.3, np.float64))
    if kind == "factored-3":
        return (ProjectedTable.factored(n_users, [5, 4], 3, rng, 0.3, np.float64),
                ProjectedTable.factored(n_items, [6, 2], 3, rng, 0.3, np.float64))
    return (ProjectedTable.mixed(np.bincount(users), 4, 3, 0.6, rng, 0.3, np.float64),
            ProjectedTable.mixed(np.bincount(items), 4, 3, 0.6, rng, 0.3, np.float64))


@pytest.mark.parametrize("kind", ["factored-2", "factored-3", "mixed"])
@pytest.mark.parametrize("dense_batch_size", [1, 7])
def test_projected_epoch_matches_reference(solver, kind, dense_batch_size):
    X, y = tiny_ratings(seed=8)
    users, items = X[:, 0].astype(np.int32), X[:, 1].astype(np.int32)
    rng = np.random.default_rng(0)
    user_table, item_table = _tables(kind, users, items, rng)
    code = Solver.from_name(solver)
    for table in (user_table, item_table):
        table.allocate_accumulators(code == Solver.ADAGRAD)
    n_users, n_items = user_table.n_rows, item_table.n_rows
    bu, bi = rng.normal(0, 0.1, n_users), rng.normal(0, 0.1, n_items)
    states = []
    for index, n in ((users, n_users), (items, n_items)):
        st = TableState.allocate(code, n, {"bias": ()}, np.float64, track_last_seen=False)
        st.add_counts(index)
        states.append(st)
    ref_states = [ref.new_state(st.n_rows, {"bias": ()}, code, counts=st.counts, n_samples=st.n_samples)
                  for st in states]
    ref_user, ref_item = copy.deepcopy(user_table), copy.deepcopy(item_table)
    ref_bu, ref_bi = bu.copy(), bi.copy()
    lr = {"sgd": 0.05, "fa-sgd": 0.3, "cf-sgd": 0.3, "adagrad": 0.1}[solver]
    cfg = _engine.solver_config(code, lr, 0.5, None)
    t = 3
    for epoch in range(2):
        order = rng.permutation(len(y))
        sse = _engine.mf_projected_epoch(
            device="cpu", user_index=users[order], item_index=items[order], ratings=y[order],
            user_table=user_table, item_table=item_table, user_bias=bu, item_bias=bi,
            user_state=states[0], item_state=states[1], config=cfg, dense_learning_rate=0.02,
            dense_batch_size=dense_batch_size, global_mean=3.5, alpha=0.03, alpha_bias=0.01,
            t_start=t, n_threads=1)
        ref_sse = ref.mf_projected_epoch(
            users[order], items[order], y[order], 3.5, ref_user, ref_item, ref_bu, ref_bi, cfg, 0.02,
            0.03, 0.01, t, ref_states[0], ref_states[1], dense_batch_size)
        t += len(y)
        np.testing.assert_allclose(sse, ref_sse, rtol=RTOL)
        for ours, theirs in ((user_table, ref_user), (item_table, ref_item)):
            np.testing.assert_allclose(ours.rows, theirs.rows, rtol=RTOL, atol=1e-13)
            np.testing.assert_allclose(ours.dense, theirs.dense, rtol=RTOL, atol=1e-13)
        np.testing.assert_allclose(bu, ref_bu, rtol=RTOL, atol=1e-13)
