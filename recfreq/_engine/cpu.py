"""The CPU side of the engine: the Cython kernels, called with keyword arguments.

Besides the calls, what only the CPU needs lives here: the thread count
(``n_jobs`` resolved against OpenMP and the CPU affinity), the per-thread work
counters, the host-side gathering of an epoch's samples into epoch order (one
compiled pass, so the kernels read them sequentially; the factorization machine's kernels read their
CSR rows through the order instead), and the factorization machine's hot rows.
Binding is zero-copy: the kernels update the estimators' NumPy arrays in place.
"""

import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ._checks import (CHECKS, check_clock, _check_csr, _check_positive_csr, _check_same_dtype, _check_same_length,
                      _check_solver_state, _check_state_rows, check_index, check_sample_index,
                      check_sample_start, max_row_nnz)
from .simd import kernel_module
from .specs import CPU_ONLY, DEVICE_ONLY, KERNELS, solver_arrays, solver_config

__all__ = ["CpuBinding", "EpochLoss", "HOT_ROW_MIN_SHARE", "MAX_HOT_ROWS", "build_info", "effective_n_threads",
           "hot_rows", "usable_cpus", "solver_config", "table_kwargs", "baseline_epoch", "mf_epoch",
           "mf_ranking_epoch", "mf_projected_epoch", "mf_predict", "fm_epoch", "fm_ranking_epoch",
           "fm_projected_epoch", "fm_predict", "ncf_epoch", "ncf_sample_negatives"]


def _openmp():
    from .._kernels.cpu import openmp_helpers

    return openmp_helpers


def build_info():
    """This build's OpenMP state (enabled, threads OpenMP would use, processors) and SIMD
    variants (the one in use, or the reason none can be; those built; those this CPU runs)."""
    from . import simd

    omp = _openmp()
    try:
        in_use = simd.variant()
    except (ValueError, RuntimeError) as exc:  # a bad RECFREQ_CPU_VARIANT: show_versions reports it
        in_use = f"unusable: {exc}"
    return {"openmp": omp.openmp_enabled(), "openmp threads": omp.openmp_max_threads(),
            "processors": omp.openmp_num_procs(), "cpu variant": in_use,
            "cpu variants built": simd.built_variants(), "cpu variants runnable": simd.cpu_variants()}


def usable_cpus():
    """Processors this process may run on (its CPU affinity), as OpenMP counts them."""
    return max(1, int(_openmp().openmp_num_procs()))


def effective_n_threads(n_jobs, warn=False):
    """Resolve ``n_jobs`` like scikit-learn, capped at the usable processors.

    None -> 1; -1 -> every thread OpenMP would use (``OMP_NUM_THREADS``, at
    most the usable processors); -2 -> all but one; a positive value is used
    as given up to the number of processors this process may run on
    (``os.sched_getaffinity``), and capped there: more OpenMP threads than
    processors only time-share the cores (and each thread allocates its
    buffers), so they cannot train faster, and absurd values (10**6) would
    exhaust memory inside the OpenMP runtime. With ``warn=True`` a capped
    request warns (fit does; predict caps silently).
    """
    import numbers

    if isinstance(n_jobs, (bool, np.bool_)) or not (n_jobs is None or isinstance(n_jobs, numbers.Integral)):
        raise TypeError(f"n_jobs must be an integer or None, got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None or 1 for one thread, -1 for all.")
    if n_jobs is None:
        return 1
    omp = _openmp()
    usable = usable_cpus()
    if n_jobs < 0:
        # -1 is "all": every thread OpenMP would use (OMP_NUM_THREADS is honoured)
        available = max(1, min(usable, int(omp.openmp_max_threads())))
        return max(1, available + 1 + int(max(n_jobs, -available)))
    if not omp.openmp_enabled() and n_jobs > 1:
        warnings.warn(
            "recfreq was built without OpenMP: n_jobs > 1 runs on one thread. "
            "Rebuild with an OpenMP-capable compiler to train in parallel.",
            RuntimeWarning,
            stacklevel=4,
        )
        return 1
    if n_jobs > usable:
        if warn:
            warnings.warn(
                f"n_jobs={n_jobs} exceeds the {usable} processor(s) this process may use; "
                f"training with {usable} thread(s).",
                RuntimeWarning,
                stacklevel=4,
            )
        return usable
    return int(n_jobs)


def table_kwargs(prefix, state):
    """Per-row frequency state of one table (see :class:`recfreq._solvers.TableState`)."""
    return {
        f"{prefix}_frequency": state.frequency(),
        f"{prefix}_counter": state.counter,
        f"{prefix}_last_seen": state.last_seen,
    }


#: Each thread counts its samples in thread_work[thread * WORK_STRIDE] (one
#: cache line per thread; the same constant as in ``_kernels/cpu/openmp.pxd``).
WORK_STRIDE = 8


