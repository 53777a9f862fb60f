"""One argument spec per compiled kernel, shared by the CPU and CUDA calls.

Each entry is the ordered list of (name, C type) of a CUDA kernel's
parameters. The CUDA host passes them positionally in this order (NumPy
scalars of exactly the C type's width); the Cython entry point of the same
kernel takes the same names as keywords, plus what only the CPU needs
(``n_threads``, ``thread_work``, and per kernel :data:`CPU_ONLY`) and less what
only the GPU needs (:data:`DEVICE_ONLY`: the sample count, the epoch-order key,
the loss accumulator). ``tests/test_kernel_spec.py``
checks both against the sources.

The solver part (the solver config, and per table its frequency / counter /
last-seen arrays) is written once here and shared by every kernel.
"""

import numpy as np

from .._solvers import ADAGRAD_EPSILON

__all__ = ["SOLVER_CONFIG", "table_state", "KERNELS", "DEVICE_ONLY", "CPU_ONLY", "C_SCALARS", "arguments", "solver_config",
           "solver_arrays"]

#: The solver's scalar settings (what ``_engine.solver_config`` returns).
SOLVER_CONFIG = (("solver", "int"), ("learning_rate", "double"), ("frequency_exponent", "double"),
                 ("counter_halflife", "double"), ("epsilon", "double"))


def table_state(prefix):
    """One table's per-row solver state: fa-sgd's p_r, cf-sgd's counter and stamps."""
    return ((f"{prefix}_frequency", "const double*"), (f"{prefix}_counter", "double*"),
            (f"{prefix}_last_seen", "long long*"))


_EPOCH_ORDER = (("n_samples", "long long"), ("order_seed", "unsigned long long"),
                ("order_epoch", "unsigned long long"))

KERNELS = {
    "baseline_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("ratings", "const T*"), *_EPOCH_ORDER,
        ("global_mean", "double"), ("user_bias", "T*"), ("item_bias", "T*"), *SOLVER_CONFIG,
        *table_state("user")[:1], *table_state("item")[:1], *table_state("user")[1:2], *table_state("item")[1:2],
        *table_state("user")[2:], *table_state("item")[2:],
        ("user_bias_accum", "T*"), ("item_bias_accum", "T*"), ("alpha", "double"), ("t_start", "long long"),
        ("loss", "double*"),
    ),
    "mf_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("ratings", "const T*"), *_EPOCH_ORDER,
        ("global_mean", "double"), ("user_factors", "T*"), ("item_factors", "T*"), ("user_bias", "T*"),
        ("item_bias", "T*"), ("n_factors", "int"), *SOLVER_CONFIG,
        *table_state("user")[:1], *table_state("item")[:1], *table_state("user")[1:2], *table_state("item")[1:2],
        *table_state("user")[2:], *table_state("item")[2:],
        ("user_factors_accum", "T*"), ("item_factors_accum", "T*"), ("user_bias_accum", "T*"),
        ("item_bias_accum", "T*"), ("alpha", "double"), ("alpha_bias", "double"), ("t_start", "long long"),
        ("loss", "double*"),
    ),
    # written ahead of its CUDA kernel (a later issue), which visits position p's
    # row epoch_sample(order, p) and keys its draws as the CPU kernel does
    "ncf_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("labels", "const T*"),
        ("sample_start", "const long long*"), *_EPOCH_ORDER, ("sample_seed", "unsigned long long"),
        ("n_factors", "int"), ("mlp_dim", "int"), ("layer_sizes", "const int*"), ("user_gmf", "T*"),
        ("item_gmf", "T*"), ("user_mlp", "T*"), ("item_mlp", "T*"), ("dense", "T*"),
        ("positive_indptr", "const long long*"), ("positive_indices", "const int*"), ("n_items", "int"),
        ("n_negatives", "int"), ("negatives", "const int*"), *SOLVER_CONFIG, ("dense_learning_rate", "double"),
        ("alpha", "double"), ("dropout", "double"),
        *table_state("user")[:1], *table_state("item")[:1], *table_state("user")[1:2], *table_state("item")[1:2],
        *table_state("user")[2:], *table_state("item")[2:],
        ("user_gmf_accum", "T*"), ("item_gmf_accum", "T*"), ("user_mlp_accum", "T*"), ("item_mlp_accum", "T*"),
        ("dense_accum", "T*"), ("dense_batch_size", "int"), ("t_start", "long long"), ("loss", "double*"),
    ),
    "mf_predict": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("n_samples", "long long"),
        ("global_mean", "double"), ("user_factors", "const T*"), ("item_factors", "const T*"),
        ("user_bias", "const T*"), ("item_bias", "const T*"), ("n_factors", "int"), ("out", "T*"),
    ),
}

#: Parameters only the CUDA kernels take (the CPU kernel reads them off its arrays
#: or gets its order gathered by the host), per kernel.
DEVICE_ONLY = {
    "baseline_epoch": {"n_samples", "order_seed", "order_epoch", "loss"},
    "mf_epoch": {"n_samples", "order_seed", "order_epoch", "loss", "n_factors"},
    "mf_predict": {"n_samples", "n_factors"},
    # the CPU kernel keys its draws on (sample_seed, order_epoch) like the GPU's
    "ncf_epoch": {"n_samples", "order_seed", "loss"},
}

#: Keyword arguments only the Cython kernels take, besides ``n_threads`` and
#: ``thread_work``, per kernel: ``sample_index`` is each position's own row
#: index, which the CPU host has from gathering the epoch into order and a GPU
#: kernel computes from the order key.
CPU_ONLY = {
    "ncf_epoch": {"sample_index"},
}

#: NumPy scalar type of each C scalar type (``T`` is the model's float type).
C_SCALARS = {"int": np.int32, "long long": np.int64, "unsigned long long": np.uint64, "double": np.float64}


def arguments(kernel, values, dtype):
    """The positional argument tuple of ``kernel`` from ``values`` (name -> value).

    Pointers are passed as given (device arrays); scalars become NumPy
    scalars of the C type's exact width (``T``: ``dtype``).
    """
    args = []
    for name, c_type in KERNELS[kernel]:
        value = values[name]
        if c_type.endswith("*"):
            args.append(value)
        elif c_type == "T":
            args.append(np.dtype(dtype).type(value))
        else:
            args.append(C_SCALARS[c_type](value))
    return tuple(args)


def solver_config(solver, learning_rate, frequency_exponent, counter_halflife):
    """The solver's scalar settings, named as every kernel takes them (:data:`SOLVER_CONFIG`)."""
    return dict(
        solver=int(solver),
        learning_rate=float(learning_rate),
        frequency_exponent=float(frequency_exponent),
        counter_halflife=0.0 if counter_halflife is None else float(counter_halflife),
        epsilon=ADAGRAD_EPSILON,
    )


def solver_arrays(prefix, state, accumulators, dtype):
    """One table's solver state named as the kernels take it (:func:`table_state`).

    ``accumulators`` maps a block of :class:`~recfreq._solvers.TableState`
    (``"factors"``, ``"bias"``) to the kernel's name for its Adagrad
    accumulator and the block's width per row (``None`` for one number);
    blocks the solver does not keep are empty arrays.
    """
    arrays = {f"{prefix}_frequency": state.frequency(), f"{prefix}_counter": state.counter,
              f"{prefix}_last_seen": state.last_seen}
    for block, (name, width) in accumulators.items():
        accum = state.accumulator(block, dtype)
        arrays[name] = accum.reshape(-1, width) if width is not None else accum
    return arrays
