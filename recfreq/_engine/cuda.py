"""The CUDA side of the engine: kernels compiled at first use, launched with positional arguments.

The host code talks to the GPU only through the backend interface of
:mod:`recfreq._device_backend` (upload, zeros, download, load a module, launch,
synchronize). In use that is CuPy (:class:`~recfreq._device_backend.CupyBackend`,
imported only when ``device="cuda"`` is asked for); the test suite installs an
emulated device that compiles the same ``.cu`` sources with a C++ compiler and
runs them on the CPU (:func:`use_backend`).

A training call uploads its samples, parameters and solver state once
(:class:`CudaBinding`) and launches one epoch kernel per epoch (the epoch order
is computed in the kernel from its (seed, epoch) key, so no permutation crosses
the bus; NeuralCF first launches a small kernel that computes each position's
step offset on the device). :meth:`CudaBinding.write_back` copies the trained
arrays back into the estimator's NumPy arrays; the training loop calls it after
every epoch, before the divergence check and validation read them (a download
of the parameters and solver state per epoch; a device-side divergence bound
would remove it, not done yet). Models with projected rows (OverparamMF, mixed
dimensions) multiply them out on the device after every epoch
(:meth:`CudaBinding.projected_factors`). Fitted attributes are therefore always
NumPy: a model trained on a GPU pickles and predicts anywhere.

GPU-only tuning lives here, as the CPU's lives in :mod:`.cpu`: the launch shape
(warps per block, blocks per grid), each kernel's working memory (shared memory
when it fits, else a global array per block: :func:`scratch_regions`) and the
factorization machine's hot rows per block (:func:`gpu_hot_rows`).

Prediction (``predict``, ``recommend``, ``similar_items``) runs on the device
when the model was fitted with ``device="cuda"`` and a device is usable here
(:func:`prediction_backend`); elsewhere the same model predicts on the CPU.
"""

import contextlib
import math

import numpy as np

from .._backend import GPU_INSTALL_HINT, import_cupy
from .._device_backend import MAX_SHARED_MEMORY
from .._solvers import Solver
from . import specs
from ._checks import CHECKS, ncf_dense_size
from .cpu import EpochLoss, MAX_HOT_ROWS, _clock, _hot_slot, hot_rows

__all__ = ["CudaBinding", "COMPILE_OPTIONS", "GPU_INSTALL_HINT", "PREDICTIONS", "SOURCES", "gpu_hot_rows",
           "launch_shape", "load_kernels", "module_defines", "module_plan", "prediction_backend", "require_device",
           "scratch_regions", "use_backend", "mf_predict", "mf_score_items", "fm_predict", "ncf_predict", "ncf_score_items"]

#: the CUDA source of each kernel
SOURCES = {"baseline_epoch": "baseline.cu", "mf_epoch": "mf.cu", "mf_ranking_epoch": "mf.cu",
           "mf_projected_epoch": "mf.cu", "mf_predict": "mf.cu", "mf_score_items": "mf.cu", "fm_epoch": "fm.cu",
           "fm_ranking_epoch": "fm.cu", "fm_projected_epoch": "fm.cu",
           "fm_predict": "fm.cu", "ncf_epoch": "ncf.cu", "ncf_sample_starts": "ncf.cu", "ncf_predict": "ncf.cu",
           "ncf_score_items": "ncf.cu", "project_rows": "projection.cu"}
#: the prediction functions the estimators call through ``_engine.device_call``
PREDICTIONS = ("mf_predict", "mf_score_items", "fm_predict", "ncf_predict", "ncf_score_items")
_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
#: threads per block (8 warps); at most this many blocks (grid-stride loops cover the rest)
_BLOCK = 256
_MAX_BLOCKS = 1 << 16
#: blocks of the kernels whose blocks keep state (dense-gradient sums, a private
#: w0, hot rows): a block loads that state when it starts, flushes or publishes
#: it every few samples and at its end, so it should train at least
#: _STATEFUL_SAMPLES samples (the FM's publication interval) and the grid stays
#: at most _MAX_STATEFUL_BLOCKS blocks (8192 warps in flight cover a GPU of 132 SMs)
_MAX_STATEFUL_BLOCKS = 1024
_STATEFUL_SAMPLES = 64
#: kernels whose blocks keep state between rounds (above)
_STATEFUL = frozenset({"mf_projected_epoch", "fm_epoch", "fm_projected_epoch", "ncf_epoch"})
#: threads of the one block of ncf_sample_starts
_SCAN_THREADS = 1024
#: dynamic shared memory a kernel's scratch may take (the rest of the 48 KiB is
#: for the kernels' static shared arrays: block_add_to's 32 doubles)
_SHARED_BUDGET = MAX_SHARED_MEMORY - 1024

