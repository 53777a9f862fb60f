"""NeuralCF: the compiled epoch implements its rule exactly, its gradients are right,
the sampler never returns a positive, and the estimator behaves."""


import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import check_random_state

from recfreq import NeuralCF, _engine
from recfreq._solvers import SOLVER_NAMES, Solver, TableState
from recfreq.metrics import hit_rate_at_k

import _reference as ref

RTOL = 1e-10
N_NEG = 2


def _tiny_implicit(seed=0, n_users=7, n_items=9, n_rows=30):
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < n_rows:
        pairs.add((int(rng.integers(n_users)), int(rng.integers(n_items))))
    X = np.array(sorted(pairs), dtype=np.int32)
    labels = np.ones(len(X))
    labels[rng.choice(len(X), 5, replace=False)] = 0.0  # a few explicit negatives
    return X[:, 0].copy(), X[:, 1].copy(), labels


def _network(model):
    k = 3 if model in ("gmf", "neumf", "neumf-no-tower") else 0
    if model == "gmf":
        return k, 0, np.zeros(0, dtype=np.int32)
    if model == "neumf-no-tower":  # hidden_layers=(6,): the concatenated embeddings feed h directly
        return k, 3, np.array([6], dtype=np.int32)
    return k, 3, np.array([6, 5, 4], dtype=np.int32)


def _dense_size(k, d, sizes):
    size = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:])) if d else 0
    return size + k + (int(sizes[-1]) if d else 0) + 1


def _positive_csr(users, items, labels, n_users, n_items):
    pos = labels > 0.5
    m = sp.csr_matrix((np.ones(int(pos.sum())), (users[pos], items[pos])), shape=(n_users, n_items))
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32)


def _non_positive_negatives(users, labels, indptr, indices, n_items, rng):
    out = np.zeros((len(users), N_NEG), dtype=np.int32)
    for r, u in enumerate(users):
        allowed = np.setdiff1d(np.arange(n_items), indices[indptr[u]:indptr[u + 1]])
        out[r] = rng.choice(allowed, N_NEG)
    return out


@pytest.mark.parametrize("model", ["gmf", "mlp", "neumf", "neumf-no-tower"])
@pytest.mark.parametrize("dense_batch_size", [1, 4])
def test_ncf_epoch_matches_reference(model, solver, dense_batch_size):
    _check_epochs_against_reference(model, solver, dense_batch_size)


@pytest.mark.parametrize("model", ["mlp", "neumf", "neumf-no-tower"])
@pytest.mark.parametrize("dense_batch_size", [1, 4])
@pytest.mark.parametrize("sampled", [False, True], ids=["given-negatives", "sampled-negatives"])
def test_ncf_epoch_with_dropout_matches_reference(model, solver, dense_batch_size, sampled):
    """Dropout 0.3: the reference draws the masks from its own Philox-4x32-10, keyed on
    (seed, epoch, the row's own index, stream). ``sampled``: the kernel also samples
    its negatives in the loop, which the reference draws with its own sampler."""
    _check_epochs_against_reference(model, solver, dense_batch_size, dropout=0.3, sampled=sampled)


