"""One argument spec per compiled kernel, shared by the CPU and CUDA calls.

Each entry is the ordered list of (name, C type) of a CUDA kernel's
parameters. The CUDA host passes them positionally in this order (NumPy
scalars of exactly the C type's width); the Cython entry point of the same
kernel takes the same names as keywords, plus what only the CPU needs
(``n_threads``, ``thread_work``, and :data:`CPU_ONLY`) and less what only the GPU
needs (:data:`DEVICE_ONLY`: the sample count, the epoch-order key, the loss
accumulator). ``tests/test_kernel_spec.py``
checks both against the sources.

The solver part (the solver config, and per table its frequency / counter /
last-seen arrays) is written once here and shared by every kernel, as is a
table of projected rows (:func:`projected_table`). Kernels that keep working
memory per warp or per block on the GPU end with the scratch part
(:data:`SCRATCH`: sized by ``recfreq._engine.cuda``). A few kernels exist on the
GPU only (:data:`GPU_ONLY`: the CPU does their work in NumPy or in the host
binding): NeuralCF's step offsets and scores, and the plain table of projected
rows.
"""

import numpy as np

from .._solvers import ADAGRAD_EPSILON

__all__ = ["SOLVER_CONFIG", "SCRATCH", "table_state", "projected_table", "KERNELS", "DEVICE_ONLY", "CPU_ONLY",
           "GPU_ONLY", "C_SCALARS", "arguments", "solver_config", "solver_arrays"]

#: The solver's scalar settings (what ``_engine.solver_config`` returns).
SOLVER_CONFIG = (("solver", "int"), ("learning_rate", "double"), ("frequency_exponent", "double"),
                 ("counter_halflife", "double"), ("epsilon", "double"))


def table_state(prefix):
    """One table's per-row solver state: fa-sgd's p_r, cf-sgd's counter and stamps."""
    return ((f"{prefix}_frequency", "const double*"), (f"{prefix}_counter", "double*"),
            (f"{prefix}_last_seen", "long long*"))


def projected_table(prefix):
    """One table of projected rows (``ProjectedTable.kernel_kwargs(prefix)``, in its order).

    Its raw rows (stored flat, row r at ``row_offset[r]``), the layout of the
    groups and of their dense layers, the layers themselves, and the Adagrad
    accumulators of rows and layers (empty for the other solvers).
    """
    return ((f"{prefix}_rows", "T*"), (f"{prefix}_row_offset", "const long long*"),
            (f"{prefix}_row_group", "const int*"), (f"{prefix}_group_in_dim", "const int*"),
            (f"{prefix}_group_n_layers", "const int*"), (f"{prefix}_group_first_layer", "const int*"),
            (f"{prefix}_layer_offset", "const long long*"), (f"{prefix}_layer_in", "const int*"),
            (f"{prefix}_layer_out", "const int*"), (f"{prefix}_dense", "T*"), (f"{prefix}_rows_accum", "T*"),
            (f"{prefix}_dense_accum", "T*"))


#: A GPU kernel's working memory (``_kernels/cuda/scratch.cuh``): a global array
#: of ``scratch_per_block`` doubles per block, or null to use that much dynamic
#: shared memory.
SCRATCH = (("scratch", "double*"), ("scratch_per_block", "long long"))

_EPOCH_ORDER = (("n_samples", "long long"), ("order_seed", "unsigned long long"),
                ("order_epoch", "unsigned long long"))

#: the factorization machine's epoch data: a CSR design matrix (a sample is a row) and its targets
_FM_DATA = (("indptr", "const long long*"), ("indices", "const int*"), ("data", "const T*"),
            ("targets", "const T*"))

_USER_ITEM_STATE = (*table_state("user")[:1], *table_state("item")[:1], *table_state("user")[1:2],
                    *table_state("item")[1:2], *table_state("user")[2:], *table_state("item")[2:])

