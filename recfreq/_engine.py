"""The only module that calls compiled code.

Estimators describe one epoch as arrays and scalars; this module checks the
few invariants a nogil kernel relies on (dtypes, contiguity, index ranges),
chooses the CPU or CUDA implementation and calls it with keyword arguments.
Keeping every call site here means a kernel's signature changes in one place.
"""

import numpy as np

from ._backend import import_cupy
from ._solvers import ADAGRAD_EPSILON, MAX_HOT_ROWS, Solver

__all__ = ["check_device", "solver_config", "table_kwargs", "baseline_epoch", "mf_epoch", "mf_predict", "fm_epoch", "fm_projected_epoch", "fm_predict",
           "ncf_epoch", "ncf_sample_negatives"]


def solver_config(solver, learning_rate, frequency_exponent, counter_halflife):
    """Scalar solver settings as the kernels take them."""
    return dict(
        solver=int(solver),
        learning_rate=float(learning_rate),
        frequency_exponent=float(frequency_exponent),
        counter_halflife=0.0 if counter_halflife is None else float(counter_halflife),
        epsilon=ADAGRAD_EPSILON,
    )


def table_kwargs(prefix, state):
    """Per-row frequency state of one table (see :class:`recfreq._solvers.TableState`)."""
    return {
        f"{prefix}_frequency": state.frequency(),
        f"{prefix}_counter": state.counter,
        f"{prefix}_last_seen": state.last_seen,
    }


#: Each thread counts its samples in thread_work[thread * WORK_STRIDE] (one
#: cache line per thread; the same constant as in ``_ext/_openmp.pxd``).
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


def _check_index(index, n_rows, name):
    if index.dtype != np.int32 or not index.flags.c_contiguous:
        raise TypeError(f"internal error: {name} must be C-contiguous int32, got {index.dtype}")
    if index.shape[0] and (index.min() < 0 or index.max() >= n_rows):
        raise ValueError(f"internal error: {name} holds a row outside [0, {n_rows}); refusing to run the kernel")


def _check_same_length(**arrays):
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"internal error: per-sample arrays differ in length: {lengths}")


def _check_same_dtype(dtype, **arrays):
    for name, array in arrays.items():
        if array.dtype != dtype or not array.flags.c_contiguous:
            raise TypeError(f"internal error: {name} must be C-contiguous {dtype}, got {array.dtype}")


def _check_state_rows(n_rows, **arrays):
    for name, array in arrays.items():
        if array.shape[0] not in (0, n_rows):
            raise ValueError(f"internal error: {name} has {array.shape[0]} rows, expected {n_rows}")


def _check_solver_state(config, n_rows, tables, accumulators=None):
    """Every array the configured solver reads must be there, at its full size.

    The kernels branch on the solver code alone and index these arrays
    without checks: state allocated for another solver (a ``set_params``
    between calls) would be read through an empty array. ``tables`` are one
    table's frequency / counter / last-seen arrays (as :func:`table_kwargs`
    names them); ``accumulators`` maps each Adagrad accumulator's name to
    (array, expected length).
    """
    kind = config["solver"]
    needed = []
    for name, array in tables.items():
        if name.endswith("_frequency") and kind == Solver.FA_SGD:
            needed.append((name, array, n_rows))
        elif name.endswith("_counter") and kind == Solver.CF_SGD:
            needed.append((name, array, n_rows))
        elif name.endswith("_last_seen") and kind == Solver.CF_SGD and config["counter_halflife"] > 0:
            needed.append((name, array, n_rows))
    if kind == Solver.ADAGRAD:
        needed += [(name, array, size) for name, (array, size) in (accumulators or {}).items()]
    for name, array, size in needed:
        if array.shape[0] != size:
            raise ValueError(f"internal error: solver {Solver(kind).public_name!r} needs {name} with {size} "
                             f"entries, got {array.shape[0]}; refusing to run the kernel")


