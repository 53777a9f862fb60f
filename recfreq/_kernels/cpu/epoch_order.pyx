"""The epoch order (``order.pxd``) from Python: the permutation an epoch visits."""

from cython.parallel cimport prange
from libc.stdint cimport uint64_t, int64_t

from recfreq._kernels.cpu.order cimport EpochOrder, epoch_order, epoch_sample

def epoch_permutation(long long n, unsigned long long seed, unsigned long long epoch, long long[::1] out,
                      int n_threads=1):
    """Fill ``out[:n]`` with the samples positions 0 .. n-1 of the epoch train (nogil).

    Each position is computed on its own, so ``n_threads`` OpenMP threads
    split them and the order is the same for any thread count. The host
    computes it between two epochs when every core runs the kernel, where its
    cycle-walked Feistel rounds would otherwise leave all but one core idle.
    """
    if out.shape[0] < n:
        raise ValueError(f"out holds {out.shape[0]} entries, fewer than n={n}")
    if n <= 0:
        return
    cdef EpochOrder order = epoch_order(n, seed, epoch)
    cdef int64_t p
    with nogil:
        for p in prange(n, num_threads=max(1, n_threads), schedule="static"):
            out[p] = epoch_sample(&order, p)
