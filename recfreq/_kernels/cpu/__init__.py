"""Cython kernels (OpenMP, nogil). Nothing outside :mod:`recfreq._engine` imports these modules."""
