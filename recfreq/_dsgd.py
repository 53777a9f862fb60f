"""Stratified distributed SGD (DSGD) of MatrixFactorization: the schedule and the tasks it runs.

DSGD (Gemulla, Nijkamp, Haas, Sismanis, KDD 2011). Users and items are cut
into d stripes each, and the ratings into the d x d blocks (a, b) of user
stripe a and item stripe b. An epoch is d strata; stratum s trains the d
blocks (a, (a + s) mod d), which share no user and no item, so they run at the
same time, each where user stripe a lives, with item stripe (a + s) mod d and
its solver state brought to it. Every row is stepped by one block at a time,
so every solver keeps its exact per-row rule (fa-sgd's p_r, cf-sgd's counter
and stamps, Adagrad's accumulators travel with their rows).

The clock. fa-sgd and cf-sgd's half-life read t, the samples processed so far.
Stratum s of an epoch starting at T holds N_s samples and starts at
T_s = T + N_0 + ... + N_(s-1); its block of n_b samples runs the ``mf_epoch``
kernel with ``t_start = T_s`` and ``t_span = N_s``, so local sample i is step
``T_s + floor((i + 1) N_s / n_b)``: each block advances at the stratum's pace
(a stride of N_s / n_b, kept exact as a ratio of integers), every row sees
the clock of a serial epoch that interleaves the stratum's blocks, and every
stratum ends at T_(s+1) whatever its block sizes. With d = 1 the one block is
the whole epoch, the stride is 1, and the fit is the serial ``fit``'s.

Within a block the samples keep their order in the data (partition after
partition), and each epoch visits them in the keyed order of the serial fit
(``recfreq._epoch_order``), keyed on the call's order seed moved by the block
(block (0, 0) keeps the seed itself: d = 1 is the serial order).

Nothing here imports Dask: the plan and the functions each task runs are plain
NumPy, and an *executor* runs them (``submit``, ``put``, ``gather``...).
:class:`LocalExecutor` runs them in this process (:func:`fit_local`, the tests'
reference of the schedule); :mod:`recfreq.dask` runs the same tasks on a
cluster. Tasks copy the stripes they are given before the kernel updates them
in place, because a distributed scheduler may run a task twice on the same
inputs (after a lost worker) and assumes inputs never change.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import dataclass, field

import numpy as np

from . import _engine
from ._encoding import IdEncoder, _id_kind
from .base import TrainingData, _max_row_norm
from ._solvers import Solver, TableState
from ._validation import check_id_columns, check_ratings

__all__ = ["DSGDReport", "EpochReport", "LocalExecutor", "LostData", "fit_local", "run"]

#: the kernel DSGD runs on every block (MatrixFactorization's uniform tables)
KERNEL = "mf_epoch"

#: how many times one call starts over from its checkpoint after losing data before it gives up
MAX_RECOVERIES = 3

_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


class LostData(RuntimeError):
    """An executor lost data that cannot be recomputed (a lost worker held the only copy)."""


# ------------------------------------------------------------------ reports
@dataclass
class EpochReport:
    """What one epoch of a distributed fit cost.

    Attributes
    ----------
    loss : float
        Mean squared training error of the epoch (as ``loss_curve_``).
    seconds : float
        Wall time of the epoch, from its first task submitted to its last result back.
    compute_seconds : float
        Kernel time on the critical path: per stratum, the kernel seconds of the
        busiest worker, summed over strata. ``seconds - compute_seconds`` is the
        engine's overhead (scheduling, transfers, copies, waiting).
    bytes_moved : int or None
        Bytes the workers sent each other during the epoch, as Dask counts them
        (None without a cluster).
    bytes_model : int
        The traffic model: the bytes of the item stripes (factors, biases and
        solver state) that had to move to another worker between strata.
    """

    loss: float
    seconds: float
    compute_seconds: float
    bytes_moved: int | None
    bytes_model: int

    @property
    def overhead_seconds(self):
        """``seconds - compute_seconds``."""
        return self.seconds - self.compute_seconds


@dataclass
class DSGDReport:
    """What a distributed fit did (:func:`recfreq.dask.fit` with ``return_report=True``).

    Attributes
    ----------
    n_stripes : int
        d: users and items cut into d stripes, the ratings into d x d blocks.
    placement : tuple
        The worker that holds user stripe a (and its blocks), for each a.
    block_sizes : ndarray of shape (n_stripes, n_stripes)
        Ratings in block (user stripe a, item stripe b).
    stripe_bytes : int
        Bytes of the whole item table and its solver state (the d item stripes).
    setup_seconds : float
        Checking, counting and encoding the data and shipping it to the blocks' workers.
    setup_bytes_moved : int or None
        Bytes the workers sent each other during the setup (the ratings moving to their blocks).
    epochs : list of EpochReport
    recoveries : int
        Times the fit lost a worker's data and replayed its epochs from the start of the call.
    """

    n_stripes: int
    placement: tuple
    block_sizes: np.ndarray
    stripe_bytes: int
    setup_seconds: float = 0.0
    setup_bytes_moved: int | None = None
    epochs: list = field(default_factory=list)
    recoveries: int = 0


# ------------------------------------------------------------ partitions
def read_partition(part, dtype, index):
    """(users, items, ratings) of one partition, checked as ``fit`` checks ``X`` and ``y``; None if empty.

    ``part``: a pandas DataFrame or a 2-D array whose columns 0, 1, 2 hold the
    user ids, item ids and ratings. Errors name the partition.
    """
    if hasattr(part, "iloc"):
        X, y = part.iloc[:, :2], part.iloc[:, 2]
    else:
        part = np.asarray(part)
        X, y = part[:, :2], part[:, 2]
    if X.shape[0] == 0:
        return None
    try:
        (users, items), _ = check_id_columns(X, estimator_name="MatrixFactorization")
        ratings = check_ratings(y, X.shape[0], dtype)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"partition {index} of the data: {exc}") from None
    return users, items, ratings


@dataclass
class Summary:
    """What the first pass learns of the data: size, rating statistics, the ids and their counts.

    ``*_kind`` is (``"numeric"`` or ``"string"``, the first partition that has
    them), None while no partition had rows.
    """

    n_samples: int = 0
    rating_sum: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    user_kind: tuple | None = None
    item_kind: tuple | None = None
    user_ids: np.ndarray | None = None
    user_counts: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    item_counts: np.ndarray | None = None


def summarize(part, dtype, index):
    """The :class:`Summary` of one partition (its ratings cast to ``dtype`` first, as ``fit`` does)."""
    read = read_partition(part, dtype, index)
    if read is None:
        return Summary()
    users, items, ratings = read
    user_ids, user_counts = np.unique(users, return_counts=True)
    item_ids, item_counts = np.unique(items, return_counts=True)
    return Summary(n_samples=int(ratings.shape[0]), rating_sum=float(np.sum(ratings, dtype=np.float64)),
                   lo=float(np.min(ratings)), hi=float(np.max(ratings)),
                   user_kind=(_id_kind(users), index), item_kind=(_id_kind(items), index),
                   user_ids=user_ids, user_counts=user_counts.astype(np.int64),
                   item_ids=item_ids, item_counts=item_counts.astype(np.int64))


def _merge_kind(a, b, what):
    if a is None or b is None:
        return a if b is None else b
    if a[0] != b[0]:
        first, second = sorted([a, b], key=lambda kind: kind[1])
        raise TypeError(
            f"{what} ids are {first[0]} in partition {first[1]} but {second[0]} in partition {second[1]}; "
            f"use one kind of {what} id in every partition (e.g. convert them all with astype(str))."
        )
    return a if a[1] <= b[1] else b


def _merge_counts(ids_a, counts_a, ids_b, counts_b):
    if ids_a is None or ids_b is None:
        return (ids_a, counts_a) if ids_b is None else (ids_b, counts_b)
    ids, inverse = np.unique(np.concatenate([ids_a, ids_b]), return_inverse=True)
    counts = np.zeros(ids.shape[0], dtype=np.int64)
    np.add.at(counts, inverse.ravel(), np.concatenate([counts_a, counts_b]))
    return ids, counts


def merge_summaries(a, b):
    """Two summaries as one (``a``'s partitions first); ids of different kinds raise TypeError."""
    user_kind = _merge_kind(a.user_kind, b.user_kind, "user")
    item_kind = _merge_kind(a.item_kind, b.item_kind, "item")
    user_ids, user_counts = _merge_counts(a.user_ids, a.user_counts, b.user_ids, b.user_counts)
    item_ids, item_counts = _merge_counts(a.item_ids, a.item_counts, b.item_ids, b.item_counts)
    return Summary(n_samples=a.n_samples + b.n_samples, rating_sum=a.rating_sum + b.rating_sum,
                   lo=min(a.lo, b.lo), hi=max(a.hi, b.hi), user_kind=user_kind, item_kind=item_kind,
                   user_ids=user_ids, user_counts=user_counts, item_ids=item_ids, item_counts=item_counts)


# ----------------------------------------------------------------- stripes
@dataclass
class StripeMap:
    """Rows of one table cut into d stripes.

    ``stripe[r]``: the stripe of row r; ``local[r]``: its index within the
    stripe; the rows of stripe a are ``order[ptr[a]:ptr[a + 1]]``, ascending.
    """

    stripe: np.ndarray
    local: np.ndarray
    order: np.ndarray
    ptr: np.ndarray

    @classmethod
    def balanced(cls, counts, d):
        """Rows dealt to d stripes by decreasing count in a snake (0, 1, ..., d-1, d-1, ..., 0, ...),
        so the stripes hold about as many samples as rows (ties: the lower row first)."""
        n = counts.shape[0]
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(-np.asarray(counts), kind="stable")] = np.arange(n)
        lap, position = np.divmod(rank, d)
        stripe = np.where(lap % 2 == 0, position, d - 1 - position).astype(np.int32)
        order = np.argsort(stripe, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(stripe, minlength=d))]).astype(np.int64)
        local = np.empty(n, dtype=np.int32)
        local[order] = (np.arange(n) - ptr[stripe[order]]).astype(np.int32)
        return cls(stripe=stripe, local=local, order=order, ptr=ptr)

    def rows(self, a):
        """The rows of stripe ``a``, ascending."""
        return self.order[self.ptr[a]:self.ptr[a + 1]]


