// Dense parameters (projections, MLP layers) seen by every sample, on the GPU:
// the mirror of ../cpu/dense.pxd. Where a CPU thread sums their gradients in a
// private buffer and applies the sum every few samples, a block does: its warps
// add each sample's gradient to the block's sum (shared memory, or the block's
// global scratch) with atomics, and every `dense_batch_size` samples of the
// block its threads step the parameters with the sum, one atomic per
// coordinate, then clear it.
#pragma once

#include "portability.cuh"
#include "solvers.cuh"

// coordinate_step by atomics, for a parameter other blocks step at the same
// time: theta <- theta - rate * g, or Adagrad's G <- G + g * g;
// theta <- theta - eta * g / (sqrt(G) + eps). Each atomic rounds exactly as the
// plain step does (a + (-b) is a - b), so one block alone performs the CPU's
// arithmetic.
template <typename T>
__device__ __forceinline__ void atomic_coordinate_step(const SolverConfig& cfg, T* theta, T g, T* accum, double rate) {
    const T eta = static_cast<T>(rate);
    if (cfg.kind == SOLVER_ADAGRAD) {
        const T g2 = g * g;
        const T total = atomicAdd(accum, g2) + g2;
        atomicAdd(theta, -(eta * g / (solver_sqrt(total) + static_cast<T>(cfg.epsilon))));
    } else {
        atomicAdd(theta, -(eta * g));
    }
}

// Step `size` dense parameters with the gradient summed since the last flush,
// then clear the sum; every thread of the block calls it (the caller
// synchronizes before and after). Under sgd, fa-sgd and cf-sgd this is a plain
// SGD step (a frequency rule means nothing for parameters in every sample);
// under adagrad, Adagrad per coordinate. A coordinate whose sum is zero is left
// alone: its step would be zero (the CPU skips the layers no sample touched).
template <typename T>
__device__ __forceinline__ void block_flush_dense(const SolverConfig& cfg, T* dense, T* grad_sum, T* accum,
                                                  long long size, double rate) {
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    for (long long c = threadIdx.x; c < size; c += blockDim.x) {
        const T g = grad_sum[c];
        if (g != T(0)) {
            atomic_coordinate_step(cfg, dense + c, g, adagrad ? accum + c : nullptr, rate);
            grad_sum[c] = T(0);
        }
    }
}
