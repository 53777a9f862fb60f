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
import os
import shutil

import pytest

from _emulated_device import EmulatedDevice

__all__ = ["BACKEND_NAMES", "REQUIRE_ENV", "device", "emulated_device", "make_backend", "skip_or_fail"]

BACKEND_NAMES = ("emulated", "cupy")

#: Set to 1 (CI does) to turn a missing compiler (g++, nvcc, NVRTC) into a
#: failure instead of a skip.
REQUIRE_ENV = "RECFREQ_REQUIRE_CUDA_COMPILERS"


def skip_or_fail(reason):
    """Skip the test, or fail it where the environment requires the compilers."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires the CUDA compilers)")
    pytest.skip(reason)


@functools.cache
def _emulated_device():
    return EmulatedDevice()


def emulated_device():
    """The session's emulated device (one compile cache for all tests); skips without g++."""
    if shutil.which("g++") is None:
        skip_or_fail("g++ is not installed: the emulated CUDA device compiles kernels with it")
    return _emulated_device()


@functools.cache
def _cupy_backend_or_reason():
    from recfreq._device_backend import CupyBackend

    try:
        return CupyBackend(), None
    except (ImportError, RuntimeError) as exc:
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
