"""The only module that calls compiled code.

Estimators describe one epoch as arrays and scalars; this module checks the
few invariants a nogil kernel relies on (dtypes, contiguity, index ranges),
chooses the CPU or CUDA implementation and calls it with keyword arguments.
Keeping every call site here means a kernel's signature changes in one place.
"""

import numpy as np

from ._backend import import_cupy
from ._solvers import ADAGRAD_EPSILON

__all__ = ["check_device", "solver_config", "table_kwargs", "baseline_epoch", "mf_epoch", "mf_predict"]


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

    from ._ext._baseline import baseline_epoch as kernel

    return kernel(
        user_index=user_index, item_index=item_index, ratings=ratings,
        global_mean=float(global_mean), user_bias=user_bias, item_bias=item_bias,
        alpha=float(alpha), t_start=int(t_start),
        user_bias_accum=user_accum, item_bias_accum=item_accum,
        n_threads=int(n_threads), **config, **user_tables, **item_tables,
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

    from ._ext._mf import mf_epoch as kernel

    return kernel(
        user_index=user_index, item_index=item_index, ratings=ratings,
        global_mean=float(global_mean), user_factors=user_factors, item_factors=item_factors,
        user_bias=user_bias, item_bias=item_bias, alpha=float(alpha), alpha_bias=float(alpha_bias),
        t_start=int(t_start), n_threads=int(n_threads), **config, **accum, **user_tables, **item_tables,
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