KERNELS = {
    "baseline_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("ratings", "const T*"), *_EPOCH_ORDER,
        ("global_mean", "double"), ("user_bias", "T*"), ("item_bias", "T*"), *SOLVER_CONFIG,
        *_USER_ITEM_STATE,
        ("user_bias_accum", "T*"), ("item_bias_accum", "T*"), ("alpha", "double"), ("t_start", "long long"),
        ("loss", "double*"),
    ),
    "mf_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("ratings", "const T*"), *_EPOCH_ORDER,
        ("global_mean", "double"), ("user_factors", "T*"), ("item_factors", "T*"), ("user_bias", "T*"),
        ("item_bias", "T*"), ("n_factors", "int"), *SOLVER_CONFIG,
        *_USER_ITEM_STATE,
        ("user_factors_accum", "T*"), ("item_factors_accum", "T*"), ("user_bias_accum", "T*"),
        ("item_bias_accum", "T*"), ("alpha", "double"), ("alpha_bias", "double"), ("t_start", "long long"),
        ("t_span", "long long"), ("loss", "double*"),
    ),
    "mf_projected_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("ratings", "const T*"), *_EPOCH_ORDER,
        ("global_mean", "double"), ("n_factors", "int"), *projected_table("user"), *projected_table("item"),
        ("user_bias", "T*"), ("item_bias", "T*"), *SOLVER_CONFIG, ("dense_learning_rate", "double"),
        *_USER_ITEM_STATE, ("user_bias_accum", "T*"), ("item_bias_accum", "T*"), ("alpha", "double"),
        ("alpha_bias", "double"), ("t_start", "long long"), ("max_activation", "int"), ("max_width", "int"),
        ("dense_batch_size", "int"), ("loss", "double*"), ("user_dense_size", "long long"),
        ("item_dense_size", "long long"), *SCRATCH,
    ),
    "fm_epoch": (
        *_FM_DATA, *_EPOCH_ORDER, ("task", "int"), ("intercept", "T*"), ("feature_bias", "T*"),
        ("feature_factors", "T*"), ("n_factors", "int"), *SOLVER_CONFIG, ("dense_learning_rate", "double"),
        *table_state("feature"), ("intercept_accum", "T*"), ("feature_factors_accum", "T*"),
        ("feature_bias_accum", "T*"), ("hot_rows", "const int*"), ("hot_slot", "const int*"), ("alpha", "double"),
        ("alpha_bias", "double"), ("t_start", "long long"), ("loss", "double*"), ("n_hot", "int"), *SCRATCH,
    ),
    # position p's positive is CSR row epoch_sample(order, p) of the context part, whose own
    # index keys its negatives (the CPU kernel reads it as order[p])
    "fm_ranking_epoch": (
        ("ctx_indptr", "const long long*"), ("ctx_indices", "const int*"), ("ctx_data", "const T*"),
        ("user_index", "const int*"), ("item_index", "const int*"), *_EPOCH_ORDER,
        ("sample_seed", "unsigned long long"), ("item_indptr", "const long long*"), ("item_indices", "const int*"),
        ("item_data", "const T*"), ("positive_indptr", "const long long*"), ("positive_indices", "const int*"),
        ("n_items", "int"), ("ranking_loss", "int"), ("n_negatives", "int"), ("max_sampled", "int"),
        ("warp_weights", "const double*"), ("intercept", "T*"), ("feature_bias", "T*"), ("feature_factors", "T*"),
        ("n_factors", "int"), *SOLVER_CONFIG, ("dense_learning_rate", "double"), *table_state("feature"),
        ("intercept_accum", "T*"), ("feature_factors_accum", "T*"), ("feature_bias_accum", "T*"),
        ("alpha", "double"), ("alpha_bias", "double"), ("t_start", "long long"), ("loss", "double*"), *SCRATCH,
    ),
    "fm_projected_epoch": (
        *_FM_DATA, *_EPOCH_ORDER, ("task", "int"), ("intercept", "T*"), ("feature_bias", "T*"),
        ("n_factors", "int"), *projected_table("feature"), *SOLVER_CONFIG, ("dense_learning_rate", "double"),
        *table_state("feature"), ("intercept_accum", "T*"), ("feature_bias_accum", "T*"), ("alpha", "double"),
        ("alpha_bias", "double"), ("t_start", "long long"), ("max_nnz", "int"), ("max_activation", "int"),
        ("max_width", "int"), ("dense_batch_size", "int"), ("loss", "double*"), ("feature_dense_size", "long long"),
        *SCRATCH,
    ),
    # the GPU kernel visits position p's positive epoch_sample(order, p) and keys its
    # negatives on it as the CPU kernel does on the gathered positive's index
    "mf_ranking_epoch": (
        ("user_index", "const int*"), ("item_index", "const int*"), *_EPOCH_ORDER,
        ("sample_seed", "unsigned long long"), ("global_mean", "double"), ("user_factors", "T*"),
        ("item_factors", "T*"), ("user_bias", "T*"), ("item_bias", "T*"), ("n_factors", "int"),
        ("ranking_loss", "int"), ("n_negatives", "int"), ("max_sampled", "int"),
        ("positive_indptr", "const long long*"), ("positive_indices", "const int*"), ("n_items", "int"),
        ("warp_weights", "const double*"), *SOLVER_CONFIG, *_USER_ITEM_STATE,
        ("user_factors_accum", "T*"), ("item_factors_accum", "T*"), ("user_bias_accum", "T*"),
        ("item_bias_accum", "T*"), ("alpha", "double"), ("alpha_bias", "double"), ("t_start", "long long"),
        ("loss", "double*"),
    ),
    # the GPU kernel visits position p's row epoch_sample(order, p) and keys its
    # draws on it as the CPU kernel does on the gathered row's index
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
        ("n_layers", "int"), *SCRATCH,
    ),
    "mf_predict": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("n_samples", "long long"),
        ("global_mean", "double"), ("user_factors", "const T*"), ("item_factors", "const T*"),
        ("user_bias", "const T*"), ("item_bias", "const T*"), ("n_factors", "int"), ("out", "T*"),
    ),
    "fm_predict": (
        ("indptr", "const long long*"), ("indices", "const int*"), ("data", "const T*"), ("n_samples", "long long"),
        ("intercept", "double"), ("feature_bias", "const T*"), ("feature_factors", "const T*"),
        ("n_factors", "int"), ("out", "T*"),
    ),
    # ---- GPU only (GPU_ONLY)
    # mu + b_u + b_i + p_u . q_i for every (user_index[r], item i): MF's recommend
    # and similar_items scores, the FM's recommend scores
    "mf_score_items": (
        ("user_index", "const int*"), ("n_users", "long long"), ("n_items", "int"), ("global_mean", "double"),
        ("user_factors", "const T*"), ("item_factors", "const T*"), ("user_bias", "const T*"),
        ("item_bias", "const T*"), ("n_factors", "int"), ("out", "T*"),
    ),
    # ProjectedTable.collapse: the plain factor table of a projected table
    "project_rows": (
        ("rows", "const T*"), ("row_offset", "const long long*"), ("row_group", "const int*"),
        ("group_n_layers", "const int*"), ("group_first_layer", "const int*"), ("layer_offset", "const long long*"),
        ("layer_in", "const int*"), ("layer_out", "const int*"), ("dense", "const T*"), ("n_rows", "long long"),
        ("n_factors", "int"), ("max_activation", "int"), ("out", "T*"), *SCRATCH,
    ),
    # NeuralCF's step offsets of an epoch (the CPU binding's cumulative sum)
    "ncf_sample_starts": (
        ("labels", "const T*"), ("n_samples", "long long"), ("order_seed", "unsigned long long"),
        ("order_epoch", "unsigned long long"), ("n_negatives", "int"), ("sample_start", "long long*"),
    ),
    # NeuralCF's logits of (user, item) pairs, and of every item for a batch of users
    "ncf_predict": (
        ("user_index", "const int*"), ("item_index", "const int*"), ("n_samples", "long long"),
        ("n_factors", "int"), ("mlp_dim", "int"), ("layer_sizes", "const int*"), ("n_layers", "int"),
        ("user_gmf", "const T*"), ("item_gmf", "const T*"), ("user_mlp", "const T*"), ("item_mlp", "const T*"),
        ("dense", "const T*"), ("out", "T*"), *SCRATCH,
    ),
    "ncf_score_items": (
        ("user_index", "const int*"), ("n_users", "long long"), ("n_items", "int"), ("n_factors", "int"),
        ("mlp_dim", "int"), ("layer_sizes", "const int*"), ("n_layers", "int"), ("user_gmf", "const T*"),
        ("item_gmf", "const T*"), ("user_mlp", "const T*"), ("item_mlp", "const T*"), ("dense", "const T*"),
        ("out", "T*"), *SCRATCH,
    ),
}

