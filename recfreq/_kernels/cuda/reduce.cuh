// Reductions shared by the kernels (after portability.cuh).
#pragma once

#include "portability.cuh"

// One double per block added to *total: each warp's lane 0 brings its partial
// sum, thread 0 adds them up and issues one atomic. Every thread of the block
// must call it (it synchronizes the block).
__device__ __forceinline__ void block_add_to(double* total, double partial) {
    __shared__ double warp_partial[32];
    const int lane = lane_id();
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int n_warps = static_cast<int>((blockDim.x + 31u) / 32u);
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