class EpochLoss(float):
    """An epoch's summed loss, which also says how many samples each thread ran.

    ``samples_per_thread[j]`` is the number of samples OpenMP thread j
    processed: the threaded paths are observable (a run asked for two
    threads that ran on one shows it), without changing what callers that
    only want the loss see.
    """

    samples_per_thread: np.ndarray


def _run_epoch_kernel(kernel, n_threads, **kwargs):
    work = np.zeros(max(1, int(n_threads)) * WORK_STRIDE, dtype=np.int64)
    loss = EpochLoss(kernel(n_threads=int(n_threads), thread_work=work, **kwargs))
    loss.samples_per_thread = work[::WORK_STRIDE].copy()
    return loss


def _require_cpu(device, model):
    # the estimators check the device before anything is allocated
    # (recfreq._engine.check_device); this only guards the one-shot CPU calls
    if device != "cpu":
        raise NotImplementedError(f"internal error: {model}'s CPU kernel was asked to run on device={device!r}")


_KERNELS = {"baseline_epoch": "baseline", "mf_epoch": "mf", "mf_ranking_epoch": "mf", "mf_projected_epoch": "mf",
            "fm_epoch": "fm", "fm_ranking_epoch": "fm",
            "fm_projected_epoch": "fm", "ncf_epoch": "ncf"}


def _kernel(name):
    """The Cython entry point of a bound kernel, from the SIMD variant in use (:mod:`.simd`)."""
    return getattr(kernel_module(_KERNELS[name]), name)


def _cpu_scalars(kernel, scalars):
    return {name: value for name, value in scalars.items() if name not in DEVICE_ONLY[kernel]}


def _run_checked(kernel, samples, arrays, scalars, n_threads, **cpu_only):
    """Check, then run one epoch of a spec'd kernel over samples already in epoch order.

    ``cpu_only``: the kernel's :data:`.specs.CPU_ONLY` keywords (``order``, ...).
    """
    CHECKS[kernel]({**samples, **arrays}, scalars)
    return _run_epoch_kernel(_kernel(kernel), n_threads, **samples, **arrays, **_cpu_scalars(kernel, scalars),
                             **cpu_only)


# ------------------------------------------------------------ FM hot rows
#: A feature row in at least this share of an epoch's samples is "hot": with
#: several threads ``fm_epoch`` steps private per-thread copies of it and
#: publishes their change every 64 samples (see ``recfreq/_kernels/cpu/fm.pyx``).
#: Such a row is touched about once per publication interval, so a private copy
#: saves at least as many shared writes as its publication costs. Measured on
#: MovieLens-100K with side features (benchmarks/bench_fm.py speed, n_jobs=2):
#: see the FM estimator's ``n_jobs`` documentation.
HOT_ROW_MIN_SHARE = 1.0 / 64

#: At most this many hot rows (the most frequent), which bounds each thread's
#: private copies to MAX_HOT_ROWS x (k + 1) values (x 4 under Adagrad: copy,
#: snapshot and the same for the accumulators).
MAX_HOT_ROWS = 256


def hot_rows(counts, n_samples, min_share=HOT_ROW_MIN_SHARE, max_rows=MAX_HOT_ROWS):
    """Rows in at least ``min_share`` of ``n_samples`` samples (``counts[r]`` contain row r), at most ``max_rows``.

    The most frequent rows are kept when more qualify (ties: the lower
    index). Returns a sorted, C-contiguous int32 array (empty without samples).
    """
    counts = np.asarray(counts)
    if n_samples == 0 or max_rows <= 0:
        return np.empty(0, dtype=np.int32)
    # n_r / N >= min_share, compared without dividing
    hot = np.flatnonzero(counts >= min_share * n_samples)
    if hot.shape[0] > max_rows:
        # stable sort by descending count: ties keep the lower index
        hot = hot[np.argsort(-counts[hot], kind="stable")[:max_rows]]
    return np.ascontiguousarray(np.sort(hot), dtype=np.int32)


def _hot_slot(rows, n_features):
    """Check the hot-row set the FM kernel indexes unchecked; return its row -> slot map.

    ``rows`` must be a 1-D C-contiguous int32 array of strictly increasing
    feature rows (so no row has two slots), at most ``MAX_HOT_ROWS`` of them
    (each thread copies them all). The map holds each row's index in
    ``rows`` or -1; it is empty when ``rows`` is.
    """
    if not isinstance(rows, np.ndarray) or rows.dtype != np.int32 or rows.ndim != 1 or not rows.flags.c_contiguous:
        raise TypeError("internal error: hot_rows must be a 1-D C-contiguous int32 array")
    n_hot = rows.shape[0]
    if n_hot > MAX_HOT_ROWS:
        raise ValueError(f"internal error: {n_hot} hot rows, at most {MAX_HOT_ROWS} allowed")
    if n_hot == 0:
        return np.empty(0, dtype=np.int32)
    if rows[0] < 0 or rows[-1] >= n_features or (np.diff(rows) <= 0).any():
        raise ValueError(f"internal error: hot_rows must be strictly increasing rows in [0, {n_features}); "
                         "refusing to run the kernel")
    slot = np.full(n_features, -1, dtype=np.int32)
    slot[rows] = np.arange(n_hot, dtype=np.int32)
    return slot


