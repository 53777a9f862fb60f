"""Estimator-level replays of the projected models and NeuralCF (float64, one thread).

``fit`` (several epochs) then ``partial_fit`` with new users and items, with
``n_jobs=1`` and a fixed ``random_state``, must give exactly what the NumPy
reference epochs of ``_reference.py`` give when they are driven with the same
initial parameters and the same sample orders: the parameters, the loss curve
and the solver state (counts, cf-sgd counters, Adagrad accumulators). The
replay mirrors the estimator's use of its random state: the initial tables
(drawn in the same order), one order key per call (as ``_reference.device_epoch_orders``
draws them) and, for NeuralCF, one seed per call for the draws keyed on each
row's own index: the reference draws the negatives and the dropout masks with
its own Philox (``_reference.draw_key``, ``_reference.sample_negatives``).

Each replay runs at two ``dense_batch_size`` values and checks that they
give different models: a kernel or estimator that ignored the setting would
match the reference at most at one of them.

``replay_projected_mf`` and ``replay_ncf`` are also used by
``test_reference_float32.py`` for the float32 replays.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils import check_random_state

from recfreq import MatrixFactorization, NeuralCF, OverparamMF
from recfreq import _engine
from recfreq._projection import ProjectedTable
from recfreq._solvers import SOLVER_NAMES, Solver

import _reference as ref
from _helpers import tiny_ratings

RTOL = 1e-10
ATOL = 1e-13

#: (solver, counter_halflife): every solver, and cf-sgd's decaying counter
SOLVER_CASES = [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)]
#: two batch sizes for the dense parameters: every sample, and a size that
#: does not divide the epochs (so the end-of-epoch flush matters too)
DENSE_BATCH_SIZES = (1, 7)


def assert_close(ours, theirs, rtol=RTOL, atol=ATOL, scaled=False, err_msg=""):
    """``assert_allclose``; ``scaled``: the absolute tolerance is ``rtol`` times the largest |entry|
    (float32 rounding is relative to the table's scale, not to each small entry)."""
    theirs = np.asarray(theirs, dtype=np.float64)
    if scaled:
        atol = max(atol, rtol * float(np.max(np.abs(theirs), initial=0.0)))
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), theirs, rtol=rtol, atol=atol, err_msg=err_msg)


def _lr(solver):
    return 0.03 if solver == "sgd" else 0.2


# ------------------------------------------------------------ projected MF
def rating_batches():
    """A fit batch and a partial_fit batch that brings new users and items (and repeats known ones)."""
    X, y = tiny_ratings(seed=5)
    X2, y2 = tiny_ratings(n_users=14, n_items=12, n_ratings=50, seed=6)
    return [(X, y), (X2 + 4, y2)]


def projected_mf_params(kind, solver, halflife, dense_batch_size, dtype="float64"):
    """Parameters of an OverparamMF (``kind`` "factored-2"/"factored-3") or a mixed MF."""
    params = dict(n_factors=3, solver=solver, learning_rate=_lr(solver), dense_learning_rate=0.02, alpha=0.04,
                  alpha_bias=0.01, max_iter=3, frequency_exponent=0.55, counter_halflife=halflife, init_std=0.3,
                  dense_batch_size=dense_batch_size, dtype=dtype, n_jobs=1, random_state=11)
    if kind == "mixed":
        return MatrixFactorization, dict(params, embedding_dims="mixed", mixed_dim_exponent=0.6, n_dim_blocks=3)
    return OverparamMF, dict(params, inner_dim=5, n_layers=int(kind[-1]))


