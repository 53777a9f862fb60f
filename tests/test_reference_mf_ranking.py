"""MatrixFactorization's ranking losses (logistic, bpr, warp) implement their rules exactly.

The compiled ``mf_ranking_epoch`` is replayed in NumPy (``tests/_reference.py``) for every loss x
solver at float64 rtol 1e-10, through a fit and a partial_fit, negatives drawn by the reference's
own Philox sampler; the gradients the rules use are checked against finite differences of the
losses; the draws do not depend on the thread count.
"""

import numpy as np
import pytest
from sklearn.utils import check_random_state

from recfreq import MatrixFactorization
from recfreq import _engine
from recfreq._solvers import SOLVER_NAMES, Solver, TableState

import _reference as ref

RTOL = 1e-10
LOSSES = {"logistic": ref.LOGISTIC, "bpr": ref.BPR, "warp": ref.WARP}


def tiny_interactions(n_users=9, n_items=8, n_rows=45, seed=0, full_user=None):
    """Distinct (user, item) interactions with skewed popularity; ``full_user`` holds every item."""
    rng = np.random.default_rng(seed)
    pairs = set()
    p_item = 1.0 / np.arange(1, n_items + 1) ** 0.8
    while len(pairs) < n_rows:
        pairs.add((int(rng.integers(n_users)), int(rng.choice(n_items, p=p_item / p_item.sum()))))
    if full_user is not None:
        pairs |= {(full_user, j) for j in range(n_items)}
    X = np.array(sorted(pairs), dtype=np.int64)
    rng.shuffle(X)
    return X


def _replay(params, batches):
    """fit (first batch, max_iter epochs) + partial_fit (later batches) of a ranking MF, in NumPy."""
    k, loss = params["n_factors"], LOSSES[params["loss"]]
    solver = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(solver, params["learning_rate"], params["frequency_exponent"],
                                params["counter_halflife"])
    u_of = ref.row_numbering([X[:, 0] for X in batches])
    i_of = ref.row_numbering([X[:, 1] for X in batches])
    n_users, n_items_total = len(u_of), len(i_of)
    blocks = {"factors": (k,), "bias": ()}
    ust, ist = ref.new_state(n_users, blocks, solver), ref.new_state(n_items_total, blocks, solver)
    rng = check_random_state(params["random_state"])
    n_u = len(np.unique(batches[0][:, 0]))
    n_i = len(np.unique(batches[0][:, 1]))
    P, Q = np.zeros((n_users, k)), np.zeros((n_items_total, k))
    P[:n_u] = rng.standard_normal((n_u, k)) * params["init_std"]
    Q[:n_i] = rng.standard_normal((n_i, k)) * params["init_std"]
    bu, bi = np.zeros(n_users), np.zeros(n_items_total)
    t, losses = 0, []
    seen_u, seen_i = [], []
    for call, X in enumerate(batches):
        uu = np.array([u_of[v] for v in X[:, 0]])
        ii = np.array([i_of[v] for v in X[:, 1]])
        if call > 0:
            new_u, new_i = max(uu.max() + 1 - n_u, 0), max(ii.max() + 1 - n_i, 0)
            if new_u or new_i:
                P[n_u:n_u + new_u] = rng.standard_normal((new_u, k)) * params["init_std"]
                Q[n_i:n_i + new_i] = rng.standard_normal((new_i, k)) * params["init_std"]
                n_u, n_i = n_u + new_u, n_i + new_i
        seen_u += uu.tolist()
        seen_i += ii.tolist()
        # the model so far: n_u users, n_i items, positives of every call so far
        all_u, all_i = np.array(seen_u), np.array(seen_i)
        pairs = sorted(set(zip(all_u.tolist(), all_i.tolist())))
        indptr = np.zeros(n_u + 1, dtype=np.int64)
        for u, _ in pairs:
            indptr[u + 1] += 1
        indptr = np.cumsum(indptr)
        indices = np.array([i for _, i in pairs], dtype=np.int32)
        user_steps, item_steps = ref.ranking_expected_steps(all_u, all_i, n_u, n_i, loss, params["n_negatives"])
        for state, steps in ((ust, user_steps), (ist, item_steps)):
            state["counts"] = np.zeros(len(state["counter"]))
            state["counts"][:len(steps)] = steps
            state["n_samples"] = len(all_u)
        sample_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        for epoch in range(params["max_iter"] if call == 0 else 1):
            order = ref.keyed_order(len(uu), order_seed, epoch)
            total = ref.mf_ranking_epoch(uu, ii, order, ref.draw_key(sample_seed, epoch), 0.0, P[:n_u], Q[:n_i],
                                         bu[:n_u], bi[:n_i], loss, params["n_negatives"], params["max_sampled"],
                                         indptr, indices, cfg, params["alpha"], params["alpha_bias"], t,
                                         _view(ust, n_u), _view(ist, n_i))
            losses.append(total / len(uu))
            t += len(uu)
    return P, Q, bu, bi, losses, ust, ist


