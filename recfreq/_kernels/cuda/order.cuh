// The epoch order as a keyed bijection of [0, n): position p of an epoch trains
// sample epoch_sample(p). Computed where it is used (in the kernel, on the GPU),
// so no permutation crosses the bus between epochs, and identical on every
// device for the same (seed, epoch) key.
//
// A balanced Feistel network on 2h bits (2^(2h) >= n, so at most 4n values)
// with four rounds, each a SplitMix64 finalizer of (half, round key); values
// that land outside [0, n) are walked through the network again (cycle walking
// keeps it a bijection of [0, n); fewer than 4 steps are expected).
#pragma once

__device__ __forceinline__ unsigned long long order_mix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct EpochOrder {
    long long n;
    int half_bits;
    unsigned long long half_mask;
    unsigned long long round_key[4];
};

__device__ __forceinline__ EpochOrder epoch_order(long long n, unsigned long long seed, unsigned long long epoch) {
    EpochOrder order;
    order.n = n;
    int bits = 0;
    while (bits < 62 && (1LL << bits) < n) {
        ++bits;
    }
    order.half_bits = (bits + 1) / 2;
    order.half_mask = (1ULL << order.half_bits) - 1ULL;
    const unsigned long long key = order_mix64(seed ^ order_mix64(epoch));
    for (int r = 0; r < 4; ++r) {
        order.round_key[r] = order_mix64(key + static_cast<unsigned long long>(r + 1));
    }
    return order;
}

__device__ __forceinline__ unsigned long long order_permute(const EpochOrder& order, unsigned long long x) {
    unsigned long long left = x >> order.half_bits;
    unsigned long long right = x & order.half_mask;
    for (int r = 0; r < 4; ++r) {
        const unsigned long long next = left ^ (order_mix64(right ^ order.round_key[r]) & order.half_mask);
        left = right;
        right = next;
    }
    return (left << order.half_bits) | right;
}

__device__ __forceinline__ long long epoch_sample(const EpochOrder& order, long long position) {
    unsigned long long x = order_permute(order, static_cast<unsigned long long>(position));
    while (x >= static_cast<unsigned long long>(order.n)) {
        x = order_permute(order, x);
    }
    return static_cast<long long>(x);
}
