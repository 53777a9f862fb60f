# Counter-based random numbers for the nogil loops (negative sampling, dropout
# masks): the CPU side of ../cuda/rng.cuh, function for function.
#
# A draw is a pure function of (key, sample index, stream, draw number), never
# of the thread that makes it, so any thread count and the GPU draw the same
# numbers. The generator is Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel
# random numbers: as easy as 1, 2, 3", SC 2011): a 10-round keyed bijection of a
# 128-bit counter, one call giving four 32-bit words. Why Philox rather than a
# SplitMix64-style hash of (key + n * golden ratio): keyed SplitMix streams are
# shifts of one sequence, so with ~10^9 (row, stream) pairs per epoch some of
# them would overlap; Philox takes the row and the stream in separate counter
# words, passes BigCrush for every key (its authors' tests), and is what cuRAND,
# JAX and PyTorch use on GPUs. Cost: 20 32x32->64-bit multiplies per four words,
# a few nanoseconds on a CPU, against the microsecond of a NeuralCF sample's
# forward and backward pass.
#
# Layout: the 64-bit key is mix64(seed ^ mix64(epoch)) (SplitMix64's finalizer,
# as the epoch order derives its key), split into two words; the counter is
# (block, stream, sample index low word, sample index high word), where block
# n gives draw numbers 4n..4n+3 of that (sample index, stream). Bounded
# integers use Lemire's multiply-shift method with rejection (unbiased).
#
# Long runs of bits (a sample's dropout masks: hundreds of units) come from a
# BitStream: xoroshiro128++ (Blackman and Vigna, "Scrambled linear pseudorandom
# number generators", ACM TOMS 2021) seeded with the 128 bits of Philox block 0
# of (sample index, stream). Its step is 9 64-bit operations for 64 bits,
# against Philox's 20 multiplies for 128, and the stream is still a pure
# function of (key, sample index, stream, draw number). With a 128-bit state
# drawn by Philox for each (index, stream), two of the ~10^9 streams of an epoch
# overlap with probability about 10^18 * (stream length) / 2^128: never.

from libc.stdint cimport uint32_t, uint64_t, int64_t


cdef struct BitStream:
    uint64_t s0              # xoroshiro128++ state (never both zero)
    uint64_t s1


cdef struct RngStream:
    uint32_t key[2]
    uint32_t counter[4]      # (next block, stream, index low, index high)
    uint32_t block[4]        # the words of the current block
    int used                 # words of `block` already returned (4: draw the next block)


cdef inline uint64_t rng_mix64(uint64_t z) noexcept nogil:
    """SplitMix64's finalizer (Steele, Lea, Flood 2014)."""
    z = z + <uint64_t>0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t rng_key(uint64_t seed, uint64_t epoch) noexcept nogil:
    """The draws' key of one epoch of a call (one host seed per call)."""
    return rng_mix64(seed ^ rng_mix64(epoch))


cdef inline void philox4x32_10(const uint32_t* counter, const uint32_t* key, uint32_t* out) noexcept nogil:
    """Philox-4x32-10 of `counter` under `key` into out[0..3] (Random123's round and key schedule)."""
    cdef uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3]
    cdef uint32_t k0 = key[0], k1 = key[1]
    cdef uint64_t p0, p1
    cdef int r
    for r in range(10):
        if r > 0:
            k0 = k0 + <uint32_t>0x9E3779B9U
            k1 = k1 + <uint32_t>0xBB67AE85U
        p0 = <uint64_t>0xD2511F53U * c0
        p1 = <uint64_t>0xCD9E8D57U * c2
        c0 = <uint32_t>(p1 >> 32) ^ c1 ^ k0
        c2 = <uint32_t>(p0 >> 32) ^ c3 ^ k1
        c1 = <uint32_t>p1
        c3 = <uint32_t>p0
    out[0] = c0
    out[1] = c1
    out[2] = c2
    out[3] = c3


cdef inline RngStream rng_stream(uint64_t key, int64_t index, uint32_t stream) noexcept nogil:
    """The draws of (`index`, `stream`) under `key`, from draw number 0."""
    cdef RngStream s
    cdef uint64_t i = <uint64_t>index
    s.key[0] = <uint32_t>key
    s.key[1] = <uint32_t>(key >> 32)
    s.counter[0] = 0
    s.counter[1] = stream
    s.counter[2] = <uint32_t>i
    s.counter[3] = <uint32_t>(i >> 32)
    # no block drawn yet (zeroed only so that no word is ever read uninitialised)
    s.block[0] = s.block[1] = s.block[2] = s.block[3] = 0
    s.used = 4
    return s


cdef inline void rng_block(uint64_t key, int64_t index, uint32_t stream, uint32_t block,
                           uint32_t* out) noexcept nogil:
    """Draws 4 block .. 4 block + 3 of (`index`, `stream`) under `key`, at once."""
    cdef uint32_t counter[4]
    cdef uint32_t k[2]
    cdef uint64_t i = <uint64_t>index
    counter[0] = block
    counter[1] = stream
    counter[2] = <uint32_t>i
    counter[3] = <uint32_t>(i >> 32)
    k[0] = <uint32_t>key
    k[1] = <uint32_t>(key >> 32)
    philox4x32_10(counter, k, out)


cdef inline uint32_t rng_next32(RngStream* s) noexcept nogil:
    """The stream's next 32 random bits."""
    if s.used == 4:
        philox4x32_10(s.counter, s.key, s.block)
        s.counter[0] = s.counter[0] + 1
        s.used = 0
    s.used = s.used + 1
    return s.block[s.used - 1]


cdef inline uint32_t rng_bounded(RngStream* s, uint32_t n) noexcept nogil:
    """Uniform integer in [0, n), n >= 1 (Lemire, ACM TOMACS 2019)."""
    cdef uint64_t m = <uint64_t>rng_next32(s) * <uint64_t>n
    cdef uint32_t threshold
    if <uint32_t>m < n:
        threshold = (<uint32_t>(0 - n)) % n
        while <uint32_t>m < threshold:
            m = <uint64_t>rng_next32(s) * <uint64_t>n
    return <uint32_t>(m >> 32)


cdef inline uint64_t _rotl64(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline BitStream bit_stream(uint64_t key, int64_t index, uint32_t stream) noexcept nogil:
    """The bit stream of (`index`, `stream`) under `key`: xoroshiro128++ from Philox block 0."""
    cdef uint32_t words[4]
    cdef BitStream b
    rng_block(key, index, stream, 0, words)
    b.s0 = (<uint64_t>words[0]) | ((<uint64_t>words[1]) << 32)
    b.s1 = (<uint64_t>words[2]) | ((<uint64_t>words[3]) << 32)
    if b.s0 == 0 and b.s1 == 0:
        # the one state xoroshiro cannot leave (probability 2^-128)
        b.s0 = <uint64_t>0x9E3779B97F4A7C15ULL
    return b


cdef inline uint64_t bit_stream_next64(BitStream* b) noexcept nogil:
    """The bit stream's next 64 bits (xoroshiro128++'s step and output)."""
    cdef uint64_t s0 = b.s0
    cdef uint64_t s1 = b.s1
    cdef uint64_t result = _rotl64(s0 + s1, 17) + s0
    s1 = s1 ^ s0
    b.s0 = _rotl64(s0, 49) ^ s1 ^ (s1 << 21)
    b.s1 = _rotl64(s1, 28)
    return result
