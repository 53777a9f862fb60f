"""The only package that touches compiled code: the Cython kernels and the CUDA modules.

An estimator describes what a training call trains as a :class:`Training`: the
kernel it runs, the per-sample epoch data, the arrays the kernel updates in
place (parameters and solver state, named as in :mod:`.specs`) and its scalars.
:func:`bind` checks them once and binds them to a device for the whole call:

* ``"cpu"`` (:mod:`.cpu`): zero-copy; each epoch the samples are gathered into
  the epoch's order (or, for kernels that read them through an ``order`` array,
  only the order is computed) and the Cython kernel is called with keyword
  arguments;
* ``"cuda"`` (:mod:`.cuda`): uploaded once; each epoch is one kernel launch with
  positional arguments in the spec's order, the order computed on the device;
  :meth:`write_back` copies the trained arrays back into the estimator's NumPy
  arrays (after every epoch, before the divergence check and validation read them).

Both bindings also give a projected table's plain factors
(``projected_factors(prefix, table)``: NumPy on the CPU, a kernel on the GPU).

Both devices visit an epoch's samples in the same keyed order
(:func:`recfreq._epoch_order.epoch_permutation`), so a ``random_state`` gives the
same start and the same sample order on either.

NeuralCF draws its negatives and dropout masks inside the kernel from a
counter-based generator keyed on (a seed per call, the epoch, each row's own
index, a stream), so those draws are also the same on any device and thread
count. Every model trains through a binding; the one-shot functions of
:mod:`.cpu` remain for the tests, to run one epoch over an order of their own.
"""

from dataclasses import dataclass, field

from . import specs
from .cpu import (EpochLoss, build_info, effective_n_threads, usable_cpus, table_kwargs, baseline_epoch,
                  mf_epoch, mf_ranking_epoch, mf_projected_epoch, mf_predict, fm_arrays, fm_epoch,
                  fm_ranking_epoch, fm_projected_epoch, fm_predict, ncf_epoch, ncf_sample_negatives,
                  projected_arrays)
from .specs import solver_arrays, solver_config

__all__ = ["Training", "bind", "check_device", "device_call", "prediction_backend", "EpochLoss", "build_info",
           "effective_n_threads", "usable_cpus", "solver_config", "solver_arrays", "projected_arrays", "fm_arrays",
           "table_kwargs", "baseline_epoch", "mf_epoch", "mf_ranking_epoch", "mf_projected_epoch", "mf_predict",
           "fm_epoch", "fm_ranking_epoch", "fm_projected_epoch", "fm_predict", "ncf_epoch", "ncf_sample_negatives",
           "specs"]


@dataclass
class Training:
    """What one ``fit``/``partial_fit`` call trains.

    Attributes
    ----------
    kernel : str
        A kernel of :data:`.specs.KERNELS` (``"mf_epoch"``).
    samples : dict of str to ndarray
        The epoch data, visited in each epoch's order: per-sample arrays
        (``user_index``, ``item_index``, ``ratings``), or for kernels that
        read their samples through an order (the factorization machine) the
        CSR rows and their targets (``indptr``, ``indices``, ``data``,
        ``targets``).
    arrays : dict of str to ndarray
        Parameters and solver state, trained in place (the estimator's own arrays).
    scalars : dict of str to int or float
        Everything else the kernel takes, except the clock (``t_start``,
        ``t_span``: given per epoch).
    n_samples : int, optional
        Samples per epoch; by default the length of the first array of ``samples``.
    """

    kernel: str
    samples: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    scalars: dict = field(default_factory=dict)
    n_samples: int = None

    def __post_init__(self):
        if self.n_samples is None:
            self.n_samples = int(next(iter(self.samples.values())).shape[0])


def bind(device, training, n_threads):
    """Check ``training`` once and bind it to ``device`` for the epochs of one call.

    Returns an object with ``run_epoch(t_start=, order_seed=, epoch=,
    next_epoch=None, t_span=None) -> EpochLoss``, ``write_back()``,
    ``projected_factors(prefix, table)`` and ``close()``. ``t_span``
    (``mf_epoch`` only) is the number of steps of the model's clock the
    epoch's n samples span: sample i is step
    ``t_start + floor((i + 1) * t_span / n)``; None is n, one step per sample.
    """
    if device == "cuda":
        from .cuda import CudaBinding

        return CudaBinding(training)
    from .cpu import CpuBinding

    return CpuBinding(training, n_threads)


def check_device(device, model, supported=True):
    """Raise now, before anything is allocated, if ``device`` cannot train ``model``.

    ``supported``: whether the model with its current settings has CUDA kernels
    (every estimator and solver has; a later setting without a kernel says False
    and gets a NotImplementedError here).
    """
    if device != "cuda":
        return
    from .cuda import require_device

    require_device()
    if not supported:
        raise NotImplementedError(
            f"device='cuda' is not implemented for {model} with these settings yet; use device='cpu'."
        )


def device_call(name, backend, **kwargs):
    """Run the prediction kernel ``name`` of :mod:`.cuda` (``"mf_predict"``, ``"ncf_score_items"``, ...) on ``backend``."""
    from . import cuda

    if name not in cuda.PREDICTIONS:
        raise ValueError(f"internal error: {name!r} is not a device prediction")
    return getattr(cuda, name)(backend, **kwargs)


def prediction_backend(device):
    """The device backend a model fitted with ``device`` predicts on, or None for the CPU.

    ``"cuda"`` predicts on the GPU when one is usable here; a GPU-trained model
    loaded on a machine without CuPy or a device predicts on the CPU.
    """
    if device != "cuda":
        return None
    from .cuda import prediction_backend as backend

    return backend()