def _hot_row_keywords(rows, indptr, n_features):
    """``fm_epoch``'s CPU-only keywords for the hot rows ``rows`` (checked)."""
    slot = _hot_slot(rows, n_features)
    # the hot path keeps per-thread pointers to every non-zero's rows of a sample
    return {"hot_rows": rows, "hot_slot": slot, "max_nnz": max(1, max_row_nnz(indptr) if rows.shape[0] else 0)}


def _fm_epoch_keywords(training, n_threads):
    """The hot rows of a bound ``fm_epoch``: only with several threads (one thread runs exactly
    without them), from the share of this call's samples each feature row is in."""
    indptr, indices = training.samples["indptr"], training.samples["indices"]
    n_features = training.arrays["feature_bias"].shape[0]
    rows = np.empty(0, dtype=np.int32)
    if n_threads > 1:
        # a row counts once per sample it is non-zero in (CSR rows hold no duplicate columns)
        rows = hot_rows(np.bincount(indices, minlength=n_features), training.n_samples)
    return _hot_row_keywords(rows, indptr, n_features)


#: kernel -> f(training, n_threads): its CPU-only keywords other than ``order``, computed once per bind
_BIND_KEYWORDS = {"fm_epoch": _fm_epoch_keywords}


def baseline_epoch(*, device, user_index, item_index, ratings, user_bias, item_bias,
                   user_state, item_state, config, global_mean, alpha, t_start, n_threads):
    """One epoch of the biases-only model over samples in the order given; returns the SSE."""
    _require_cpu(device, "BaselinePredictor")
    dtype = ratings.dtype
    arrays = {"user_bias": user_bias, "item_bias": item_bias,
              **solver_arrays("user", user_state, {"bias": ("user_bias_accum", None)}, dtype),
              **solver_arrays("item", item_state, {"bias": ("item_bias_accum", None)}, dtype)}
    scalars = {**config, "global_mean": float(global_mean), "alpha": float(alpha), "t_start": int(t_start)}
    samples = {"user_index": user_index, "item_index": item_index, "ratings": ratings}
    return _run_checked("baseline_epoch", samples, arrays, scalars, n_threads)


def mf_epoch(*, device, user_index, item_index, ratings, user_factors, item_factors,
             user_bias, item_bias, user_state, item_state, config, global_mean, alpha, alpha_bias,
             t_start, n_threads, t_span=None):
    """One epoch of biased matrix factorization over samples in the order given; returns the SSE.

    The samples span ``t_span`` steps of the clock from ``t_start`` (None: one
    step each; see :func:`._checks.check_clock`).
    """
    _require_cpu(device, "MatrixFactorization")
    dtype, k = ratings.dtype, user_factors.shape[1]
    arrays = {"user_factors": user_factors, "item_factors": item_factors, "user_bias": user_bias,
              "item_bias": item_bias}
    for prefix in ("user", "item"):
        arrays.update(solver_arrays(prefix, user_state if prefix == "user" else item_state,
                                    {"factors": (f"{prefix}_factors_accum", k), "bias": (f"{prefix}_bias_accum", None)},
                                    dtype))
    scalars = {**config, "global_mean": float(global_mean), "alpha": float(alpha), "alpha_bias": float(alpha_bias),
               "t_start": int(t_start), "t_span": check_clock(ratings.shape[0], t_start, t_span)}
    samples = {"user_index": user_index, "item_index": item_index, "ratings": ratings}
    return _run_checked("mf_epoch", samples, arrays, scalars, n_threads)