def check_device(device, model):
    """Raise now, before any allocation, if ``device`` cannot run ``model``."""
    _require_cpu(device, model)


def _require_cpu(device, model):
    if device == "cuda":
        import_cupy()  # a clear ImportError first if CuPy or the GPU is missing
        raise NotImplementedError(
            f"device='cuda' is not implemented for {model} yet; use device='cpu'."
        )


def baseline_epoch(*, device, user_index, item_index, ratings, user_bias, item_bias,
                   user_state, item_state, config, global_mean, alpha, t_start, n_threads):
    """One epoch of the biases-only model; returns the sum of squared errors."""
    _require_cpu(device, "BaselinePredictor")
    n_users, n_items = user_bias.shape[0], item_bias.shape[0]
    _check_index(user_index, n_users, "user_index")
    _check_index(item_index, n_items, "item_index")
    _check_same_length(user_index=user_index, item_index=item_index, ratings=ratings)
    user_accum = user_state.accumulator("bias", ratings.dtype)
    item_accum = item_state.accumulator("bias", ratings.dtype)
    _check_same_dtype(ratings.dtype, user_bias=user_bias, item_bias=item_bias,
                      user_accum=user_accum, item_accum=item_accum)
    user_tables = table_kwargs("user", user_state)
    item_tables = table_kwargs("item", item_state)
    _check_state_rows(n_users, user_accum=user_accum, **user_tables)
    _check_state_rows(n_items, item_accum=item_accum, **item_tables)
    _check_solver_state(config, n_users, user_tables, {"user_bias_accum": (user_accum, n_users)})
    _check_solver_state(config, n_items, item_tables, {"item_bias_accum": (item_accum, n_items)})

    from ._ext._baseline import baseline_epoch as kernel

    return _run_epoch_kernel(kernel, n_threads,
        user_index=user_index, item_index=item_index, ratings=ratings,
        global_mean=float(global_mean), user_bias=user_bias, item_bias=item_bias,
        alpha=float(alpha), t_start=int(t_start),
        user_bias_accum=user_accum, item_bias_accum=item_accum,
        **config, **user_tables, **item_tables,
    )


def mf_epoch(*, device, user_index, item_index, ratings, user_factors, item_factors,
             user_bias, item_bias, user_state, item_state, config, global_mean, alpha, alpha_bias,
             t_start, n_threads):
    """One epoch of biased matrix factorization; returns the sum of squared errors."""
    _require_cpu(device, "MatrixFactorization")
    n_users, n_items = user_bias.shape[0], item_bias.shape[0]
    _check_index(user_index, n_users, "user_index")
    _check_index(item_index, n_items, "item_index")
    _check_same_length(user_index=user_index, item_index=item_index, ratings=ratings)
    if user_factors.shape[0] != n_users or item_factors.shape[0] != n_items \
            or user_factors.shape[1] != item_factors.shape[1]:
        raise ValueError("internal error: factor tables do not match the bias tables")
    dtype = ratings.dtype
    accum = {
        "user_factors_accum": user_state.accumulator("factors", dtype).reshape(-1, user_factors.shape[1]),
        "item_factors_accum": item_state.accumulator("factors", dtype).reshape(-1, item_factors.shape[1]),
        "user_bias_accum": user_state.accumulator("bias", dtype),
        "item_bias_accum": item_state.accumulator("bias", dtype),
    }
    _check_same_dtype(dtype, user_factors=user_factors, item_factors=item_factors,
                      user_bias=user_bias, item_bias=item_bias, **accum)
    user_tables, item_tables = table_kwargs("user", user_state), table_kwargs("item", item_state)
    _check_state_rows(n_users, user_factors_accum=accum["user_factors_accum"],
                      user_bias_accum=accum["user_bias_accum"], **user_tables)
    _check_state_rows(n_items, item_factors_accum=accum["item_factors_accum"],
                      item_bias_accum=accum["item_bias_accum"], **item_tables)
    _check_solver_state(config, n_users, user_tables, {"user_factors_accum": (accum["user_factors_accum"], n_users),
                                                       "user_bias_accum": (accum["user_bias_accum"], n_users)})
    _check_solver_state(config, n_items, item_tables, {"item_factors_accum": (accum["item_factors_accum"], n_items),
                                                       "item_bias_accum": (accum["item_bias_accum"], n_items)})

    from ._ext._mf import mf_epoch as kernel

    return _run_epoch_kernel(kernel, n_threads,
        user_index=user_index, item_index=item_index, ratings=ratings,
        global_mean=float(global_mean), user_factors=user_factors, item_factors=item_factors,
        user_bias=user_bias, item_bias=item_bias, alpha=float(alpha), alpha_bias=float(alpha_bias),
        t_start=int(t_start), **config, **accum, **user_tables, **item_tables,
    )