@dataclass
class Plan:
    """What every worker needs to split a partition into blocks: the fitted encoders and the stripes."""

    n_stripes: int
    user_encoder: IdEncoder
    item_encoder: IdEncoder
    users: StripeMap
    items: StripeMap


def split_partition(part, dtype, plan, index):
    """One partition's samples by user stripe: a tuple of d pieces (user row in its stripe, item
    stripe, item row in its stripe, rating), each in the partition's order."""
    d = plan.n_stripes
    read = read_partition(part, dtype, index)
    if read is None:
        empty = (np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, dtype))
        return tuple(empty for _ in range(d))
    users, items, ratings = read
    u = plan.user_encoder.transform(users)
    i = plan.item_encoder.transform(items)
    if (u < 0).any() or (i < 0).any():
        raise RuntimeError(f"internal error: partition {index} holds ids the first pass did not see; "
                           "did the data change between the two passes?")
    a = plan.users.stripe[u]
    order = np.argsort(a, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=d))])
    columns = (plan.users.local[u][order], plan.items.stripe[i][order], plan.items.local[i][order], ratings[order])
    return tuple(tuple(np.ascontiguousarray(c[ptr[s]:ptr[s + 1]]) for c in columns) for s in range(d))


def build_stripe(d, *pieces):
    """The blocks of one user stripe from its piece of every partition (in partition order).

    Returns the stripe's samples sorted by item stripe (stably, so block (a, b)
    keeps the data's order) as C-contiguous ``user_index``, ``item_index`` (rows
    within the stripes) and ``ratings``, with ``ptr``: block b is
    ``[ptr[b], ptr[b + 1])``.
    """
    user_local, item_stripe, item_local, ratings = (np.concatenate([p[j] for p in pieces]) for j in range(4))
    order = np.argsort(item_stripe, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(item_stripe, minlength=d))]).astype(np.int64)
    return {"user_index": np.ascontiguousarray(user_local[order]),
            "item_index": np.ascontiguousarray(item_local[order]),
            "ratings": np.ascontiguousarray(ratings[order]), "ptr": ptr}


