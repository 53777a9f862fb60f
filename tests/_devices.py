"""Device backends to run CUDA kernels on in tests.

``device`` (a fixture, registered in conftest.py) yields each backend in
turn: the emulated device always, CuPy's only where a CUDA device is
usable (that case carries the ``gpu`` marker and is skipped cleanly
elsewhere). Parametrize a test over devices by asking for the fixture::

    def test_something(device):
        module = device.load_module(code, ["kernel<float>"])
        device.launch(module, "kernel<float>", grid, block, args)
"""

import functools

import pytest

from _emulated_device import EmulatedDevice

__all__ = ["BACKEND_NAMES", "device", "emulated_device", "make_backend"]

BACKEND_NAMES = ("emulated", "cupy")


@functools.cache
def emulated_device():
    """The session's emulated device (one compile cache for all tests)."""
    return EmulatedDevice()


@functools.cache
def _cupy_backend_or_reason():
    from recfreq._device_backend import CupyBackend

    try:
        return CupyBackend(), None
    except ImportError as exc:
        return None, str(exc)


def make_backend(name):
    """The backend called ``name``; skips the test when CuPy has no usable device."""
    if name == "emulated":
        return emulated_device()
    if name == "cupy":
        backend, reason = _cupy_backend_or_reason()
        if backend is None:
            pytest.skip(f"no usable CUDA device: {reason}")
        return backend
    raise ValueError(f"unknown device backend {name!r}; expected one of {BACKEND_NAMES}.")


@pytest.fixture(params=[pytest.param("emulated"), pytest.param("cupy", marks=pytest.mark.gpu)])
def device(request):
    """Each device backend in turn (CuPy's skipped without a usable GPU)."""
    return make_backend(request.param)
