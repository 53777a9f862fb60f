"""The CUDA side of the engine: kernels compiled at first use, launched with positional arguments.

The host code talks to the GPU only through the backend interface of
:mod:`recfreq._device_backend` (upload, zeros, download, load a module, launch,
synchronize). In use that is CuPy (:class:`~recfreq._device_backend.CupyBackend`,
imported only when ``device="cuda"`` is asked for); the test suite installs an
emulated device that compiles the same ``.cu`` sources with a C++ compiler and
runs them on the CPU (:func:`use_backend`).

A training call uploads its samples, parameters and solver state once
(:class:`CudaBinding`) and launches one kernel per epoch (the epoch order is
computed in the kernel from its (seed, epoch) key, so no permutation crosses
the bus). :meth:`CudaBinding.write_back` copies the trained arrays back into
the estimator's NumPy arrays; the training loop calls it after every epoch,
before the divergence check and validation read them (a download of the
parameters and solver state per epoch; a device-side divergence bound would
remove it, not done yet). Fitted
attributes are therefore always NumPy: a model trained on a GPU pickles and
predicts anywhere.
"""

import contextlib
import math

import numpy as np

from .._backend import GPU_INSTALL_HINT, import_cupy
from .._solvers import Solver
from . import specs
from .cpu import EpochLoss, _clock

__all__ = ["CudaBinding", "COMPILE_OPTIONS", "GPU_INSTALL_HINT", "SOURCES", "load_kernels", "module_plan",
           "require_device", "use_backend"]

#: the CUDA source of each kernel
SOURCES = {"baseline_epoch": "baseline.cu", "mf_epoch": "mf.cu", "mf_predict": "mf.cu"}
_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
#: threads per block; at most this many blocks (grid-stride loops cover the rest)
_BLOCK = 256
_MAX_BLOCKS = 1 << 16

_override = {"backend": None, "sequential": False}
_modules = {}


@contextlib.contextmanager
def use_backend(backend, sequential=False):
    """Run ``device="cuda"`` on ``backend`` inside the block (tests: the emulated device).

    ``sequential=True`` launches one warp (one thread for per-thread kernels),
    which visits the samples in the CPU's ``n_jobs=1`` order.
    """
    saved = dict(_override)
    _override.update(backend=backend, sequential=sequential)
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
    from .._device_backend import CupyBackend

    return CupyBackend()  # imports CuPy, with require_device's errors


#: options every module is compiled with
COMPILE_OPTIONS = ("-std=c++17",)


def module_plan():
    """{filename: (name expressions, defines)}: how every module is compiled (the compile checks use it too)."""
    from .._device_backend import enum_defines

    plan = {}
    for filename in sorted(set(SOURCES.values())):
        names = [kernel for kernel, source in SOURCES.items() if source == filename]
        expressions = tuple(f"{kernel}<{c_type}>" for kernel in names for c_type in ("float", "double"))
        plan[filename] = (expressions, enum_defines(Solver, "SOLVER_"))
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


def _launch_shape(kernel, n_samples):
    """(grid, block): one warp per sample for MF, one thread per sample for the biases."""
    per_thread = kernel == "baseline_epoch"
    if _override["sequential"]:
        return (1,), (1 if per_thread else 32,)
    per_block = _BLOCK if per_thread else _BLOCK // 32
    return (max(1, min(_MAX_BLOCKS, math.ceil(n_samples / per_block))),), (_BLOCK,)


class CudaBinding:
    """A training call bound to the GPU: its arrays uploaded once, one launch per epoch."""

    def __init__(self, training):
        from ._checks import CHECKS

        CHECKS[training.kernel]({**training.samples, **training.arrays}, training.scalars)
        self.training = training
        self.backend = _backend()
        self.dtype = training.samples["ratings"].dtype
        self._module = load_kernels(self.backend, SOURCES[training.kernel])
        self._n = training.n_samples
        self._device = {name: self.backend.upload(np.ascontiguousarray(array))
                        for name, array in {**training.samples, **training.arrays}.items()}

    def run_epoch(self, *, t_start, order_seed, epoch, next_epoch=None, t_span=None):
        """Launch epoch ``epoch``; return its summed loss (the only value that comes back).

        ``t_span``: as for the CPU binding (the steps of the clock the samples span).
        """
        kernel = self.training.kernel
        spans = any(name == "t_span" for name, _ in specs.KERNELS[kernel])
        clock = _clock(kernel, spans, self._n, t_start, t_span)
        loss = self.backend.zeros((1,), np.float64)
        values = {**self._device, **self.training.scalars, "n_samples": self._n, "order_seed": order_seed,
                  "order_epoch": epoch, **clock, "loss": loss}
        grid, block = _launch_shape(kernel, self._n)
        self.backend.launch(self._module, f"{kernel}<{_C_TYPES[self.dtype]}>", grid, block,
                            specs.arguments(kernel, values, self.dtype))
        result = EpochLoss(float(self.backend.download(loss)[0]))
        result.samples_per_thread = None  # a GPU's threads are not OpenMP threads
        return result

    def write_back(self):
        """Copy the trained parameters and solver state into the estimator's NumPy arrays."""
        const = {name for name, c_type in specs.KERNELS[self.training.kernel] if c_type.startswith("const")}
        for name, array in self.training.arrays.items():
            if array.size and name not in const:
                np.copyto(array, self.backend.download(self._device[name]).reshape(array.shape))

    def close(self):
        self._device.clear()