def replay_projected_mf(model_cls, params, batches):
    """fit (first batch, ``max_iter`` epochs) + one ``partial_fit`` epoch per later batch, in NumPy.

    Returns (user table, item table, user bias, item bias, loss curve, user state, item state);
    the tables are float64 ProjectedTables built and grown from the estimator's random state.
    """
    solver = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(solver, params["learning_rate"], params["frequency_exponent"],
                                params["counter_halflife"])
    k, init_std = params["n_factors"], params["init_std"]
    u_of = ref.row_numbering([X[:, 0] for X, _ in batches])
    i_of = ref.row_numbering([X[:, 1] for X, _ in batches])
    encoded = [(np.array([u_of[v] for v in X[:, 0]]), np.array([i_of[v] for v in X[:, 1]]),
                np.asarray(y, dtype=params["dtype"]).astype(np.float64)) for X, y in batches]
    rng = check_random_state(params["random_state"])
    users0, items0, y0 = encoded[0]
    n_u, n_i = users0.max() + 1, items0.max() + 1
    # MatrixFactorization._allocate_parameters: the user table, then the item table
    if model_cls is OverparamMF:
        inner = [params["inner_dim"]] * (params["n_layers"] - 1)
        tables = [ProjectedTable.factored(n, inner, k, rng, init_std, np.float64) for n in (n_u, n_i)]
    else:
        tables = [ProjectedTable.mixed(np.bincount(index), k, params["n_dim_blocks"], params["mixed_dim_exponent"],
                                       rng, init_std, np.float64) for index in (users0, items0)]
    for table in tables:
        table.allocate_accumulators(solver == Solver.ADAGRAD)
    user_table, item_table = tables
    bu, bi = np.zeros(len(u_of)), np.zeros(len(i_of))
    ust = ref.new_state(len(u_of), {"bias": ()}, solver)
    ist = ref.new_state(len(i_of), {"bias": ()}, solver)
    mu = float(np.mean(y0))
    t, losses = 0, []
    for call, (users, items, y) in enumerate(encoded):
        if call > 0:  # new ids: user rows first, then item rows
            user_table.grow(users.max() + 1, rng)
            item_table.grow(items.max() + 1, rng)
        for state, index in ((ust, users), (ist, items)):
            state["counts"] += np.bincount(index, minlength=state["counts"].shape[0])
            state["n_samples"] += len(y)
        # the order key of the call, from the model's RandomState (see ref.device_epoch_orders)
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        for epoch in range(params["max_iter"] if call == 0 else 1):
            order = ref.keyed_order(len(y), order_seed, epoch)
            sse = ref.mf_projected_epoch(users[order], items[order], y[order], mu, user_table, item_table, bu, bi,
                                         cfg, params["dense_learning_rate"], params["alpha"], params["alpha_bias"],
                                         t, ust, ist, params["dense_batch_size"])
            losses.append(sse / len(y))
            t += len(y)
    return user_table, item_table, bu, bi, losses, ust, ist


def check_projected_mf(model, replay, rtol=RTOL, scaled=False):
    """Every trained array and the solver state of a fitted projected MF against its replay."""
    user_table, item_table, bu, bi, losses, ust, ist = replay
    close = dict(rtol=rtol, scaled=scaled)
    assert_close(model.loss_curve_, losses, rtol=rtol, err_msg="loss_curve_")
    for ours, theirs, name in ((model.user_embedding_, user_table, "user"),
                               (model.item_embedding_, item_table, "item")):
        np.testing.assert_array_equal(ours.row_group, theirs.row_group)
        assert_close(ours.rows, theirs.rows, err_msg=f"{name} rows", **close)
        assert_close(ours.dense, theirs.dense, err_msg=f"{name} dense", **close)
        if ours.rows_accum.shape[0]:
            assert_close(ours.rows_accum, theirs.rows_accum, err_msg=f"{name} rows_accum", **close)
            assert_close(ours.dense_accum, theirs.dense_accum, err_msg=f"{name} dense_accum", **close)
    assert_close(model.user_factors_, user_table.collapse(), err_msg="user_factors_", **close)
    assert_close(model.item_factors_, item_table.collapse(), err_msg="item_factors_", **close)
    assert_close(model.user_bias_, bu, err_msg="user_bias_", **close)
    assert_close(model.item_bias_, bi, err_msg="item_bias_", **close)
    for state, theirs in ((model.user_state_, ust), (model.item_state_, ist)):
        np.testing.assert_array_equal(state.counts, theirs["counts"])
        assert state.n_samples == theirs["n_samples"]
        if state.solver == Solver.CF_SGD:  # counters are float64 in every dtype
            assert_close(state.counter, theirs["counter"], err_msg="cf-sgd counter")
            if state.last_seen.shape[0]:
                np.testing.assert_array_equal(state.last_seen, theirs["last_seen"])
        if state.solver == Solver.ADAGRAD:
            assert_close(state.accumulators["bias"], theirs["accum"]["bias"], err_msg="bias accumulators", **close)


