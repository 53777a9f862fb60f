"""Input checks the compiled kernels rely on, run before a kernel is given its arrays.

Every kernel runs with bounds checks off and trusts its inputs, so each check
here stands between a bad value and corrupted memory: index ranges, lengths,
dtypes and contiguity, shapes, and that the solver state holds every array the
configured solver reads. A bound training call runs them once per bind (the
epochs that follow only reorder checked samples); the one-shot engine calls run
them every call.
"""

import numpy as np

from .._solvers import Solver
from .specs import projected_table

__all__ = ["CHECKS", "check_clock", "check_baseline_epoch", "check_mf_epoch", "check_mf_ranking_epoch",
           "check_mf_projected_epoch", "check_fm_epoch", "check_fm_ranking_epoch",
           "check_fm_projected_epoch", "check_ncf_epoch", "check_index", "check_projected_table",
           "check_sample_index", "check_sample_start", "ncf_dense_size"]


_LONG_LONG_MAX = int(np.iinfo(np.int64).max)


def check_clock(n_samples, t_start, t_span):
    """The clock of an epoch call of ``n_samples`` samples that spans ``t_span`` steps from ``t_start``.

    Sample i is step ``t_start + floor((i + 1) * t_span / n_samples)``
    (``mf_epoch``), computed in ``long long`` as ``(i + 1) * (t_span // n)
    + (i + 1) * (t_span % n) // n``: the stride must be at least 1 (every
    sample its own step, each later than the last), and neither the last step
    nor ``n * (t_span % n)`` may overflow. ``t_span=None`` is a stride of 1.
    Returns ``t_span`` as an int.
    """
    n, t_start = int(n_samples), int(t_start)
    t_span = n if t_span is None else int(t_span)
    if t_start < 0 or t_span < n:
        raise ValueError(f"internal error: the clock must start at t_start >= 0 and span at least one step per "
                         f"sample; got t_start={t_start}, t_span={t_span} for {n} samples")
    if t_start + t_span > _LONG_LONG_MAX or (n and n * (t_span % n) > _LONG_LONG_MAX):
        raise ValueError(f"internal error: a clock spanning {t_span} steps over {n} samples from {t_start} "
                         "overflows the kernel's 64-bit step counter")
    return t_span


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



def check_sample_index(sample_index, n_rows):
    """Each position's own row index (it keys NeuralCF's random draws): int64, non-negative."""
    if sample_index.dtype != np.int64 or not sample_index.flags.c_contiguous or sample_index.ndim != 1:
        raise TypeError(f"internal error: sample_index must be a C-contiguous 1-D int64 array, "
                        f"got {sample_index.dtype}")
    if sample_index.shape[0] != n_rows:
        raise ValueError(f"internal error: sample_index has {sample_index.shape[0]} entries for {n_rows} rows")
    if n_rows and sample_index.min() < 0:
        raise ValueError("internal error: sample_index holds a negative row index")


def check_sample_start(labels, sample_start, n_negatives):
    """``sample_start`` must be the exclusive cumulative sum of the samples each row emits."""
    if sample_start.dtype != np.int64 or not sample_start.flags.c_contiguous:
        raise TypeError("internal error: sample_start must be C-contiguous int64")
    _check_same_length(labels=labels, sample_start=sample_start)
    if labels.shape[0]:
        emitted = np.where(labels > 0.5, 1 + int(n_negatives), 1)
        if sample_start[0] != 0 or (np.diff(sample_start) != emitted[:-1]).any():
            raise ValueError("internal error: sample_start is not the exclusive cumulative sum of emitted samples")





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


#: the ranking losses the kernels know (recfreq/_ranking_losses.py numbers them)
RANKING_LOSS_CODES = (0, 1, 2)


