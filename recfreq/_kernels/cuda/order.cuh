// The epoch order as a keyed bijection of [0, n): position p of an epoch trains
// sample epoch_sample(p). Computed where it is used (in the kernel, on the GPU),
// so no permutation crosses the bus between epochs, and identical on every
// device for the same (seed, epoch) key. The mirror of ../cpu/order.pxd.
//
// A Feistel network on the mixed radix a x 2^s that holds [0, n): with b the
// bits of n (2^b >= n > 2^(b-1)), s = floor(b/2) and a = ceil(n / 2^s), a value
// x is the pair (hi, lo) = (x >> s, x & (2^s - 1)). Four rounds alternate
// hi <- (hi + scale(F(lo), a)) mod a and lo <- lo ^ scale(F(hi), 2^s), each
// invertible, with F a two-multiply 32-bit hash of (half ^ round key) and
// scale(h, m) = (h * m) >> 32 its top bits mapped onto [0, m). Fewer than 2^s
// of the a * 2^s values lie at n or above (a share below 1/a, about 1/sqrt(n));
// those are walked through the network again (cycle walking keeps it a
// bijection of [0, n)). Every half fits 32 bits (s <= 31, a <= 2^31), so a
// round is 32-bit arithmetic: no 64-bit multiply on the GPU.
#pragma once

__device__ __forceinline__ unsigned long long order_mix64(unsigned long long z) {
    // SplitMix64's finalizer: derives the round keys from (seed, epoch)
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct EpochOrder {
    long long n;
    unsigned int high_radix;  // a = ceil(n / 2^s): hi is in [0, a)
    int low_bits;             // s = floor(b / 2): lo is in [0, 2^s)
    unsigned int round_key[4];
};

__device__ __forceinline__ EpochOrder epoch_order(long long n, unsigned long long seed, unsigned long long epoch) {
    EpochOrder order;
    order.n = n;
    int bits = 0;
    while (bits < 62 && (1LL << bits) < n) {
        ++bits;
    }
    order.low_bits = bits / 2;
    order.high_radix = static_cast<unsigned int>((n + (1LL << order.low_bits) - 1) >> order.low_bits);
    if (order.high_radix == 0) {  // n == 0: no position is ever asked for
        order.high_radix = 1;
    }
    const unsigned long long key = order_mix64(seed ^ order_mix64(epoch));
    for (int r = 0; r < 4; ++r) {
        order.round_key[r] = static_cast<unsigned int>(order_mix64(key + static_cast<unsigned long long>(r + 1)));
    }
    return order;
}

__device__ __forceinline__ unsigned int order_round(unsigned int half, unsigned int key) {
    unsigned int h = (half ^ key) * 0x9E3779B1u;
    h = h ^ (h >> 15);
    return h * 0x2C1B3C6Du;
}

__device__ __forceinline__ unsigned int order_scale(unsigned int h, unsigned long long m) {
    // the top bits of h mapped onto [0, m): floor(h * m / 2^32)
    return static_cast<unsigned int>((static_cast<unsigned long long>(h) * m) >> 32);
}

__device__ __forceinline__ unsigned long long order_permute(const EpochOrder& order, unsigned long long x) {
    const int s = order.low_bits;
    const unsigned int a = order.high_radix;
    unsigned int hi = static_cast<unsigned int>(x >> s);
    unsigned int lo = static_cast<unsigned int>(x & ((1ULL << s) - 1ULL));
    for (int r = 0; r < 4; r += 2) {
        hi = hi + order_scale(order_round(lo, order.round_key[r]), a);
        if (hi >= a) {
            hi = hi - a;
        }
        lo = lo ^ order_scale(order_round(hi, order.round_key[r + 1]), 1ULL << s);
    }
    return (static_cast<unsigned long long>(hi) << s) | lo;
}

__device__ __forceinline__ long long epoch_sample(const EpochOrder& order, long long position) {
    unsigned long long x = order_permute(order, static_cast<unsigned long long>(position));
    while (x >= static_cast<unsigned long long>(order.n)) {
        x = order_permute(order, x);
    }
    return static_cast<long long>(x);
}