def _check_epochs_against_reference(model, solver, dense_batch_size, dropout=0.0, sampled=False):
    """Two compiled epochs (float64, one thread) against ``_reference.ncf_epoch``.

    The rows are visited in a shuffled order and each keeps its own index
    (``sample_index``), which keys its draws."""
    users, items, labels = _tiny_implicit()
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    k, d, sizes = _network(model)
    rng = np.random.default_rng(1)
    P, Q = rng.normal(0, 0.3, (n_users, k)), rng.normal(0, 0.3, (n_items, k))
    M, N = rng.normal(0, 0.3, (n_users, d)), rng.normal(0, 0.3, (n_items, d))
    dense = rng.normal(0, 0.4, _dense_size(k, d, sizes))
    code = Solver.from_name(solver)
    blocks = {name: (w,) for name, w in (("gmf", k), ("mlp", d)) if w}
    halflife = 40.0 if solver == "cf-sgd" else None
    user_state = TableState.allocate(code, n_users, blocks, np.float64, track_last_seen=halflife is not None)
    item_state = TableState.allocate(code, n_items, blocks, np.float64, track_last_seen=halflife is not None)
    # fa-sgd shares of the emitted samples, expected negatives included (ncf.py Notes)
    emitted = np.where(labels > 0.5, 1 + N_NEG, 1)
    n_emitted, n_pos = emitted.sum(), int((labels > 0.5).sum())
    user_counts = np.bincount(users, weights=emitted, minlength=n_users)
    item_counts = np.bincount(items, minlength=n_items) + N_NEG * n_pos / n_items
    freq = (user_counts / n_emitted, item_counts / n_emitted) if code == Solver.FA_SGD else (
        np.zeros(0), np.zeros(0))
    ref_states = []
    for counts, n_rows in ((user_counts, n_users), (item_counts, n_items)):
        st = ref.new_state(n_rows, blocks, code, counts=counts, n_samples=n_emitted)
        if not blocks:
            st["accum"] = {}
        ref_states.append(st)
    dense_accum = np.zeros_like(dense) if code == Solver.ADAGRAD else np.zeros(0)
    ref_dense_accum = np.zeros_like(dense)
    indptr, indices = _positive_csr(users, items, labels, n_users, n_items)
    lr = {"sgd": 0.1, "fa-sgd": 0.4, "cf-sgd": 0.4, "adagrad": 0.1}[solver]
    cfg = _engine.solver_config(code, lr, 0.5, halflife)
    ours = [P, Q, M, N, dense]
    theirs = [a.copy() for a in ours]
    t = 5
    for epoch in range(2):
        order = rng.permutation(len(users))
        u, i, y = users[order].copy(), items[order].copy(), labels[order].copy()
        sample_seed = 7
        key = ref.draw_key(sample_seed, epoch)
        if sampled:
            # the reference's own sampler, keyed as the kernel's (row = the row's own index)
            negatives = ref.sample_negatives(u, order, indptr, indices, n_items, N_NEG, key)
            given = np.zeros((0, N_NEG), dtype=np.int32)
        else:
            negatives = given = _non_positive_negatives(u, y, indptr, indices, n_items, rng)
        em = np.where(y > 0.5, 1 + N_NEG, 1).astype(np.int64)
        loss = _engine.ncf_epoch(
            device="cpu", user_index=u, item_index=i, labels=y, sample_start=np.cumsum(em) - em,
            sample_index=order.astype(np.int64), n_factors=k, mlp_dim=d, layer_sizes=sizes, user_gmf=P, item_gmf=Q, user_mlp=M, item_mlp=N,
            dense=dense, positive_indptr=indptr, positive_indices=indices, n_negatives=N_NEG,
            negatives=given, sample_seed=sample_seed, order_epoch=epoch, user_state=user_state,
            item_state=item_state, user_frequency=freq[0], item_frequency=freq[1], config=cfg,
            dense_learning_rate=0.05, dense_accum=dense_accum, dense_batch_size=dense_batch_size,
            alpha=0.02, t_start=t, n_threads=1, dropout=dropout)
        ref_loss = ref.ncf_epoch(u, i, y, negatives, k, d, list(sizes), *theirs, cfg, 0.05, 0.02, t,
                                 ref_states[0], ref_states[1], ref_dense_accum, dense_batch_size,
                                 dropout=dropout, key=key, rows=order)
        t += int(em.sum())
        np.testing.assert_allclose(loss, ref_loss, rtol=RTOL)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-13)
        if code == Solver.CF_SGD:
            np.testing.assert_allclose(user_state.counter, ref_states[0]["counter"], rtol=RTOL)
        if code == Solver.ADAGRAD:
            np.testing.assert_allclose(dense_accum, ref_dense_accum, rtol=RTOL)
            for name in blocks:
                np.testing.assert_allclose(user_state.accumulators[name], ref_states[0]["accum"][name],
                                           rtol=RTOL, atol=1e-13)


def _fd_gradient(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in range(x.size):
        old = x.flat[idx]
        x.flat[idx] = old + eps
        up = f()
        x.flat[idx] = old - eps
        down = f()
        x.flat[idx] = old
        g.flat[idx] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("model", ["gmf", "mlp", "neumf"])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_gradients_match_finite_differences(model, y):
    """The compiled kernel's one-sample SGD step is -lr times the exact gradient."""
    k, d, sizes = _network(model)
    sizes = np.array([6, 5, 4, 3], dtype=np.int32) if d else sizes  # three tower layers
    rng = np.random.default_rng(3)
    p, q, m, n = rng.normal(0, 0.7, k), rng.normal(0, 0.7, k), rng.normal(0, 0.7, d), rng.normal(0, 0.7, d)
    dense = rng.normal(0, 0.6, _dense_size(k, d, sizes))

    def loss():
        return ref.ncf_loss_and_grads(k, d, list(sizes), dense, p, q, m, n, y)[0]

    fd = [_fd_gradient(loss, a) for a in (p, q, m, n, dense)]
    _, *exact = ref.ncf_loss_and_grads(k, d, list(sizes), dense, p, q, m, n, y)
    for a, b in zip(exact, fd):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)

    # the kernel: one sample, plain SGD on everything, no L2 -> delta = -lr * gradient
    lr = 1e-3
    tables = [a.reshape(1, -1).copy() for a in (p, q, m, n)]
    new_dense = dense.copy()
    code = Solver.SGD
    blocks = {name: (w,) for name, w in (("gmf", k), ("mlp", d)) if w}
    states = [TableState.allocate(code, 1, blocks, np.float64) for _ in range(2)]
    _engine.ncf_epoch(
        device="cpu", user_index=np.zeros(1, np.int32), item_index=np.zeros(1, np.int32),
        labels=np.array([y]), sample_start=np.zeros(1, np.int64), n_factors=k, mlp_dim=d,
        layer_sizes=sizes, user_gmf=tables[0], item_gmf=tables[1], user_mlp=tables[2], item_mlp=tables[3],
        dense=new_dense, positive_indptr=np.array([0, 1], np.int64), positive_indices=np.zeros(1, np.int32),
        n_negatives=0, negatives=np.zeros((0, 0), np.int32), sample_index=np.zeros(1, np.int64),
        sample_seed=0, order_epoch=0,
        user_state=states[0], item_state=states[1], user_frequency=np.zeros(0), item_frequency=np.zeros(0),
        config=_engine.solver_config(code, lr, 0.5, None), dense_learning_rate=lr,
        dense_accum=np.zeros(0), dense_batch_size=1, alpha=0.0, t_start=0, n_threads=1)
    moved = [(a - b.reshape(1, -1)).ravel() / -lr for a, b in zip(tables, (p, q, m, n))]
    moved.append((new_dense - dense) / -lr)
    for a, b in zip(moved, fd):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("model", ["mlp", "neumf"])
