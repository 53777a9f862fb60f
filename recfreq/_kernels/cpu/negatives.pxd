# Sampled negatives for the models trained on implicit feedback (NeuralCF, the
# ranking losses of MatrixFactorization): an item the row's user has no
# training interaction with, drawn from the counter-based generator of
# rng.pxd, so the draw depends on (key, the row's own index, the negative's
# number) and never on the thread that makes it.
#
# Negative s (s >= 1) of a row first tries word (s - 1) mod 4 of block
# (s - 1) // 4 of the row's stream STREAM_FIRST_TRIES, so one Philox call
# serves the first tries of four negatives; when that candidate is refused (a
# positive of the user, or a word Lemire's bounded draw would reject) the
# negative goes on with its own stream negative_stream(s). Each negative is a
# function of (row, s) alone.
#
# The functions trust their arguments: positives is the user's sorted row of
# training items, n_items >= 1.

from libc.stdint cimport uint32_t, uint64_t, int64_t

from recfreq._kernels.cpu.rng cimport RngStream, rng_stream, rng_bounded

cdef enum:
    # uniform draws tried before the exact (rank-mapping) fallback of a dense user
    MAX_REJECTIONS = 32
    # stream 0 of a row (whose emitted sample 0, the row itself, draws no
    # negative) holds its negatives' first tries
    STREAM_FIRST_TRIES = 0


cdef inline uint32_t negative_stream(int s) noexcept nogil:
    """The stream of a row's s-th negative (s >= 1); odd streams are left to other draws."""
    return <uint32_t>(2 * s)


cdef inline bint contains_item(const int* sorted_items, Py_ssize_t n, int item) noexcept nogil:
    """Binary search in one user's sorted row of training positives.

    Branch-free: each halving picks its half with a conditional move, so a
    random candidate (which lands anywhere in the row) costs no mispredicted
    branches; a draw with WARP's several candidates per positive, or
    NeuralCF's per negative, runs this in its inner loop.
    """
    cdef const int* base = sorted_items
    cdef Py_ssize_t half
    if n <= 0:
        return False
    while n > 1:
        half = n >> 1
        base = base + half if base[half] <= item else base
        n = n - half
    return base[0] == item


cdef inline int sample_negative_from(RngStream* rng, const int* positives, Py_ssize_t n_pos,
                                     int n_items) noexcept nogil:
    """An item in [0, n_items) that is not in the user's sorted `positives`, from `rng`.

    Uniform draws are rejected while they hit a positive; after MAX_REJECTIONS
    misses (a user holding most items) the r-th non-positive item is taken for a
    uniform r, which is exact and never a positive. Only a user who has every
    item as a positive gets a uniform draw (there is no negative to give).
    """
    cdef int j
    cdef Py_ssize_t a
    cdef int tries
    if n_pos >= n_items:
        return <int>rng_bounded(rng, <uint32_t>n_items)
    for tries in range(MAX_REJECTIONS):
        j = <int>rng_bounded(rng, <uint32_t>n_items)
        if not contains_item(positives, n_pos, j):
            return j
    j = <int>rng_bounded(rng, <uint32_t>(n_items - n_pos))
    for a in range(n_pos):
        # every positive at or below the candidate pushes it one further
        if positives[a] <= j:
            j = j + 1
        else:
            break
    return j


cdef inline int sample_negative(uint32_t first_try, uint64_t key, int64_t row, uint32_t stream,
                                const int* positives, Py_ssize_t n_pos, int n_items) noexcept nogil:
    """A negative item of the row's user: `first_try` (a 32-bit word) when it gives one,
    else the draws of the negative's own (`row`, `stream`).

    The first try maps the word onto [0, n_items) by Lemire's multiply-shift
    and keeps it unless the method would reject the word (so it stays
    unbiased) or the item is a positive of the user (a user holding every
    item keeps any item, as in the fallback).
    """
    cdef uint64_t m = <uint64_t>first_try * <uint64_t>n_items
    cdef uint32_t low = <uint32_t>m
    cdef int j
    cdef RngStream rng
    if low >= <uint32_t>n_items or low >= (<uint32_t>(0 - <uint32_t>n_items)) % <uint32_t>n_items:
        j = <int>(m >> 32)
        if n_pos >= n_items or not contains_item(positives, n_pos, j):
            return j
    rng = rng_stream(key, row, stream)
    return sample_negative_from(&rng, positives, n_pos, n_items)
