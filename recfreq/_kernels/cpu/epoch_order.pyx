"""The epoch order (``order.pxd``) from Python: the permutation an epoch visits,
and the samples of an epoch gathered into it."""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t

from recfreq._kernels.cpu.order cimport EpochOrder, epoch_order, epoch_sample


def epoch_permutation(long long n, unsigned long long seed, unsigned long long epoch, long long[::1] out,
                      int n_threads=1):
    """Fill ``out[:n]`` with the samples positions 0 .. n-1 of the epoch train (nogil).

    Each position is computed on its own, so ``n_threads`` OpenMP threads
    split them and the order is the same for any thread count.
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


def epoch_gather(unsigned long long seed, unsigned long long epoch,
                 const int[::1] user_index, const int[::1] item_index, const floating[::1] values,
                 int[::1] user_out, int[::1] item_out, floating[::1] values_out, long long[::1] order_out,
                 int n_threads=1):
    """Gather (user, item, value) samples into the epoch's order, in one pass (nogil).

    Position p of the outputs gets sample ``epoch_sample(p)`` of the inputs;
    ``order_out`` receives the sample indices too unless it is empty, and
    samples without values (``values`` and ``values_out`` both empty) gather
    only their two ids. One pass computes each position's sample and copies
    its fields, where a permutation followed by three takes would read the
    order three times. The result is the same for any ``n_threads``.
    """
    cdef Py_ssize_t n = user_index.shape[0]
    cdef bint with_values = values.shape[0] > 0 or values_out.shape[0] > 0
    if (item_index.shape[0] != n or user_out.shape[0] != n or item_out.shape[0] != n
            or (with_values and (values.shape[0] != n or values_out.shape[0] != n))):
        raise ValueError("epoch_gather: inputs and outputs must all hold n samples")
    cdef bint keep_order = order_out.shape[0] > 0
    if keep_order and order_out.shape[0] != n:
        raise ValueError(f"order_out holds {order_out.shape[0]} entries, not n={n} (or 0)")
    if n == 0:
        return
    cdef EpochOrder order = epoch_order(n, seed, epoch)
    cdef Py_ssize_t p
    cdef int64_t s
    with nogil:
        for p in prange(n, num_threads=max(1, n_threads), schedule="static"):
            s = epoch_sample(&order, p)
            user_out[p] = user_index[s]
            item_out[p] = item_index[s]
            if with_values:
                values_out[p] = values[s]
            if keep_order:
                order_out[p] = s