def test_masked_gradients_match_finite_differences(model):
    """With fixed dropout multipliers the reference's gradients are those of the masked network."""
    k, d, _ = _network(model)
    sizes = [6, 5, 4, 3]
    rng = np.random.default_rng(4)
    p, q, m, n = rng.normal(0, 0.7, k), rng.normal(0, 0.7, k), rng.normal(0, 0.7, d), rng.normal(0, 0.7, d)
    dense = rng.normal(0, 0.6, _dense_size(k, d, sizes))
    masks = ref.dropout_masks(ref.draw_key(99, 0), 0, 0, sizes[:-1], 0.4)
    assert any((r == 0).any() for r in masks) and all(np.isin(r, (0, 1 / 0.6)).all() for r in masks)

    def loss():
        return ref.ncf_loss_and_grads(k, d, sizes, dense, p, q, m, n, 1.0, masks)[0]

    fd = [_fd_gradient(loss, a) for a in (p, q, m, n, dense)]
    _, *exact = ref.ncf_loss_and_grads(k, d, sizes, dense, p, q, m, n, 1.0, masks)
    for a, b in zip(exact, fd):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_dropout_drops_the_requested_share():
    """The kernel's masks (replayed by the reference, which the epoch tests tie to the
    kernel) drop about `dropout` of the units and scale the rest by 1 / (1 - dropout)."""
    key = ref.draw_key(3, 0)
    r = np.concatenate([np.concatenate(ref.dropout_masks(key, row, s, [4, 3], 0.25))
                        for row in range(800) for s in range(5)])
    assert abs((r == 0).mean() - 0.25) < 0.01
    assert np.all(r[r > 0] == 1 / 0.75)


def _sampler_data(n_items=50):
    # user 0: a few items; user 1: all but two items (a dense user, exercises the
    # exact fallback); user 2: every item (no negative exists); user 3: nothing
    rows = [(0, j) for j in (3, 7, 8, 40)]
    rows += [(1, j) for j in range(n_items) if j not in (5, 33)]
    rows += [(2, j) for j in range(n_items)]
    X = np.array(rows, dtype=np.int32)
    m = sp.csr_matrix((np.ones(len(X)), (X[:, 0], X[:, 1])), shape=(4, n_items))
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), n_items


@pytest.mark.parametrize("n_threads", [1, 2])
def test_sampler_never_returns_a_positive(n_threads):
    indptr, indices, n_items = _sampler_data()
    users = np.repeat(np.array([0, 1, 3, 2], dtype=np.int32), 500)
    neg = _engine.ncf_sample_negatives(
        user_index=users, sample_index=np.arange(len(users), dtype=np.int64), positive_indptr=indptr,
        positive_indices=indices, n_items=n_items, n_negatives=8, sample_seed=11, order_epoch=0,
        n_threads=n_threads)
    assert neg.shape == (2000, 8) and neg.min() >= 0 and neg.max() < n_items
    for u in (0, 1, 3):
        drawn = neg[users == u].ravel()
        assert not np.isin(drawn, indices[indptr[u]:indptr[u + 1]]).any()
    # the dense user gets both of its negatives, about equally often
    counts = np.bincount(neg[users == 1].ravel(), minlength=n_items)
    assert set(np.flatnonzero(counts)) == {5, 33} and abs(counts[5] - counts[33]) < 400
    # a light user's negatives are spread over all its non-positives
    assert len(np.unique(neg[users == 0])) == n_items - 4


def test_sampler_is_uniform_over_the_non_positives():
    """Each negative position (first tries shared by four negatives of a row, the fallback on
    its own stream) draws every non-positive item about equally often."""
    indptr, indices, n_items = _sampler_data()
    users = np.zeros(3000, dtype=np.int32)  # user 0: 46 non-positives
    neg = _engine.ncf_sample_negatives(
        user_index=users, sample_index=np.arange(3000, dtype=np.int64), positive_indptr=indptr,
        positive_indices=indices, n_items=n_items, n_negatives=6, sample_seed=5, order_epoch=1, n_threads=1)
    allowed = np.setdiff1d(np.arange(n_items), indices[indptr[0]:indptr[1]])
    for s in range(6):
        counts = np.bincount(neg[:, s], minlength=n_items)[allowed]
        expected = 3000 / allowed.size
        # chi2 with 45 degrees of freedom: 95 is beyond its 0.99999 quantile
        assert ((counts - expected) ** 2 / expected).sum() < 95, s
    # negatives of one row are not tied to each other (the shared first-try block)
    assert np.mean(neg[:, 0] == neg[:, 1]) < 0.05


def test_sampler_draws_are_keyed_on_the_row_not_the_thread():
    """The same negatives for any thread count, bit for bit the reference's (Philox
    keyed on seed, epoch, row index, stream); a row keeps its draws wherever it sits
    in the epoch; another epoch or seed draws others."""
    indptr, indices, n_items = _sampler_data()
    rng = np.random.default_rng(2)
    users = rng.choice(np.array([0, 1, 3], dtype=np.int32), 300)  # every sampler branch but "all items"
    rows = rng.permutation(1000)[:300].astype(np.int64)

    def draw(n_threads, users=users, rows=rows, seed=123, epoch=4):
        return _engine.ncf_sample_negatives(
            user_index=users, sample_index=rows, positive_indptr=indptr, positive_indices=indices,
            n_items=n_items, n_negatives=5, sample_seed=seed, order_epoch=epoch, n_threads=n_threads)

    one = draw(1)
    np.testing.assert_array_equal(draw(2), one)
    np.testing.assert_array_equal(one, ref.sample_negatives(users, rows, indptr, indices, n_items, 5,
                                                            ref.draw_key(123, 4)))
    flip = np.arange(len(users))[::-1]
    np.testing.assert_array_equal(draw(2, users=users[flip].copy(), rows=rows[flip].copy()), one[flip])
    light = users == 0  # 46 non-positives: other keys must give other draws
    assert (draw(1, epoch=5)[light] != one[light]).mean() > 0.9
    assert (draw(1, seed=124)[light] != one[light]).mean() > 0.9