def mf_ranking_epoch(*, device, user_index, item_index, sample_index, user_factors, item_factors, user_bias,
                     item_bias, user_state, item_state, user_frequency, item_frequency, positive_indptr,
                     positive_indices, ranking_loss, n_negatives, max_sampled, warp_weights, sample_seed,
                     order_epoch, config, global_mean, alpha, alpha_bias, t_start, n_threads):
    """One epoch of matrix factorization under a ranking loss over positives in the order given.

    The one-shot form of the bound ``mf_ranking_epoch`` (same check, same
    kernel), for tests. ``sample_index``: each positive's own index in the
    training data, which with ``(sample_seed, order_epoch)`` keys its
    negatives; ``user_frequency``/``item_frequency``: fa-sgd's expected steps
    per positive of each row (negatives included), or empty arrays. Returns
    the summed loss.
    """
    _require_cpu(device, "MatrixFactorization")
    check_sample_index(sample_index, user_index.shape[0])
    dtype, k = user_factors.dtype, user_factors.shape[1]
    arrays = {"user_factors": user_factors, "item_factors": item_factors, "user_bias": user_bias,
              "item_bias": item_bias, "positive_indptr": positive_indptr, "positive_indices": positive_indices,
              "warp_weights": warp_weights}
    for prefix, state, frequency in (("user", user_state, user_frequency), ("item", item_state, item_frequency)):
        arrays.update(solver_arrays(prefix, state, {"factors": (f"{prefix}_factors_accum", k),
                                                    "bias": (f"{prefix}_bias_accum", None)}, dtype))
        arrays[f"{prefix}_frequency"] = frequency
    scalars = {**config, "global_mean": float(global_mean), "alpha": float(alpha), "alpha_bias": float(alpha_bias),
               "t_start": int(t_start), "ranking_loss": int(ranking_loss), "n_negatives": int(n_negatives),
               "max_sampled": int(max_sampled), "n_items": int(item_bias.shape[0]),
               "sample_seed": int(sample_seed), "order_epoch": int(order_epoch)}
    samples = {"user_index": user_index, "item_index": item_index, "sample_index": sample_index}
    return _run_checked("mf_ranking_epoch", samples, arrays, scalars, n_threads)


def _completed(fn, *args):
    """Run ``fn`` now and return its outcome as a finished Future."""
    future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # re-raised by future.result(), as from a pool
        future.set_exception(exc)
    return future


def _ncf_epoch_arguments(samples, order, epoch, scalars):
    """NeuralCF's per-epoch arguments, from the samples gathered into epoch order.

    ``sample_index``: each position's own row index (the gather's order), which
    keys the row's random draws with ``order_epoch``, so they do not depend on
    the row's position or thread; ``sample_start``: the exclusive cumulative sum
    of the samples each row emits in epoch order (a positive row emits itself and
    ``n_negatives`` negatives), the step offset of each row.
    """
    emitted = np.where(samples["labels"] > 0.5, 1 + int(scalars["n_negatives"]), 1).astype(np.int64)
    start = np.cumsum(emitted)
    start -= emitted
    return {"sample_index": order, "sample_start": start, "order_epoch": int(epoch)}


def _ranking_epoch_arguments(samples, order, epoch, scalars):
    """The ranking kernels' per-epoch arguments: each position's own positive (the
    gather's order), which keys its negatives with ``order_epoch``."""
    return {"sample_index": order, "order_epoch": int(epoch)}


#: kernel -> fn(samples in epoch order, order, epoch, scalars) -> the per-epoch
#: arguments its Cython kernel takes besides the gathered samples (kernels that
#: need none are absent)
def _order_epoch_argument(samples, order, epoch, scalars):
    """The epoch's number, which keys the negatives of a kernel that reads its positives through the order."""
    return {"order_epoch": int(epoch)}


_EPOCH_ARGUMENTS = {"ncf_epoch": _ncf_epoch_arguments, "mf_ranking_epoch": _ranking_epoch_arguments,
                    "fm_ranking_epoch": _order_epoch_argument}


def _clock(kernel, spans, n_samples, t_start, t_span):
    """The clock arguments of one epoch call: ``t_start``, and ``t_span`` for kernels that take it (checked)."""
    if not spans:
        if t_span is not None and int(t_span) != int(n_samples):
            raise ValueError(f"internal error: {kernel} steps the clock once per sample; it takes no t_span")
        return {"t_start": int(t_start)}
    return {"t_start": int(t_start), "t_span": check_clock(n_samples, t_start, t_span)}