def block_sizes(data):
    """Samples per block of one user stripe's data."""
    return np.diff(data["ptr"])


def stripe_pairs(data, plan, a):
    """The distinct (user row, item row) pairs of user stripe ``a``, in model rows (``user_items_``)."""
    users = plan.users.rows(a)[data["user_index"]]
    items = np.empty(data["item_index"].shape[0], dtype=np.int64)
    for b in range(plan.n_stripes):
        lo, hi = data["ptr"][b], data["ptr"][b + 1]
        items[lo:hi] = plan.items.rows(b)[data["item_index"][lo:hi]]
    n_items = max(1, plan.items.stripe.shape[0])
    key = np.sort(users.astype(np.int64) * n_items + items)  # sort and compare: np.unique hashes, 10x slower here
    first = np.ones(key.shape[0], dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key = key[first]
    return (key // n_items).astype(np.int32), (key % n_items).astype(np.int32)


def _take(array, rows):
    return array[rows] if array.shape[0] else array.copy()


_ACCUM = "accum:"


def take_stripe(factors, bias, state, rows):
    """Rows ``rows`` of a table, its biases and the solver state the solver reads (copies).

    A stripe is a flat dict of arrays (so that Dask counts its bytes): the
    factors and biases, fa-sgd's counts (with ``n_samples``: p_r = n_r / N),
    cf-sgd's counter and stamps, Adagrad's accumulators, each empty when the
    solver does not read it.
    """
    counts = state.counts[rows] if state.solver == Solver.FA_SGD else np.empty(0, dtype=np.int64)
    stripe = {"factors": np.ascontiguousarray(factors[rows]), "bias": np.ascontiguousarray(bias[rows]),
              "counts": counts, "n_samples": int(state.n_samples), "counter": _take(state.counter, rows),
              "last_seen": _take(state.last_seen, rows)}
    stripe.update({_ACCUM + name: _take(a, rows) for name, a in state.accumulators.items()})
    return stripe


def stripe_state(stripe, solver):
    """The :class:`~recfreq._solvers.TableState` of a stripe, for the kernel (its arrays, not copies)."""
    return TableState(solver=Solver(solver), counts=stripe["counts"], n_samples=stripe["n_samples"],
                      counter=stripe["counter"], last_seen=stripe["last_seen"],
                      accumulators={name[len(_ACCUM):]: a for name, a in stripe.items() if name.startswith(_ACCUM)})


def put_stripe(factors, bias, state, rows, stripe):
    """Write a trained stripe back into its rows of the table, the biases and the solver state."""
    factors[rows] = stripe["factors"]
    bias[rows] = stripe["bias"]
    for name in ("counter", "last_seen"):
        if getattr(state, name).shape[0]:
            getattr(state, name)[rows] = stripe[name]
    for name, accum in state.accumulators.items():
        accum[rows] = stripe[_ACCUM + name]


def copy_stripe(stripe):
    """A stripe a kernel may update in place (the counts, which it only reads, are shared)."""
    return {name: value if name in ("counts", "n_samples") else value.copy() for name, value in stripe.items()}


def stripe_nbytes(stripe):
    """Bytes of a stripe's arrays (what moving it between workers costs, before framing)."""
    return int(sum(value.nbytes for value in stripe.values() if isinstance(value, np.ndarray)))


@dataclass
class StripeStats:
    """A stripe's health after a task, for the divergence check (its largest row norm and |bias|)."""

    finite: bool
    max_norm: float
    max_bias: float

    @classmethod
    def of(cls, stripe):
        finite = bool(np.isfinite(stripe["factors"]).all() and np.isfinite(stripe["bias"]).all())
        return cls(finite=finite, max_norm=_max_row_norm(stripe["factors"]) if finite else math.inf,
                   max_bias=float(np.max(np.abs(stripe["bias"]), initial=0.0)))


@dataclass
class BlockJob:
    """Everything block (a, b) of one stratum needs besides the stripes and the data.

    ``user_from`` / ``item_from``: where the stripe is in the task's input: the
    stripe itself (None), or an index into the result tuple of the task that
    trained it last (passed whole when that task ran on the same worker, so
    nothing is copied out of it first).
    """

    b: int
    stratum: int
    scalars: dict
    n_jobs: int | None
    t_start: int
    t_span: int
    order_seed: int
    epoch: int
    user_from: int | None = None
    item_from: int | None = None


@dataclass
class BlockResult:
    """What the driver reads of one user stripe's epoch: accumulated over its blocks, stratum after stratum.

    ``sse``: the summed squared errors of its blocks; ``seconds``: the kernel
    time of its block in each stratum; ``user``: the health of its user stripe
    after its last block; ``items``: for each item stripe it trained, (stratum,
    health) after its block.
    """

    epoch: int
    sse: float = 0.0
    seconds: dict = field(default_factory=dict)
    user: StripeStats | None = None
    items: dict = field(default_factory=dict)


def _stripe_from(source, index):
    return source if index is None else source[index]


def run_block(user_source, item_source, data, job):
    """Train block (a, b) for one stratum: returns (user stripe, item stripe, :class:`BlockResult`).

    The stripes are copied first (a scheduler may run this task again on the
    same inputs, which must not have changed); the block's samples are the
    slice ``b`` of the user stripe's data, visited in the keyed order of
    ``(job.order_seed, job.epoch)``, and span ``job.t_span`` steps of the
    clock from ``job.t_start``. The result carries on the user stripe's
    result of the epoch's earlier strata (its input's third part).
    """
    user = copy_stripe(_stripe_from(user_source, job.user_from))
    item = copy_stripe(_stripe_from(item_source, job.item_from))
    previous = user_source[2] if job.user_from is not None else None
    lo, hi = int(data["ptr"][job.b]), int(data["ptr"][job.b + 1])
    samples = {name: data[name][lo:hi] for name in ("user_index", "item_index", "ratings")}
    dtype = data["ratings"].dtype
    k = user["factors"].shape[1]
    arrays = {"user_factors": user["factors"], "item_factors": item["factors"], "user_bias": user["bias"],
              "item_bias": item["bias"]}
    for prefix, stripe in (("user", user), ("item", item)):
        state = stripe_state(stripe, job.scalars["solver"])
        arrays.update(_engine.solver_arrays(prefix, state, {"factors": (f"{prefix}_factors_accum", k),
                                                            "bias": (f"{prefix}_bias_accum", None)}, dtype))
    training = _engine.Training(kernel=KERNEL, samples=samples, arrays=arrays, scalars=job.scalars)
    start = time.perf_counter()
    bound = _engine.bind("cpu", training, _engine.effective_n_threads(job.n_jobs))
    try:
        loss = float(bound.run_epoch(t_start=job.t_start, order_seed=job.order_seed, epoch=job.epoch,
                                     t_span=job.t_span))
    finally:
        bound.close()
    seconds = time.perf_counter() - start
    result = BlockResult(epoch=job.epoch)
    if previous is not None and previous.epoch == job.epoch:
        result = BlockResult(epoch=job.epoch, sse=previous.sse, seconds=dict(previous.seconds),
                             items=dict(previous.items))
    result.sse += loss
    result.seconds[job.stratum] = seconds
    result.user = StripeStats.of(user)
    result.items[job.b] = (job.stratum, StripeStats.of(item))
    return user, item, result


def block_seed(order_seed, a, b, d):
    """The order key of block (a, b): the call's seed moved by the block (block (0, 0) keeps it)."""
    return (int(order_seed) + (a * d + b) * _GOLDEN) & _MASK64


def stratum_blocks(d, s):
    """The blocks (a, b) of stratum ``s``."""
    return [(a, (a + s) % d) for a in range(d)]


# --------------------------------------------------------------- executors
class _Value:
    """A result that is already here (the local executor's futures)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _unwrap(value):
    return value.value if isinstance(value, _Value) else value


class LocalExecutor:
    """Runs every task at once, in this process: the DSGD schedule without a cluster."""

    def workers(self, expect=1):
        return [None]

    def put(self, value, worker=None):
        return _Value(value)

    def share(self, value, key):
        return _Value(value)

    def locations(self, refs):
        return [None for _ in refs]

    def submit(self, fn, *args, key=None, worker=None, out_keys=None, strict=False):
        result = fn(*(_unwrap(a) for a in args))
        return [_Value(r) for r in result] if out_keys is not None else _Value(result)

    def gather(self, refs, workers=()):
        return [_unwrap(r) for r in refs]

    def cancel(self, refs):
        pass

    def bytes_moved(self):
        return None


# ------------------------------------------------------------------ driver
def task_key(kind, token, *parts):
    """The key of a task of one fit: ``recfreq-dsgd-<kind>-<token>-<parts>``.

    Dask names a task's *prefix* by the words before the first one holding a
    digit (or an 8-letter hex word), and estimates a task's duration, before it
    has run, by its prefix's mean: every kind of task (``token`` is 8 hex
    digits) gets its own, so a getitem that picks a stripe out of a block's
    result is not taken for a block (seconds) and stolen by an idle worker,
    which would move the whole result to it.
    """
    return "-".join(["recfreq-dsgd", kind, token, *map(str, parts)])


def _reduce(executor, refs, fn, token):
    """Merge ``refs`` pairwise in a fixed tree (the same result on every executor); one ref back."""
    level = 0
    held = []  # see _Schedule.held
    while len(refs) > 1:
        held.extend(refs)
        merged = [executor.submit(fn, refs[j], refs[j + 1], key=task_key("merge", token, level, j))
                  for j in range(0, len(refs) - 1, 2)]
        if len(refs) % 2:
            merged.append(refs[-1])
        refs, level = merged, level + 1
    return refs[0], held


def check_estimator(estimator):
    """Refuse, before anything runs, an estimator or settings DSGD cannot train."""
    from .mf import MatrixFactorization
    from .overparam import OverparamMF

    if not isinstance(estimator, MatrixFactorization) or isinstance(estimator, OverparamMF):
        raise TypeError(f"recfreq.dask.fit trains a MatrixFactorization; got {type(estimator).__name__}. "
                        "Fit other models with their own fit on one machine.")
    problems = []
    if getattr(estimator, "loss", "squared") != "squared":
        problems.append(f"loss={estimator.loss!r} (DSGD trains the squared loss: a ranking loss samples its "
                        "negatives from every item, which one block does not hold)")
    if estimator.embedding_dims != "uniform":
        problems.append(f"embedding_dims={estimator.embedding_dims!r} (only 'uniform' tables are striped)")
    if estimator.device != "cpu":
        problems.append(f"device={estimator.device!r} (the workers train on their CPUs)")
    if estimator.early_stopping:
        problems.append("early_stopping=True (hold out a validation set yourself, or use tol on the training loss)")
    if problems:
        raise ValueError("recfreq.dask.fit cannot train this MatrixFactorization: " + "; ".join(problems) + ".")


def check_stripes(n_stripes):
    if isinstance(n_stripes, (bool, np.bool_)) or not isinstance(n_stripes, (int, np.integer)) or n_stripes < 1:
        raise ValueError(f"n_stripes must be a positive integer, got {n_stripes!r}.")
    return int(n_stripes)


def run(estimator, executor, partitions, *, n_stripes, X_meta, keep_seen=True, token="00000000"):
    """Fit ``estimator`` with DSGD on ``executor``; return (estimator, :class:`DSGDReport`).

    ``partitions``: refs (executor futures) of the data's partitions, each a
    pandas DataFrame or 2-D array whose columns 0, 1, 2 hold user ids, item ids
    and ratings. ``X_meta``: an empty (0, 2) frame or array standing for the
    (user, item) columns, for ``n_features_in_`` and ``feature_names_in_``.
    ``token`` (8 hex digits) marks every task key of the call (:func:`task_key`).
    The estimator's fitted state is left as it was if anything raises.
    """
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import validate_data

    check_estimator(estimator)
    d = check_stripes(n_stripes)
    deep = estimator.warm_start is True and estimator._is_trained()
    with estimator._unchanged_on_error(deep=deep):
        estimator._validate_params()
        setup_start = time.perf_counter()
        setup_bytes = executor.bytes_moved()
        warm = estimator.warm_start and estimator._is_trained()
        if warm:
            estimator._check_continuation("recfreq.dask.fit with warm_start=True")
            validate_data(estimator, X_meta, skip_check_array=True, reset=False)
        else:
            estimator._record_structure()
        dtype = estimator._fitted_dtype if warm else estimator._dtype()

        # pass 1: every partition checked, counted and its ids listed; nothing is shipped before it passed
        summaries = [executor.submit(summarize, part, dtype, j, key=task_key("summary", token, j))
                     for j, part in enumerate(partitions)]
        merged, held = _reduce(executor, summaries, merge_summaries, token)
        (summary,) = executor.gather([merged])
        del summaries, merged, held
        if summary.n_samples == 0:
            raise ValueError("The data holds no ratings (every partition is empty).")
        if not warm:
            validate_data(estimator, X_meta, skip_check_array=True, reset=True)

        rng = check_random_state(estimator.random_state)
        estimator._rng = rng
        empty = TrainingData(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, dtype))
        if warm:
            estimator._match_solver_state()
            estimator._user_encoder.extend_transform(summary.user_ids)
            estimator._item_encoder.extend_transform(summary.item_ids)
            estimator._grow_tables(rng)
        else:
            estimator._user_encoder, estimator._item_encoder = IdEncoder(), IdEncoder()
            estimator._user_encoder.fit_transform(summary.user_ids)
            estimator._item_encoder.fit_transform(summary.item_ids)
            estimator._fitted_dtype = estimator._dtype()
        # the mean of this call's ratings (fit's _refresh_statistics), from the partitions' float64 sums
        estimator.global_mean_ = summary.rating_sum / summary.n_samples
        if not warm:
            estimator._initialize_tables(rng, empty)
        for state, encoder, ids, counts in (
                (estimator.user_state_, estimator._user_encoder, summary.user_ids, summary.user_counts),
                (estimator.item_state_, estimator._item_encoder, summary.item_ids, summary.item_counts)):
            state.counts[:] = 0
            state.counts[encoder.transform(ids)] = counts
            state.n_samples = summary.n_samples
        estimator.loss_curve_ = []
        estimator.validation_scores_ = []
        estimator.n_iter_ = 0

        schedule = _Schedule(estimator, executor, partitions, summary, d, dtype, token)
        del partitions  # the schedule lets them go once their ratings are in blocks
        try:
            schedule.ship()
            schedule.report.setup_seconds = time.perf_counter() - setup_start
            schedule.report.setup_bytes_moved = _delta(executor.bytes_moved(), setup_bytes)
            epochs = schedule.epochs(estimator.max_iter)
            estimator._epoch_loop(epochs, summary.n_samples, estimator.max_iter,
                                  estimator._score_limit_for((summary.lo, summary.hi)), None, None, stop_early=True)
            schedule.finish(keep_seen)
        except BaseException:
            schedule.close(cancel=True)
            raise
        schedule.close(cancel=False)
    return estimator, schedule.report


def _delta(after, before):
    return None if after is None or before is None else int(after - before)


class _Schedule:
    """One distributed fit: the stripes, the blocks on their workers, the epochs."""

    def __init__(self, estimator, executor, partitions, summary, d, dtype, token):
        self.estimator, self.executor, self.partitions = estimator, executor, partitions
        self.summary, self.d, self.dtype, self.token = summary, d, dtype, token
        self.n_samples = summary.n_samples
        self.plan = Plan(d, estimator._user_encoder, estimator._item_encoder,
                         StripeMap.balanced(estimator.user_state_.counts, d),
                         StripeMap.balanced(estimator.item_state_.counts, d))
        self.placement = self._place(executor.workers())
        # the kernel's scalars as the estimator's own training call would pass them
        training = estimator._training(TrainingData(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, dtype)))
        if training.kernel != KERNEL:
            raise TypeError(f"recfreq.dask.fit runs the {KERNEL} kernel; this model trains with {training.kernel}.")
        self.scalars = dict(training.scalars)
        self.t_call = int(estimator.t_)
        self.order_seed = int(estimator._rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        self.data = []
        self.users, self.items = [], []
        self.done = 0  # epochs finished and handed to the estimator
        # every ref an epoch made or replaced, until the epoch's results are back: a ref let go while
        # the scheduler still registers the task that reads it (Dask handles the two messages
        # concurrently) is forgotten first, and that task cancelled for "lost dependencies"
        self.held = []
        self.report = None
        self.attempt = 0

    def _place(self, workers):
        """User stripe a -> a worker, in contiguous ranges (neighbouring stripes share a worker, so an
        item stripe that moves on to the next user stripe stays on its worker where it can)."""
        n = len(workers)
        return [workers[a * n // self.d] for a in range(self.d)]

    # ------------------------------------------------------------- setup
    def _stripes(self):
        """The call's starting stripes (the checkpoint a lost worker's epochs start over from)."""
        e = self.estimator
        users = [take_stripe(e.user_factors_, e.user_bias_, e.user_state_, self.plan.users.rows(a))
                 for a in range(self.d)]
        items = [take_stripe(e.item_factors_, e.item_bias_, e.item_state_, self.plan.items.rows(b))
                 for b in range(self.d)]
        return users, items

    def ship(self):
        """Split every partition by user stripe and build each stripe's blocks on its worker (ratings move once)."""
        d, ex = self.d, self.executor
        plan = ex.share(self.plan, key=task_key("plan", self.token))
        # each partition split where the first pass left it: only its pieces for other workers move
        where = ex.locations(self.partitions)
        pieces = [ex.submit(split_partition, part, self.dtype, plan, j, key=task_key("split", self.token, j),
                            out_keys=[task_key("pick", self.token, "split", j, a) for a in range(d)], worker=where[j])
                  for j, part in enumerate(self.partitions)]
        self.data = [ex.submit(build_stripe, d, *[p[a] for p in pieces], key=task_key("blocks", self.token, a),
                               worker=self.placement[a]) for a in range(d)]
        # pinned like every task that reads a stripe's blocks: elsewhere it would copy them all
        sizes = ex.gather([ex.submit(block_sizes, data, key=task_key("sizes", self.token, a), worker=self.placement[a])
                           for a, data in enumerate(self.data)])
        # let go (not cancelled: a lost block is recomputed from them)
        del pieces
        self.partitions = None
        self.plan_ref = plan
        self.sizes = np.array(sizes, dtype=np.int64).reshape(d, d)
        users, items = self._stripes()
        self.stripe_bytes = [stripe_nbytes(s) for s in items]
        self.report = DSGDReport(n_stripes=d, placement=tuple(self.placement), block_sizes=self.sizes,
                                 stripe_bytes=int(sum(self.stripe_bytes)))
        self.health = ([StripeStats.of(s) for s in users], [StripeStats.of(s) for s in items])
        self._start(users, items)

    def _start(self, users, items):
        ex = self.executor
        if not set(self.placement) <= set(ex.workers()):  # a worker was lost (while the blocks were built)
            self.placement = self._place(ex.workers(expect=len(set(self.placement))))
            self.report.placement = tuple(self.placement)
        # where each stripe is: (ref, index into the ref's result or None for the stripe itself, worker)
        self.users = [(ex.put(s, self.placement[a]), None, self.placement[a]) for a, s in enumerate(users)]
        self.items = [(ex.put(s, self.placement[b]), None, self.placement[b]) for b, s in enumerate(items)]

    def _refs(self):
        return [ref for ref, _, _ in self.users + self.items]

    def _separate(self, source, worker, key):
        """A stripe source for a task on ``worker``: a result made on another worker is cut down to
        the stripe first, where it is, so that only the stripe travels."""
        ref, index, where = source
        if index is None or where == worker:
            return ref, index
        return self._stripe_alone(source, key), None

    def _stripe_alone(self, source, key):
        """A ref of the stripe itself (cut out of a task's result where that result is)."""
        ref, index, where = source
        return ref if index is None else self.executor.submit(operator.getitem, ref, index, key=key, worker=where)

    # ------------------------------------------------------------- epochs
    def _run_epoch(self, epoch):
        """Submit the d strata of ``epoch``; returns ({user stripe: the ref of its last block}, bytes_model)."""
        d, ex = self.d, self.executor
        t = self.t_call + epoch * self.n_samples
        last, moved = {}, 0
        for s in range(d):
            blocks = [(a, b) for a, b in stratum_blocks(d, s) if self.sizes[a, b] > 0]
            span = int(sum(self.sizes[a, b] for a, b in blocks))
            users, items = list(self.users), list(self.items)
            for a, b in blocks:
                step = (f"r{self.attempt}", f"e{epoch}", f"s{s}", f"a{a}")
                key = task_key("block", self.token, *step)
                worker = self.placement[a]
                user_ref, user_from = self._separate(self.users[a], worker, task_key("pick", self.token, *step, "user"))
                item_ref, item_from = self._separate(self.items[b], worker, task_key("pick", self.token, *step, "item"))
                self.held += [self.users[a][0], self.items[b][0], user_ref, item_ref]
                if self.items[b][2] != worker:
                    moved += self.stripe_bytes[b]
                job = BlockJob(b=b, stratum=s, scalars=self.scalars, n_jobs=self.estimator.n_jobs, t_start=t,
                               t_span=span, order_seed=block_seed(self.order_seed, a, b, d), epoch=epoch,
                               user_from=user_from, item_from=item_from)
                ref = ex.submit(run_block, user_ref, item_ref, self.data[a], job, key=key, worker=worker, strict=True)
                users[a], items[b], last[a] = (ref, 0, worker), (ref, 1, worker), (ref, step)
            self.users, self.items = users, items
            t += span
        return last, moved

    def _epoch(self, epoch):
        """Run ``epoch`` from the current stripes; returns its EpochLoss and EpochReport (may raise LostData)."""
        ex = self.executor
        start, before = time.perf_counter(), ex.bytes_moved()
        last, moved = self._run_epoch(epoch)
        order = sorted(last)
        # each user stripe's result of the epoch (a few numbers), from the last block it trained
        results = ex.gather([ex.submit(operator.getitem, last[a][0], 2,
                                       key=task_key("pick", self.token, *last[a][1], "result"),
                                       worker=self.placement[a]) for a in order], workers=self.placement)
        self.held = []
        seconds = time.perf_counter() - start
        users, items = self.health
        latest = {}
        sse, busy = 0.0, {}
        for a, result in zip(order, results):
            sse += result.sse
            users[a] = result.user
            for b, (s, health) in result.items.items():
                if b not in latest or latest[b][0] < s:
                    latest[b] = (s, health)
            for s, value in result.seconds.items():
                busy[(s, self.placement[a])] = busy.get((s, self.placement[a]), 0.0) + value
        for b, (_, health) in latest.items():
            items[b] = health
        compute = sum(max([v for (stratum, _), v in busy.items() if stratum == s], default=0.0) for s in range(self.d))
        loss = _engine.EpochLoss(sse)
        loss.samples_per_thread = None
        loss.parameters_finite = all(h.finite for h in users + items)
        e = self.estimator
        loss.score_bound = (abs(e.global_mean_) + max(h.max_bias for h in users) + max(h.max_bias for h in items)
                            + max(h.max_norm for h in users) * max(h.max_norm for h in items))
        report = EpochReport(loss=sse / self.n_samples, seconds=seconds, compute_seconds=compute,
                             bytes_moved=_delta(ex.bytes_moved(), before), bytes_model=moved)
        return loss, report

    def _recover(self, exc):
        """Start over from the call's first stripes after losing data (on new workers if need be)."""
        self.report.recoveries += 1
        if self.report.recoveries > MAX_RECOVERIES:
            raise RuntimeError(f"recfreq.dask.fit lost data {self.report.recoveries} times ({exc}); giving up. "
                               "Check the workers' logs (memory limits?).") from exc
        self.executor.cancel(self._refs() + self.held)
        self.held = []
        self.attempt += 1
        self.placement = self._place(self.executor.workers(expect=len(set(self.placement))))
        self.report.placement = tuple(self.placement)
        users, items = self._stripes()
        self.health = ([StripeStats.of(s) for s in users], [StripeStats.of(s) for s in items])
        self._start(users, items)

    def _catch_up(self):
        """Replay the epochs already done from the call's first stripes (after :meth:`_recover`).

        The same blocks, keys and clocks, so the same results; a loss during
        the replay starts it over.
        """
        epoch = 0
        while epoch < self.done:
            try:
                self._epoch(epoch)
                epoch += 1
            except LostData as exc:
                self._recover(exc)
                epoch = 0

    def epochs(self, n_epochs):
        """The epoch losses, one per epoch as it ends (what ``_epoch_loop`` consumes).

        A lost worker whose data cannot be recomputed makes the executor raise
        :class:`LostData`: the call then starts over from its first stripes and
        replays the epochs already done before it goes on.
        """
        while self.done < n_epochs:
            try:
                loss, report = self._epoch(self.done)
            except LostData as exc:
                self._recover(exc)
                self._catch_up()
                continue
            self.done += 1
            self.report.epochs.append(report)
            yield loss

    def finish(self, keep_seen):
        """Gather the trained stripes into the estimator's tables and record the (user, item) pairs."""
        ex = self.executor
        while True:
            try:
                users, items = (ex.gather([self._stripe_alone(source, task_key("pick", self.token, "final",
                                                                               f"r{self.attempt}", name, i))
                                           for i, source in enumerate(sources)], workers=self.placement)
                                for name, sources in (("user", self.users), ("item", self.items)))
                pairs = ex.gather([ex.submit(stripe_pairs, data, self.plan_ref, a,
                                             key=task_key("pairs", self.token, f"r{self.attempt}", a),
                                             worker=self.placement[a], strict=True)
                                   for a, data in enumerate(self.data)], workers=self.placement) if keep_seen else []
                break
            except LostData as exc:
                self._recover(exc)
                self._catch_up()
        e = self.estimator
        for a, stripe in enumerate(users):
            put_stripe(e.user_factors_, e.user_bias_, e.user_state_, self.plan.users.rows(a), stripe)
        for b, stripe in enumerate(items):
            put_stripe(e.item_factors_, e.item_bias_, e.item_state_, self.plan.items.rows(b), stripe)
        if pairs:
            e._record_seen(TrainingData(np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]),
                                        None))

    def close(self, cancel):
        """Let go of what is left of the fit on the executor (its stripes, its blocks); ``cancel``
        stops what still runs (after an error)."""
        if cancel:
            self.executor.cancel((self._refs() if self.users else []) + list(self.data) + self.held)
        self.users, self.items, self.data, self.partitions, self.held = [], [], [], None, []