def _sampled_epoch(n_threads, dropout):
    """One NeuMF epoch that only measures its loss (learning rates 0): the loss is a sum
    over the negatives and masks drawn, so it shows whether they depend on the thread."""
    rng = np.random.default_rng(0)
    n = 400
    users = rng.integers(0, 20, n).astype(np.int32)
    items = rng.integers(0, 30, n).astype(np.int32)
    labels = (rng.random(n) < 0.8).astype(np.float64)
    k, d, sizes = 3, 3, np.array([6, 5, 4], dtype=np.int32)
    indptr, indices = _positive_csr(users, items, labels, 20, 30)
    em = np.where(labels > 0.5, 1 + N_NEG, 1).astype(np.int64)
    prng = np.random.default_rng(5)
    arrays = [prng.normal(0, 0.5, s) for s in ((20, k), (30, k), (20, d), (30, d), _dense_size(k, d, sizes))]
    states = [TableState.allocate(Solver.SGD, m, {}, np.float64) for m in (20, 30)]
    rows = prng.permutation(n).astype(np.int64)
    loss = _engine.ncf_epoch(
        device="cpu", user_index=users, item_index=items, labels=labels, sample_start=np.cumsum(em) - em,
        sample_index=rows, n_factors=k, mlp_dim=d, layer_sizes=sizes, user_gmf=arrays[0], item_gmf=arrays[1],
        user_mlp=arrays[2], item_mlp=arrays[3], dense=arrays[4], positive_indptr=indptr, positive_indices=indices,
        n_negatives=N_NEG, negatives=np.zeros((0, N_NEG), np.int32), sample_seed=99, order_epoch=1,
        user_state=states[0], item_state=states[1], user_frequency=np.zeros(0), item_frequency=np.zeros(0),
        config=_engine.solver_config(Solver.SGD, 0.0, 0.5, None), dense_learning_rate=0.0,
        dense_accum=np.zeros(0), dense_batch_size=3, alpha=0.0, t_start=0, n_threads=n_threads, dropout=dropout)
    return loss, (users, items, labels, rows, indptr, indices, k, d, sizes, arrays)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_epoch_draws_the_same_for_any_thread_count(dropout):
    """Two threads draw the negatives and dropout masks of one: the loss of an epoch at
    zero learning rates (a sum over those draws) agrees up to summation order, and
    equals the reference's with its own draws."""
    one, _ = _sampled_epoch(1, dropout)
    two, (users, items, labels, rows, indptr, indices, k, d, sizes, arrays) = _sampled_epoch(2, dropout)
    if _engine.build_info()["openmp"]:
        assert (two.samples_per_thread > 0).sum() == 2  # both threads ran rows
    np.testing.assert_allclose(two, one, rtol=1e-12)
    key = ref.draw_key(99, 1)
    negatives = ref.sample_negatives(users, rows, indptr, indices, 30, N_NEG, key)
    states = [ref.new_state(m, {"gmf": (k,), "mlp": (d,)}, Solver.SGD) for m in (20, 30)]
    cfg = _engine.solver_config(Solver.SGD, 0.0, 0.5, None)
    expected = ref.ncf_epoch(users, items, labels, negatives, k, d, list(sizes), *[a.copy() for a in arrays], cfg,
                             0.0, 0.0, 0, states[0], states[1], np.zeros(0), 3, dropout=dropout, key=key, rows=rows)
    np.testing.assert_allclose(one, expected, rtol=1e-10)


def test_epoch_samples_exactly_what_the_sampler_draws():
    """ncf_epoch's in-loop sampler is ncf_sample_negatives: same key, same updates."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, 6, 40).astype(np.int32)
    items = rng.integers(0, 10, 40).astype(np.int32)
    labels = np.ones(40)
    k, d, sizes = _network("neumf")
    m = sp.csr_matrix((np.ones(40), (users, items)), shape=(6, 10))
    m.sum_duplicates()
    m.sort_indices()
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int32)
    rows = rng.permutation(40).astype(np.int64)
    start = np.arange(40, dtype=np.int64) * (1 + N_NEG)
    results = []
    for negatives in (np.zeros((0, N_NEG), np.int32),
                      _engine.ncf_sample_negatives(user_index=users, sample_index=rows, positive_indptr=indptr,
                                                   positive_indices=indices, n_items=10, n_negatives=N_NEG,
                                                   sample_seed=2024, order_epoch=3, n_threads=1)):
        prng = np.random.default_rng(5)
        arrays = [prng.normal(0, 0.3, s) for s in ((6, k), (10, k), (6, d), (10, d), _dense_size(k, d, sizes))]
        states = [TableState.allocate(Solver.SGD, n, {}, np.float64) for n in (6, 10)]
        _engine.ncf_epoch(
            device="cpu", user_index=users, item_index=items, labels=labels, sample_start=start,
            sample_index=rows, n_factors=k, mlp_dim=d, layer_sizes=sizes, user_gmf=arrays[0], item_gmf=arrays[1],
            user_mlp=arrays[2], item_mlp=arrays[3], dense=arrays[4], positive_indptr=indptr,
            positive_indices=indices, n_negatives=N_NEG, negatives=negatives, sample_seed=2024, order_epoch=3,
            user_state=states[0], item_state=states[1], user_frequency=np.zeros(0),
            item_frequency=np.zeros(0), config=_engine.solver_config(Solver.SGD, 0.1, 0.5, None),
            dense_learning_rate=0.01, dense_accum=np.zeros(0), dense_batch_size=3, alpha=0.0, t_start=0,
            n_threads=1)
        results.append(arrays)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ estimator
def _implicit_data(n_users=60, n_items=40, per_user=8, seed=0):
    """Two taste groups: users of group g interact mostly with items of group g."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = u % 2
        pool = np.arange(group, n_items, 2)
        rows += [(u, int(j)) for j in rng.choice(pool, per_user, replace=False)]
    return np.array(rows, dtype=np.int64)