class CpuBinding:
    """A training call bound to the CPU: the estimator's own arrays, zero-copy.

    The inputs are checked once, here, and the kernel's CPU-only keywords (the
    FM's hot rows) computed once. Each epoch visits the samples in the epoch's
    keyed order (the same order a GPU computes in its kernel, see
    ``_kernels/cpu/order.pxd``). Most kernels get their samples gathered into
    that order, into one of two buffers, so they read them sequentially;
    kernels that take an ``order`` keyword (:data:`.specs.CPU_ONLY`) read
    their samples through it instead, and only the order is computed. When a
    core is left idle by the kernel's threads, the next epoch is prepared on a
    helper thread while the kernel (which releases the GIL) runs. When every
    core runs the kernel it is prepared inline: a helper thread would only slow
    one of the kernel's static chunks (measured: n_jobs=2 on 2 cores lost a
    third). A kernel that needs more per-epoch arguments derived from the
    gathered samples (NeuralCF's row indices and step offsets) gets them from its
    ``_EPOCH_ARGUMENTS`` hook.
    """

    def __init__(self, training, n_threads):
        CHECKS[training.kernel]({**training.samples, **training.arrays}, training.scalars)
        self.training = training
        self.n_threads = int(n_threads)
        self._kernel = _kernel(training.kernel)
        self._n = training.n_samples
        # kernels whose samples may span more steps of the clock than they are (DSGD blocks)
        self._spans = any(name == "t_span" for name, _ in KERNELS[training.kernel])
        self._order_only = "order" in CPU_ONLY[training.kernel]
        self._fixed = {**training.arrays, **_cpu_scalars(training.kernel, training.scalars)}
        if training.kernel in _BIND_KEYWORDS:
            self._fixed.update(_BIND_KEYWORDS[training.kernel](training, self.n_threads))
        if self._order_only:
            self._fixed.update(training.samples)
            self._buffers = [{} for _ in range(2)]
        else:
            # the gathered kernels' samples: (user rows, item rows[, values]) in that order
            self._gathered = tuple(training.samples)
            if len(self._gathered) not in (2, 3):
                raise ValueError(f"internal error: {training.kernel} gathers {self._gathered}, not two or three "
                                 "arrays")
            self._buffers = [{name: np.empty_like(a) for name, a in training.samples.items()} for _ in range(2)]
        needs_order = self._order_only or training.kernel in _EPOCH_ARGUMENTS
        self._orders = [np.empty(self._n if needs_order else 0, dtype=np.int64) for _ in range(2)]
        self._no_order = np.empty(0, dtype=np.int64)
        # epoch_gather's values when there are none (its fused type needs a float array)
        self._no_values = np.empty(0, dtype=np.float64)
        self._pool = ThreadPoolExecutor(max_workers=1) if self.n_threads < usable_cpus() else None
        self._pending = {}

    def _gather(self, order_seed, epoch):
        from .._kernels.cpu.epoch_order import epoch_gather, epoch_permutation

        slot = epoch % 2
        order, buffers = self._orders[slot], self._buffers[slot]
        # inline (every core runs the kernel), the kernel's threads compute the
        # order; on the helper thread, that one thread does
        n_threads = self.n_threads if self._pool is None else 1
        derive = _EPOCH_ARGUMENTS.get(self.training.kernel)
        if self._order_only:
            epoch_permutation(self._n, order_seed, epoch, order, n_threads=n_threads)
            if derive is None:
                return {"order": order}
            return {"order": order, **derive(self.training.samples, order, epoch, self.training.scalars)}
        # one pass: each position's sample computed and its three fields copied
        # (the order itself is kept only for the kernels that read it)
        samples = self.training.samples
        user_name, item_name, *value_name = self._gathered
        values, values_out = ((samples[value_name[0]], buffers[value_name[0]]) if value_name
                              else (self._no_values, self._no_values))
        epoch_gather(order_seed, epoch, samples[user_name], samples[item_name], values,
                     buffers[user_name], buffers[item_name], values_out,
                     order if derive is not None else self._no_order, n_threads=n_threads)
        if derive is None:
            return buffers
        return {**buffers, **derive(buffers, order, epoch, self.training.scalars)}

    def _prepare(self, order_seed, epoch):
        submit = self._pool.submit if self._pool is not None else _completed
        self._pending[epoch] = submit(self._gather, order_seed, epoch)

    def run_epoch(self, *, t_start, order_seed, epoch, next_epoch=None, t_span=None):
        """Train epoch ``epoch`` (preparing ``next_epoch`` meanwhile); return its :class:`EpochLoss`.

        ``t_span``: the steps of the clock the epoch's samples span (None: one
        each), for kernels that take it (``mf_epoch``).
        """
        clock = _clock(self.training.kernel, self._spans, self._n, t_start, t_span)
        if epoch not in self._pending:
            self._prepare(order_seed, epoch)
        epoch_data = self._pending.pop(epoch).result()
        if next_epoch is not None and self._pool is not None:
            self._prepare(order_seed, next_epoch)
        return _run_epoch_kernel(self._kernel, self.n_threads, **epoch_data, **self._fixed, **clock)

    def write_back(self):
        """Nothing to copy: the kernels trained the estimator's arrays in place."""

    @staticmethod
    def projected_factors(prefix, table):
        """The plain (n_rows, k) factor table of a projected table (``table.collapse()``, in NumPy)."""
        return table.collapse()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()