@pytest.mark.parametrize("kind", ["factored-2", "factored-3", "mixed"])
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_projected_mf_fit_and_partial_fit_match_reference(kind, solver, halflife):
    batches = rating_batches()
    models = []
    for dense_batch_size in DENSE_BATCH_SIZES:
        model_cls, params = projected_mf_params(kind, solver, halflife, dense_batch_size)
        model = model_cls(**params).fit(*batches[0])
        n_users_before = model.user_embedding_.n_rows
        model.partial_fit(*batches[1])
        assert model.user_embedding_.n_rows > n_users_before  # partial_fit grew the tables
        check_projected_mf(model, replay_projected_mf(model_cls, params, batches))
        models.append(model)
    if kind == "mixed":
        # the case is meaningful: several widths, projected and plain blocks
        table = models[0].user_embedding_
        assert len(set(table.group_in_dim.tolist())) >= 2 and (table.group_n_layers == 1).any()
    # dense_batch_size reaches the kernel: the layers differ between 1 and 7
    assert not np.allclose(models[0].user_embedding_.dense, models[1].user_embedding_.dense, rtol=1e-6, atol=0)


# --------------------------------------------------------------- NeuralCF
def implicit_batches():
    """0/1-labelled (user, item) rows, a few explicit negatives; the second batch brings new ids."""
    def batch(seed, n_users, n_items, n_rows, shift):
        rng = np.random.default_rng(seed)
        pairs = set()
        while len(pairs) < n_rows:
            pairs.add((int(rng.integers(n_users)), int(rng.integers(n_items))))
        X = np.array(sorted(pairs), dtype=np.int64) + shift
        rng.shuffle(X)
        y = np.ones(len(X), dtype=np.int64)
        y[rng.choice(len(X), 4, replace=False)] = 0
        return X, y

    return [batch(0, 7, 9, 28, 0), batch(1, 6, 7, 14, 4)]


NCF_MODELS = {  # model name -> estimator parameters of its network
    "gmf": dict(model="gmf", n_factors=3),
    "mlp": dict(model="mlp", hidden_layers=(6, 5, 4)),
    "neumf": dict(model="neumf", n_factors=3, hidden_layers=(6, 5, 4)),
    "neumf-no-tower": dict(model="neumf", n_factors=3, hidden_layers=(6,)),
}


def ncf_params(network, solver, halflife, dense_batch_size, dropout=0.0, dtype="float64"):
    return dict(NCF_MODELS[network], n_negatives=2, dropout=dropout, solver=solver,
                learning_rate=0.1 if solver in ("sgd", "adagrad") else 0.4, dense_learning_rate=0.05, alpha=0.02,
                max_iter=2, frequency_exponent=0.5, counter_halflife=halflife, init_std=0.3,
                dense_batch_size=dense_batch_size, dtype=dtype, n_jobs=1, random_state=3)


def _ncf_network(params):
    """(k, d, layer sizes) of the parameters, worked out here rather than asked of the estimator."""
    layers = [int(w) for w in params.get("hidden_layers", (64, 32, 16, 8))]
    if params["model"] == "gmf":
        return params["n_factors"], 0, []
    return (params["n_factors"] if params["model"] == "neumf" else 0), layers[0] // 2, layers