@pytest.mark.parametrize("model", ["gmf", "mlp", "neumf"])
def test_learns_a_planted_preference(model):
    X = _implicit_data()
    est = NeuralCF(model=model, n_factors=8, hidden_layers=(16, 8), max_iter=30, random_state=0).fit(X)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    users = np.arange(60)
    top, scores = est.recommend(users, n=5)
    same_group = (top % 2) == (users[:, None] % 2)
    assert same_group.mean() > 0.8
    assert np.all(np.diff(scores, axis=1) <= 0)
    seen = {(u, i) for u, i in X.tolist()}
    assert not any((u, i) in seen for u, row in zip(users, top.tolist()) for i in row)


def test_predict_proba_decision_function_and_predict_agree():
    X = _implicit_data()
    est = NeuralCF(model="neumf", n_factors=4, hidden_layers=(8, 4), max_iter=5, random_state=0).fit(X)
    proba = est.predict_proba(X[:20])
    logits = est.decision_function(X[:20])
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-5)
    np.testing.assert_array_equal(est.predict(X[:20]), (proba[:, 1] >= 0.5).astype(int))
    np.testing.assert_array_equal(est.classes_, [0, 1])


@pytest.mark.parametrize("hidden_layers", [(8, 6, 4), (8,)])
def test_recommend_matches_pairwise_scores(hidden_layers):
    X = _implicit_data()
    est = NeuralCF(model="neumf", n_factors=4, hidden_layers=hidden_layers, max_iter=3, random_state=0,
                   dtype="float64").fit(X)
    users = np.array([0, 1, 2, 999])  # 999 unknown
    rows = est._user_encoder.transform(users)
    scores = est._score_items(rows)
    pairs_u = np.repeat(users, len(est.item_ids_))
    pairs_i = np.tile(est.item_ids_, len(users))
    expected = est.decision_function(np.column_stack([pairs_u, pairs_i])).reshape(len(users), -1)
    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-12)


def test_unknown_ids_use_zero_embeddings_and_never_nan():
    X = _implicit_data()
    est = NeuralCF(model="neumf", n_factors=4, hidden_layers=(8, 4), max_iter=3, random_state=0,
                   dtype="float64").fit(X)
    logits = est.decision_function(np.array([[0, 0], [10**9, 0], [0, 10**9], [10**9, 10**9]]))
    assert np.isfinite(logits).all()
    # both unknown: the network's output on zero embeddings
    z = np.zeros(8)
    for W, b in zip(est.coefs_, est.intercepts_):
        z = np.maximum(z @ W + b, 0)
    assert logits[3] == pytest.approx(est.output_bias_ + z @ est.output_weights_[4:])
    assert est.recommend([10**9], n=3)[0].shape == (1, 3)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_every_solver_trains(solver):
    X = _implicit_data()
    est = NeuralCF(solver=solver, n_factors=4, hidden_layers=(8, 4), max_iter=6, random_state=0).fit(X)
    assert np.isfinite(est.loss_curve_).all() and est.loss_curve_[-1] < est.loss_curve_[0]
    assert est.t_ == 6 * len(X) * (1 + est.n_negatives)


def test_explicit_negatives_and_threshold():
    X = _implicit_data()
    y = np.ones(len(X))
    y[::5] = 0
    est = NeuralCF(model="gmf", max_iter=2, random_state=0).fit(X, y)
    assert est.t_ == 2 * (int(y.sum()) * 5 + int((y == 0).sum()))
    assert est.positive_items_.nnz == int(y.sum())
    ratings = np.where(y == 1, 5.0, 2.0)
    thr = NeuralCF(model="gmf", max_iter=2, random_state=0, positive_threshold=4).fit(X, ratings)
    np.testing.assert_array_equal(thr.decision_function(X), est.decision_function(X))


