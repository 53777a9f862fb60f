"""Device selection. CuPy is imported only when ``device="cuda"`` is asked for."""

import importlib

import numpy as np

__all__ = ["GPU_INSTALL_HINT", "cuda_available", "import_cupy", "to_numpy"]

GPU_INSTALL_HINT = (
    "install the GPU extra with `pip install recfreq[gpu]` (or recfreq[gpu-cuda12] / "
    "recfreq[gpu-cuda13] to match your CUDA driver)"
)


def import_cupy():
    """Import CuPy and check that a CUDA device is usable.

    Raises
    ------
    ImportError
        If CuPy is missing or no CUDA device can be used; the message names
        ``pip install recfreq[gpu]``.
    """
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise ImportError(f"device='cuda' needs CuPy: {GPU_INSTALL_HINT}.") from exc
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises its own CUDARuntimeError subclasses
        raise ImportError(
            f"device='cuda' was requested but CuPy cannot reach a CUDA device ({exc}). "
            f"Check the driver, or {GPU_INSTALL_HINT}."
        ) from exc
    if n_devices < 1:
        raise ImportError(f"device='cuda' was requested but no CUDA device was found; {GPU_INSTALL_HINT}.")
    return cupy


def cuda_available():
    """Return True if CuPy imports and sees at least one CUDA device."""
    try:
        import_cupy()
    except ImportError:
        return False
    return True


def to_numpy(array):
    """Return a NumPy array for a NumPy or CuPy array (fitted attributes are always NumPy)."""
    if type(array).__module__.split(".")[0] == "cupy":
        return array.get()
    return np.asarray(array)
