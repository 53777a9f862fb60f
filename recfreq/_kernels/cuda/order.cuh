// The epoch order as a keyed bijection of [0, n): position p of an epoch trains
// sample epoch_sample(p). Computed where it is used (in the kernel, on the GPU),
// so no permutation crosses the bus between epochs, and identical on every
// device for the same (seed, epoch) key.
//
// A Feistel network on b bits (2^b >= n > 2^(b-1), so fewer than 2n values)
// with halves of floor(b/2) and ceil(b/2) bits that swap widths every round
// (still a bijection: each round is inverted by recomputing the same mask),
// four rounds, each a SplitMix64 finalizer of (half, round key). Values that
// land outside [0, n) are walked through the network again (cycle walking
// keeps it a bijection of [0, n); fewer than 2 steps are expected).
#pragma once

__device__ __forceinline__ unsigned long long order_mix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct EpochOrder {
    long long n;
    int low_bits;   // width of the right half; the left half has the rest
    int high_bits;
    unsigned long long round_key[4];
};

__device__ __forceinline__ EpochOrder epoch_order(long long n, unsigned long long seed, unsigned long long epoch) {
    EpochOrder order;
    order.n = n;
    int bits = 0;
    while (bits < 62 && (1LL << bits) < n) {
        ++bits;
    }
    order.low_bits = bits / 2;
    order.high_bits = bits - bits / 2;
    const unsigned long long key = order_mix64(seed ^ order_mix64(epoch));
    for (int r = 0; r < 4; ++r) {
        order.round_key[r] = order_mix64(key + static_cast<unsigned long long>(r + 1));
    }
    return order;
}

__device__ __forceinline__ unsigned long long order_permute(const EpochOrder& order, unsigned long long x) {
    int left_bits = order.high_bits, right_bits = order.low_bits;
    unsigned long long left = x >> right_bits;
    unsigned long long right = x & ((1ULL << right_bits) - 1ULL);
    for (int r = 0; r < 4; ++r) {
        // (L, R) -> (R, L ^ F(R)): the halves trade widths
        const unsigned long long next = left ^ (order_mix64(right ^ order.round_key[r]) & ((1ULL << left_bits) - 1ULL));
        left = right;
        right = next;
        const int width = left_bits;
        left_bits = right_bits;
        right_bits = width;
    }
    return (left << right_bits) | right;
}

__device__ __forceinline__ long long epoch_sample(const EpochOrder& order, long long position) {
    unsigned long long x = order_permute(order, static_cast<unsigned long long>(position));
    while (x >= static_cast<unsigned long long>(order.n)) {
        x = order_permute(order, x);
    }
    return static_cast<long long>(x);
}