def mf_projected_epoch(*, device, user_index, item_index, ratings, user_table, item_table,
                       user_bias, item_bias, user_state, item_state, config, dense_learning_rate,
                       dense_batch_size, global_mean, alpha, alpha_bias, t_start, n_threads):
    """One epoch of MF with projected rows (factored or mixed tables); returns the SSE."""
    _require_cpu(device, "projected-row matrix factorization")
    n_users, n_items = user_bias.shape[0], item_bias.shape[0]
    _check_index(user_index, n_users, "user_index")
    _check_index(item_index, n_items, "item_index")
    _check_same_length(user_index=user_index, item_index=item_index, ratings=ratings)
    if user_table.n_rows != n_users or item_table.n_rows != n_items:
        raise ValueError("internal error: projected tables do not match the bias tables")
    if user_table.n_factors != item_table.n_factors:
        raise ValueError("internal error: user and item tables project to different widths")
    if int(dense_batch_size) < 1:
        raise ValueError("internal error: dense_batch_size must be >= 1")
    dtype = ratings.dtype
    arrays = {**user_table.kernel_kwargs("user"), **item_table.kernel_kwargs("item")}
    for table in (user_table, item_table):
        table.check_layout()
    _check_same_dtype(dtype, user_bias=user_bias, item_bias=item_bias,
                      user_bias_accum=user_state.accumulator("bias", dtype),
                      item_bias_accum=item_state.accumulator("bias", dtype),
                      **{name: a for name, a in arrays.items() if a.dtype.kind == "f"})
    user_tables, item_tables = table_kwargs("user", user_state), table_kwargs("item", item_state)
    _check_state_rows(n_users, **user_tables)
    _check_state_rows(n_items, **item_tables)
    for prefix, table, state, tables in (("user", user_table, user_state, user_tables),
                                         ("item", item_table, item_state, item_tables)):
        _check_solver_state(config, table.n_rows, tables, {
            f"{prefix}_bias_accum": (state.accumulator("bias", dtype), table.n_rows),
            f"{prefix}_rows_accum": (table.rows_accum, table.rows.shape[0]),
            f"{prefix}_dense_accum": (table.dense_accum, table.dense.shape[0])})

    from ._ext._mf import mf_projected_epoch as kernel

    return _run_epoch_kernel(kernel, n_threads,
        user_index=user_index, item_index=item_index, ratings=ratings, global_mean=float(global_mean),
        n_factors=int(user_table.n_factors), user_bias=user_bias, item_bias=item_bias,
        dense_learning_rate=float(dense_learning_rate), alpha=float(alpha), alpha_bias=float(alpha_bias),
        t_start=int(t_start), user_bias_accum=user_state.accumulator("bias", dtype),
        item_bias_accum=item_state.accumulator("bias", dtype),
        max_activation=max(user_table.max_activation, item_table.max_activation),
        max_width=max(user_table.max_width, item_table.max_width),
        dense_batch_size=int(dense_batch_size), **config, **arrays, **user_tables, **item_tables,
    )


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

    from ._ext._mf import mf_predict as kernel

    kernel(user_index=user_index, item_index=item_index, global_mean=float(global_mean),
           user_factors=user_factors, item_factors=item_factors, user_bias=user_bias,
           item_bias=item_bias, out=out, n_threads=int(n_threads))
    return out