def check_mf_ranking_epoch(a, scalars):
    """The arrays of ``mf_ranking_epoch`` (spec names) are safe to hand to the kernel.

    ``sample_index`` is derived per epoch by the CPU binding from the epoch
    order; the one-shot call checks the one it is given (:func:`check_sample_index`).
    """
    P, Q = a["user_factors"], a["item_factors"]
    dtype = P.dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"internal error: user_factors must be float32 or float64, got {dtype}")
    n_users, n_items = a["user_bias"].shape[0], a["item_bias"].shape[0]
    check_index(a["user_index"], n_users, "user_index")
    check_index(a["item_index"], n_items, "item_index")
    _check_same_length(user_index=a["user_index"], item_index=a["item_index"])
    if P.ndim != 2 or Q.ndim != 2 or P.shape[0] != n_users or Q.shape[0] != n_items or P.shape[1] != Q.shape[1]:
        raise ValueError("internal error: factor tables do not match the bias tables")
    k = P.shape[1]
    _check_same_dtype(dtype, user_factors=P, item_factors=Q, user_bias=a["user_bias"], item_bias=a["item_bias"],
                      **{name: a[name] for name in ("user_factors_accum", "item_factors_accum", "user_bias_accum",
                                                    "item_bias_accum")})
    if int(scalars.get("n_factors", k)) != k:
        raise ValueError(f"internal error: n_factors={scalars['n_factors']} but the tables have {k} columns")
    if int(scalars["n_items"]) != n_items:
        raise ValueError(f"internal error: n_items={scalars['n_items']} but the item table has {n_items} rows")
    if int(scalars["ranking_loss"]) not in RANKING_LOSS_CODES:
        raise ValueError(f"internal error: unknown ranking_loss {scalars['ranking_loss']!r}")
    if int(scalars["n_negatives"]) < 0 or int(scalars["max_sampled"]) < 1:
        raise ValueError("internal error: need n_negatives >= 0 and max_sampled >= 1")
    _check_positive_csr(a["positive_indptr"], a["positive_indices"], n_users, n_items)
    weights = a["warp_weights"]
    _check_same_dtype(np.dtype(np.float64), warp_weights=weights)
    if weights.ndim != 1 or weights.shape[0] != n_items + 1:
        raise ValueError(f"internal error: warp_weights must hold n_items + 1 = {n_items + 1} entries, "
                         f"got {weights.shape}")
    for prefix, n_rows in (("user", n_users), ("item", n_items)):
        tables = _check_table_arrays(a, prefix, n_rows)
        factors_accum, bias_accum = a[f"{prefix}_factors_accum"], a[f"{prefix}_bias_accum"]
        if factors_accum.shape[0] and factors_accum.shape[1:] != (k,):
            raise ValueError(f"internal error: {prefix}_factors_accum has shape {factors_accum.shape}")
        _check_state_rows(n_rows, **{f"{prefix}_factors_accum": factors_accum, f"{prefix}_bias_accum": bias_accum},
                          **tables)
        _check_solver_state(scalars, n_rows, tables, {f"{prefix}_factors_accum": (factors_accum, n_rows),
                                                      f"{prefix}_bias_accum": (bias_accum, n_rows)})


def _check_positive_int(scalars, name):
    if int(scalars[name]) < 1:
        raise ValueError(f"internal error: {name} must be >= 1, got {scalars[name]!r}")