def test_pretrain_initialises_neumf_from_gmf_and_mlp():
    X = _implicit_data()
    params = dict(n_factors=4, hidden_layers=(8, 4), max_iter=3, random_state=0, dtype="float64")
    est = NeuralCF(model="neumf", pretrain=True, **params)
    est.fit(X)
    assert set(est.pretrain_loss_curves_) == {"gmf", "mlp"}
    assert len(est.loss_curve_) == 3 and np.isfinite(est.decision_function(X)).all()
    # the initialisation itself: NeuMF at step 0 = alpha-weighted sum of the two logits
    one_epoch = NeuralCF(model="neumf", pretrain=True, **{**params, "max_iter": 1})
    rng = np.random.RandomState(0)
    one_epoch._validate_params()
    (users, items), labels = one_epoch._read_training_data(X, None, reset=True, dtype=np.float64)
    one_epoch._initialize((users, items), labels, rng)
    one_epoch._pretrain(users, items, labels, np.random.RandomState(1))
    gmf = NeuralCF(model="gmf", **{**params, "max_iter": 1})
    mlp = NeuralCF(model="mlp", **{**params, "max_iter": 1})
    seeds = np.random.RandomState(1)
    gmf.set_params(random_state=seeds.randint(np.iinfo(np.int32).max)).fit(X, labels)
    mlp.set_params(random_state=seeds.randint(np.iinfo(np.int32).max)).fit(X, labels)
    np.testing.assert_allclose(one_epoch.decision_function(X),
                               0.5 * gmf.decision_function(X) + 0.5 * mlp.decision_function(X), rtol=1e-10)


@pytest.mark.parametrize("model", ["mlp", "neumf"])
def test_dropout_trains_differently_and_predicts_deterministically(model):
    X = _implicit_data()
    params = {"model": model, "n_factors": 4, "hidden_layers": (16, 8, 4), "max_iter": 4, "random_state": 0,
              "dtype": "float64"}
    plain = NeuralCF(**params).fit(X)
    est = NeuralCF(dropout=0.3, **params).fit(X)
    assert not np.allclose(est.dense_parameters_, plain.dense_parameters_)
    assert not np.allclose(est.user_mlp_factors_, plain.user_mlp_factors_)
    # inference never drops: repeated calls agree exactly, and equal the network by hand
    np.testing.assert_array_equal(est.decision_function(X), est.decision_function(X))
    np.testing.assert_array_equal(est.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(est.recommend(np.arange(10), n=5)[0], est.recommend(np.arange(10), n=5)[0])
    users, items = est._encoded(X)
    z = np.hstack([est.user_mlp_factors_[users], est.item_mlp_factors_[items]])
    for W, b in zip(est.coefs_, est.intercepts_):
        z = np.maximum(z @ W + b, 0)
    logit = z @ est.output_weights_[-z.shape[1]:] + est.output_bias_
    if model == "neumf":
        logit += (est.user_gmf_factors_[users] * est.item_gmf_factors_[items]) @ est.output_weights_[:4]
    # logits are sums of O(1) terms: a logit near zero may differ from NumPy's order of summation in
    # its last bit (the -O0 debug build sums in another order), so the tolerance is absolute too
    np.testing.assert_allclose(est.decision_function(X), logit, rtol=1e-12, atol=1e-13)
    # a fixed random_state fixes the masks too (n_jobs=1)
    np.testing.assert_array_equal(NeuralCF(dropout=0.3, **params).fit(X).dense_parameters_,
                                  est.dense_parameters_)
    # dropout=0.0 is the default code path, bit for bit
    np.testing.assert_array_equal(NeuralCF(dropout=0.0, **params).fit(X).dense_parameters_,
                                  plain.dense_parameters_)


def test_dropout_float32_follows_float64():
    """Both dtypes draw the same masks (n_jobs=1), so float32 tracks float64 closely."""
    X = _implicit_data()
    params = {"model": "neumf", "n_factors": 4, "hidden_layers": (16, 8, 4), "dropout": 0.3, "max_iter": 3,
              "random_state": 0}
    single = NeuralCF(dtype="float32", **params).fit(X)
    double = NeuralCF(dtype="float64", **params).fit(X)
    np.testing.assert_allclose(single.decision_function(X), double.decision_function(X), rtol=1e-3, atol=1e-4)


def test_dropout_needs_a_tower():
    """GMF has no tower, and hidden_layers=(h0,) has no tower layer: dropout is ignored."""
    X = _implicit_data()
    for params in ({"model": "gmf"}, {"model": "neumf", "hidden_layers": (8,)}):
        params.update(n_factors=4, max_iter=2, random_state=0)
        np.testing.assert_array_equal(NeuralCF(dropout=0.5, **params).fit(X).dense_parameters_,
                                      NeuralCF(**params).fit(X).dense_parameters_)


def test_dropout_reaches_the_pretrained_mlp():
    X = _implicit_data()
    params = {"model": "neumf", "pretrain": True, "n_factors": 4, "hidden_layers": (8, 4), "max_iter": 2,
              "random_state": 0}
    plain = NeuralCF(**params).fit(X)
    est = NeuralCF(dropout=0.3, **params).fit(X)
    assert est.pretrain_loss_curves_["gmf"] == plain.pretrain_loss_curves_["gmf"]
    assert est.pretrain_loss_curves_["mlp"] != plain.pretrain_loss_curves_["mlp"]


@pytest.mark.parametrize("dropout", [1.0, -0.1, 1.5, float("nan"), "0.2", None, True])
def test_dropout_outside_zero_one_raises(dropout):
    with pytest.raises(ValueError, match="dropout"):
        NeuralCF(dropout=dropout, max_iter=1).fit(_implicit_data())


def test_bad_input_raises_clear_errors():
    X = _implicit_data()
    with pytest.raises(ValueError, match="binary y"):
        NeuralCF(max_iter=1).fit(X, np.arange(len(X)) % 5)
    with pytest.raises(ValueError, match="even"):
        NeuralCF(hidden_layers=(7, 4), max_iter=1).fit(X)
    with pytest.raises(ValueError, match="disagrees"):
        NeuralCF(mlp_embedding_dim=16, max_iter=1).fit(X)
    with pytest.raises(ValueError, match="nothing to pretrain"):
        NeuralCF(model="gmf", pretrain=True, max_iter=1).fit(X)
    with pytest.raises(ValueError, match="no positive"):
        NeuralCF(max_iter=1).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError):
        NeuralCF(model="ncf").fit(X)
    with pytest.raises(ValueError, match="inconsistent"):
        NeuralCF(max_iter=1).fit(X, np.ones(3))