def _check_csr(indptr, indices, data, n_rows, n_features, dtype):
    """The CSR invariants the FM kernels read without bounds checks."""
    if indptr.dtype != np.int64 or not indptr.flags.c_contiguous:
        raise TypeError(f"internal error: indptr must be C-contiguous int64, got {indptr.dtype}")
    _check_same_dtype(np.dtype(np.int32), indices=indices)
    _check_same_dtype(dtype, data=data)
    if indptr.shape[0] != n_rows + 1 or indptr[0] != 0:
        raise ValueError(f"internal error: indptr must have {n_rows + 1} entries starting at 0")
    if (np.diff(indptr) < 0).any() or indptr[-1] != indices.shape[0] or indices.shape[0] != data.shape[0]:
        raise ValueError("internal error: indptr is not a valid CSR pointer array for indices/data")
    if indices.shape[0] and (indices.min() < 0 or indices.max() >= n_features):
        raise ValueError(f"internal error: a feature index lies outside [0, {n_features}); refusing to run the kernel")


def _hot_slot(hot_rows, n_features):
    """Check the hot-row set the FM kernel indexes unchecked; return its row -> slot map.

    ``hot_rows`` must be a 1-D C-contiguous int32 array of strictly increasing
    feature rows (so no row has two slots), at most ``MAX_HOT_ROWS`` of them
    (each thread copies them all). The map holds each row's index in
    ``hot_rows`` or -1; it is empty when ``hot_rows`` is.
    """
    if not isinstance(hot_rows, np.ndarray) or hot_rows.dtype != np.int32 or hot_rows.ndim != 1 \
            or not hot_rows.flags.c_contiguous:
        raise TypeError("internal error: hot_rows must be a 1-D C-contiguous int32 array")
    n_hot = hot_rows.shape[0]
    if n_hot > MAX_HOT_ROWS:
        raise ValueError(f"internal error: {n_hot} hot rows, at most {MAX_HOT_ROWS} allowed")
    if n_hot == 0:
        return np.empty(0, dtype=np.int32)
    if hot_rows[0] < 0 or hot_rows[-1] >= n_features or (np.diff(hot_rows) <= 0).any():
        raise ValueError(f"internal error: hot_rows must be strictly increasing rows in [0, {n_features}); "
                         "refusing to run the kernel")
    slot = np.full(n_features, -1, dtype=np.int32)
    slot[hot_rows] = np.arange(n_hot, dtype=np.int32)
    return slot


def _check_fm_epoch_inputs(device, indptr, indices, data, targets, order, task, intercept, feature_bias):
    """Checks shared by both FM epochs; returns (dtype, n_rows, n_features)."""
    _require_cpu(device, "FactorizationMachine")
    dtype = targets.dtype
    n_rows, n_features = targets.shape[0], feature_bias.shape[0]
    _check_csr(indptr, indices, data, n_rows, n_features, dtype)
    if order.dtype != np.int64 or not order.flags.c_contiguous:
        raise TypeError(f"internal error: order must be C-contiguous int64, got {order.dtype}")
    if order.shape[0] and (order.min() < 0 or order.max() >= n_rows):
        raise ValueError(f"internal error: order holds a row outside [0, {n_rows})")
    if task not in (0, 1):
        raise ValueError(f"internal error: unknown task code {task!r}")
    if intercept.shape != (1,):
        raise ValueError("internal error: intercept must be a 1-element array")
    return dtype, n_rows, n_features


