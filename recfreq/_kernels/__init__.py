"""The compiled kernels of both devices, file for file: Cython in ``cpu/``, CUDA in ``cuda/``.

Nothing outside :mod:`recfreq._engine` imports them.
"""