def check_projected_table(a, prefix, n_rows, n_factors, dtype):
    """One table of projected rows (:func:`.specs.projected_table` names) is safe to hand to a kernel.

    Dtypes and contiguity, a row per bias row, and a layout that keeps the
    kernel inside its arrays: each row's group exists and its raw row lies in
    the storage, each group's chain of layers is in range, chains widths up
    and ends at ``n_factors``, and every layer lies in the dense storage.
    Returns (max_activation, max_width), the least per-thread buffer sizes
    the kernel may be given for this table.
    """
    t = {name[len(prefix) + 1:]: a[name] for name, _ in projected_table(prefix)}
    for key in ("row_offset", "layer_offset"):
        _check_same_dtype(np.dtype(np.int64), **{f"{prefix}_{key}": t[key]})
    for key in ("row_group", "group_in_dim", "group_n_layers", "group_first_layer", "layer_in", "layer_out"):
        _check_same_dtype(np.dtype(np.int32), **{f"{prefix}_{key}": t[key]})
    _check_same_dtype(dtype, **{f"{prefix}_{key}": t[key] for key in ("rows", "dense", "rows_accum", "dense_accum")})
    if t["row_offset"].shape[0] != n_rows or t["row_group"].shape[0] != n_rows:
        raise ValueError(f"internal error: the projected {prefix} table has {t['row_offset'].shape[0]} rows and does "
                         f"not match the {n_rows} rows of its bias table")
    n_groups = t["group_in_dim"].shape[0]
    if t["group_n_layers"].shape[0] != n_groups or t["group_first_layer"].shape[0] != n_groups \
            or t["layer_in"].shape[0] != t["layer_out"].shape[0] or t["layer_offset"].shape[0] < t["layer_in"].shape[0]:
        raise ValueError(f"internal error: the projected {prefix} table's group or layer arrays differ in length")
    problems = []
    if n_rows and (t["row_group"].min() < 0 or t["row_group"].max() >= n_groups):
        problems.append("row_group out of range")
    elif n_rows:
        widths = t["group_in_dim"][t["row_group"]].astype(np.int64)
        if t["row_offset"].min() < 0 or (t["row_offset"] + widths).max() > t["rows"].shape[0]:
            problems.append("row_offset out of range")
    max_activation, max_width = 1, int(n_factors)
    for g in range(n_groups):
        first, count = int(t["group_first_layer"][g]), int(t["group_n_layers"][g])
        if first < 0 or count < 0 or first + count > t["layer_in"].shape[0]:
            problems.append(f"group {g} layers out of range")
            continue
        dims = [int(t["group_in_dim"][g])]
        if dims[0] < 1:
            problems.append(f"group {g} has width {dims[0]}")
        for l in range(first, first + count):
            if t["layer_in"][l] != dims[-1]:
                problems.append(f"layer {l} input {t['layer_in'][l]} != {dims[-1]}")
            if t["layer_offset"][l] < 0 or \
                    t["layer_offset"][l] + int(t["layer_in"][l]) * int(t["layer_out"][l]) > t["dense"].shape[0]:
                problems.append(f"layer {l} outside the dense storage")
            dims.append(int(t["layer_out"][l]))
        if dims[-1] != n_factors:
            problems.append(f"group {g} ends at width {dims[-1]}, not {n_factors}")
        max_activation = max(max_activation, sum(dims[1:]))
        max_width = max(max_width, *dims[:-1]) if len(dims) > 1 else max(max_width, dims[0])
    for key, ref in (("rows_accum", "rows"), ("dense_accum", "dense")):
        if t[key].shape[0] not in (0, t[ref].shape[0]):
            problems.append(f"{key} has the wrong size")
    if problems:
        raise ValueError(f"internal error: inconsistent projected {prefix} table: " + "; ".join(problems))
    return max_activation, max_width


def _check_buffer_sizes(scalars, needed):
    """The per-thread buffer sizes given to a kernel are at least what its inputs need."""
    for name, least in needed.items():
        if int(scalars[name]) < least:
            raise ValueError(f"internal error: {name}={scalars[name]} but the inputs need at least {least}")


def check_mf_projected_epoch(a, scalars):
    """The arrays of ``mf_projected_epoch`` (spec names) are safe to hand to the kernel."""
    dtype, n_users, n_items = _check_rating_samples(a)
    k = int(scalars["n_factors"])
    _check_same_dtype(dtype, user_bias=a["user_bias"], item_bias=a["item_bias"],
                      user_bias_accum=a["user_bias_accum"], item_bias_accum=a["item_bias_accum"])
    _check_positive_int(scalars, "dense_batch_size")
    activation, width = 1, k
    for prefix, n_rows in (("user", n_users), ("item", n_items)):
        table_activation, table_width = check_projected_table(a, prefix, n_rows, k, dtype)
        activation, width = max(activation, table_activation), max(width, table_width)
        tables = _check_table_arrays(a, prefix, n_rows)
        _check_state_rows(n_rows, **{f"{prefix}_bias_accum": a[f"{prefix}_bias_accum"]}, **tables)
        _check_solver_state(scalars, n_rows, tables, {
            f"{prefix}_bias_accum": (a[f"{prefix}_bias_accum"], n_rows),
            f"{prefix}_rows_accum": (a[f"{prefix}_rows_accum"], a[f"{prefix}_rows"].shape[0]),
            f"{prefix}_dense_accum": (a[f"{prefix}_dense_accum"], a[f"{prefix}_dense"].shape[0])})
    _check_buffer_sizes(scalars, {"max_activation": activation, "max_width": width})