def projected_arrays(prefix, table, state, dtype):
    """A projected table and its solver state named as the kernels take them (:func:`.specs.projected_table`)."""
    return {**table.kernel_kwargs(prefix),
            **solver_arrays(prefix, state, {"bias": (f"{prefix}_bias_accum", None)}, dtype)}


def mf_projected_epoch(*, device, user_index, item_index, ratings, user_table, item_table,
                       user_bias, item_bias, user_state, item_state, config, dense_learning_rate,
                       dense_batch_size, global_mean, alpha, alpha_bias, t_start, n_threads):
    """One epoch of MF with projected rows (factored or mixed tables) over samples in the order given; returns the SSE."""
    _require_cpu(device, "projected-row matrix factorization")
    dtype = ratings.dtype
    arrays = {"user_bias": user_bias, "item_bias": item_bias,
              **projected_arrays("user", user_table, user_state, dtype),
              **projected_arrays("item", item_table, item_state, dtype)}
    scalars = {**config, "global_mean": float(global_mean), "n_factors": int(user_table.n_factors),
               "dense_learning_rate": float(dense_learning_rate), "alpha": float(alpha),
               "alpha_bias": float(alpha_bias), "t_start": int(t_start),
               "max_activation": max(user_table.max_activation, item_table.max_activation),
               "max_width": max(user_table.max_width, item_table.max_width),
               "dense_batch_size": int(dense_batch_size)}
    samples = {"user_index": user_index, "item_index": item_index, "ratings": ratings}
    return _run_checked("mf_projected_epoch", samples, arrays, scalars, n_threads)


def mf_predict(*, user_index, item_index, global_mean, user_factors, item_factors, user_bias,
               item_bias, n_threads):
    """mu + b_u + b_i + p_u . q_i for encoded rows; -1 marks an unknown id."""
    n_users, n_items = user_bias.shape[0], item_bias.shape[0]
    for index, n_rows, name in ((user_index, n_users, "user_index"), (item_index, n_items, "item_index")):
        if index.dtype != np.int32 or not index.flags.c_contiguous:
            raise TypeError(f"internal error: {name} must be C-contiguous int32")
        if index.shape[0] and (index.min() < -1 or index.max() >= n_rows):
            raise ValueError(f"internal error: {name} holds a row outside [-1, {n_rows})")
    dtype = user_factors.dtype
    _check_same_dtype(dtype, item_factors=item_factors, user_bias=user_bias, item_bias=item_bias)
    out = np.empty(user_index.shape[0], dtype=dtype)

    kernel = kernel_module("mf").mf_predict

    kernel(user_index=user_index, item_index=item_index, global_mean=float(global_mean),
           user_factors=user_factors, item_factors=item_factors, user_bias=user_bias,
           item_bias=item_bias, out=out, n_threads=int(n_threads))
    return out


def _check_order(order, n_rows):
    if order.dtype != np.int64 or not order.flags.c_contiguous:
        raise TypeError(f"internal error: order must be C-contiguous int64, got {order.dtype}")
    if order.shape[0] and (order.min() < 0 or order.max() >= n_rows):
        raise ValueError(f"internal error: order holds a row outside [0, {n_rows})")


def fm_arrays(intercept, intercept_accum, feature_bias, state, dtype, feature_factors=None, table=None):
    """The FM's parameters and solver state named as its kernels take them: plain factor rows
    (``feature_factors``, for ``fm_epoch``) or a projected ``table`` (``fm_projected_epoch``)."""
    arrays = {"intercept": intercept, "intercept_accum": intercept_accum, "feature_bias": feature_bias}
    if table is not None:
        return {**arrays, **projected_arrays("feature", table, state, dtype)}
    k = feature_factors.shape[1]
    return {**arrays, "feature_factors": feature_factors,
            **solver_arrays("feature", state, {"factors": ("feature_factors_accum", k),
                                               "bias": ("feature_bias_accum", None)}, dtype)}


def fm_epoch(*, device, indptr, indices, data, targets, order, task, intercept, intercept_accum,
             feature_bias, feature_factors, state, config, dense_learning_rate, alpha, alpha_bias, t_start,
             n_threads, hot_rows):
    """One epoch of the factorization machine over CSR rows in ``order``; returns the summed loss.

    ``task`` is 0 (regression, squared error) or 1 (classification, log loss);
    ``intercept`` is a 1-element array updated in place; ``intercept_accum``
    its Adagrad accumulator (1 element) or empty. ``hot_rows``: sorted int32
    feature rows that each thread steps on a private copy when
    ``n_threads > 1`` (see :func:`hot_rows`; at most ``MAX_HOT_ROWS``), or an
    empty array.
    """
    _require_cpu(device, "FactorizationMachine")
    _check_order(order, targets.shape[0])
    arrays = fm_arrays(intercept, intercept_accum, feature_bias, state, targets.dtype, feature_factors=feature_factors)
    scalars = {**config, "task": int(task), "dense_learning_rate": float(dense_learning_rate), "alpha": float(alpha),
               "alpha_bias": float(alpha_bias), "t_start": int(t_start)}
    samples = {"indptr": indptr, "indices": indices, "data": data, "targets": targets}
    return _run_checked("fm_epoch", samples, arrays, scalars, n_threads, order=order,
                        **_hot_row_keywords(hot_rows, indptr, feature_bias.shape[0]))


