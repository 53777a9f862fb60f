"""Input checks the compiled kernels rely on, run before a kernel is given its arrays.

Every kernel runs with bounds checks off and trusts its inputs, so each check
here stands between a bad value and corrupted memory: index ranges, lengths,
dtypes and contiguity, shapes, and that the solver state holds every array the
configured solver reads. A bound training call runs them once per bind (the
epochs that follow only reorder checked samples); the one-shot engine calls run
them every call.
"""

import numpy as np

from .._solvers import MAX_HOT_ROWS, Solver

__all__ = ["CHECKS", "check_baseline_epoch", "check_mf_epoch", "check_index"]


def check_index(index, n_rows, name):
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





def _check_rating_samples(a):
    """user_index, item_index, ratings: int32 rows in range, one per sample; returns (dtype, n_users, n_items)."""
    n_users, n_items = a["user_bias"].shape[0], a["item_bias"].shape[0]
    check_index(a["user_index"], n_users, "user_index")
    check_index(a["item_index"], n_items, "item_index")
    _check_same_length(user_index=a["user_index"], item_index=a["item_index"], ratings=a["ratings"])
    if a["ratings"].dtype not in (np.float32, np.float64) or not a["ratings"].flags.c_contiguous:
        raise TypeError(f"internal error: ratings must be C-contiguous float32 or float64, got {a['ratings'].dtype}")
    return a["ratings"].dtype, n_users, n_items


def _tables(a, prefix):
    return {name: a[name] for name in (f"{prefix}_frequency", f"{prefix}_counter", f"{prefix}_last_seen")}


def _check_table_arrays(a, prefix, n_rows):
    tables = _tables(a, prefix)
    for name, dtype in ((f"{prefix}_frequency", np.float64), (f"{prefix}_counter", np.float64),
                        (f"{prefix}_last_seen", np.int64)):
        _check_same_dtype(np.dtype(dtype), **{name: tables[name]})
    return tables


def check_baseline_epoch(a, scalars):
    """The arrays of ``baseline_epoch`` (spec names) are safe to hand to the kernel."""
    dtype, n_users, n_items = _check_rating_samples(a)
    _check_same_dtype(dtype, user_bias=a["user_bias"], item_bias=a["item_bias"],
                      user_bias_accum=a["user_bias_accum"], item_bias_accum=a["item_bias_accum"])
    for prefix, n_rows in (("user", n_users), ("item", n_items)):
        tables = _check_table_arrays(a, prefix, n_rows)
        accum = {f"{prefix}_bias_accum": a[f"{prefix}_bias_accum"]}
        _check_state_rows(n_rows, **accum, **tables)
        _check_solver_state(scalars, n_rows, tables, {name: (v, n_rows) for name, v in accum.items()})


def check_mf_epoch(a, scalars):
    """The arrays of ``mf_epoch`` (spec names) are safe to hand to the kernel."""
    dtype, n_users, n_items = _check_rating_samples(a)
    P, Q = a["user_factors"], a["item_factors"]
    if P.ndim != 2 or Q.ndim != 2 or P.shape[0] != n_users or Q.shape[0] != n_items or P.shape[1] != Q.shape[1]:
        raise ValueError("internal error: factor tables do not match the bias tables")
    k = P.shape[1]
    _check_same_dtype(dtype, user_factors=P, item_factors=Q, user_bias=a["user_bias"], item_bias=a["item_bias"],
                      **{name: a[name] for name in ("user_factors_accum", "item_factors_accum", "user_bias_accum",
                                                    "item_bias_accum")})
    if int(scalars.get("n_factors", k)) != k:
        raise ValueError(f"internal error: n_factors={scalars['n_factors']} but the tables have {k} columns")
    for prefix, n_rows in (("user", n_users), ("item", n_items)):
        tables = _check_table_arrays(a, prefix, n_rows)
        factors_accum, bias_accum = a[f"{prefix}_factors_accum"], a[f"{prefix}_bias_accum"]
        if factors_accum.shape[0] and factors_accum.shape[1:] != (k,):
            raise ValueError(f"internal error: {prefix}_factors_accum has shape {factors_accum.shape}")
        _check_state_rows(n_rows, **{f"{prefix}_factors_accum": factors_accum, f"{prefix}_bias_accum": bias_accum},
                          **tables)
        _check_solver_state(scalars, n_rows, tables, {f"{prefix}_factors_accum": (factors_accum, n_rows),
                                                      f"{prefix}_bias_accum": (bias_accum, n_rows)})


#: kernel name -> the check of its spec-named arrays and scalars
CHECKS = {"baseline_epoch": check_baseline_epoch, "mf_epoch": check_mf_epoch}
