"""Compiled kernels. Nothing outside :mod:`recfreq._engine` imports these modules."""