#: Kernels that exist on the GPU only (the CPU computes the same in NumPy or in
#: its binding); they have no Cython entry point, so no DEVICE_ONLY / CPU_ONLY entry.
GPU_ONLY = frozenset({"mf_score_items", "project_rows", "ncf_sample_starts", "ncf_predict", "ncf_score_items"})

#: Parameters only the CUDA kernels take (the CPU kernel reads them off its arrays
#: or gets its order gathered by the host), per kernel.
DEVICE_ONLY = {
    "baseline_epoch": {"n_samples", "order_seed", "order_epoch", "loss"},
    "mf_epoch": {"n_samples", "order_seed", "order_epoch", "loss", "n_factors"},
    # the CPU kernel reads the sizes of the dense storage off its arrays
    "mf_projected_epoch": {"n_samples", "order_seed", "order_epoch", "loss", "user_dense_size", "item_dense_size",
                           "scratch", "scratch_per_block"},
    "fm_epoch": {"n_samples", "order_seed", "order_epoch", "loss", "n_factors", "n_hot", "scratch",
                 "scratch_per_block"},
    "fm_projected_epoch": {"n_samples", "order_seed", "order_epoch", "loss", "feature_dense_size", "scratch",
                           "scratch_per_block"},
    # the CPU kernel keys its negatives on (sample_seed, order_epoch) like the GPU's
    "mf_ranking_epoch": {"n_samples", "order_seed", "loss", "n_factors"},
    "fm_ranking_epoch": {"n_samples", "order_seed", "loss", "n_factors", "scratch", "scratch_per_block"},
    "mf_predict": {"n_samples", "n_factors"},
    "fm_predict": {"n_samples", "n_factors"},
    # the CPU kernel keys its draws on (sample_seed, order_epoch) like the GPU's
    "ncf_epoch": {"n_samples", "order_seed", "loss", "n_layers", "scratch", "scratch_per_block"},
}

#: Keywords only the Cython entry points take, besides ``n_threads`` and
#: ``thread_work`` (every CPU kernel takes those), per kernel: the CPU binding
#: computes them. ``order`` is the epoch's sample order, for kernels that read
#: their samples through it instead of having them gathered (the FM's CSR rows
#: are contiguous, so reading one through the order costs one jump per sample);
#: ``max_nnz`` sizes the FM's per-thread list of a sample's hot-row slots. (The
#: hot rows themselves, ``hot_rows`` and ``hot_slot``, are in the spec: each
#: binding chooses its own, the CPU per thread and the GPU per block.)
CPU_ONLY = {
    "baseline_epoch": set(),
    "mf_epoch": set(),
    "mf_projected_epoch": set(),
    # each position's own positive, from the gather: its negatives are keyed on it
    "mf_ranking_epoch": {"sample_index"},
    "fm_epoch": {"order", "max_nnz"},
    "fm_projected_epoch": {"order"},
    # the positives are read through the epoch's order; each one's own index (order[p]) keys its negatives
    "fm_ranking_epoch": {"order"},
    "mf_predict": set(),
    "fm_predict": set(),
    # each position's own row, from the gather: NeuralCF keys its draws on it (a GPU
    # kernel computes it from the order key)
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