def _view(state, n_rows):
    """The first n_rows rows of a reference state (the rows the model has so far), shared in place."""
    return {"counts": state["counts"][:n_rows], "n_samples": state["n_samples"],
            "counter": state["counter"][:n_rows], "last_seen": state["last_seen"][:n_rows],
            "accum": {name: a[:n_rows] for name, a in state["accum"].items()}}


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 9.0)])
def test_fit_and_partial_fit_match_reference(loss, solver, halflife):
    X = tiny_interactions(seed=3, full_user=8)
    X2 = tiny_interactions(n_users=12, n_items=10, n_rows=30, seed=4) + 3  # new users and items, some known
    params = dict(n_factors=3, loss=loss, solver=solver, learning_rate=0.05 if solver != "fa-sgd" else 0.3,
                  alpha=0.03, alpha_bias=0.02, max_iter=3, frequency_exponent=0.6, counter_halflife=halflife,
                  init_std=0.4, n_negatives=3, max_sampled=5, dtype="float64", random_state=7)
    model = MatrixFactorization(**params).fit(X).partial_fit(X2)
    P, Q, bu, bi, losses, ust, ist = _replay(params, [X, X2])
    np.testing.assert_allclose(model.user_factors_, P, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.user_bias_, bu, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.item_bias_, bi, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
    assert model.global_mean_ == 0.0
    if loss != "logistic":
        np.testing.assert_array_equal(model.user_bias_, 0.0)  # b_u cancels in a pairwise loss
    if solver == "adagrad":
        np.testing.assert_allclose(model.item_state_.accumulators["factors"], ist["accum"]["factors"], rtol=RTOL)
    if solver == "cf-sgd":
        np.testing.assert_allclose(model.user_state_.counter, ust["counter"], rtol=RTOL)
        np.testing.assert_allclose(model.item_state_.counter, ist["counter"], rtol=RTOL)


def test_expected_steps_count_negatives():
    """fa-sgd's p_r counts a row's negatives: rare items are drawn as negatives as often as popular ones."""
    from recfreq._ranking_losses import expected_steps, positive_csr
    import scipy.sparse as sp

    X = tiny_interactions(seed=1, full_user=2)
    n_users, n_items = X[:, 0].max() + 1, X[:, 1].max() + 1
    indptr, indices = positive_csr(sp.csr_matrix((np.ones(len(X)), (X[:, 0], X[:, 1])), shape=(n_users, n_items)))
    for loss, code in LOSSES.items():
        got = expected_steps(np.bincount(X[:, 0], minlength=n_users), np.bincount(X[:, 1], minlength=n_items),
                             indptr, indices, loss, 4)
        want = ref.ranking_expected_steps(X[:, 0], X[:, 1], n_users, n_items, code, 4)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
        # every step a positive causes is counted once: users' steps == items' steps
        total_negative = np.sum(got[1]) - (len(X) if loss == "logistic" else
                                           len(X) - np.sum(X[:, 0] == 2))
        if loss == "logistic":
            assert np.isclose(np.sum(got[0]), len(X) + total_negative)
        else:
            assert np.isclose(np.sum(got[0]), total_negative)


def _one_step(loss, P, Q, bu, bi, lr=1e-7, n_negatives=1):
    """One positive (user 0, item 0) of a catalogue of two items: its only negative is item 1.
    Returns the parameters after one plain-SGD step without L2, and the summed loss."""
    P, Q, bu, bi = (np.array(a, dtype=np.float64) for a in (P, Q, bu, bi))
    state = TableState.allocate(Solver.SGD, 1, {}, np.float64)
    items = TableState.allocate(Solver.SGD, 2, {}, np.float64)
    empty = np.zeros(0)
    total = _engine.mf_ranking_epoch(
        device="cpu", user_index=np.zeros(1, np.int32), item_index=np.zeros(1, np.int32),
        sample_index=np.zeros(1, np.int64), user_factors=P, item_factors=Q, user_bias=bu, item_bias=bi,
        user_state=state, item_state=items, user_frequency=empty, item_frequency=empty,
        positive_indptr=np.array([0, 1], np.int64), positive_indices=np.array([0], np.int32),
        ranking_loss=LOSSES[loss], n_negatives=n_negatives, max_sampled=3, warp_weights=ref.harmonic_numbers(2),
        sample_seed=1, order_epoch=0, config=_engine.solver_config(Solver.SGD, lr, 0.5, None), global_mean=0.0,
        alpha=0.0, alpha_bias=0.0, t_start=0, n_threads=1)
    return P, Q, bu, bi, total


def _loss(loss, p, qi, qj, bu, bi, bj):
    si, sj = bu + bi + p @ qi, bu + bj + p @ qj
    if loss == "logistic":
        return np.log1p(np.exp(-si)) + np.log1p(np.exp(sj))
    if loss == "bpr":
        return np.log1p(np.exp(-(si - sj)))
    # warp: one item besides the positive, found at the first draw: rank (2 - 1) // 1 = 1, L(1) = 1
    return max(0.0, 1.0 - (si - sj))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_kernel_steps_along_the_negative_gradient_of_the_loss(loss):
    """The kernel's step over one positive and its one possible negative is -lr times the
    finite-difference gradient of the loss (logistic's two pointwise steps, taken one after the
    other, are one step of the summed loss to first order in lr)."""
    rng = np.random.default_rng(0)
    P, Q = rng.normal(0, 0.5, (1, 3)), rng.normal(0, 0.5, (2, 3))
    bu, bi = np.array([0.1]), np.array([0.2, -0.3])
    if loss == "warp":
        Q[1] = Q[0]  # make the negative violate the margin at once
    lr = 1e-7
    P1, Q1, bu1, bi1, total = _one_step(loss, P, Q, bu, bi, lr=lr)
    assert np.isclose(total, _loss(loss, P[0], Q[0], Q[1], bu[0], bi[0], bi[1]), rtol=1e-6)
    theta = np.concatenate([P[0], Q[0], Q[1], bu, bi])
    after = np.concatenate([P1[0], Q1[0], Q1[1], bu1, bi1])

    def f(v):
        return _loss(loss, v[0:3], v[3:6], v[6:9], v[9], v[10], v[11])

    eps = 1e-6
    grad = np.array([(f(theta + eps * e) - f(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)])
    if loss != "logistic":
        grad[9] = 0.0  # b_u cancels in a pairwise loss: the kernel never moves it
    np.testing.assert_allclose((theta - after) / lr, grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_draws_do_not_depend_on_the_thread_count(loss):
    """With learning_rate ~ 0 the summed loss is a function of the negatives drawn: two threads
    draw exactly what one draws."""
    X = tiny_interactions(n_users=40, n_items=30, n_rows=400, seed=2)

    def epoch_loss(n_jobs):
        model = MatrixFactorization(loss=loss, n_factors=4, solver="sgd", learning_rate=1e-30, max_iter=1,
                                    dtype="float64", random_state=3, n_jobs=n_jobs).fit(X)
        return model.loss_curve_[0], model._samples_per_thread

    one, _ = epoch_loss(1)
    two, per_thread = epoch_loss(2)
    np.testing.assert_allclose(two, one, rtol=1e-12)
    if per_thread is not None and len(per_thread) == 2:
        assert (per_thread > 0).all()