def fm_projected_epoch(*, device, indptr, indices, data, targets, order, task, intercept, intercept_accum,
                       feature_bias, table, state, config, dense_learning_rate, dense_batch_size, alpha,
                       alpha_bias, t_start, n_threads):
    """One epoch of the factorization machine with projected factor rows; returns the summed loss.

    ``table`` is the :class:`~recfreq._projection.ProjectedTable` of the
    feature rows (its rows, projections and their Adagrad accumulators are
    updated in place); the rest is as in :func:`fm_epoch`.
    """
    _require_cpu(device, "FactorizationMachine")
    _check_order(order, targets.shape[0])
    arrays = fm_arrays(intercept, intercept_accum, feature_bias, state, targets.dtype, table=table)
    scalars = {**config, "task": int(task), "n_factors": int(table.n_factors),
               "dense_learning_rate": float(dense_learning_rate), "alpha": float(alpha),
               "alpha_bias": float(alpha_bias), "t_start": int(t_start), "max_nnz": max(1, max_row_nnz(indptr)),
               "max_activation": table.max_activation, "max_width": table.max_width,
               "dense_batch_size": int(dense_batch_size)}
    samples = {"indptr": indptr, "indices": indices, "data": data, "targets": targets}
    return _run_checked("fm_projected_epoch", samples, arrays, scalars, n_threads, order=order)


def fm_ranking_epoch(*, device, ctx_indptr, ctx_indices, ctx_data, user_index, item_index, order, item_indptr,
                     item_indices, item_data, positive_indptr, positive_indices, ranking_loss, n_negatives,
                     max_sampled, warp_weights, sample_seed, order_epoch, intercept, intercept_accum, feature_bias,
                     feature_factors, state, feature_frequency, config, dense_learning_rate, alpha, alpha_bias,
                     t_start, n_threads):
    """One epoch of the factorization machine under a ranking loss over positives in ``order``.

    The one-shot form of the bound ``fm_ranking_epoch`` (same check, same
    kernel), for tests: position p's positive is row ``order[p]`` of the
    context parts ``ctx_*`` with user ``user_index[order[p]]`` and item
    ``item_index[order[p]]``, whose part is row ``item`` of ``item_*``; its own
    index ``order[p]`` keys its negatives. ``feature_frequency``: fa-sgd's
    expected steps per positive of each feature row (or empty). Returns the
    summed loss.
    """
    _require_cpu(device, "FactorizationMachine")
    _check_order(order, user_index.shape[0])
    dtype = feature_bias.dtype
    arrays = fm_arrays(intercept, intercept_accum, feature_bias, state, dtype, feature_factors=feature_factors)
    arrays.update(item_indptr=item_indptr, item_indices=item_indices, item_data=item_data,
                  positive_indptr=positive_indptr, positive_indices=positive_indices, warp_weights=warp_weights,
                  feature_frequency=feature_frequency)
    scalars = {**config, "dense_learning_rate": float(dense_learning_rate), "alpha": float(alpha),
               "alpha_bias": float(alpha_bias), "t_start": int(t_start), "ranking_loss": int(ranking_loss),
               "n_negatives": int(n_negatives), "max_sampled": int(max_sampled),
               "n_items": int(item_indptr.shape[0] - 1), "sample_seed": int(sample_seed),
               "order_epoch": int(order_epoch)}
    samples = {"ctx_indptr": ctx_indptr, "ctx_indices": ctx_indices, "ctx_data": ctx_data,
               "user_index": user_index, "item_index": item_index}
    return _run_checked("fm_ranking_epoch", samples, arrays, scalars, n_threads, order=order)


def fm_predict(*, indptr, indices, data, intercept, feature_bias, feature_factors, n_threads):
    """Raw FM scores w0 + sum w_j x_j + pairwise term of each CSR row."""
    dtype = feature_bias.dtype
    n_rows = indptr.shape[0] - 1
    _check_csr(indptr, indices, data, n_rows, feature_bias.shape[0], dtype)
    _check_same_dtype(dtype, feature_factors=feature_factors)
    if feature_factors.shape[0] != feature_bias.shape[0]:
        raise ValueError("internal error: feature_factors does not match feature_bias")
    out = np.empty(n_rows, dtype=dtype)

    kernel = kernel_module("fm").fm_predict

    kernel(indptr=indptr, indices=indices, data=data, intercept=float(intercept), feature_bias=feature_bias,
           feature_factors=feature_factors, out=out, n_threads=int(n_threads))
    return out