def _check_fm_samples(a, scalars):
    """The FM's CSR rows, targets, task and intercept; returns (dtype, n_rows, n_features)."""
    targets = a["targets"]
    if targets.dtype not in (np.float32, np.float64) or not targets.flags.c_contiguous or targets.ndim != 1:
        raise TypeError(f"internal error: targets must be C-contiguous 1-D float32 or float64, got {targets.dtype}")
    dtype, n_rows, n_features = targets.dtype, targets.shape[0], a["feature_bias"].shape[0]
    _check_csr(a["indptr"], a["indices"], a["data"], n_rows, n_features, dtype)
    if scalars["task"] not in (0, 1):
        raise ValueError(f"internal error: unknown task code {scalars['task']!r}")
    if a["intercept"].shape != (1,):
        raise ValueError("internal error: intercept must be a 1-element array")
    _check_same_dtype(dtype, intercept=a["intercept"], intercept_accum=a["intercept_accum"],
                      feature_bias=a["feature_bias"], feature_bias_accum=a["feature_bias_accum"])
    return dtype, n_rows, n_features


def max_row_nnz(indptr):
    """The most non-zeros of a CSR row (0 without rows): the kernels' per-sample buffer size."""
    return int(np.diff(indptr).max()) if indptr.shape[0] > 1 else 0


def check_fm_epoch(a, scalars):
    """The arrays of ``fm_epoch`` (spec names) are safe to hand to the kernel."""
    dtype, n_rows, n_features = _check_fm_samples(a, scalars)
    V = a["feature_factors"]
    if V.ndim != 2 or V.shape[0] != n_features:
        raise ValueError("internal error: feature_factors does not match feature_bias")
    k = V.shape[1]
    if int(scalars.get("n_factors", k)) != k:
        raise ValueError(f"internal error: n_factors={scalars['n_factors']} but feature_factors has {k} columns")
    factors_accum = a["feature_factors_accum"]
    if factors_accum.shape[0] and factors_accum.shape[1:] != (k,):
        raise ValueError(f"internal error: feature_factors_accum has shape {factors_accum.shape}")
    _check_same_dtype(dtype, feature_factors=V, feature_factors_accum=factors_accum)
    tables = _check_table_arrays(a, "feature", n_features)
    _check_state_rows(n_features, feature_factors_accum=factors_accum, feature_bias_accum=a["feature_bias_accum"],
                      **tables)
    _check_solver_state(scalars, n_features, tables, {
        "feature_factors_accum": (factors_accum, n_features),
        "feature_bias_accum": (a["feature_bias_accum"], n_features),
        "intercept_accum": (a["intercept_accum"], 1)})


