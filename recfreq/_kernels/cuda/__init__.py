"""CUDA C++ sources (``.cu``, ``.cuh``), read with :func:`recfreq._device_backend.kernel_source`.

Nothing here is imported as Python; the package exists so that
``importlib.resources`` can find the sources in an installed wheel.
"""