_override = {"backend": None, "sequential": False, "scratch": None}
_modules = {}
_cupy_backend = []


@contextlib.contextmanager
def use_backend(backend, sequential=False, scratch=None):
    """Run ``device="cuda"`` on ``backend`` inside the block (tests: the emulated device).

    ``sequential=True`` launches one warp (one thread for per-thread kernels),
    which visits the samples in the CPU's ``n_jobs=1`` order. ``scratch="global"``
    puts every kernel's working memory in global memory even where it would fit
    in shared memory (tests of that path).
    """
    saved = dict(_override)
    _override.update(backend=backend, sequential=sequential, scratch=scratch)
    try:
        yield backend
    finally:
        _override.update(saved)


def require_device():
    """Raise a clear error unless a CUDA device can be used (checked before anything is allocated).

    ImportError (with the install commands) without CuPy, RuntimeError when CuPy
    finds no usable device.
    """
    if _override["backend"] is None:
        import_cupy()


def _backend():
    if _override["backend"] is not None:
        return _override["backend"]
    if not _cupy_backend:
        from .._device_backend import CupyBackend

        _cupy_backend.append(CupyBackend())  # imports CuPy, with require_device's errors
    return _cupy_backend[0]


def prediction_backend():
    """The backend a model fitted with ``device="cuda"`` predicts on, or None for the CPU.

    A GPU-trained model is plain NumPy: where CuPy or a device is missing (a
    pickled model loaded elsewhere) it predicts on the CPU, with the same results
    up to rounding.
    """
    try:
        return _backend()
    except (ImportError, RuntimeError):
        return None


#: options every module is compiled with
COMPILE_OPTIONS = ("-std=c++17",)


def module_defines():
    """The codes the host injects into every module: the solvers' (``SOLVER_SGD`` ...) and the ranking
    losses' (``LOSS_LOGISTIC`` ...), so Python, Cython and CUDA number them alike."""
    from .._device_backend import enum_defines
    from .._ranking_losses import LOSS_CODES

    return {**enum_defines(Solver, "SOLVER_"), **{f"LOSS_{name.upper()}": code for name, code in LOSS_CODES.items()}}


def module_plan():
    """{filename: (name expressions, defines)}: how every module is compiled (the compile checks use it too)."""
    plan = {}
    for filename in sorted(set(SOURCES.values())):
        names = [kernel for kernel, source in SOURCES.items() if source == filename]
        expressions = tuple(f"{kernel}<{c_type}>" for kernel in names for c_type in ("float", "double"))
        plan[filename] = (expressions, module_defines())
    return plan


def load_kernels(backend, filename):
    """The module of ``filename`` on ``backend``, compiled at first use (float and double instances)."""
    from .._device_backend import kernel_source

    key = (id(backend), filename)
    if key not in _modules:
        expressions, defines = module_plan()[filename]
        code = kernel_source(filename, defines=defines)
        # the backend is kept with its module: id() is only unique among live objects
        _modules[key] = (backend, backend.load_module(code, expressions, options=COMPILE_OPTIONS))
    return _modules[key][1]


def launch_shape(kernel, n_work):
    """(grid, block) of a launch over ``n_work`` samples (rows, pairs).

    One thread per sample for the biases, one warp per sample for the others,
    in blocks of 8 warps (a block of a kernel that keeps state per block trains
    at least 64 samples); a sequential launch (``use_backend(sequential=True)``)
    is one warp (one thread for the biases).
    """
    per_thread = kernel == "baseline_epoch"
    if _override["sequential"] and kernel.endswith("_epoch"):
        return (1,), (1 if per_thread else 32,)
    if kernel in _STATEFUL:
        return (max(1, min(_MAX_STATEFUL_BLOCKS, math.ceil(n_work / _STATEFUL_SAMPLES))),), (_BLOCK,)
    per_block = _BLOCK if per_thread else _BLOCK // 32
    return (max(1, min(_MAX_BLOCKS, math.ceil(n_work / per_block))),), (_BLOCK,)


