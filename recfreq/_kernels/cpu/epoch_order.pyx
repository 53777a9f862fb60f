"""The epoch order (``order.pxd``) from Python: the permutation an epoch visits."""

from libc.stdint cimport uint64_t, int64_t

from recfreq._kernels.cpu.order cimport EpochOrder, epoch_order, epoch_sample


def epoch_permutation(long long n, unsigned long long seed, unsigned long long epoch, long long[::1] out):
    """Fill ``out[:n]`` with the samples positions 0 .. n-1 of the epoch train (nogil)."""
    cdef EpochOrder order = epoch_order(n, seed, epoch)
    cdef int64_t p
    with nogil:
        for p in range(n):
            out[p] = epoch_sample(&order, p)
