// The keyed epoch order of order.cuh on its own, so that the tests can compare
// it with the NumPy reference at positions of any epoch size, far beyond what a
// test could train (tests/test_epoch_order.py). One thread per position.
#include "portability.cuh"
#include "order.cuh"

// out[i] = epoch_sample(positions[i]) of the order keyed on (seed, epoch) over n samples.
__global__ void order_samples(const long long* __restrict__ positions, int n_positions, long long n,
                              unsigned long long seed, unsigned long long epoch, long long* __restrict__ out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_positions) return;
    const EpochOrder order = epoch_order(n, seed, epoch);
    out[i] = epoch_sample(order, positions[i]);
}
