# The epoch order as a keyed bijection of [0, n): the CPU side of
# ../cuda/order.cuh, function for function. Position p of an epoch trains
# sample epoch_sample(&order, p). Both devices compute the same order from the
# same (seed, epoch) key; the GPU where it uses it, the CPU when it gathers the
# samples of an epoch into order (so its kernels read them sequentially).
#
# A Feistel network on b bits (2^b >= n > 2^(b-1), fewer than 2n values) whose
# halves of floor(b/2) and ceil(b/2) bits trade widths every round, with four
# rounds of the SplitMix64 finalizer; values outside [0, n) are walked through
# the network again (cycle walking keeps it a bijection of [0, n)).
# Unsigned 64-bit arithmetic wraps in C as it does on the GPU.

from libc.stdint cimport uint64_t, int64_t


cdef struct EpochOrder:
    int64_t n
    int low_bits    # width of the right half; the left half has the rest
    int high_bits
    uint64_t round_key[4]


cdef inline uint64_t order_mix64(uint64_t z) noexcept nogil:
    z = z + <uint64_t>0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline EpochOrder epoch_order(int64_t n, uint64_t seed, uint64_t epoch) noexcept nogil:
    cdef EpochOrder order
    cdef int bits = 0
    cdef int r
    cdef uint64_t key
    order.n = n
    while bits < 62 and ((<int64_t>1) << bits) < n:
        bits += 1
    order.low_bits = bits // 2
    order.high_bits = bits - bits // 2
    key = order_mix64(seed ^ order_mix64(epoch))
    for r in range(4):
        order.round_key[r] = order_mix64(key + <uint64_t>(r + 1))
    return order


cdef inline uint64_t order_permute(const EpochOrder* order, uint64_t x) noexcept nogil:
    cdef int left_bits = order.high_bits
    cdef int right_bits = order.low_bits
    cdef int width
    cdef uint64_t left = x >> right_bits
    cdef uint64_t right = x & (((<uint64_t>1) << right_bits) - 1)
    cdef uint64_t nxt
    cdef int r
    for r in range(4):
        # (L, R) -> (R, L ^ F(R)): the halves trade widths
        nxt = left ^ (order_mix64(right ^ order.round_key[r]) & (((<uint64_t>1) << left_bits) - 1))
        left = right
        right = nxt
        width = left_bits
        left_bits = right_bits
        right_bits = width
    return (left << right_bits) | right


cdef inline int64_t epoch_sample(const EpochOrder* order, int64_t position) noexcept nogil:
    cdef uint64_t x = order_permute(order, <uint64_t>position)
    while x >= <uint64_t>order.n:
        x = order_permute(order, x)
    return <int64_t>x
