// A block's working memory: the buffers the CPU kernels calloc per thread
// (activations, back-propagation space, dense-gradient sums, hot-row copies),
// here per warp or per block.
//
// The host sizes it (recfreq/_engine/cuda.py, one function per kernel that
// lists the same regions in the same order) and passes `scratch_per_block`,
// in doubles. It lives in dynamic shared memory when it fits (the host passes
// a null `scratch` and launches with that many bytes of shared memory), else
// in a global array of gridDim.x such regions. Regions are carved in order,
// each starting on an 8-byte boundary; a kernel asserts that what it carved
// fits what the host gave it, so a host and kernel that disagree fail loudly
// (a device assert) instead of writing past the buffer.
#pragma once

#include "portability.cuh"

struct Scratch {
    char* base;
    long long used;      // bytes carved so far
    long long capacity;  // bytes available
};

// This block's scratch: the global region of block blockIdx.x, or shared memory.
__device__ __forceinline__ Scratch block_scratch(double* global_scratch, long long doubles_per_block) {
    extern __shared__ double recfreq_dynamic_scratch[];
    Scratch s;
    double* base = global_scratch != nullptr ? global_scratch + static_cast<long long>(blockIdx.x) * doubles_per_block
                                             : recfreq_dynamic_scratch;
    s.base = reinterpret_cast<char*>(base);
    s.used = 0;
    s.capacity = doubles_per_block * static_cast<long long>(sizeof(double));
    return s;
}

// The next `count` values of type U (8-byte aligned).
template <typename U>
__device__ __forceinline__ U* scratch_take(Scratch& s, long long count) {
    s.used = (s.used + 7) & ~7LL;
    U* p = reinterpret_cast<U*>(s.base + s.used);
    s.used += count * static_cast<long long>(sizeof(U));
    return p;
}

// Every region carved: the host's size must cover them (checked once per block).
__device__ __forceinline__ void scratch_check(const Scratch& s) { assert(s.used <= s.capacity); }

// Zero `count` values at p, the block's threads together (the caller synchronizes).
template <typename U>
__device__ __forceinline__ void block_zero(U* p, long long count) {
    for (long long c = threadIdx.x; c < count; c += blockDim.x) {
        p[c] = U(0);
    }
}