# ------------------------------------------------------------------ scratch
def _ncf_network(n_factors, mlp_dim, layer_sizes):
    """(n_dense, n_act, max_width) of NeuralCF's kernels (their NcfNet layout)."""
    k, d = int(n_factors), int(mlp_dim)
    sizes = [int(s) for s in layer_sizes] if d > 0 else []
    n_act = sum(sizes) if d > 0 else 0
    max_width = max([k, 2 * d, *sizes[1:]])
    return ncf_dense_size(k, d, layer_sizes), n_act, max_width


def scratch_regions(kernel, values, dtype, warps, grid):
    """The regions of a kernel's scratch, in the order the kernel carves them: [(count, item size)].

    ``values``: the launch's arguments by name (scalars, and arrays for their
    sizes). The kernels assert that what they carve fits (``scratch.cuh``); a
    region the kernel does not carve for this launch may be listed (the
    total is then only larger).
    """
    t = np.dtype(dtype).itemsize
    if kernel == "mf_projected_epoch":
        per_warp = 2 * values["max_activation"] + 2 * values["n_factors"] + 4 * values["max_width"]
        return [(values["user_dense_size"], t), (values["item_dense_size"], t), (warps * per_warp, t)]
    if kernel == "fm_epoch":
        k, n_hot = int(values["n_factors"]), int(values["n_hot"])
        regions = [(4 if grid > 1 else 0, t), (warps, t)]
        regions += _hot_regions(n_hot, k, t, values["solver"], values["counter_halflife"])
        return regions + [(warps * k, t)]
    if kernel == "fm_ranking_epoch":
        return [(warps * 3 * int(values["n_factors"]), t)]  # the sums of the context, the positive, the negative
    if kernel == "fm_projected_epoch":
        k = int(values["n_factors"])
        per_warp = 2 * k + values["max_nnz"] * values["max_activation"] + 2 * values["max_width"]
        return [(4 if grid > 1 else 0, t), (warps, t), (values["feature_dense_size"], t), (warps * per_warp, t)]
    if kernel == "ncf_epoch":
        k, d = int(values["n_factors"]), int(values["mlp_dim"])
        n_dense, n_act, max_width = _ncf_network(k, d, values["layer_sizes"])
        dropout = values["dropout"] > 0 and values["n_layers"] > 0 and d > 0
        per_warp = n_act + 2 * max_width + 2 * k + 2 * d + (n_act if dropout else 0)
        return [(n_dense, t), (warps * per_warp, t)]
    if kernel in ("ncf_predict", "ncf_score_items"):
        _, n_act, _ = _ncf_network(values["n_factors"], values["mlp_dim"], values["layer_sizes"])
        return [(warps * n_act, t)]
    if kernel == "project_rows":
        return [(warps * values["max_activation"], 8)]
    raise ValueError(f"internal error: {kernel} has no scratch")


def _hot_regions(n_hot, k, itemsize, solver, halflife):
    """The FM's hot-row regions: copies and snapshots (and the Adagrad accumulators'), cf-sgd counters, stamps."""
    if n_hot == 0:
        return []
    regions = [(n_hot * (k + 1), itemsize)] * (4 if solver == Solver.ADAGRAD else 2)
    if solver == Solver.CF_SGD:
        regions += [(n_hot, 8)] * (4 if halflife > 0 else 2)
    return regions


