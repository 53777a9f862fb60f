// Small kernels that exercise the CPU emulation of CUDA and the compile
// checks (tests/test_cuda_emulation.py, tests/test_cuda_compile.py). They
// are valid CUDA: nvcc and NVRTC build them like the package's kernels.
#include "portability.cuh"

// One warp per sample: out[s] = <x[rows[s]], y[s]>, k coordinates per row.
// Lane l holds coordinates l, l + 32, ...; the warp reduces with shuffles.
template <typename T>
__global__ void dot_warp(const T* __restrict__ x, const T* __restrict__ y, const int* __restrict__ rows,
                         int n_samples, int k, T* __restrict__ out) {
    const int lane = lane_id();
    const int warps_per_block = blockDim.x / 32;
    const long long first = (long long)blockIdx.x * warps_per_block + threadIdx.x / 32;
    const long long stride = (long long)gridDim.x * warps_per_block;
    for (long long s = first; s < n_samples; s += stride) {
        const T* row = x + (long long)__ldg(rows + s) * k;
        T partial = T(0);
        for (int c = lane; c < k; c += 32) partial += row[c] * y[s * k + c];
        const T total = warp_sum(partial);
        if (lane == 0) out[s] = total;
    }
}

// Block reduction through static shared memory: partial[b] = sum of the
// block's slice of x. blockDim.x must be a power of two <= 256.
template <typename T>
__global__ void block_sum(const T* __restrict__ x, long long n, T* __restrict__ partial) {
    __shared__ T buffer[256];
    const unsigned t = threadIdx.x;
    const long long i = (long long)blockIdx.x * blockDim.x + t;
    buffer[t] = i < n ? x[i] : T(0);
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) buffer[t] += buffer[t + half];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = buffer[0];
}

// The same with dynamic shared memory (blockDim.x floats).
__global__ void block_sum_dynamic(const float* __restrict__ x, int n, float* __restrict__ partial) {
    extern __shared__ float scratch[];
    const unsigned t = threadIdx.x;
    const int i = blockIdx.x * blockDim.x + t;
    scratch[t] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] += scratch[t + half];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = scratch[0];
}

// bins[v] += 1 for every value, by atomics.
__global__ void histogram(const int* __restrict__ values, int n, unsigned int* __restrict__ bins) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        atomicAdd(bins + values[i], 1u);
}

// Each atomic once per thread. ints: [add, max, min, cas-counter, exch];
// others: float add, double add, unsigned long long add.
__global__ void atomics(int* ints, float* f, double* d, unsigned long long* u) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(ints + 0, t);
    atomicMax(ints + 1, t);
    atomicMin(ints + 2, t);
    int seen = ints[3];
    int assumed;
    do {  // the classic CAS loop: increment by one
        assumed = seen;
        seen = atomicCAS(ints + 3, assumed, assumed + 1);
    } while (seen != assumed);
    atomicExch(ints + 4, 7);
    atomicAdd(f, 0.5f);
    atomicAdd(d, 0.25);
    atomicAdd(u, 1ull << 33);
}

// Every warp collective, per lane; out has 12 ints per thread.
__global__ void collectives(const int* __restrict__ in, int* __restrict__ out) {
    const int t = threadIdx.x;
    const int v = in[t];
    int* o = out + 12 * t;
    o[0] = __shfl_sync(RECFREQ_FULL_MASK, v, 3);             // broadcast lane 3
    o[1] = __shfl_sync(RECFREQ_FULL_MASK, v, t + 1, 8);      // rotate within groups of 8
    o[2] = __shfl_up_sync(RECFREQ_FULL_MASK, v, 2);
    o[3] = __shfl_down_sync(RECFREQ_FULL_MASK, v, 5);
    o[4] = __shfl_xor_sync(RECFREQ_FULL_MASK, v, 1);
    o[5] = __shfl_down_sync(RECFREQ_FULL_MASK, v, 3, 16);
    o[6] = (int)__ballot_sync(RECFREQ_FULL_MASK, v % 3 == 0);
    o[7] = __any_sync(RECFREQ_FULL_MASK, v == 17);
    o[8] = __all_sync(RECFREQ_FULL_MASK, v >= 0);
    __syncwarp();
    // a half-warp collective under divergence: only the mask's lanes take part
    const unsigned half = (t & 16) ? 0xffff0000u : 0x0000ffffu;
    o[9] = __shfl_xor_sync(half, v, 4);
    o[10] = (int)__ballot_sync(half, v & 1);
    o[11] = warp_sum(v);
}

// Warp shuffles of 64-bit and floating-point values.
__global__ void shuffle_types(const double* __restrict__ d, const long long* __restrict__ ll,
                              double* __restrict__ d_out, long long* __restrict__ ll_out) {
    const int t = threadIdx.x;
    d_out[t] = __shfl_xor_sync(RECFREQ_FULL_MASK, d[t], 16);
    ll_out[t] = __shfl_down_sync(RECFREQ_FULL_MASK, ll[t], 1);
}

// Built-in index variables in 3-D: 10 ints per thread.
__global__ void indices(int* out) {
    const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int* o = out + 10 * (block * blockDim.x * blockDim.y * blockDim.z + thread);
    o[0] = threadIdx.x; o[1] = threadIdx.y; o[2] = threadIdx.z;
    o[3] = blockIdx.x; o[4] = blockIdx.y; o[5] = blockIdx.z;
    o[6] = blockDim.x * blockDim.y * blockDim.z;
    o[7] = gridDim.x * gridDim.y * gridDim.z;
    o[8] = __syncthreads_count(thread % 3 == 0);
    o[9] = __syncthreads_or(thread == 5) + 2 * __syncthreads_and(thread < 1000);
}

// Scalars of every width arrive intact.
__global__ void scalars(int i, long long ll, unsigned long long ull, float f, double d, double* out) {
    out[0] = i;
    out[1] = (double)ll;
    out[2] = (double)(ull >> 40);
    out[3] = f;
    out[4] = d;
}

// Math and integer intrinsics: 8 floats and 8 unsigned ints.
__global__ void intrinsics(float x, unsigned int a, unsigned int b, float* f, unsigned int* u) {
    f[0] = sqrtf(x);
    f[1] = rsqrtf(x);
    f[2] = exp2f(x);
    f[3] = __expf(x);
    f[4] = fmaf(x, x, 1.0f);
    f[5] = fmaxf(x, 2.0f);
    f[6] = __fdividef(1.0f, x);
    f[7] = (float)exp2(1.5);
    u[0] = __umulhi(a, b);
    u[1] = __popc(a);
    u[2] = __ffs(b);
    u[3] = __clz(b);
    u[4] = __brev(a);
    u[5] = (unsigned int)__popcll(((unsigned long long)a << 32) | b);
    u[6] = (unsigned int)__float_as_int(x);
    u[7] = min(a, b);
}
