"""The epoch order (``order.pxd``) from Python: the permutation an epoch visits."""

from cython.parallel cimport prange
from libc.stdint cimport uint64_t, int64_t

from recfreq._kernels.cpu.order cimport EpochOrder, epoch_order, order_permute

#: positions per block of the two-pass fill (its pending list lives on the stack)
DEF BLOCK = 1024


cdef void _fill_block(const EpochOrder* order, int64_t start, int64_t stop, long long* out) noexcept nogil:
    """out[p] = epoch_sample(order, p) for p in [start, stop), computed in passes.

    Position by position, each cycle-walking step waits for the last (a Feistel
    network is a chain of dependent multiplies) and the walk's length is a
    branch the CPU cannot predict. Here every pass applies one network step to
    all positions still outside [0, n): the steps of different positions are
    independent, so the CPU overlaps them. Same values as ``epoch_sample``.
    """
    cdef int64_t pending[BLOCK]
    cdef int64_t n_pending = 0, kept, i, p
    cdef uint64_t x
    cdef uint64_t n = <uint64_t>order.n
    for p in range(start, stop):
        x = order_permute(order, <uint64_t>p)
        out[p] = <long long>x
        if x >= n:
            pending[n_pending] = p
            n_pending += 1
    while n_pending:
        kept = 0
        for i in range(n_pending):
            p = pending[i]
            x = order_permute(order, <uint64_t>out[p])
            out[p] = <long long>x
            if x >= n:
                pending[kept] = p
                kept += 1
        n_pending = kept


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
    cdef int64_t n_blocks = (n + BLOCK - 1) // BLOCK
    cdef int64_t b
    cdef long long* base = &out[0]
    with nogil:
        for b in prange(n_blocks, num_threads=max(1, n_threads), schedule="static"):
            _fill_block(&order, b * BLOCK, min(n, (b + 1) * BLOCK), base)
