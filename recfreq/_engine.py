"""The only module that calls compiled code.

Estimators describe one epoch as arrays and scalars; this module checks the
few invariants a nogil kernel relies on (dtypes, contiguity, index ranges),
chooses the CPU or CUDA implementation and calls it with keyword arguments.
Keeping every call site here means a kernel's signature changes in one place.
"""

import numpy as np

from ._backend import import_cupy
from ._solvers import ADAGRAD_EPSILON

__all__ = ["solver_config", "table_kwargs", "baseline_epoch"]


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


def _check_order(order, n_samples):
    if order.dtype != np.intp or not order.flags.c_contiguous:
        raise TypeError("internal error: the sample order must be C-contiguous intp")
    if order.shape[0] and (order.min() < 0 or order.max() >= n_samples):
        raise ValueError("internal error: the sample order points outside the training data")


def _check_same_dtype(dtype, **arrays):
    for name, array in arrays.items():
        if array.dtype != dtype or not array.flags.c_contiguous:
            raise TypeError(f"internal error: {name} must be C-contiguous {dtype}, got {array.dtype}")


def _check_state_rows(n_rows, **arrays):
    for name, array in arrays.items():
        if array.shape[0] not in (0, n_rows):
            raise ValueError(f"internal error: {name} has {array.shape[0]} rows, expected {n_rows}")


def _require_cpu(device, model):
    if device == "cuda":
        import_cupy()  # a clear ImportError first if CuPy or the GPU is missing
        raise NotImplementedError(
            f"device='cuda' is not implemented for {model} yet; use device='cpu'."
        )


def baseline_epoch(*, device, user_index, item_index, ratings, order, user_bias, item_bias,
                   user_state, item_state, config, global_mean, alpha, t_start, n_threads):
    """One epoch of the biases-only model; returns the sum of squared errors."""
    _require_cpu(device, "BaselinePredictor")
    n_users, n_items = user_bias.shape[0], item_bias.shape[0]
    _check_index(user_index, n_users, "user_index")
    _check_index(item_index, n_items, "item_index")
    _check_order(order, ratings.shape[0])
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
        user_index=user_index, item_index=item_index, ratings=ratings, order=order,
        global_mean=float(global_mean), user_bias=user_bias, item_bias=item_bias,
        alpha=float(alpha), t_start=int(t_start),
        user_bias_accum=user_accum, item_bias_accum=item_accum,
        n_threads=int(n_threads), **config, **user_tables, **item_tables,
    )