def _frame_columns(frame, columns):
    """The user, item and rating columns of an in-memory frame or array, in that order."""
    if hasattr(frame, "iloc"):
        names = list(frame.columns) if columns is None else list(columns)
        return frame[names[:3]] if columns is not None else frame.iloc[:, :3]
    array = np.asarray(frame)
    if array.ndim != 2 or array.shape[1] < 3:
        raise ValueError(f"each partition must be 2-D with at least 3 columns, got shape {array.shape}")
    return array[:, list(columns) if columns is not None else [0, 1, 2]]


def fit_local(estimator, partitions, *, n_stripes, columns=None, keep_seen=True):
    """Fit ``estimator`` with the DSGD schedule in this process; return (estimator, :class:`DSGDReport`).

    The schedule :func:`recfreq.dask.fit` runs on a cluster, on in-memory
    ``partitions`` (pandas DataFrames or 2-D arrays, in order; ``columns``: the
    user, item and rating columns, by default the first three): the same
    blocks, keys and clocks, so with the same seeds the same model bit for bit
    (one thread per block, ``n_jobs=None`` or 1).
    """
    parts = [_frame_columns(p, columns) for p in partitions]
    first = parts[0]
    X_meta = first.iloc[:0, :2] if hasattr(first, "iloc") else np.empty((0, 2))
    return run(estimator, LocalExecutor(), [_Value(p) for p in parts], n_stripes=n_stripes, X_meta=X_meta,
               keep_seen=keep_seen)
