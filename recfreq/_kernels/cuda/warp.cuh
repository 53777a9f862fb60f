// Warp-level helpers shared by the kernels.
#pragma once

#define WARP_SIZE 32
#define FULL_MASK 0xffffffffu

// The sum of v over the 32 lanes, in every lane (butterfly reduction).
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int offset = WARP_SIZE / 2; offset > 0; offset /= 2) {
        v += __shfl_xor_sync(FULL_MASK, v, offset);
    }
    return v;
}

// One double per block added to *total: each warp's lane 0 brings its partial
// sum, the first warp adds them up, thread 0 issues one atomic.
__device__ __forceinline__ void block_add_to(double* total, double partial) {
    __shared__ double warp_partial[32];
    const int lane = threadIdx.x % WARP_SIZE;
    const int warp = threadIdx.x / WARP_SIZE;
    const int n_warps = (blockDim.x + WARP_SIZE - 1) / WARP_SIZE;
    if (lane == 0) {
        warp_partial[warp] = partial;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double sum = 0.0;
        for (int w = 0; w < n_warps; ++w) {
            sum += warp_partial[w];
        }
        atomicAdd(total, sum);
    }
}
