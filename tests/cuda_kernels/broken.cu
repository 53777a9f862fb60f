// Kernels with deliberate mistakes, one per error class the emulated device
// reports (tests/test_cuda_emulation.py). They compile everywhere: the
// mistakes only show when they run.
#include "portability.cuh"

// Threads 0..15 wait at a barrier the other half never reaches.
__global__ void barrier_in_branch(int* out) {
    if (threadIdx.x < 16) {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

// Two different barriers: even and odd threads wait at different lines.
__global__ void two_barriers(int* out) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

// Thread 0 returns early, the others then wait for it at a barrier.
__global__ void exit_before_barrier(int* out) {
    if (threadIdx.x == 0) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

// Lanes 16..31 exit, then lanes 0..15 shuffle with a full mask.
__global__ void shuffle_exited_lane(int* out) {
    if (threadIdx.x >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(RECFREQ_FULL_MASK, (int)threadIdx.x, 1);
}

// A half-warp mask, but lane 0..15 read lane 20.
__global__ void shuffle_outside_mask(int* out) {
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, (int)threadIdx.x, 20);
}

// Lane 20 calls with a mask that does not name it.
__global__ void mask_without_caller(int* out) {
    out[threadIdx.x] = __shfl_sync(threadIdx.x == 20 ? 0x0000ffffu : RECFREQ_FULL_MASK, (int)threadIdx.x, 0);
}

// Half the lanes shuffle while the other half vote, with the same mask.
__global__ void mismatched_collectives(int* out) {
    if (threadIdx.x < 16)
        out[threadIdx.x] = __shfl_xor_sync(RECFREQ_FULL_MASK, (int)threadIdx.x, 1);
    else
        out[threadIdx.x] = (int)__ballot_sync(RECFREQ_FULL_MASK, 1);
}

// Half a warp waits in a shuffle for lanes that wait at a barrier.
__global__ void shuffle_against_barrier(int* out) {
    if (threadIdx.x < 16) {
        out[threadIdx.x] = __shfl_xor_sync(RECFREQ_FULL_MASK, (int)threadIdx.x, 16);
    } else {
        __syncthreads();
    }
}

// A device assert that fails in one thread: the one with global index n.
__global__ void checked_index(const int* values, int n, int* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    assert(i != n);
    out[i] = values[i];
}