def ncf_epoch(*, device, user_index, item_index, labels, sample_start, sample_index, n_factors, mlp_dim,
              layer_sizes, user_gmf, item_gmf, user_mlp, item_mlp, dense, positive_indptr, positive_indices,
              n_negatives, negatives, sample_seed, order_epoch, user_state, item_state, user_frequency,
              item_frequency, config, dense_learning_rate, dense_accum, dense_batch_size, alpha, t_start,
              n_threads, dropout=0.0):
    """One epoch of NeuralCF (GMF / MLP / NeuMF) over rows in the order given; returns the summed log loss.

    The one-shot form of the bound ``ncf_epoch`` (same check, same kernel), for
    tests. ``sample_start``: the exclusive cumulative sum of the samples each
    row emits; ``sample_index``: each row's own index in the training data,
    which with ``(sample_seed, order_epoch)`` keys the row's random draws.
    ``user_frequency``/``item_frequency``: the fa-sgd shares p_r of the
    emitted samples (sampled negatives included), or empty arrays.
    ``negatives``: (n_rows, n_negatives) int32 to replace sampling (test hook),
    or an empty (0, n_negatives) array. ``dropout``: in [0, 1), the tower's
    training-time dropout rate (0: none, and no random draws for it).
    """
    _require_cpu(device, "NeuralCF")
    dtype = labels.dtype
    check_sample_start(labels, sample_start, n_negatives)
    check_sample_index(sample_index, labels.shape[0])
    arrays = {"layer_sizes": np.ascontiguousarray(layer_sizes, dtype=np.int32), "user_gmf": user_gmf,
              "item_gmf": item_gmf, "user_mlp": user_mlp, "item_mlp": item_mlp, "dense": dense,
              "positive_indptr": positive_indptr, "positive_indices": positive_indices, "negatives": negatives,
              "user_frequency": user_frequency, "item_frequency": item_frequency,
              "user_counter": user_state.counter, "item_counter": item_state.counter,
              "user_last_seen": user_state.last_seen, "item_last_seen": item_state.last_seen,
              "user_gmf_accum": user_state.accumulator("gmf", dtype).reshape(-1),
              "item_gmf_accum": item_state.accumulator("gmf", dtype).reshape(-1),
              "user_mlp_accum": user_state.accumulator("mlp", dtype).reshape(-1),
              "item_mlp_accum": item_state.accumulator("mlp", dtype).reshape(-1), "dense_accum": dense_accum}
    scalars = {**config, "n_factors": int(n_factors), "mlp_dim": int(mlp_dim), "n_items": int(item_state.n_rows),
               "n_negatives": int(n_negatives), "sample_seed": int(sample_seed), "order_epoch": int(order_epoch),
               "dense_learning_rate": float(dense_learning_rate), "alpha": float(alpha), "dropout": float(dropout),
               "dense_batch_size": int(dense_batch_size), "t_start": int(t_start)}
    samples = {"user_index": user_index, "item_index": item_index, "labels": labels, "sample_start": sample_start,
               "sample_index": sample_index}
    return _run_checked("ncf_epoch", samples, arrays, scalars, n_threads)


def ncf_sample_negatives(*, user_index, sample_index, positive_indptr, positive_indices, n_items, n_negatives,
                         sample_seed, order_epoch, n_threads):
    """The NeuralCF epoch's negative sampler alone: (len(user_index), n_negatives) int32 items.

    Row i gets exactly the negatives ``ncf_epoch`` draws for a positive row of
    user ``user_index[i]`` whose own index is ``sample_index[i]``, under the
    same ``(sample_seed, order_epoch)``, whatever ``n_threads``.
    """
    n_users = positive_indptr.shape[0] - 1
    check_index(user_index, n_users, "user_index")
    check_sample_index(sample_index, user_index.shape[0])
    _check_positive_csr(positive_indptr, positive_indices, n_users, int(n_items))
    if int(n_items) < 1 or int(n_negatives) < 0:
        raise ValueError("internal error: need n_items >= 1 and n_negatives >= 0")
    out = np.empty((user_index.shape[0], int(n_negatives)), dtype=np.int32)

    kernel = kernel_module("ncf").ncf_sample_negatives

    kernel(user_index=user_index, sample_index=sample_index, positive_indptr=positive_indptr,
           positive_indices=positive_indices, n_items=int(n_items), n_negatives=int(n_negatives),
           sample_seed=int(sample_seed), order_epoch=int(order_epoch), out=out, n_threads=int(n_threads))
    return out
