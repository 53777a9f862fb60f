"""CuPy, imported only when ``device="cuda"`` is asked for, and whether a GPU is usable."""

import importlib

import numpy as np

__all__ = ["GPU_INSTALL_HINT", "cuda_available", "import_cupy", "to_numpy"]

#: What to run when CuPy is missing. recfreq is installed from a checkout (it is
#: not on a package index), so the extras are spelled against the checkout.
GPU_INSTALL_HINT = (
    "install CuPy for your CUDA driver: from a checkout of recfreq, pip install -e \".[gpu-cuda12]\" "
    "(CUDA 12) or pip install -e \".[gpu-cuda13]\" (CUDA 13); or directly, pip install cupy-cuda12x "
    "(or cupy-cuda13x)"
)


def import_cupy():
    """Import CuPy and check that a CUDA device is usable.

    Raises
    ------
    ImportError
        If CuPy is not installed; the message gives the install commands.
    RuntimeError
        If CuPy is installed but no CUDA device can be used (no GPU, or a
        driver older than CuPy's CUDA runtime).
    """
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise ImportError(f"device='cuda' needs CuPy, which is not installed: {GPU_INSTALL_HINT}.") from exc
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises its own CUDARuntimeError classes
        raise RuntimeError(
            f"device='cuda': CuPy is installed but cannot use a CUDA device ({exc}). Check the NVIDIA driver "
            "(nvidia-smi), or train with device='cpu'."
        ) from exc
    if n_devices < 1:
        raise RuntimeError("device='cuda': CuPy is installed but finds no CUDA device; train with device='cpu'.")
    return cupy


def cuda_available():
    """Return True if CuPy imports and sees at least one CUDA device."""
    try:
        import_cupy()
    except (ImportError, RuntimeError):
        return False
    return True


def to_numpy(array):
    """Return a NumPy array for a NumPy or CuPy array (fitted attributes are always NumPy)."""
    if type(array).__module__.split(".")[0] == "cupy":
        return array.get()
    return np.asarray(array)
