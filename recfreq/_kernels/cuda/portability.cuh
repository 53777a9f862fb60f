// Helpers shared by recfreq's CUDA kernels.
//
// Every kernel source is compiled three ways: by NVRTC at run time (through
// CuPy), by nvcc in the compile checks of the test suite, and by g++ with
// the CPU emulation header in the tests. This header hides the differences
// between them; kernels include it first.
#pragma once

// nvcc needs <cassert> for a device assert; NVRTC has assert built in and
// no standard headers at all; the emulation header has already included it.
#if !defined(__CUDACC_RTC__) && !defined(__CUDA_EMULATION__)
#include <cassert>
#endif

// All 32 lanes of a warp, for the *_sync collectives of full warps.
#define RECFREQ_FULL_MASK 0xffffffffu

// Lane of the calling thread in its warp (1-D blocks).
__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x & 31u); }

// Sum of v over the 32 lanes of a full warp; every lane gets the sum.
// The butterfly adds in the same order on every lane, so all lanes hold
// bit-identical results.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(RECFREQ_FULL_MASK, v, offset);
    return v;
}

// Lane 0's v on every lane of a full warp. Under Hogwild another warp may step a
// row between two lanes' reads of it, so a value every lane computed from shared
// rows (a score) can differ between lanes; a decision that branches the warp
// (a margin test) must be taken on one lane's value.
template <typename T>
__device__ __forceinline__ T warp_broadcast(T v) {
    return __shfl_sync(RECFREQ_FULL_MASK, v, 0);
}
