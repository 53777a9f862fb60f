# Per-thread random numbers for the nogil loops (negative sampling, dropout masks).
#
# Each OpenMP thread keeps its own xoshiro256** state (Blackman & Vigna 2018),
# seeded from one 64-bit host seed through splitmix64 (the seeding its authors
# recommend). Seeds are drawn on the host from `random_state` for every epoch,
# one per thread, so a run with n_jobs=1 is bit-for-bit reproducible and threads
# never share a generator. Bounded integers use Lemire's multiply-shift method
# with rejection (unbiased, usually without a division).

from libc.stdint cimport uint32_t, uint64_t

cdef enum:
    RNG_STATE_WORDS = 4


cdef inline uint64_t splitmix64(uint64_t* x) noexcept nogil:
    cdef uint64_t z
    x[0] = x[0] + <uint64_t>0x9E3779B97F4A7C15ULL
    z = x[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline void rng_seed(uint64_t* s, uint64_t seed) noexcept nogil:
    """Fill the 4-word xoshiro256** state from one seed (never all zero)."""
    cdef uint64_t x = seed
    s[0] = splitmix64(&x)
    s[1] = splitmix64(&x)
    s[2] = splitmix64(&x)
    s[3] = splitmix64(&x)


cdef inline void rng_seed_stream(uint64_t* s, uint64_t seed, uint64_t stream) noexcept nogil:
    """Seed generator number `stream` of one host seed.

    Stream 0 is ``rng_seed(seed)``; stream n starts from splitmix64 outputs
    4n..4n+3 of the same sequence (splitmix64's state only adds its constant),
    so one seed gives independent generators for independent uses and adding a
    stream never changes the draws of another.
    """
    rng_seed(s, seed + stream * <uint64_t>4 * <uint64_t>0x9E3779B97F4A7C15ULL)


cdef inline uint64_t _rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t rng_next(uint64_t* s) noexcept nogil:
    """xoshiro256**: the next 64 random bits."""
    cdef uint64_t result = _rotl(s[1] * 5, 7) * 9
    cdef uint64_t t = s[1] << 17
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


cdef inline uint32_t rng_bounded(uint64_t* s, uint32_t n) noexcept nogil:
    """Uniform integer in [0, n), n >= 1 (Lemire, ACM TOMACS 2019)."""
    cdef uint32_t x = <uint32_t>(rng_next(s) >> 32)
    cdef uint64_t m = <uint64_t>x * <uint64_t>n
    cdef uint32_t low = <uint32_t>m
    cdef uint32_t threshold
    if low < n:
        threshold = (<uint32_t>(0 - n)) % n
        while low < threshold:
            x = <uint32_t>(rng_next(s) >> 32)
            m = <uint64_t>x * <uint64_t>n
            low = <uint32_t>m
    return <uint32_t>(m >> 32)