def check_fm_ranking_epoch(a, scalars):
    """The arrays of ``fm_ranking_epoch`` (spec names) are safe to hand to the kernel.

    The CPU binding reads the positives through the epoch's order, which it
    computes itself; the one-shot call checks the one it is given.
    """
    V, w = a["feature_factors"], a["feature_bias"]
    dtype, n_features = w.dtype, w.shape[0]
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"internal error: feature_bias must be float32 or float64, got {dtype}")
    if V.ndim != 2 or V.shape[0] != n_features:
        raise ValueError("internal error: feature_factors does not match feature_bias")
    k = V.shape[1]
    if int(scalars.get("n_factors", k)) != k:
        raise ValueError(f"internal error: n_factors={scalars['n_factors']} but feature_factors has {k} columns")
    n_rows = a["user_index"].shape[0]
    n_items = int(scalars["n_items"])
    _check_csr(a["ctx_indptr"], a["ctx_indices"], a["ctx_data"], n_rows, n_features, dtype)
    _check_csr(a["item_indptr"], a["item_indices"], a["item_data"], n_items, n_features, dtype)
    n_users = a["positive_indptr"].shape[0] - 1
    check_index(a["user_index"], n_users, "user_index")
    check_index(a["item_index"], n_items, "item_index")
    _check_same_length(user_index=a["user_index"], item_index=a["item_index"])
    _check_positive_csr(a["positive_indptr"], a["positive_indices"], n_users, n_items)
    if int(scalars["ranking_loss"]) not in RANKING_LOSS_CODES:
        raise ValueError(f"internal error: unknown ranking_loss {scalars['ranking_loss']!r}")
    if int(scalars["n_negatives"]) < 0 or int(scalars["max_sampled"]) < 1:
        raise ValueError("internal error: need n_negatives >= 0 and max_sampled >= 1")
    weights = a["warp_weights"]
    _check_same_dtype(np.dtype(np.float64), warp_weights=weights)
    if weights.ndim != 1 or weights.shape[0] != n_items + 1:
        raise ValueError(f"internal error: warp_weights must hold n_items + 1 = {n_items + 1} entries")
    if a["intercept"].shape != (1,):
        raise ValueError("internal error: intercept must be a 1-element array")
    factors_accum = a["feature_factors_accum"]
    if factors_accum.shape[0] and factors_accum.shape[1:] != (k,):
        raise ValueError(f"internal error: feature_factors_accum has shape {factors_accum.shape}")
    _check_same_dtype(dtype, feature_factors=V, feature_factors_accum=factors_accum, intercept=a["intercept"],
                      intercept_accum=a["intercept_accum"], feature_bias_accum=a["feature_bias_accum"])
    tables = _check_table_arrays(a, "feature", n_features)
    _check_state_rows(n_features, feature_factors_accum=factors_accum, feature_bias_accum=a["feature_bias_accum"],
                      **tables)
    _check_solver_state(scalars, n_features, tables, {
        "feature_factors_accum": (factors_accum, n_features),
        "feature_bias_accum": (a["feature_bias_accum"], n_features),
        "intercept_accum": (a["intercept_accum"], 1)})


def check_fm_projected_epoch(a, scalars):
    """The arrays of ``fm_projected_epoch`` (spec names) are safe to hand to the kernel."""
    dtype, n_rows, n_features = _check_fm_samples(a, scalars)
    _check_positive_int(scalars, "dense_batch_size")
    activation, width = check_projected_table(a, "feature", n_features, int(scalars["n_factors"]), dtype)
    tables = _check_table_arrays(a, "feature", n_features)
    _check_state_rows(n_features, feature_bias_accum=a["feature_bias_accum"], **tables)
    _check_solver_state(scalars, n_features, tables, {
        "feature_bias_accum": (a["feature_bias_accum"], n_features),
        "intercept_accum": (a["intercept_accum"], 1),
        "feature_rows_accum": (a["feature_rows_accum"], a["feature_rows"].shape[0]),
        "feature_dense_accum": (a["feature_dense_accum"], a["feature_dense"].shape[0])})
    # per-thread buffers hold the activations of every non-zero of a sample
    _check_buffer_sizes(scalars, {"max_nnz": max(1, max_row_nnz(a["indptr"])), "max_activation": activation,
                                  "max_width": width})


def ncf_dense_size(n_factors, mlp_dim, layer_sizes):
    """Entries of NeuralCF's flat dense vector: the tower's W_l and b_l, then h and h0."""
    k, d = int(n_factors), int(mlp_dim)
    size = sum(int(a) * int(b) + int(b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])) if d > 0 else 0
    return size + k + (int(layer_sizes[-1]) if d > 0 else 0) + 1


