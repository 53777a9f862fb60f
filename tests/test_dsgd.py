"""The DSGD schedule (recfreq._dsgd) in one process: the NumPy reference, the serial fit, its parts.

``fit_local`` runs the very tasks ``recfreq.dask.fit`` ships to a cluster, so what is proven here
(the schedule implements docs/scaling_out.md exactly, one stripe is the serial fit) holds on a
cluster once ``tests/test_dask.py`` shows the two agree bit for bit.
"""

import numpy as np
import pandas as pd
import pytest

from recfreq import MatrixFactorization, OverparamMF, _engine
from recfreq._dsgd import StripeMap, Summary, fit_local, merge_summaries, summarize
from recfreq._solvers import SOLVER_NAMES, Solver

import _reference as ref
from _helpers import planted_ratings, tiny_ratings

RTOL = 1e-10
SOLVERS = [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)]
TABLES = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def partitions(X, y, n_parts):
    """Consecutive pandas partitions of (user, item, rating) rows."""
    frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1], "rating": y})
    bounds = np.linspace(0, len(y), n_parts + 1).astype(int)
    return [frame.iloc[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def params(solver, halflife=None, **extra):
    return {**dict(n_factors=3, solver=solver, learning_rate=0.2 if solver != "sgd" else 0.03, alpha=0.04,
                   alpha_bias=0.01, max_iter=3, frequency_exponent=0.55, counter_halflife=halflife, init_std=0.3,
                   dtype="float64", random_state=11), **extra}


def assert_same_tables(a, b):
    for name in TABLES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.loss_curve_ == b.loss_curve_
    for state in ("user_state_", "item_state_"):
        sa, sb = getattr(a, state), getattr(b, state)
        np.testing.assert_array_equal(sa.counts, sb.counts)
        np.testing.assert_array_equal(sa.counter, sb.counter)
        np.testing.assert_array_equal(sa.last_seen, sb.last_seen)
        assert sa.accumulators.keys() == sb.accumulators.keys()
        for key in sa.accumulators:
            np.testing.assert_array_equal(sa.accumulators[key], sb.accumulators[key])


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("solver, halflife", SOLVERS)
def test_the_schedule_is_the_numpy_reference(solver, halflife, d):
    X, y = tiny_ratings(n_users=14, n_items=11, n_ratings=90, seed=3)
    p = params(solver, halflife)
    model, report = fit_local(MatrixFactorization(**p), partitions(X, y, 3), n_stripes=d)
    # a real schedule: every stratum trains blocks at once, with clocks that stride over one
    sizes = report.block_sizes
    assert all(sum(sizes[a, (a + s) % d] > 0 for a in range(d)) >= 2 for s in range(d)), sizes
    cfg = _engine.solver_config(Solver.from_name(solver), p["learning_rate"], p["frequency_exponent"], halflife)
    P, Q, bu, bi, losses, ust, ist = ref.dsgd_fit(X, y, d, p["n_factors"], cfg, p["alpha"], p["alpha_bias"],
                                                  p["init_std"], p["random_state"], p["max_iter"])
    for got, want in ((model.user_factors_, P), (model.item_factors_, Q), (model.user_bias_, bu),
                      (model.item_bias_, bi)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
    assert model.t_ == p["max_iter"] * len(y)
    if solver == "cf-sgd":
        np.testing.assert_allclose(model.user_state_.counter, ust["counter"], rtol=RTOL)
        np.testing.assert_allclose(model.item_state_.counter, ist["counter"], rtol=RTOL)
    if halflife is not None:  # the stamps are the strided clock, exactly
        np.testing.assert_array_equal(model.user_state_.last_seen, ust["last_seen"])
        np.testing.assert_array_equal(model.item_state_.last_seen, ist["last_seen"])
    if solver == "adagrad":
        np.testing.assert_allclose(model.item_state_.accumulators["factors"], ist["accum"]["factors"], rtol=RTOL)


@pytest.mark.parametrize("solver, halflife", SOLVERS)
def test_one_stripe_is_the_serial_fit_bit_for_bit(solver, halflife):
    X, y = tiny_ratings(n_users=14, n_items=11, n_ratings=90, seed=3)
    p = params(solver, halflife)
    serial = MatrixFactorization(**p, n_jobs=1).fit(X, y)
    local, _ = fit_local(MatrixFactorization(**p), partitions(X, y, 4), n_stripes=1)
    assert_same_tables(local, serial)
    assert local.global_mean_ == serial.global_mean_ and local.t_ == serial.t_
    np.testing.assert_array_equal(local.user_ids_, serial.user_ids_)
    np.testing.assert_array_equal(local.item_ids_, serial.item_ids_)
    assert (local.user_items_ != serial.user_items_).nnz == 0
    np.testing.assert_array_equal(local.user_items_.indices, serial.user_items_.indices)


def test_the_result_is_the_same_for_any_partitioning_of_the_rows():
    # blocks keep the data's order, not the partitions': one frame or five give one model
    X, y = planted_ratings(n_users=40, n_items=30, n_ratings=600, seed=1)
    a, _ = fit_local(MatrixFactorization(**params("fa-sgd")), partitions(X, y, 1), n_stripes=3)
    b, _ = fit_local(MatrixFactorization(**params("fa-sgd")), partitions(X, y, 5), n_stripes=3)
    assert_same_tables(a, b)


def test_string_ids_and_array_partitions():
    X, y = tiny_ratings(seed=2)
    Xs = np.column_stack([np.char.add("u", X[:, 0].astype(str)), np.char.add("i", X[:, 1].astype(str))])
    serial = MatrixFactorization(**params("adagrad"), n_jobs=1).fit(Xs, y)
    frame = pd.DataFrame({"who": Xs[:, 0], "what": Xs[:, 1], "stars": y})
    local, _ = fit_local(MatrixFactorization(**params("adagrad")), [frame.iloc[:30], frame.iloc[30:]], n_stripes=1)
    assert_same_tables(local, serial)
    np.testing.assert_array_equal(local.predict(frame.iloc[:5, :2]), serial.predict(Xs[:5]))
    # a 2-D numeric array per partition, columns chosen by position
    data = np.column_stack([y, X[:, 1], X[:, 0]])
    serial = MatrixFactorization(**params("sgd"), n_jobs=1).fit(X, y)
    local, _ = fit_local(MatrixFactorization(**params("sgd")), [data[:40], data[40:]], n_stripes=1, columns=[2, 1, 0])
    assert_same_tables(local, serial)


def test_warm_start_continues_like_the_serial_warm_start_with_one_stripe():
    X, y = tiny_ratings(seed=5)
    X2, y2 = tiny_ratings(n_users=14, n_items=12, n_ratings=50, seed=6)
    X2 = X2 + 4  # new users and items
    p = params("cf-sgd", 17.0, warm_start=True)
    serial = MatrixFactorization(**p, n_jobs=1).fit(X, y).fit(X2, y2)
    local = MatrixFactorization(**p).fit(X, y)
    rows = np.column_stack([X2, y2])
    local, _ = fit_local(local, [rows[:20], rows[20:]], n_stripes=1)
    assert_same_tables(local, serial)
    assert local.t_ == serial.t_ == 3 * (len(y) + len(y2))
    assert (local.user_items_ != serial.user_items_).nnz == 0


def test_stripes_hold_about_equal_samples():
    counts = np.random.default_rng(0).zipf(1.5, size=1000).clip(max=10_000)
    stripes = StripeMap.balanced(counts, 4)
    rows = np.concatenate([stripes.rows(a) for a in range(4)])
    assert np.array_equal(np.sort(rows), np.arange(1000))  # every row in one stripe
    for a in range(4):
        assert np.all(np.diff(stripes.rows(a)) > 0)
        np.testing.assert_array_equal(stripes.local[stripes.rows(a)], np.arange(stripes.rows(a).shape[0]))
    totals = [counts[stripes.rows(a)].sum() for a in range(4)]
    assert max(totals) - min(totals) <= counts.max(), totals


def test_partition_summaries_refuse_ids_of_two_kinds():
    numbers = summarize(pd.DataFrame({"u": [1, 2], "i": [1, 1], "r": [3.0, 4.0]}), np.float64, 0)
    strings = summarize(pd.DataFrame({"u": ["a", "b"], "i": [1, 2], "r": [3.0, 4.0]}), np.float64, 4)
    with pytest.raises(TypeError, match="user ids are numeric in partition 0 but string in partition 4"):
        merge_summaries(numbers, strings)
    merged = merge_summaries(numbers, merge_summaries(Summary(), numbers))
    np.testing.assert_array_equal(merged.user_counts, [2, 2])
    assert (merged.n_samples, merged.rating_sum, merged.lo, merged.hi) == (4, 14.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="partition 7 of the data: Input y contains NaN"):
        summarize(pd.DataFrame({"u": [1, 2], "i": [1, 1], "r": [3.0, np.nan]}), np.float64, 7)


def test_unsupported_models_and_settings_are_refused_and_nothing_changes():
    X, y = tiny_ratings()
    parts = partitions(X, y, 2)
    with pytest.raises(TypeError, match="trains a MatrixFactorization"):
        fit_local(OverparamMF(), parts, n_stripes=2)
    for setting in (dict(loss="warp"), dict(embedding_dims="mixed"), dict(device="cuda"), dict(early_stopping=True)):
        with pytest.raises(ValueError, match=next(iter(setting))):
            fit_local(MatrixFactorization(**setting), parts, n_stripes=2)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_stripes must be a positive integer"):
            fit_local(MatrixFactorization(), parts, n_stripes=bad)
    model = MatrixFactorization(n_factors=3, max_iter=2, random_state=0).fit(X, y)
    before = {name: getattr(model, name).copy() for name in TABLES}
    with pytest.raises(ValueError, match="learning_rate"):
        fit_local(model.set_params(learning_rate=-1.0), parts, n_stripes=2)
    bad = [part.assign(rating=np.where(np.arange(len(part)) == 1, np.inf, part["rating"])) for part in parts]
    with pytest.raises(ValueError, match="partition 0 of the data"):
        fit_local(model.set_params(learning_rate=None), bad, n_stripes=2)
    for name in TABLES:
        np.testing.assert_array_equal(getattr(model, name), before[name])


def test_divergence_raises_and_leaves_the_model_as_it_was():
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=3, max_iter=2, random_state=0).fit(X, y)
    before = {name: getattr(model, name).copy() for name in TABLES}
    with pytest.raises(FloatingPointError, match="learning_rate"):
        fit_local(model.set_params(solver="sgd", learning_rate=1e6), partitions(X, y * 1e3, 2), n_stripes=2)
    for name in TABLES:
        np.testing.assert_array_equal(getattr(model, name), before[name])
    assert model.t_ == 2 * len(y)


def test_tol_stops_on_the_training_loss_as_fit_does():
    X, y = planted_ratings(n_users=40, n_items=30, n_ratings=600, seed=1)
    p = dict(params("sgd"), max_iter=200, tol=0.05, n_iter_no_change=2)
    local, report = fit_local(MatrixFactorization(**p), partitions(X, y, 2), n_stripes=1)
    serial = MatrixFactorization(**p, n_jobs=1).fit(X, y)
    assert local.n_iter_ == serial.n_iter_ < 200 and len(report.epochs) == local.n_iter_
    assert_same_tables(local, serial)


def test_a_block_run_twice_on_the_same_inputs_gives_the_same_stripes_and_leaves_its_inputs_alone():
    # what makes a task a scheduler reruns after a lost worker exact: it copies its stripes first
    import copy

    from recfreq._dsgd import BlockJob, build_stripe, run_block, take_stripe
    from recfreq.base import TrainingData

    X, y = tiny_ratings(seed=1)
    model = MatrixFactorization(**params("adagrad")).fit(X, y)
    uu, ii = model._user_encoder.transform(X[:, 0]), model._item_encoder.transform(X[:, 1])
    user = take_stripe(model.user_factors_, model.user_bias_, model.user_state_, np.arange(len(model.user_ids_)))
    item = take_stripe(model.item_factors_, model.item_bias_, model.item_state_, np.arange(len(model.item_ids_)))
    data = build_stripe(1, (uu, np.zeros_like(ii), ii, y))
    empty = TrainingData(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0))
    job = BlockJob(b=0, stratum=0, scalars=model._training(empty).scalars, n_jobs=1, t_start=model.t_,
                   t_span=2 * len(y) + 1, order_seed=5, epoch=0)
    inputs = copy.deepcopy((user, item))
    first, second = run_block(user, item, data, job), run_block(user, item, data, job)
    for before, after in zip(inputs, (user, item)):
        for name in before:
            np.testing.assert_array_equal(before[name], after[name])
    for a, b in zip(first[:2], second[:2]):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    assert first[2].sse == second[2].sse
    assert not np.array_equal(first[0]["factors"], user["factors"])  # the block did train


def test_keep_seen_false_leaves_the_seen_pairs_empty():
    X, y = tiny_ratings()
    model, _ = fit_local(MatrixFactorization(**params("sgd")), partitions(X, y, 2), n_stripes=2, keep_seen=False)
    assert model.user_items_.shape == (len(model.user_ids_), len(model.item_ids_)) and model.user_items_.nnz == 0
    kept, _ = fit_local(MatrixFactorization(**params("sgd")), partitions(X, y, 2), n_stripes=2)
    assert kept.user_items_.nnz == len(y)
    assert_same_tables(model, kept)


def test_dask_is_imported_only_when_fit_runs_and_its_absence_says_how_to_install_it():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import recfreq, recfreq.dask\n"
        "assert 'dask' not in sys.modules and 'distributed' not in sys.modules, 'imported too early'\n"
        "sys.modules['dask'] = None\n"
        "sys.modules['distributed'] = None\n"
        "try:\n"
        "    recfreq.dask.fit(recfreq.MatrixFactorization(), None)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'pip install "recfreq[dask]"' in result.stdout


def test_more_stripes_than_users_leaves_empty_stripes_and_blocks_out():
    X, y = tiny_ratings(n_users=14, n_items=11, n_ratings=90, seed=3)
    p = params("cf-sgd", 13.0)
    model, report = fit_local(MatrixFactorization(**p), partitions(X, y, 3), n_stripes=16)
    assert (report.block_sizes.sum(axis=1) == 0).sum() == 2  # two user stripes hold no row
    cfg = _engine.solver_config(Solver.CF_SGD, p["learning_rate"], p["frequency_exponent"], 13.0)
    P, Q, bu, bi, losses, ust, ist = ref.dsgd_fit(X, y, 16, p["n_factors"], cfg, p["alpha"], p["alpha_bias"],
                                                  p["init_std"], p["random_state"], p["max_iter"])
    np.testing.assert_allclose(model.user_factors_, P, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=RTOL, atol=1e-13)
    np.testing.assert_array_equal(model.item_state_.last_seen, ist["last_seen"])
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
