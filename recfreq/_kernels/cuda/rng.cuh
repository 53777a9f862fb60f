// Counter-based random numbers for the kernels (negative sampling, dropout
// masks): the GPU side of ../cpu/rng.pxd, function for function, so both
// devices draw the same numbers.
//
// A draw is a pure function of (key, sample index, stream, draw number), never
// of the thread that makes it. The generator is Philox-4x32-10 (Salmon, Moraes,
// Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// 10-round keyed bijection of a 128-bit counter, one call giving four 32-bit
// words from 20 32x32->64-bit multiplies (cuRAND's default generator; it
// passes BigCrush for every key). Keyed SplitMix64 streams would be cheaper but
// are shifts of one sequence, so some of the ~10^9 (row, stream) pairs of an
// epoch would overlap; Philox takes the row and the stream in separate counter
// words. (curand_kernel.h does not compile under NVRTC as CuPy runs it, and
// would give other numbers than the CPU anyway.)
//
// Layout: the 64-bit key is rng_mix64(seed ^ rng_mix64(epoch)), split into two
// words; the counter is (block, stream, sample index low word, high word),
// where block n gives draw numbers 4n..4n+3 of that (sample index, stream).
// Bounded integers use Lemire's multiply-shift method with rejection.
//
// Long runs of bits (a sample's dropout masks) come from a bit stream:
// xoroshiro128++ (Blackman and Vigna, ACM TOMS 2021) seeded with the 128 bits of
// Philox block 0 of (sample index, stream), 9 64-bit operations per 64 bits.
// With a 128-bit state per (index, stream), no two streams of an epoch overlap.
#pragma once

#include "portability.cuh"

// xoroshiro128++ state of a bit stream (never both zero).
struct BitStream {
    unsigned long long s0;
    unsigned long long s1;
};

struct RngStream {
    unsigned int key[2];
    unsigned int counter[4];  // (next block, stream, index low, index high)
    unsigned int block[4];    // the words of the current block
    int used;                 // words of `block` already returned (4: draw the next block)
};

// SplitMix64's finalizer (Steele, Lea, Flood 2014).
__device__ __forceinline__ unsigned long long rng_mix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// The draws' key of one epoch of a call (one host seed per call).
__device__ __forceinline__ unsigned long long rng_key(unsigned long long seed, unsigned long long epoch) {
    return rng_mix64(seed ^ rng_mix64(epoch));
}

// Philox-4x32-10 of `counter` under `key` into out[0..3] (Random123's round and key schedule).
__device__ __forceinline__ void philox4x32_10(const unsigned int* counter, const unsigned int* key,
                                              unsigned int* out) {
    unsigned int c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    unsigned int k0 = key[0], k1 = key[1];
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const unsigned long long p0 = static_cast<unsigned long long>(0xD2511F53u) * c0;
        const unsigned long long p1 = static_cast<unsigned long long>(0xCD9E8D57u) * c2;
        c0 = static_cast<unsigned int>(p1 >> 32) ^ c1 ^ k0;
        c2 = static_cast<unsigned int>(p0 >> 32) ^ c3 ^ k1;
        c1 = static_cast<unsigned int>(p1);
        c3 = static_cast<unsigned int>(p0);
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

// The draws of (`index`, `stream`) under `key`, from draw number 0.
__device__ __forceinline__ RngStream rng_stream(unsigned long long key, long long index, unsigned int stream) {
    RngStream s;
    const unsigned long long i = static_cast<unsigned long long>(index);
    s.key[0] = static_cast<unsigned int>(key);
    s.key[1] = static_cast<unsigned int>(key >> 32);
    s.counter[0] = 0u;
    s.counter[1] = stream;
    s.counter[2] = static_cast<unsigned int>(i);
    s.counter[3] = static_cast<unsigned int>(i >> 32);
    s.block[0] = s.block[1] = s.block[2] = s.block[3] = 0u;
    s.used = 4;
    return s;
}

// Draws 4 block .. 4 block + 3 of (`index`, `stream`) under `key`, at once.
__device__ __forceinline__ void rng_block(unsigned long long key, long long index, unsigned int stream,
                                          unsigned int block, unsigned int* out) {
    const unsigned long long i = static_cast<unsigned long long>(index);
    const unsigned int counter[4] = {block, stream, static_cast<unsigned int>(i), static_cast<unsigned int>(i >> 32)};
    const unsigned int k[2] = {static_cast<unsigned int>(key), static_cast<unsigned int>(key >> 32)};
    philox4x32_10(counter, k, out);
}

// The stream's next 32 random bits.
__device__ __forceinline__ unsigned int rng_next32(RngStream& s) {
    if (s.used == 4) {
        philox4x32_10(s.counter, s.key, s.block);
        s.counter[0] += 1u;
        s.used = 0;
    }
    return s.block[s.used++];
}

// Uniform integer in [0, n), n >= 1 (Lemire, ACM TOMACS 2019).
__device__ __forceinline__ unsigned int rng_bounded(RngStream& s, unsigned int n) {
    unsigned long long m = static_cast<unsigned long long>(rng_next32(s)) * n;
    if (static_cast<unsigned int>(m) < n) {
        const unsigned int threshold = (0u - n) % n;
        while (static_cast<unsigned int>(m) < threshold) {
            m = static_cast<unsigned long long>(rng_next32(s)) * n;
        }
    }
    return static_cast<unsigned int>(m >> 32);
}

__device__ __forceinline__ unsigned long long rotl64(unsigned long long x, int k) {
    return (x << k) | (x >> (64 - k));
}

// The bit stream of (`index`, `stream`) under `key`: xoroshiro128++ from Philox block 0.
__device__ __forceinline__ BitStream bit_stream(unsigned long long key, long long index, unsigned int stream) {
    unsigned int words[4];
    rng_block(key, index, stream, 0u, words);
    BitStream b;
    b.s0 = static_cast<unsigned long long>(words[0]) | (static_cast<unsigned long long>(words[1]) << 32);
    b.s1 = static_cast<unsigned long long>(words[2]) | (static_cast<unsigned long long>(words[3]) << 32);
    if (b.s0 == 0ULL && b.s1 == 0ULL) {
        // the one state xoroshiro cannot leave (probability 2^-128)
        b.s0 = 0x9E3779B97F4A7C15ULL;
    }
    return b;
}

// The bit stream's next 64 bits (xoroshiro128++'s step and output).
__device__ __forceinline__ unsigned long long bit_stream_next64(BitStream& b) {
    const unsigned long long s0 = b.s0;
    unsigned long long s1 = b.s1;
    const unsigned long long result = rotl64(s0 + s1, 17) + s0;
    s1 ^= s0;
    b.s0 = rotl64(s0, 49) ^ s1 ^ (s1 << 21);
    b.s1 = rotl64(s1, 28);
    return result;
}