def _ncf_initial_dense(k, d, sizes, rng):
    """Glorot-uniform tower weights, zero biases, LeCun-uniform output weights, zero output bias."""
    blocks = []
    if d:
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            limit = np.sqrt(6.0 / (n_in + n_out))
            blocks += [rng.uniform(-limit, limit, n_in * n_out), np.zeros(n_out)]
    n_h = k + (sizes[-1] if d else 0)
    blocks += [rng.uniform(-np.sqrt(3.0 / n_h), np.sqrt(3.0 / n_h), n_h), np.zeros(1)]
    return np.concatenate(blocks)


def replay_ncf(params, batches):
    """NeuralCF's fit + partial_fit with ``_reference.ncf_epoch``.

    Returns a dict of the trained arrays ("P", "Q", "M", "N", "dense"), the
    "losses", the states ("user", "item", "dense_accum") and "t".
    """
    solver = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(solver, params["learning_rate"], params["frequency_exponent"],
                                params["counter_halflife"])
    k, d, sizes = _ncf_network(params)
    n_neg, std = params["n_negatives"], params["init_std"]
    u_of = ref.row_numbering([X[:, 0] for X, _ in batches])
    i_of = ref.row_numbering([X[:, 1] for X, _ in batches])
    encoded = [(np.array([u_of[v] for v in X[:, 0]], dtype=np.int32),
                np.array([i_of[v] for v in X[:, 1]], dtype=np.int32), np.asarray(y, dtype=np.float64))
               for X, y in batches]
    rng = check_random_state(params["random_state"])
    n_u, n_i = encoded[0][0].max() + 1, encoded[0][1].max() + 1
    # NeuralCF._allocate_parameters: user GMF, item GMF, user MLP, item MLP rows, then the dense vector
    tables = [rng.standard_normal((n, w)) * std for n, w in ((n_u, k), (n_i, k), (n_u, d), (n_i, d))]
    dense = _ncf_initial_dense(k, d, sizes, rng)
    blocks = {name: (w,) for name, w in (("gmf", k), ("mlp", d)) if w}
    ust, ist = ref.new_state(len(u_of), blocks, solver), ref.new_state(len(i_of), blocks, solver)
    dense_accum = np.zeros_like(dense)
    user_counts, item_rows = np.zeros(len(u_of)), np.zeros(len(i_of))
    positives, n_positives, n_emitted_total, t, losses = set(), 0, 0, 0, []
    for call, (users, items, y) in enumerate(encoded):
        if call > 0:  # new ids: rows of the four tables in the same order
            n_u_new, n_i_new = max(n_u, users.max() + 1), max(n_i, items.max() + 1)
            for index, extra in enumerate((n_u_new - n_u, n_i_new - n_i, n_u_new - n_u, n_i_new - n_i)):
                tables[index] = np.concatenate([tables[index], rng.standard_normal((extra, tables[index].shape[1]))
                                                * std])
            n_u, n_i = n_u_new, n_i_new
        emitted = np.where(y > 0.5, 1 + n_neg, 1)
        positives |= set(zip(users[y > 0.5].tolist(), items[y > 0.5].tolist()))
        n_positives += int((y > 0.5).sum())
        n_emitted_total += int(emitted.sum())
        # fa-sgd shares of the emitted samples: the user's, and the item's own rows plus
        # its expected share of the sampled negatives
        user_counts += np.bincount(users, weights=emitted, minlength=len(u_of))
        item_rows += np.bincount(items, minlength=len(i_of))
        ust["counts"], ust["n_samples"] = user_counts.copy(), n_emitted_total
        ist["counts"] = item_rows + n_neg * n_positives / n_i
        ist["n_samples"] = n_emitted_total
        pos_u, pos_i = np.array(sorted(positives)).T
        csr = sp.csr_matrix((np.ones(pos_u.shape[0]), (pos_u, pos_i)), shape=(n_u, n_i))
        csr.sort_indices()
        indptr, indices = csr.indptr.astype(np.int64), csr.indices.astype(np.int32)
        # per call: the seed of the row-keyed draws, then the epoch-order key (as NeuralCF._training
        # draws them); a row's negatives and masks are keyed on (seed, epoch, its own index)
        sample_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        for epoch in range(params["max_iter"] if call == 0 else 1):
            order = ref.keyed_order(len(y), order_seed, epoch)
            u, i, lab = users[order], items[order], y[order]
            key = ref.draw_key(sample_seed, epoch)
            negatives = ref.sample_negatives(u, order, indptr, indices, int(n_i), n_neg, key)
            loss = ref.ncf_epoch(u, i, lab, negatives, k, d, sizes, *tables, dense, cfg,
                                 params["dense_learning_rate"], params["alpha"], t, ust, ist, dense_accum,
                                 params["dense_batch_size"], dropout=params["dropout"] if d else 0.0,
                                 key=key, rows=order)
            n_emitted = int(np.where(lab > 0.5, 1 + n_neg, 1).sum())
            losses.append(loss / n_emitted)
            t += n_emitted
    return dict(P=tables[0], Q=tables[1], M=tables[2], N=tables[3], dense=dense, losses=losses, user=ust, item=ist,
                dense_accum=dense_accum, t=t)