def fm_epoch(*, device, indptr, indices, data, targets, order, task, intercept, intercept_accum,
             feature_bias, feature_factors, state, config, dense_learning_rate, alpha, alpha_bias, t_start,
             n_threads, hot_rows):
    """One epoch of the factorization machine over CSR rows in ``order``; returns the summed loss.

    ``task`` is 0 (regression, squared error) or 1 (classification, log loss);
    ``intercept`` is a 1-element array updated in place; ``intercept_accum``
    its Adagrad accumulator (1 element) or empty. ``hot_rows``: sorted int32
    feature rows that each thread steps on a private copy when
    ``n_threads > 1`` (:meth:`~recfreq._solvers.TableState.hot_rows`; at most
    ``MAX_HOT_ROWS``), or an empty array.
    """
    dtype, n_rows, n_features = _check_fm_epoch_inputs(device, indptr, indices, data, targets, order, task,
                                                       intercept, feature_bias)
    if feature_factors.ndim != 2 or feature_factors.shape[0] != n_features:
        raise ValueError("internal error: feature_factors does not match feature_bias")
    k = feature_factors.shape[1]
    accum = {
        "feature_factors_accum": state.accumulator("factors", dtype).reshape(-1, k),
        "feature_bias_accum": state.accumulator("bias", dtype),
        "intercept_accum": intercept_accum,
    }
    _check_same_dtype(dtype, targets=targets, intercept=intercept, feature_bias=feature_bias,
                      feature_factors=feature_factors, **accum)
    tables = table_kwargs("feature", state)
    _check_state_rows(n_features, feature_factors_accum=accum["feature_factors_accum"],
                      feature_bias_accum=accum["feature_bias_accum"], **tables)
    _check_solver_state(config, n_features, tables, {
        "feature_factors_accum": (accum["feature_factors_accum"], n_features),
        "feature_bias_accum": (accum["feature_bias_accum"], n_features),
        "intercept_accum": (accum["intercept_accum"], 1)})
    hot_slot = _hot_slot(hot_rows, n_features)
    # the hot path keeps per-thread pointers to every non-zero's rows of a sample
    max_nnz = int(np.diff(indptr).max()) if n_rows and hot_rows.shape[0] else 0

    from ._ext._fm import fm_epoch as kernel

    return _run_epoch_kernel(kernel, n_threads,
        indptr=indptr, indices=indices, data=data, targets=targets, order=order, task=int(task),
        intercept=intercept, feature_bias=feature_bias, feature_factors=feature_factors,
        dense_learning_rate=float(dense_learning_rate), alpha=float(alpha), alpha_bias=float(alpha_bias),
        t_start=int(t_start), hot_rows=hot_rows, hot_slot=hot_slot, max_nnz=max(1, max_nnz),
        **config, **accum, **tables,
    )