def test_mlp_embedding_dim_given_consistently():
    X = _implicit_data()
    est = NeuralCF(model="mlp", mlp_embedding_dim=4, hidden_layers=(8, 4), max_iter=1, random_state=0).fit(X)
    assert est.user_mlp_factors_.shape[1] == 4 and [W.shape for W in est.coefs_] == [(8, 4)]


def test_hit_rate_on_held_out_items():
    X = _implicit_data(per_user=10)
    rng = np.random.default_rng(0)
    test_rows = np.array([rng.choice(np.flatnonzero(X[:, 0] == u)) for u in range(60)])
    train = np.delete(X, test_rows, axis=0)
    est = NeuralCF(model="neumf", n_factors=8, hidden_layers=(16, 8), max_iter=30, random_state=0).fit(train)
    top, _ = est.recommend(np.arange(60), n=10)
    # 20 unseen candidates per group -> a random ranking would hit about 0.25 of them
    assert hit_rate_at_k(X[test_rows], top, k=10) > 0.5


@pytest.mark.slow
def test_ml100k_leave_one_out_quality():
    """NCF protocol on the bundled ml-100k: NeuMF k=8 ranks the held-out item well.

    benchmarks/README.md measures 0.64-0.65 HR@10 (PyTorch NeuMF k=8: about 0.66); the
    threshold leaves room for the noise of 943 test users.
    """
    from recfreq.datasets import load_movielens
    from recfreq.model_selection import leave_one_out_split, sample_negatives

    bunch = load_movielens("100k")
    X = np.asarray(bunch.data)
    X_train, X_test, _, _ = leave_one_out_split(X, timestamps=np.asarray(bunch.timestamps))
    neg = sample_negatives(X_train, users=X_test[:, 0], n_negatives=99, random_state=0, exclude=X_test)
    cands = np.column_stack([X_test[:, 1], neg])
    model = NeuralCF(model="neumf", n_factors=8, hidden_layers=(32, 16, 8), max_iter=15, n_jobs=2,
                     random_state=0).fit(X_train)
    scores = model.decision_function(np.column_stack([np.repeat(X_test[:, 0], 100), cands.ravel()]))
    scores = scores.reshape(cands.shape)
    rank = (scores[:, 1:] > scores[:, :1]).sum(axis=1)
    assert (rank < 10).mean() > 0.60
    assert np.where(rank < 10, 1 / np.log2(rank + 2.0), 0).mean() > 0.33


def test_pretrain_with_an_estimator_pair_fits_clones_with_their_own_settings():
    X = _implicit_data(seed=3)
    gmf = NeuralCF(model="gmf", n_factors=4, solver="sgd", learning_rate=0.2, max_iter=3, random_state=5)
    mlp = NeuralCF(model="mlp", hidden_layers=(8, 4), max_iter=2, random_state=6)
    est = NeuralCF(model="neumf", n_factors=4, hidden_layers=(8, 4), max_iter=1, random_state=0,
                   pretrain=(gmf, mlp)).fit(X)
    # the given estimators stay unfitted; the stages are clones trained with their own settings
    assert not hasattr(gmf, "loss_curve_") and not hasattr(mlp, "loss_curve_")
    ref_gmf = clone(gmf).fit(X)
    ref_mlp = clone(mlp).fit(X)
    assert est.pretrain_loss_curves_ == {"gmf": ref_gmf.loss_curve_, "mlp": ref_mlp.loss_curve_}
    np.testing.assert_array_equal(est.pretrained_gmf_.user_gmf_factors_, ref_gmf.user_gmf_factors_)
    # NeuMF starts from their weights: one NeuMF epoch at a zero learning rate keeps them
    frozen = NeuralCF(model="neumf", n_factors=4, hidden_layers=(8, 4), max_iter=1, random_state=0,
                      learning_rate=1e-300, dense_learning_rate=1e-300, pretrain=(gmf, mlp)).fit(X)
    np.testing.assert_allclose(frozen.user_gmf_factors_, ref_gmf.user_gmf_factors_)
    np.testing.assert_allclose(frozen.item_mlp_factors_, ref_mlp.item_mlp_factors_)
    np.testing.assert_allclose(frozen.output_weights_[:4], 0.5 * ref_gmf.output_weights_, rtol=1e-6)
    np.testing.assert_allclose(frozen.output_weights_[4:], 0.5 * ref_mlp.output_weights_, rtol=1e-6)
    assert clone(est).get_params()["pretrain"][0].get_params() == gmf.get_params()


