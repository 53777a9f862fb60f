# The epoch order as a keyed bijection of [0, n): the CPU side of
# ../cuda/order.cuh, function for function. Position p of an epoch trains
# sample epoch_sample(&order, p). Both devices compute the same order from the
# same (seed, epoch) key; the GPU where it uses it, the CPU when it gathers the
# samples of an epoch into order (so its kernels read them sequentially).
#
# A Feistel network on the mixed radix a x 2^s that holds [0, n): with b the
# bits of n (2^b >= n > 2^(b-1)), s = floor(b/2) and a = ceil(n / 2^s), a value
# x is the pair (hi, lo) = (x >> s, x & (2^s - 1)). Four rounds alternate
# hi <- (hi + scale(F(lo), a)) mod a and lo <- lo ^ scale(F(hi), 2^s), each
# invertible, with F a two-multiply 32-bit hash of (half ^ round key) and
# scale(h, m) = (h * m) >> 32 its top bits mapped onto [0, m). Fewer than 2^s
# of the a * 2^s values lie at n or above (a share below 1/a, about 1/sqrt(n));
# those are walked through the network again (cycle walking keeps it a
# bijection of [0, n)). Every half fits 32 bits (s <= 31, a <= 2^31), so a
# round is 32-bit arithmetic on either device; unsigned arithmetic wraps in C
# as it does on the GPU.

from libc.stdint cimport uint32_t, uint64_t, int64_t


cdef struct EpochOrder:
    int64_t n
    uint32_t high_radix    # a = ceil(n / 2^s): hi is in [0, a)
    int low_bits           # s = floor(b / 2): lo is in [0, 2^s)
    uint32_t round_key[4]


cdef inline uint64_t order_mix64(uint64_t z) noexcept nogil:
    # SplitMix64's finalizer: derives the round keys from (seed, epoch)
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
    order.high_radix = <uint32_t>((n + ((<int64_t>1) << order.low_bits) - 1) >> order.low_bits)
    if order.high_radix == 0:   # n == 0: no position is ever asked for
        order.high_radix = 1
    key = order_mix64(seed ^ order_mix64(epoch))
    for r in range(4):
        order.round_key[r] = <uint32_t>order_mix64(key + <uint64_t>(r + 1))
    return order


cdef inline uint32_t order_round(uint32_t half, uint32_t key) noexcept nogil:
    cdef uint32_t h = (half ^ key) * <uint32_t>0x9E3779B1U
    h = h ^ (h >> 15)
    return h * <uint32_t>0x2C1B3C6DU


cdef inline uint32_t order_scale(uint32_t h, uint64_t m) noexcept nogil:
    # the top bits of h mapped onto [0, m): floor(h * m / 2^32)
    return <uint32_t>((<uint64_t>h * m) >> 32)


cdef inline uint64_t order_permute(const EpochOrder* order, uint64_t x) noexcept nogil:
    cdef int s = order.low_bits
    cdef uint32_t a = order.high_radix
    cdef uint32_t hi = <uint32_t>(x >> s)
    cdef uint32_t lo = <uint32_t>(x & (((<uint64_t>1) << s) - 1))
    cdef int r
    for r in range(0, 4, 2):
        hi = hi + order_scale(order_round(lo, order.round_key[r]), a)
        if hi >= a:
            hi = hi - a
        lo = lo ^ order_scale(order_round(hi, order.round_key[r + 1]), (<uint64_t>1) << s)
    return ((<uint64_t>hi) << s) | lo


cdef inline int64_t epoch_sample(const EpochOrder* order, int64_t position) noexcept nogil:
    cdef uint64_t x = order_permute(order, <uint64_t>position)
    while x >= <uint64_t>order.n:
        x = order_permute(order, x)
    return <int64_t>x
