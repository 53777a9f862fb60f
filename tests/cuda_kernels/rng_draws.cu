// The counter-based generator of rng.cuh on its own, so that the tests can
// compare its draws with the NumPy reference and the Cython kernels
// (tests/test_rng.py). One thread per row.
#include "portability.cuh"
#include "rng.cuh"

// out[r * n_draws + d]: draw d of (rows[r], stream) under rng_key(seed, epoch):
// rng_next32 when bound == 0, else rng_bounded(bound).
__global__ void rng_draws(const long long* __restrict__ rows, int n_rows, unsigned long long seed,
                          unsigned long long epoch, unsigned int stream, int n_draws, unsigned int bound,
                          unsigned int* __restrict__ out) {
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rows) return;
    RngStream s = rng_stream(rng_key(seed, epoch), rows[r], stream);
    for (int d = 0; d < n_draws; ++d) {
        out[r * n_draws + d] = bound == 0u ? rng_next32(s) : rng_bounded(s, bound);
    }
}

// out[r * 4 * n_blocks + 4 b + w]: word w of block b of (rows[r], stream) from rng_block,
// which must be draws 4 b .. 4 b + 3 of the stream.
__global__ void rng_blocks(const long long* __restrict__ rows, int n_rows, unsigned long long seed,
                           unsigned long long epoch, unsigned int stream, int n_blocks,
                           unsigned int* __restrict__ out) {
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rows) return;
    for (int b = 0; b < n_blocks; ++b) {
        rng_block(rng_key(seed, epoch), rows[r], stream, (unsigned int)b, out + (r * n_blocks + b) * 4);
    }
}

// out[r * n_draws + d]: 64-bit draw d of the bit stream of (rows[r], stream) under rng_key(seed, epoch).
__global__ void bit_stream_draws(const long long* __restrict__ rows, int n_rows, unsigned long long seed,
                                 unsigned long long epoch, unsigned int stream, int n_draws,
                                 unsigned long long* __restrict__ out) {
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rows) return;
    BitStream b = bit_stream(rng_key(seed, epoch), rows[r], stream);
    for (int d = 0; d < n_draws; ++d) {
        out[r * n_draws + d] = bit_stream_next64(b);
    }
}