def fm_projected_epoch(*, device, indptr, indices, data, targets, order, task, intercept, intercept_accum,
                       feature_bias, table, state, config, dense_learning_rate, dense_batch_size, alpha,
                       alpha_bias, t_start, n_threads):
    """One epoch of the factorization machine with projected factor rows; returns the summed loss.

    ``table`` is the :class:`~recfreq._projection.ProjectedTable` of the
    feature rows (its rows, projections and their Adagrad accumulators are
    updated in place); the rest is as in :func:`fm_epoch`.
    """
    dtype, n_rows, n_features = _check_fm_epoch_inputs(device, indptr, indices, data, targets, order, task,
                                                       intercept, feature_bias)
    if table.n_rows != n_features:
        raise ValueError("internal error: the projected table does not match feature_bias")
    if int(dense_batch_size) < 1:
        raise ValueError("internal error: dense_batch_size must be >= 1")
    table.check_layout()
    arrays = table.kernel_kwargs("feature")
    accum = {"feature_bias_accum": state.accumulator("bias", dtype), "intercept_accum": intercept_accum}
    _check_same_dtype(dtype, targets=targets, intercept=intercept, feature_bias=feature_bias, **accum,
                      **{name: a for name, a in arrays.items() if a.dtype.kind == "f"})
    tables = table_kwargs("feature", state)
    _check_state_rows(n_features, feature_bias_accum=accum["feature_bias_accum"], **tables)
    _check_solver_state(config, n_features, tables, {
        "feature_bias_accum": (accum["feature_bias_accum"], n_features),
        "intercept_accum": (accum["intercept_accum"], 1),
        "feature_rows_accum": (table.rows_accum, table.rows.shape[0]),
        "feature_dense_accum": (table.dense_accum, table.dense.shape[0])})
    # per-thread buffers hold the activations of every non-zero of a sample
    max_nnz = int(np.diff(indptr).max()) if n_rows else 0

    from ._ext._fm import fm_projected_epoch as kernel

    return _run_epoch_kernel(kernel, n_threads,
        indptr=indptr, indices=indices, data=data, targets=targets, order=order, task=int(task),
        intercept=intercept, feature_bias=feature_bias, n_factors=int(table.n_factors),
        dense_learning_rate=float(dense_learning_rate), alpha=float(alpha), alpha_bias=float(alpha_bias),
        t_start=int(t_start), max_nnz=max(1, max_nnz), max_activation=table.max_activation,
        max_width=table.max_width, dense_batch_size=int(dense_batch_size), **config, **accum, **arrays, **tables,
    )


def fm_predict(*, indptr, indices, data, intercept, feature_bias, feature_factors, n_threads):
    """Raw FM scores w0 + sum w_j x_j + pairwise term of each CSR row."""
    dtype = feature_bias.dtype
    n_rows = indptr.shape[0] - 1
    _check_csr(indptr, indices, data, n_rows, feature_bias.shape[0], dtype)
    _check_same_dtype(dtype, feature_factors=feature_factors)
    if feature_factors.shape[0] != feature_bias.shape[0]:
        raise ValueError("internal error: feature_factors does not match feature_bias")
    out = np.empty(n_rows, dtype=dtype)

    from ._ext._fm import fm_predict as kernel

    kernel(indptr=indptr, indices=indices, data=data, intercept=float(intercept), feature_bias=feature_bias,
           feature_factors=feature_factors, out=out, n_threads=int(n_threads))
    return out


def _check_positive_csr(indptr, indices, n_users, n_items):
    """The CSR of training positives the negative sampler binary-searches without bounds checks."""
    if indptr.dtype != np.int64 or not indptr.flags.c_contiguous:
        raise TypeError(f"internal error: positive_indptr must be C-contiguous int64, got {indptr.dtype}")
    _check_same_dtype(np.dtype(np.int32), positive_indices=indices)
    if indptr.shape[0] != n_users + 1 or indptr[0] != 0 or indptr[-1] != indices.shape[0]:
        raise ValueError(f"internal error: positive_indptr must have {n_users + 1} entries from 0 to nnz")
    if (np.diff(indptr) < 0).any():
        raise ValueError("internal error: positive_indptr is not non-decreasing")
    if indices.shape[0]:
        if indices.min() < 0 or indices.max() >= n_items:
            raise ValueError(f"internal error: a positive item lies outside [0, {n_items})")
        # strictly increasing within each row (binary search and the exact fallback rely on it)
        steps = np.diff(indices.astype(np.int64))
        row_starts = indptr[1:-1]
        inner = np.ones(steps.shape[0], dtype=bool)
        inner[row_starts[(row_starts > 0) & (row_starts < indices.shape[0])] - 1] = False
        if (steps[inner] <= 0).any():
            raise ValueError("internal error: positive items must be sorted and unique within each user")


def _check_seeds(seeds, n_threads):
    if seeds.dtype != np.uint64 or not seeds.flags.c_contiguous or seeds.ndim != 1:
        raise TypeError("internal error: seeds must be a C-contiguous 1-D uint64 array")
    if seeds.shape[0] < max(1, int(n_threads)):
        raise ValueError(f"internal error: {seeds.shape[0]} seeds for {n_threads} threads")