def _scratch_doubles(regions):
    """Doubles per block that hold the regions, each started on an 8-byte boundary."""
    return sum(-(-int(count) * int(size) // 8) for count, size in regions)


def _scratch(backend, kernel, values, dtype, grid, block):
    """(scratch array, doubles per block, dynamic shared bytes) of a launch."""
    warps = block[0] // 32
    doubles = _scratch_doubles(scratch_regions(kernel, values, dtype, warps, grid[0]))
    if 8 * doubles <= _SHARED_BUDGET and _override["scratch"] != "global":
        return backend.zeros((0,), np.float64), doubles, 8 * doubles
    return backend.zeros((grid[0] * max(doubles, 1),), np.float64), doubles, 0


def gpu_hot_rows(counts, n_samples, k, dtype, solver, halflife, fixed_bytes):
    """The factorization machine's hot rows on the GPU: the CPU's rule, as many as a block's shared memory holds.

    The rows in at least ``HOT_ROW_MIN_SHARE`` of the samples, most frequent
    first (:func:`recfreq._engine.cpu.hot_rows`), at most ``MAX_HOT_ROWS`` and at
    most what fits in the shared memory left after ``fixed_bytes`` (a
    block's other scratch): each block keeps a copy of them, which its warps
    step, and a copy in global memory would be as contended as the rows
    themselves.
    """
    per_row = _scratch_doubles(_hot_regions(1, k, np.dtype(dtype).itemsize, solver, halflife)) * 8 + 8
    room = max(0, _SHARED_BUDGET - fixed_bytes) // per_row
    return hot_rows(counts, n_samples, max_rows=min(MAX_HOT_ROWS, room))


def _hot_rows_wanted(grid, block):
    """Whether a launch of the FM keeps hot rows per block: only with more than one warp
    (one warp has no one to fight over them with, and replays the CPU's one thread exactly)."""
    return grid[0] * block[0] > 32


# ------------------------------------------------------------------ training
def _training_dtype(training):
    """The model's float type: its float samples', or (the ranking kernels, whose samples are
    ids and context parts) its parameters'."""
    for name in ("ratings", "targets", "labels"):
        if name in training.samples:
            return training.samples[name].dtype
    for name in ("user_factors", "feature_factors"):
        if name in training.arrays:
            return training.arrays[name].dtype
    raise ValueError(f"internal error: {training.kernel} has no float samples or parameters")


class CudaBinding:
    """A training call bound to the GPU: its arrays uploaded once, one epoch kernel launch per epoch."""

    def __init__(self, training):
        CHECKS[training.kernel]({**training.samples, **training.arrays}, training.scalars)
        self.training = training
        self.backend = _backend()
        self.dtype = _training_dtype(training)
        kernel = training.kernel
        self._module = load_kernels(self.backend, SOURCES[kernel])
        self._n = training.n_samples
        self._grid, self._block = launch_shape(kernel, self._n)
        self._device = {name: self.backend.upload(np.ascontiguousarray(array))
                        for name, array in {**training.samples, **training.arrays}.items()}
        self._extra = self._device_only_values()
        sizes = {**training.arrays, **training.scalars, **self._extra}  # host arrays: the tower's widths
        self._scratch = (_scratch(self.backend, kernel, sizes, self.dtype, self._grid, self._block)
                         if any(name == "scratch" for name, _ in specs.KERNELS[kernel]) else (None, 0, 0))

    def _device_only_values(self):
        """What only the GPU kernel takes besides the order key and its loss: sizes, hot rows, buffers."""
        training, kernel = self.training, self.training.kernel
        arrays, scalars = training.arrays, training.scalars
        if kernel == "mf_projected_epoch":
            return {"user_dense_size": arrays["user_dense"].shape[0], "item_dense_size": arrays["item_dense"].shape[0]}
        if kernel == "fm_projected_epoch":
            return {"feature_dense_size": arrays["feature_dense"].shape[0]}
        if kernel == "fm_epoch":
            return self._hot_rows()
        if kernel == "ncf_epoch":
            sizes = arrays["layer_sizes"]
            n_layers = sizes.shape[0] - 1 if scalars["mlp_dim"] > 0 else 0
            return {"n_layers": n_layers, "sample_start": self.backend.zeros((self._n,), np.int64)}
        return {}

    def _hot_rows(self):
        """The FM's hot rows per block (none for a sequential launch, as on one CPU thread)."""
        samples, scalars = self.training.samples, self.training.scalars
        n_features = self.training.arrays["feature_bias"].shape[0]
        rows = np.empty(0, dtype=np.int32)
        if _hot_rows_wanted(self._grid, self._block):
            fixed = dict(scalars, n_hot=0)
            fixed_bytes = 8 * _scratch_doubles(scratch_regions("fm_epoch", fixed, self.dtype, self._block[0] // 32,
                                                               self._grid[0]))
            counts = np.bincount(samples["indices"], minlength=n_features)
            rows = gpu_hot_rows(counts, self._n, int(scalars["n_factors"]), self.dtype, scalars["solver"],
                                scalars["counter_halflife"], fixed_bytes)
        slot = _hot_slot(rows, n_features)
        return {"hot_rows": self.backend.upload(rows), "hot_slot": self.backend.upload(slot), "n_hot": rows.shape[0]}

    def run_epoch(self, *, t_start, order_seed, epoch, next_epoch=None, t_span=None):
        """Launch epoch ``epoch``; return its summed loss (the only value that comes back).

        ``t_span``: as for the CPU binding (the steps of the clock the samples span).
        """
        kernel = self.training.kernel
        spans = any(name == "t_span" for name, _ in specs.KERNELS[kernel])
        clock = _clock(kernel, spans, self._n, t_start, t_span)
        loss = self.backend.zeros((1,), np.float64)
        scratch, doubles, shared = self._scratch
        values = {**self._device, **self.training.scalars, **self._extra, "n_samples": self._n,
                  "order_seed": order_seed, "order_epoch": epoch, **clock, "loss": loss}
        if scratch is not None:
            values.update(scratch=scratch, scratch_per_block=doubles)
        c_type = _C_TYPES[self.dtype]
        if kernel == "ncf_epoch":
            # each position's step offset, from the labels in this epoch's order
            self.backend.launch(self._module, f"ncf_sample_starts<{c_type}>", (1,), (_SCAN_THREADS,),
                                specs.arguments("ncf_sample_starts", values, self.dtype))
        self.backend.launch(self._module, f"{kernel}<{c_type}>", self._grid, self._block,
                            specs.arguments(kernel, values, self.dtype), shared_mem=shared)
        result = EpochLoss(float(self.backend.download(loss)[0]))
        result.samples_per_thread = None  # a GPU's threads are not OpenMP threads
        return result

    def write_back(self):
        """Copy the trained parameters and solver state into the estimator's NumPy arrays."""
        const = {name for name, c_type in specs.KERNELS[self.training.kernel] if c_type.startswith("const")}
        for name, array in self.training.arrays.items():
            if array.size and name not in const:
                np.copyto(array, self.backend.download(self._device[name]).reshape(array.shape))

    def projected_factors(self, prefix, table):
        """The plain (n_rows, k) factor table of the bound projected table ``prefix``, multiplied out on the device.

        ``table`` is the estimator's :class:`~recfreq._projection.ProjectedTable`
        (its layout; the rows and layers are the bound device arrays).
        """
        n_rows, k = table.n_rows, int(table.n_factors)
        values = {name: self._device[f"{prefix}_{name}"]
                  for name in ("rows", "row_offset", "row_group", "group_n_layers", "group_first_layer",
                               "layer_offset", "layer_in", "layer_out", "dense")}
        out = self.backend.zeros((n_rows * k,), self.dtype)
        values.update(n_rows=n_rows, n_factors=k, max_activation=table.max_activation, out=out)
        _launch(self.backend, "project_rows", values, self.dtype, n_rows)
        return self.backend.download(out).reshape(n_rows, k)

    def close(self):
        self._device.clear()
        self._extra.clear()


def _launch(backend, kernel, values, dtype, n_work):
    """Launch a kernel outside a training binding (prediction, projection), with its scratch if it has one."""
    grid, block = launch_shape(kernel, n_work)
    shared = 0
    if any(name == "scratch" for name, _ in specs.KERNELS[kernel]):
        values["scratch"], values["scratch_per_block"], shared = _scratch(backend, kernel, values, dtype, grid, block)
    module = load_kernels(backend, SOURCES[kernel])
    backend.launch(module, f"{kernel}<{_C_TYPES[np.dtype(dtype)]}>", grid, block,
                   specs.arguments(kernel, values, dtype), shared_mem=shared)


# ---------------------------------------------------------------- prediction
def _check_rows(index, n_rows, name):
    """Encoded rows of a prediction: C-contiguous int32 in [-1, n_rows) (-1: an unknown id)."""
    if not isinstance(index, np.ndarray) or index.dtype != np.int32 or not index.flags.c_contiguous \
            or index.ndim != 1:
        raise TypeError(f"internal error: {name} must be a C-contiguous 1-D int32 array")
    if index.shape[0] and (index.min() < -1 or index.max() >= n_rows):
        raise ValueError(f"internal error: {name} holds a row outside [-1, {n_rows})")


def _same_dtype(dtype, **arrays):
    for name, array in arrays.items():
        if array.dtype != dtype or not array.flags.c_contiguous:
            raise TypeError(f"internal error: {name} must be C-contiguous {dtype}, got {array.dtype}")


def _upload(backend, **arrays):
    return {name: backend.upload(np.ascontiguousarray(array)) for name, array in arrays.items()}


def mf_predict(backend, *, user_index, item_index, global_mean, user_factors, item_factors, user_bias, item_bias):
    """mu + b_u + b_i + p_u . q_i of encoded rows on the device; -1 marks an unknown id."""
    dtype = user_factors.dtype
    _check_rows(user_index, user_bias.shape[0], "user_index")
    _check_rows(item_index, item_bias.shape[0], "item_index")
    _same_dtype(dtype, item_factors=item_factors, user_bias=user_bias, item_bias=item_bias)
    if user_index.shape != item_index.shape or user_factors.shape[1] != item_factors.shape[1] \
            or user_factors.shape[0] != user_bias.shape[0] or item_factors.shape[0] != item_bias.shape[0]:
        raise ValueError("internal error: mf_predict's rows or tables do not match")
    n = user_index.shape[0]
    out = backend.zeros((n,), dtype)
    values = {**_upload(backend, user_index=user_index, item_index=item_index, user_factors=user_factors,
                        item_factors=item_factors, user_bias=user_bias, item_bias=item_bias),
              "n_samples": n, "global_mean": float(global_mean), "n_factors": user_factors.shape[1], "out": out}
    _launch(backend, "mf_predict", values, dtype, n)
    return backend.download(out)


def mf_score_items(backend, *, user_index, global_mean, user_factors, item_factors, user_bias, item_bias):
    """(len(user_index), n_items) scores mu + b_u + b_i + p_u . q_i on the device (-1: an unknown user)."""
    dtype = user_factors.dtype
    n_items = item_factors.shape[0]
    _check_rows(user_index, user_bias.shape[0], "user_index")
    _same_dtype(dtype, item_factors=item_factors, user_bias=user_bias, item_bias=item_bias)
    if user_factors.shape[1] != item_factors.shape[1] or user_factors.shape[0] != user_bias.shape[0] \
            or item_bias.shape[0] != n_items:
        raise ValueError("internal error: mf_score_items's tables do not match")
    n_users = user_index.shape[0]
    out = backend.zeros((n_users * n_items,), dtype)
    if n_users and n_items:
        values = {**_upload(backend, user_index=user_index, user_factors=user_factors, item_factors=item_factors,
                            user_bias=user_bias, item_bias=item_bias),
                  "n_users": n_users, "n_items": n_items, "global_mean": float(global_mean),
                  "n_factors": user_factors.shape[1], "out": out}
        _launch(backend, "mf_score_items", values, dtype, n_users * n_items)
    return backend.download(out).reshape(n_users, n_items)


def fm_predict(backend, *, indptr, indices, data, intercept, feature_bias, feature_factors):
    """Raw FM scores of CSR rows on the device."""
    from ._checks import _check_csr

    dtype = feature_bias.dtype
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices, data, n, feature_bias.shape[0], dtype)
    _same_dtype(dtype, feature_factors=feature_factors)
    if feature_factors.ndim != 2 or feature_factors.shape[0] != feature_bias.shape[0]:
        raise ValueError("internal error: feature_factors does not match feature_bias")
    out = backend.zeros((n,), dtype)
    values = {**_upload(backend, indptr=indptr, indices=indices, data=data, feature_bias=feature_bias,
                        feature_factors=feature_factors),
              "n_samples": n, "intercept": float(intercept), "n_factors": feature_factors.shape[1], "out": out}
    _launch(backend, "fm_predict", values, dtype, n)
    return backend.download(out)


def _ncf_values(backend, n_factors, mlp_dim, layer_sizes, user_gmf, item_gmf, user_mlp, item_mlp, dense):
    """The checked network uploaded as the NeuralCF prediction kernels take it: (values, host layer
    sizes, n_users, n_items)."""
    dtype = dense.dtype
    k, d = int(n_factors), int(mlp_dim)
    sizes = np.ascontiguousarray(layer_sizes, dtype=np.int32)
    if d > 0 and (sizes.shape[0] < 1 or sizes[0] != 2 * d or sizes.shape[0] - 1 > 32 or (sizes < 1).any()):
        raise ValueError("internal error: layer_sizes must start with 2 * mlp_dim and hold at most 32 layers")
    n_users, n_items = user_gmf.shape[0], item_gmf.shape[0]
    for name, table, rows, width in (("user_gmf", user_gmf, n_users, k), ("item_gmf", item_gmf, n_items, k),
                                     ("user_mlp", user_mlp, n_users, d), ("item_mlp", item_mlp, n_items, d)):
        if table.shape != (rows, width):
            raise ValueError(f"internal error: {name} has shape {table.shape}, expected {(rows, width)}")
    _same_dtype(dtype, user_gmf=user_gmf, item_gmf=item_gmf, user_mlp=user_mlp, item_mlp=item_mlp)
    if dense.shape != (ncf_dense_size(k, d, sizes),):
        raise ValueError("internal error: the dense vector does not match the network")
    values = _upload(backend, layer_sizes=sizes, user_gmf=user_gmf, item_gmf=item_gmf, user_mlp=user_mlp,
                     item_mlp=item_mlp, dense=dense)
    values.update(n_factors=k, mlp_dim=d, n_layers=sizes.shape[0] - 1 if d > 0 else 0)
    return values, sizes, n_users, n_items


def _ncf_launch(backend, kernel, values, sizes, dtype, n_work):
    grid, block = launch_shape(kernel, n_work)
    # the scratch holds the tower's activations: its widths from the host copy of the sizes
    scratch, doubles, shared = _scratch(backend, kernel, {**values, "layer_sizes": sizes}, dtype, grid, block)
    values = {**values, "scratch": scratch, "scratch_per_block": doubles}
    backend.launch(load_kernels(backend, SOURCES[kernel]), f"{kernel}<{_C_TYPES[np.dtype(dtype)]}>", grid, block,
                   specs.arguments(kernel, values, dtype), shared_mem=shared)


def ncf_predict(backend, *, user_index, item_index, n_factors, mlp_dim, layer_sizes, user_gmf, item_gmf, user_mlp,
                item_mlp, dense):
    """NeuralCF logits of encoded (user, item) rows on the device; -1 (unknown) gets zero embeddings."""
    values, sizes, n_users, n_items = _ncf_values(backend, n_factors, mlp_dim, layer_sizes, user_gmf, item_gmf,
                                                  user_mlp, item_mlp, dense)
    _check_rows(user_index, n_users, "user_index")
    _check_rows(item_index, n_items, "item_index")
    if user_index.shape != item_index.shape:
        raise ValueError("internal error: user_index and item_index differ in length")
    n = user_index.shape[0]
    out = backend.zeros((n,), dense.dtype)
    values.update(_upload(backend, user_index=user_index, item_index=item_index), n_samples=n, out=out)
    _ncf_launch(backend, "ncf_predict", values, sizes, dense.dtype, n)
    return backend.download(out)


def ncf_score_items(backend, *, user_index, n_factors, mlp_dim, layer_sizes, user_gmf, item_gmf, user_mlp, item_mlp,
                    dense):
    """(len(user_index), n_items) NeuralCF logits of every item for each encoded user, on the device."""
    values, sizes, n_users, n_items = _ncf_values(backend, n_factors, mlp_dim, layer_sizes, user_gmf, item_gmf,
                                                  user_mlp, item_mlp, dense)
    _check_rows(user_index, n_users, "user_index")
    n = user_index.shape[0]
    out = backend.zeros((n * n_items,), dense.dtype)
    if n and n_items:
        values.update(_upload(backend, user_index=user_index), n_users=n, n_items=n_items, out=out)
        _ncf_launch(backend, "ncf_score_items", values, sizes, dense.dtype, n * n_items)
    return backend.download(out).reshape(n, n_items)