def check_ncf_epoch(a, scalars):
    """The arrays of ``ncf_epoch`` (spec names) are safe to hand to the kernel.

    ``sample_start`` and ``sample_index`` are derived per epoch by the CPU
    binding from the checked labels and the epoch order; the one-shot call
    checks the ones it is given (:func:`check_sample_start`, :func:`check_sample_index`).
    """
    labels = a["labels"]
    dtype = labels.dtype
    if dtype not in (np.float32, np.float64) or not labels.flags.c_contiguous:
        raise TypeError(f"internal error: labels must be C-contiguous float32 or float64, got {dtype}")
    k, d, n_items = int(scalars["n_factors"]), int(scalars["mlp_dim"]), int(scalars["n_items"])
    n_users = a["user_gmf"].shape[0]
    n_negatives = int(scalars["n_negatives"])
    check_index(a["user_index"], n_users, "user_index")
    check_index(a["item_index"], n_items, "item_index")
    _check_same_length(user_index=a["user_index"], item_index=a["item_index"], labels=labels)
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("internal error: labels must be 0 or 1")
    layer_sizes = a["layer_sizes"]
    if layer_sizes.dtype != np.int32 or not layer_sizes.flags.c_contiguous or layer_sizes.ndim != 1:
        raise TypeError("internal error: layer_sizes must be a C-contiguous 1-D int32 array")
    if k < 0 or d < 0 or k + d == 0:
        raise ValueError("internal error: the network needs a GMF or an MLP part")
    if d > 0 and (layer_sizes.shape[0] < 1 or layer_sizes[0] != 2 * d or (layer_sizes < 1).any()
                  or layer_sizes.shape[0] - 1 > 32):
        raise ValueError("internal error: layer_sizes must start with 2 * mlp_dim and hold at most 32 layers")
    n_dense = ncf_dense_size(k, d, layer_sizes)
    for name, rows, width in (("user_gmf", n_users, k), ("item_gmf", n_items, k),
                              ("user_mlp", n_users, d), ("item_mlp", n_items, d)):
        if a[name].ndim != 2 or a[name].shape != (rows, width):
            raise ValueError(f"internal error: {name} has shape {a[name].shape}, expected {(rows, width)}")
    if a["dense"].shape != (n_dense,):
        raise ValueError(f"internal error: dense has {a['dense'].shape} entries, expected {n_dense}")
    accum_names = ("user_gmf_accum", "item_gmf_accum", "user_mlp_accum", "item_mlp_accum", "dense_accum")
    _check_same_dtype(dtype, **{name: a[name] for name in ("user_gmf", "item_gmf", "user_mlp", "item_mlp",
                                                           "dense", *accum_names)})
    expected = {"user_gmf_accum": n_users * k, "item_gmf_accum": n_items * k,
                "user_mlp_accum": n_users * d, "item_mlp_accum": n_items * d, "dense_accum": n_dense}
    for name in accum_names:
        if a[name].ndim != 1:
            raise ValueError(f"internal error: {name} must be flat (1-D)")
    _check_solver_state(scalars, 0, {}, {name: (a[name], size) for name, size in expected.items()})
    _check_positive_csr(a["positive_indptr"], a["positive_indices"], n_users, n_items)
    if n_negatives < 0:
        raise ValueError("internal error: n_negatives must be >= 0")
    negatives = a["negatives"]
    if negatives.dtype != np.int32 or not negatives.flags.c_contiguous or negatives.ndim != 2:
        raise TypeError("internal error: negatives must be a C-contiguous 2-D int32 array")
    if negatives.shape[0]:
        if negatives.shape != (labels.shape[0], n_negatives):
            raise ValueError(f"internal error: negatives has shape {negatives.shape}, expected "
                             f"{(labels.shape[0], n_negatives)}")
        if negatives.min() < 0 or negatives.max() >= n_items:
            raise ValueError(f"internal error: a negative item lies outside [0, {n_items})")
    elif labels.shape[0] and n_items < 1:
        raise ValueError("internal error: no items to sample negatives from")
    if int(scalars["dense_batch_size"]) < 1:
        raise ValueError("internal error: dense_batch_size must be >= 1")
    dropout = float(scalars["dropout"])
    if not 0.0 <= dropout < 1.0:  # NaN fails too
        raise ValueError(f"internal error: dropout must lie in [0, 1), got {dropout!r}")
    for prefix, n_rows in (("user", n_users), ("item", n_items)):
        tables = _check_table_arrays(a, prefix, n_rows)
        _check_state_rows(n_rows, **tables)
        _check_solver_state(scalars, n_rows, tables)


#: kernel name -> the check of its spec-named arrays and scalars
CHECKS = {"baseline_epoch": check_baseline_epoch, "mf_epoch": check_mf_epoch,
          "mf_ranking_epoch": check_mf_ranking_epoch, "mf_projected_epoch": check_mf_projected_epoch,
          "fm_epoch": check_fm_epoch, "fm_ranking_epoch": check_fm_ranking_epoch,
          "fm_projected_epoch": check_fm_projected_epoch, "ncf_epoch": check_ncf_epoch}