def ncf_epoch(*, device, user_index, item_index, labels, sample_start, n_factors, mlp_dim, layer_sizes,
              user_gmf, item_gmf, user_mlp, item_mlp, dense, positive_indptr, positive_indices,
              n_negatives, negatives, seeds, user_state, item_state, user_frequency, item_frequency,
              config, dense_learning_rate, dense_accum, dense_batch_size, alpha, t_start, n_threads,
              dropout=0.0):
    """One epoch of NeuralCF (GMF / MLP / NeuMF); returns the summed log loss.

    ``user_frequency``/``item_frequency``: the fa-sgd shares p_r of the
    emitted samples (sampled negatives included), or empty arrays.
    ``negatives``: (n_rows, n_negatives) int32 to replace sampling (test hook),
    or an empty (0, n_negatives) array.
    ``dropout``: in [0, 1), the tower's training-time dropout rate (0: none,
    and no random draws for it).
    """
    _require_cpu(device, "NeuralCF")
    dtype = labels.dtype
    n_users, n_items = user_state.n_rows, item_state.n_rows
    n_rows = labels.shape[0]
    _check_index(user_index, n_users, "user_index")
    _check_index(item_index, n_items, "item_index")
    _check_same_length(user_index=user_index, item_index=item_index, labels=labels, sample_start=sample_start)
    if sample_start.dtype != np.int64 or not sample_start.flags.c_contiguous:
        raise TypeError("internal error: sample_start must be C-contiguous int64")
    if n_rows:
        emitted = np.where(labels > 0.5, 1 + int(n_negatives), 1)
        if sample_start[0] != 0 or (np.diff(sample_start) != emitted[:-1]).any():
            raise ValueError("internal error: sample_start is not the exclusive cumulative sum of emitted samples")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("internal error: labels must be 0 or 1")
    k, d = int(n_factors), int(mlp_dim)
    layer_sizes = np.ascontiguousarray(layer_sizes, dtype=np.int32)
    if k < 0 or d < 0 or k + d == 0:
        raise ValueError("internal error: the network needs a GMF or an MLP part")
    if d > 0 and (layer_sizes.shape[0] < 1 or layer_sizes[0] != 2 * d or (layer_sizes < 1).any()
                  or layer_sizes.shape[0] - 1 > 32):
        raise ValueError("internal error: layer_sizes must start with 2 * mlp_dim and hold at most 32 layers")
    last = int(layer_sizes[-1]) if d > 0 else 0
    n_dense = sum(int(a) * int(b) + int(b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])) if d > 0 else 0
    n_dense += k + last + 1
    for table, rows, width, name in ((user_gmf, n_users, k, "user_gmf"), (item_gmf, n_items, k, "item_gmf"),
                                     (user_mlp, n_users, d, "user_mlp"), (item_mlp, n_items, d, "item_mlp")):
        if table.ndim != 2 or table.shape != (rows, width):
            raise ValueError(f"internal error: {name} has shape {table.shape}, expected {(rows, width)}")
    if dense.shape != (n_dense,):
        raise ValueError(f"internal error: dense has {dense.shape} entries, expected {n_dense}")
    accum = {
        "user_gmf_accum": user_state.accumulator("gmf", dtype).reshape(-1),
        "item_gmf_accum": item_state.accumulator("gmf", dtype).reshape(-1),
        "user_mlp_accum": user_state.accumulator("mlp", dtype).reshape(-1),
        "item_mlp_accum": item_state.accumulator("mlp", dtype).reshape(-1),
        "dense_accum": dense_accum,
    }
    _check_same_dtype(dtype, user_gmf=user_gmf, item_gmf=item_gmf, user_mlp=user_mlp, item_mlp=item_mlp,
                      dense=dense, **accum)
    expected = {"user_gmf_accum": n_users * k, "item_gmf_accum": n_items * k,
                "user_mlp_accum": n_users * d, "item_mlp_accum": n_items * d, "dense_accum": n_dense}
    _check_solver_state(config, 0, {}, {name: (accum[name], size) for name, size in expected.items()})
    _check_positive_csr(positive_indptr, positive_indices, n_users, n_items)
    if int(n_negatives) < 0:
        raise ValueError("internal error: n_negatives must be >= 0")
    if negatives.dtype != np.int32 or not negatives.flags.c_contiguous or negatives.ndim != 2:
        raise TypeError("internal error: negatives must be a C-contiguous 2-D int32 array")
    if negatives.shape[0]:
        if negatives.shape != (n_rows, int(n_negatives)):
            raise ValueError(f"internal error: negatives has shape {negatives.shape}, expected "
                             f"{(n_rows, int(n_negatives))}")
        if negatives.min() < 0 or negatives.max() >= n_items:
            raise ValueError(f"internal error: a negative item lies outside [0, {n_items})")
    elif n_rows and n_items < 1:
        raise ValueError("internal error: no items to sample negatives from")
    _check_seeds(seeds, n_threads)
    if int(dense_batch_size) < 1:
        raise ValueError("internal error: dense_batch_size must be >= 1")
    dropout = float(dropout)
    if not 0.0 <= dropout < 1.0:  # NaN fails too
        raise ValueError(f"internal error: dropout must lie in [0, 1), got {dropout!r}")
    tables = {
        "user_frequency": user_frequency, "item_frequency": item_frequency,
        "user_counter": user_state.counter, "item_counter": item_state.counter,
        "user_last_seen": user_state.last_seen, "item_last_seen": item_state.last_seen,
    }
    user_tables = {key: v for key, v in tables.items() if key.startswith("user")}
    item_tables = {key: v for key, v in tables.items() if key.startswith("item")}
    _check_state_rows(n_users, **user_tables)
    _check_state_rows(n_items, **item_tables)
    _check_solver_state(config, n_users, user_tables)
    _check_solver_state(config, n_items, item_tables)

    from ._ext._ncf import ncf_epoch as kernel

    return _run_epoch_kernel(kernel, n_threads,
        user_index=user_index, item_index=item_index, labels=labels, sample_start=sample_start,
        n_factors=k, mlp_dim=d, layer_sizes=layer_sizes, user_gmf=user_gmf, item_gmf=item_gmf,
        user_mlp=user_mlp, item_mlp=item_mlp, dense=dense, positive_indptr=positive_indptr,
        positive_indices=positive_indices, n_items=int(n_items), n_negatives=int(n_negatives),
        negatives=negatives, seeds=seeds, dense_learning_rate=float(dense_learning_rate),
        alpha=float(alpha), t_start=int(t_start), dense_batch_size=int(dense_batch_size),
        dropout=dropout, **config, **accum, **tables,
    )


def ncf_sample_negatives(*, user_index, positive_indptr, positive_indices, n_items, n_negatives, seeds,
                         n_threads):
    """The NeuralCF epoch's negative sampler alone: (len(user_index), n_negatives) int32 items."""
    n_users = positive_indptr.shape[0] - 1
    _check_index(user_index, n_users, "user_index")
    _check_positive_csr(positive_indptr, positive_indices, n_users, int(n_items))
    _check_seeds(seeds, n_threads)
    if int(n_items) < 1 or int(n_negatives) < 0:
        raise ValueError("internal error: need n_items >= 1 and n_negatives >= 0")
    out = np.empty((user_index.shape[0], int(n_negatives)), dtype=np.int32)

    from ._ext._ncf import ncf_sample_negatives as kernel

    kernel(user_index=user_index, positive_indptr=positive_indptr, positive_indices=positive_indices,
           n_items=int(n_items), n_negatives=int(n_negatives), seeds=seeds, out=out, n_threads=int(n_threads))
    return out