def check_ncf(model, replay, rtol=RTOL, scaled=False):
    """Every trained array and the solver state of a fitted NeuralCF against its replay."""
    close = dict(rtol=rtol, scaled=scaled)
    assert model.t_ == replay["t"]
    assert_close(model.loss_curve_, replay["losses"], rtol=rtol, err_msg="loss_curve_")
    for name, key in (("user_gmf_factors_", "P"), ("item_gmf_factors_", "Q"), ("user_mlp_factors_", "M"),
                      ("item_mlp_factors_", "N"), ("dense_parameters_", "dense")):
        assert_close(getattr(model, name), replay[key], err_msg=name, **close)
    user, item = replay["user"], replay["item"]
    np.testing.assert_array_equal(model.user_state_.counts, user["counts"])
    assert model.user_state_.n_samples == user["n_samples"]
    if model.user_state_.solver == Solver.CF_SGD:
        for state, theirs in ((model.user_state_, user), (model.item_state_, item)):
            assert_close(state.counter, theirs["counter"], err_msg="cf-sgd counter")
            if state.last_seen.shape[0]:
                np.testing.assert_array_equal(state.last_seen, theirs["last_seen"])
    if model.user_state_.solver == Solver.ADAGRAD:
        assert_close(model.dense_accumulator_, replay["dense_accum"], err_msg="dense accumulator", **close)
        for state, theirs in ((model.user_state_, user), (model.item_state_, item)):
            for block, accum in state.accumulators.items():
                assert_close(accum, theirs["accum"][block], err_msg=f"{block} accumulators", **close)


@pytest.mark.parametrize("network", list(NCF_MODELS))
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_ncf_fit_and_partial_fit_match_reference(network, solver, halflife):
    batches = implicit_batches()
    models = []
    for dense_batch_size in DENSE_BATCH_SIZES:
        params = ncf_params(network, solver, halflife, dense_batch_size)
        model = NeuralCF(**params).fit(*batches[0]).partial_fit(*batches[1])
        check_ncf(model, replay_ncf(params, batches))
        models.append(model)
    # dense_batch_size reaches the kernel
    assert not np.allclose(models[0].dense_parameters_, models[1].dense_parameters_, rtol=1e-6, atol=0)


@pytest.mark.parametrize("network", ["mlp", "neumf"])
@pytest.mark.parametrize("solver", ["sgd", "adagrad"])
def test_ncf_with_dropout_matches_reference(network, solver):
    """Dropout 0.3: the masks of every epoch of both calls come from the seeds the estimator drew."""
    batches = implicit_batches()
    params = ncf_params(network, solver, None, 7, dropout=0.3)
    model = NeuralCF(**params).fit(*batches[0]).partial_fit(*batches[1])
    check_ncf(model, replay_ncf(params, batches))
    without = replay_ncf(dict(params, dropout=0.0), batches)
    assert not np.allclose(model.dense_parameters_, without["dense"], rtol=1e-6, atol=0)  # the masks mattered