@pytest.mark.parametrize("pair, error, match", [
    ((NeuralCF(model="gmf"),), TypeError, "pair"),
    ((NeuralCF(model="gmf"), "mlp"), TypeError, "pair"),
    ((NeuralCF(model="mlp"), NeuralCF(model="gmf")), ValueError, "model='gmf' then model='mlp'"),
    ((NeuralCF(model="gmf", n_factors=8), NeuralCF(model="mlp", hidden_layers=(8, 4))), ValueError, "n_factors=8"),
    ((NeuralCF(model="gmf", n_factors=4), NeuralCF(model="mlp", hidden_layers=(16, 4))), ValueError,
     "hidden_layers"),
    ((NeuralCF(model="gmf", n_factors=4, dtype="float64"), NeuralCF(model="mlp", hidden_layers=(8, 4))),
     ValueError, "dtype"),
])
def test_pretrain_pair_is_checked_before_training(pair, error, match):
    est = NeuralCF(model="neumf", n_factors=4, hidden_layers=(8, 4), max_iter=1, pretrain=pair)
    with pytest.raises(error, match=match):
        est.fit(_implicit_data(seed=1))


# ---------------------------------------------------- estimator against the reference
def _replay_estimator(params, X, y, n_calls):
    """Replay NeuralCF(**params).fit(X, y) then (n_calls - 1) x partial_fit(X, y) in NumPy.

    Initialisation as NeuralCF draws it (GMF, then MLP embeddings, then the
    tower Glorot-uniform and h LeCun-uniform); per call one seed for the draws
    then one epoch-order key from the model's RandomState; epoch e of a call
    visits keyed_order(n, order key, e), and every row's negatives and masks
    are keyed on (seed, e, the row's own index).
    """
    rng = check_random_state(params["random_state"])
    u_of, i_of = ref.row_numbering([X[:, 0]]), ref.row_numbering([X[:, 1]])
    users = np.array([u_of[v] for v in X[:, 0]])
    items = np.array([i_of[v] for v in X[:, 1]])
    n_users, n_items = len(u_of), len(i_of)
    k, sizes = params["n_factors"], list(params["hidden_layers"])
    d = sizes[0] // 2
    P = rng.standard_normal((n_users, k)) * params["init_std"]
    Q = rng.standard_normal((n_items, k)) * params["init_std"]
    M = rng.standard_normal((n_users, d)) * params["init_std"]
    N = rng.standard_normal((n_items, d)) * params["init_std"]
    dense = np.zeros(_dense_size(k, d, np.array(sizes)))
    off = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        dense[off:off + n_in * n_out] = rng.uniform(-limit, limit, n_in * n_out)
        off += n_in * n_out + n_out
    n_h = k + sizes[-1]
    dense[off:off + n_h] = rng.uniform(-np.sqrt(3.0 / n_h), np.sqrt(3.0 / n_h), n_h)
    solver = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(solver, params["learning_rate"], params["frequency_exponent"], None)
    n_neg = params["n_negatives"]
    emitted = np.where(y > 0.5, 1 + n_neg, 1)
    blocks = {"gmf": (k,), "mlp": (d,)}
    ust = ref.new_state(n_users, blocks, solver)
    ist = ref.new_state(n_items, blocks, solver)
    dense_accum = np.zeros_like(dense)
    indptr, indices = _positive_csr(users, items, y, n_users, n_items)
    t, losses = 0, []
    for call in range(n_calls):
        # fa-sgd shares of this call's emitted samples (they add up over partial_fit calls)
        ust["counts"] += np.bincount(users, weights=emitted, minlength=n_users)
        ist["counts"] += np.bincount(items, minlength=n_items) + n_neg * (y > 0.5).sum() / n_items
        ust["n_samples"] += emitted.sum()
        ist["n_samples"] += emitted.sum()
        sample_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        for epoch in range(params["max_iter"] if call == 0 else 1):
            order = ref.keyed_order(len(y), order_seed, epoch)
            key = ref.draw_key(sample_seed, epoch)
            u, i, lab = users[order], items[order], y[order]
            negatives = ref.sample_negatives(u, order, indptr, indices, n_items, n_neg, key)
            loss = ref.ncf_epoch(u, i, lab, negatives, k, d, sizes, P, Q, M, N, dense, cfg,
                                 params["dense_learning_rate"], params["alpha"], t, ust, ist, dense_accum,
                                 params["dense_batch_size"], dropout=params["dropout"], key=key, rows=order)
            losses.append(loss / emitted.sum())
            t += int(emitted.sum())
    return P, Q, M, N, dense, losses


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_estimator_fit_and_partial_fit_match_reference(solver, dropout):
    """NeuralCF on the device seam (bound once per call, keyed epoch order, counter-based
    draws keyed on each row's own index) replays in NumPy at rtol 1e-10."""
    users, items, labels = _tiny_implicit(seed=4)
    X = np.column_stack([users * 3 + 100, items * 7 + 5])  # raw ids: not the rows
    params = dict(model="neumf", n_factors=3, hidden_layers=(6, 5, 4), n_negatives=N_NEG, dropout=dropout,
                  solver=solver, learning_rate={"sgd": 0.1, "fa-sgd": 0.4, "cf-sgd": 0.4, "adagrad": 0.1}[solver],
                  dense_learning_rate=0.05, alpha=0.01, max_iter=2, init_std=0.3, frequency_exponent=0.5,
                  dense_batch_size=4, dtype="float64", random_state=13)
    est = NeuralCF(**params).fit(X, labels).partial_fit(X, labels)
    P, Q, M, N, dense, losses = _replay_estimator(params, X, labels, n_calls=2)
    for ours, theirs in ((est.user_gmf_factors_, P), (est.item_gmf_factors_, Q), (est.user_mlp_factors_, M),
                         (est.item_mlp_factors_, N), (est.dense_parameters_, dense)):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(est.loss_curve_, losses, rtol=RTOL)
