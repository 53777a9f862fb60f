// Epoch and prediction kernels of Neural Collaborative Filtering (GMF, MLP,
// NeuMF; He et al. 2017) on the GPU: the mirror of ../cpu/ncf.pyx.
//
// Network (per sample, u the user, j the item)::
//
//     g   = p_u * q_j                          (GMF, width k)
//     z_0 = [m_u ; n_j]                        (MLP embeddings, width 2 d)
//     z_l = relu((r_l * z_{l-1}) W_l + b_l)    (W_l: in x out, row-major; r_l: dropout mask)
//     logit = [g ; z_L] . h + h0,   loss = softplus(logit) - y * logit
//
// with the dense parameters in one flat vector W_1, b_1, ..., W_L, b_L, h, h0.
//
// One warp per training row. Position p of the epoch is row epoch_sample(p);
// a positive row emits itself and then n_negatives sampled negatives of its
// user, an explicit negative only itself, and emitted sample s of the row is
// step t = t_start + sample_start[p] + s + 1 (sample_start: the exclusive
// cumulative sum of the samples the rows emit in epoch order, computed on the
// device by ncf_sample_starts before each epoch). Every emitted sample takes a
// forward and backward pass by the warp (lane l computes outputs l, l + 32, ...
// of each layer, summed over the inputs in order as the CPU's layer loop sums
// them) and its embedding rows take the shared per-row step at once.
//
// A block's warps take the positions in rounds, one row each, and walk their
// rows' emitted samples together: after every emitted sample of the round the
// block counts the samples trained, and once `dense_batch_size` of them have
// gone by since its last flush its threads step the dense parameters with the
// gradient the block summed (dense.cuh; and at the end of the block's share of
// the epoch). A launch of one block of one warp therefore flushes after every
// `dense_batch_size` emitted samples in the CPU's n_jobs=1 order.
//
// Random numbers come from the counter-based generator of rng.cuh, keyed on
// (seed, epoch), the row's own index in the training data and a stream, exactly
// as the CPU kernel draws them (see ../cpu/ncf.pyx): negative s first tries word
// (s - 1) mod 4 of block (s - 1) / 4 of the row's stream 0 and falls back to its
// own stream 2 s; stream 2 s + 1 seeds the bit stream of the sample's dropout
// masks, 16 bits per unit. Every lane draws the negatives (and the masks it
// reads) itself: the draws depend on nothing else, so every lane, every launch
// shape and the CPU draw the same negatives and masks.
#include "portability.cuh"
#include "solvers.cuh"
#include "order.cuh"
#include "reduce.cuh"
#include "rng.cuh"
#include "negatives.cuh"
#include "scratch.cuh"
#include "dense.cuh"

// tower layers the layout holds (the host checks hidden_layers against it)
#define NCF_MAX_LAYERS 32
// emitted sample s of a row draws its negative from stream negative_stream(s) = 2 s
// (negatives.cuh) and its dropout masks from stream 2 s + NCF_STREAM_DROPOUT
#define NCF_STREAM_DROPOUT 1u

struct NcfNet {
    int k;         // GMF width (0: no GMF part)
    int d;         // MLP embedding width per side (0: no MLP part)
    int n_layers;  // tower Dense+ReLU layers L
    int size[NCF_MAX_LAYERS + 1];          // size[0] = 2 d, size[l] = width of layer l
    long long w_off[NCF_MAX_LAYERS + 1];
    long long b_off[NCF_MAX_LAYERS + 1];
    long long z_off[NCF_MAX_LAYERS + 1];   // offset of z_l in the activations
    long long h_off;                       // output weights h (k + size[L] if d else k)
    long long h0_off;
    long long n_dense;
    long long n_act;                       // sum of size[0..L]
    int max_width;
};

// The layout of the flat dense vector and of the activations (the CPU's _layout);
// `n_layers`: the tower's layers (len(layer_sizes) - 1), ignored without an MLP part.
__device__ __forceinline__ NcfNet ncf_layout(int k, int d, const int* layer_sizes, int n_layers) {
    NcfNet net;
    net.k = k;
    net.d = d;
    net.n_layers = d > 0 ? n_layers : 0;
    net.max_width = k;
    net.size[0] = 2 * d;
    net.z_off[0] = 0;
    long long off = 0, act = 2LL * d;
    if (2 * d > net.max_width) {
        net.max_width = 2 * d;
    }
    for (int l = 1; l <= net.n_layers; ++l) {
        net.size[l] = layer_sizes[l];
        net.w_off[l] = off;
        off += static_cast<long long>(net.size[l - 1]) * net.size[l];
        net.b_off[l] = off;
        off += net.size[l];
        net.z_off[l] = act;
        act += net.size[l];
        if (net.size[l] > net.max_width) {
            net.max_width = net.size[l];
        }
    }
    net.h_off = off;
    off += k + (d > 0 ? net.size[net.n_layers] : 0);
    net.h0_off = off;
    net.n_dense = off + 1;
    net.n_act = act;
    return net;
}

// The dropout multipliers of one sample that the calling lane reads: mult[a] = 0
// (dropped) or keep_scale for the units a of z_0 .. z_{L-1} whose position within
// their layer input is this lane's (lane, lane + 32, ...), the only entries the
// lane reads in the forward and backward passes, so the warp need not
// synchronize. Unit a takes bits 63-48, 47-32, 31-16, 15-0 of 64-bit draw a / 4
// (a mod 4 = 0 .. 3) of the sample's bit stream and is dropped when they are
// below `threshold` (every lane walks the whole stream).
template <typename T>
__device__ __forceinline__ void ncf_dropout_masks(unsigned long long key, long long row, unsigned int stream, T* mult,
                                                  const NcfNet& net, unsigned int threshold, T keep_scale) {
    const long long lane = lane_id();
    const long long n = net.z_off[net.n_layers];
    BitStream bits = bit_stream(key, row, stream);
    unsigned long long x = 0;
    int layer = 0;
    for (long long a = 0; a < n; ++a) {
        if ((a & 3) == 0) {
            x = bit_stream_next64(bits);
        }
        while (a >= net.z_off[layer + 1]) {
            ++layer;
        }
        if (((a - net.z_off[layer]) & 31) == lane) {
            const unsigned int bits16 = static_cast<unsigned int>((x >> (48 - 16 * (a & 3))) & 0xFFFFu);
            mult[a] = bits16 < threshold ? T(0) : keep_scale;
        }
    }
}

__device__ __forceinline__ double ncf_softplus(double x) {
    if (x > 0.0) {
        return x + log1p(exp(-x));
    }
    return log1p(exp(x));
}

__device__ __forceinline__ double ncf_sigmoid(double x) {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    const double e = exp(x);
    return e / (1.0 + e);
}

// The logit of one (user, item) pair by the calling warp, the activations left
// in z (width net.n_act). Null embedding rows are zero (an unknown id at
// prediction); `mult` (null: no dropout) multiplies each tower layer's input.
// Returns the logit on every lane; with `gmf` non-null, leaves g = p * q there.
template <typename T>
__device__ __forceinline__ double ncf_forward(const NcfNet& net, const T* dense, const T* p, const T* q,
                                              const T* m, const T* nj, T* z, T* gmf, const T* mult) {
    const int lane = lane_id();
    const int k = net.k, d = net.d, L = net.n_layers;
    const T* h = dense + net.h_off;
    // this lane's share of [g ; z_L] . h: the GMF and the MLP part, each summed in
    // the model's type as the CPU's two dot products, then reduced once
    T gmf_part = T(0), mlp_part = T(0);
    if (k > 0) {
        for (int a = lane; a < k; a += 32) {
            const T g = (p != nullptr ? p[a] : T(0)) * (q != nullptr ? q[a] : T(0));
            if (gmf != nullptr) {
                gmf[a] = g;
            }
            gmf_part = gmf_part + g * h[a];
        }
    }
    if (d > 0) {
        // z_{l-1} is stored masked, as the CPU masks it in place before layer l reads
        // it; a lane masks the entries it writes (and owns their multipliers)
        const bool masked = mult != nullptr && L > 0;
        for (int a = lane; a < 2 * d; a += 32) {
            const T* side = a < d ? m : nj;
            const T za = side != nullptr ? side[a < d ? a : a - d] : T(0);
            z[a] = masked ? za * mult[a] : za;
        }
        __syncwarp();
        for (int l = 1; l <= L; ++l) {
            const T* zin = z + net.z_off[l - 1];
            const int n_in = net.size[l - 1];
            const int n_out = net.size[l];
            const T* W = dense + net.w_off[l];
            const T* b = dense + net.b_off[l];
            T* zout = z + net.z_off[l];
            const bool mask_out = mult != nullptr && l < L;  // z_l is the input of layer l + 1
            for (int o = lane; o < n_out; o += 32) {
                T sum = b[o];
                for (int a = 0; a < n_in; ++a) {
                    sum = sum + zin[a] * W[static_cast<long long>(a) * n_out + o];
                }
                const T relu = sum < T(0) ? T(0) : sum;
                zout[o] = mask_out ? relu * mult[net.z_off[l] + o] : relu;
            }
            __syncwarp();  // the next layer reads every lane's outputs
        }
        const T* z_last = z + net.z_off[L];
        for (int o = lane; o < net.size[L]; o += 32) {
            mlp_part = mlp_part + z_last[o] * h[k + o];
        }
    }
    return static_cast<double>(dense[net.h0_off])
        + warp_sum(static_cast<double>(gmf_part) + static_cast<double>(mlp_part));
}

// The loss of one sample (every lane); adds the dense gradients to the block's
// `dense_grad` (atomics) and writes the embedding rows' gradients (loss + alpha *
// theta) to grad_p/q/m/n. Every read of p, q, m, n and the dense parameters is of
// their values before this sample's update.
template <typename T>
__device__ __forceinline__ double ncf_forward_backward(const NcfNet& net, const T* dense, T* dense_grad, const T* p,
                                                       const T* q, const T* m, const T* nj, double y, double alpha,
                                                       T* z, T* dz_a, T* dz_b, T* grad_p, T* grad_q, T* grad_m,
                                                       T* grad_n, const T* mult) {
    const int lane = lane_id();
    const int k = net.k, d = net.d, L = net.n_layers;
    const T* h = dense + net.h_off;
    T* gh = dense_grad + net.h_off;
    const T a_l2 = static_cast<T>(alpha);
    // grad_p holds g = p * q until the backward pass overwrites it
    const double logit = ncf_forward(net, dense, p, q, m, nj, z, grad_p, mult);
    const T e = static_cast<T>(ncf_sigmoid(logit) - y);
    if (lane == 0) {
        atomicAdd(dense_grad + net.h0_off, e);
    }
    if (k > 0) {
        for (int a = lane; a < k; a += 32) {
            atomicAdd(gh + a, e * grad_p[a]);  // d logit / d h_a = g_a
            const T s = e * h[a];
            grad_p[a] = s * q[a] + a_l2 * p[a];
            grad_q[a] = s * p[a] + a_l2 * q[a];
        }
    }
    if (d > 0) {
        const T* z_last = z + net.z_off[L];
        T* cur = dz_a;
        T* prev = dz_b;
        for (int o = lane; o < net.size[L]; o += 32) {
            atomicAdd(gh + k + o, e * z_last[o]);
            cur[o] = e * h[k + o];
        }
        __syncwarp();
        for (int l = L; l >= 1; --l) {
            const int n_in = net.size[l - 1];
            const int n_out = net.size[l];
            const T* zin = z + net.z_off[l - 1];
            const T* zout = z + net.z_off[l];
            const T* W = dense + net.w_off[l];
            T* gW = dense_grad + net.w_off[l];
            T* gb = dense_grad + net.b_off[l];
            // cur masked by layer l's ReLU, its bias and weight gradients, then d loss / d z_{l-1}
            for (int o = lane; o < n_out; o += 32) {
                const T c = zout[o] <= T(0) ? T(0) : cur[o];
                cur[o] = c;
                atomicAdd(gb + o, c);
            }
            __syncwarp();
            const long long size = static_cast<long long>(n_in) * n_out;
            for (long long c = lane; c < size; c += 32) {
                const long long a = c / n_out;
                atomicAdd(gW + c, zin[a] * cur[c - a * n_out]);
            }
            for (int a = lane; a < n_in; a += 32) {
                const T* w = W + static_cast<long long>(a) * n_out;
                T sum = T(0);
                for (int o = 0; o < n_out; ++o) {
                    sum = sum + w[o] * cur[o];
                }
                // sum is d loss / d (r * z_{l-1}); the chain rule through the mask
                prev[a] = mult != nullptr ? sum * mult[net.z_off[l - 1] + a] : sum;
            }
            __syncwarp();
            T* swap = cur;
            cur = prev;
            prev = swap;
        }
        for (int a = lane; a < d; a += 32) {
            grad_m[a] = cur[a] + a_l2 * m[a];
            grad_n[a] = cur[d + a] + a_l2 * nj[a];
        }
    }
    return ncf_softplus(logit) - y * logit;
}

// sample_start[p] = the samples emitted by the rows at positions 0 .. p - 1 of the
// epoch (a positive row emits 1 + n_negatives, an explicit negative 1): the step
// offsets ncf_epoch reads. One block: each thread counts a contiguous share of
// the positions, the block scans the counts, then each thread writes its share.
template <typename T>
__global__ void ncf_sample_starts(const T* __restrict__ labels,
                                  long long n_samples,
                                  unsigned long long order_seed,
                                  unsigned long long order_epoch,
                                  int n_negatives,
                                  long long* sample_start) {
    __shared__ long long counts[1024];
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const long long n_threads = blockDim.x;
    const long long chunk = (n_samples + n_threads - 1) / n_threads;
    const long long lo = static_cast<long long>(threadIdx.x) * chunk < n_samples
                             ? static_cast<long long>(threadIdx.x) * chunk : n_samples;
    const long long hi = lo + chunk < n_samples ? lo + chunk : n_samples;
    long long emitted = 0;
    for (long long p = lo; p < hi; ++p) {
        emitted += labels[epoch_sample(order, p)] > T(0.5) ? 1 + n_negatives : 1;
    }
    counts[threadIdx.x] = emitted;
    __syncthreads();
    if (threadIdx.x == 0) {
        long long running = 0;
        for (long long i = 0; i < n_threads; ++i) {
            const long long c = counts[i];
            counts[i] = running;
            running += c;
        }
    }
    __syncthreads();
    long long running = counts[threadIdx.x];
    for (long long p = lo; p < hi; ++p) {
        sample_start[p] = running;
        running += labels[epoch_sample(order, p)] > T(0.5) ? 1 + n_negatives : 1;
    }
}

// One NeuralCF epoch over the rows in the epoch's order; adds the summed log loss
// to *loss. `negatives` (n_samples x n_negatives, by position) replaces sampling
// when it is not null (a test hook, as on the CPU); `dropout` in [0, 1) masks the
// tower's layer inputs (nothing is masked or drawn with 0 or without a tower).
//
// Scratch, in this order: the block's dense-gradient sums (net.n_dense), then per
// warp n_act + 2 max_width + 2 n_factors + 2 mlp_dim values, plus n_act more
// (the dropout multipliers) with dropout.
template <typename T>
__global__ void ncf_epoch(const int* __restrict__ user_index,
                          const int* __restrict__ item_index,
                          const T* __restrict__ labels,
                          const long long* __restrict__ sample_start,
                          long long n_samples,
                          unsigned long long order_seed,
                          unsigned long long order_epoch,
                          unsigned long long sample_seed,
                          int n_factors,
                          int mlp_dim,
                          const int* layer_sizes,
                          T* user_gmf,
                          T* item_gmf,
                          T* user_mlp,
                          T* item_mlp,
                          T* dense,
                          const long long* positive_indptr,
                          const int* positive_indices,
                          int n_items,
                          int n_negatives,
                          const int* negatives,
                          int solver,
                          double learning_rate,
                          double frequency_exponent,
                          double counter_halflife,
                          double epsilon,
                          double dense_learning_rate,
                          double alpha,
                          double dropout,
                          const double* user_frequency,
                          const double* item_frequency,
                          double* user_counter,
                          double* item_counter,
                          long long* user_last_seen,
                          long long* item_last_seen,
                          T* user_gmf_accum,
                          T* item_gmf_accum,
                          T* user_mlp_accum,
                          T* item_mlp_accum,
                          T* dense_accum,
                          int dense_batch_size,
                          long long t_start,
                          double* loss,
                          int n_layers,
                          double* scratch,
                          long long scratch_per_block) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState user_state = frequency_state(user_frequency, user_counter, user_last_seen);
    const RowFrequencyState item_state = frequency_state(item_frequency, item_counter, item_last_seen);
    const NcfNet net = ncf_layout(n_factors, mlp_dim, layer_sizes, n_layers);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const unsigned long long key = rng_key(sample_seed, order_epoch);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const bool use_dropout = dropout > 0.0 && net.n_layers > 0;
    // dropout * 2^16 is exact in binary and below 2^16 for dropout < 1
    const unsigned int threshold = use_dropout ? static_cast<unsigned int>(dropout * 65536.0) : 0u;
    const T keep_scale = use_dropout ? static_cast<T>(1.0 / (1.0 - dropout)) : T(1);
    const int lane = lane_id();
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    const long long k = n_factors, d = mlp_dim;

    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* dense_grad = scratch_take<T>(arena, net.n_dense);
    const long long per_warp = net.n_act + 2LL * net.max_width + 2 * k + 2 * d + (use_dropout ? net.n_act : 0);
    T* z = scratch_take<T>(arena, warps * per_warp) + warp * per_warp;
    scratch_check(arena);
    T* dz_a = z + net.n_act;
    T* dz_b = dz_a + net.max_width;
    T* grad_p = dz_b + net.max_width;
    T* grad_q = grad_p + k;
    T* grad_m = grad_q + k;
    T* grad_n = grad_m + d;
    T* mult = use_dropout ? grad_n + d : nullptr;
    block_zero(dense_grad, net.n_dense);
    __syncthreads();

    double total = 0.0;
    long long pending = 0;  // the block's samples since its last flush (the same in every thread)
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long base = static_cast<long long>(blockIdx.x) * warps; base < n_samples; base += stride) {
        const long long position = base + warp;
        const bool has_row = position < n_samples;
        const long long row = has_row ? epoch_sample(order, position) : 0;
        const long long u = has_row ? user_index[row] : 0;
        const double y_row = has_row ? static_cast<double>(labels[row]) : 0.0;
        const int n_emit = !has_row ? 0 : (y_row > 0.5 ? 1 + n_negatives : 1);
        const long long first_t = has_row ? t_start + sample_start[position] : 0;
        unsigned int first_tries[4] = {0u, 0u, 0u, 0u};  // the current block of the negatives' first tries
        for (int s = 0; s <= n_negatives; ++s) {
            const bool active = s < n_emit;
            if (active) {
                // every lane draws the sample's item (the draws are pure functions of
                // the key, the row and the stream: no shuffle)
                long long j;
                if (s == 0) {
                    j = item_index[row];
                } else if (negatives != nullptr) {
                    j = negatives[position * n_negatives + (s - 1)];
                } else {
                    if ((s - 1) % 4 == 0) {
                        rng_block(key, row, STREAM_FIRST_TRIES, static_cast<unsigned int>((s - 1) / 4),
                                  first_tries);
                    }
                    j = sample_negative(first_tries[(s - 1) % 4], key, row, negative_stream(s),
                                            positive_indices + positive_indptr[u],
                                            positive_indptr[u + 1] - positive_indptr[u], n_items);
                }
                const double y = s == 0 ? y_row : 0.0;
                if (use_dropout) {
                    // the masks of z_0 .. z_{L-1}, laid out like them (each lane its own units)
                    ncf_dropout_masks(key, row, 2u * static_cast<unsigned int>(s) + NCF_STREAM_DROPOUT, mult, net,
                                      threshold, keep_scale);
                }
                const long long t = first_t + s + 1;
                T* p = k > 0 ? user_gmf + u * k : nullptr;
                T* q = k > 0 ? item_gmf + j * k : nullptr;
                T* m = d > 0 ? user_mlp + u * d : nullptr;
                T* nj = d > 0 ? item_mlp + j * d : nullptr;
                const double sample_loss = ncf_forward_backward(net, dense, dense_grad, p, q, m, nj, y, alpha, z,
                                                                dz_a, dz_b, grad_p, grad_q, grad_m, grad_n, mult);
                if (lane == 0) {
                    total += sample_loss;
                }
                // a user's GMF and MLP blocks share one frequency row (one rate); the
                // rates mutate cf-sgd counters: one lane per row
                const double rate_u = warp_row_learning_rate(cfg, user_state, u, t);
                const double rate_i = warp_row_learning_rate(cfg, item_state, j, t);
                for (long long a = lane; a < k; a += 32) {
                    coordinate_step(cfg, p + a, grad_p[a], adagrad ? user_gmf_accum + u * k + a : nullptr, rate_u);
                    coordinate_step(cfg, q + a, grad_q[a], adagrad ? item_gmf_accum + j * k + a : nullptr, rate_i);
                }
                for (long long a = lane; a < d; a += 32) {
                    coordinate_step(cfg, m + a, grad_m[a], adagrad ? user_mlp_accum + u * d + a : nullptr, rate_u);
                    coordinate_step(cfg, nj + a, grad_n[a], adagrad ? item_mlp_accum + j * d + a : nullptr, rate_i);
                }
            }
            pending += __syncthreads_count(lane == 0 && active);
            if (pending >= dense_batch_size) {
                block_flush_dense(cfg, dense, dense_grad, dense_accum, net.n_dense, dense_learning_rate);
                pending = 0;
                __syncthreads();  // the next sample reads the stepped parameters
            }
        }
    }
    if (pending > 0) {
        block_flush_dense(cfg, dense, dense_grad, dense_accum, net.n_dense, dense_learning_rate);
    }
    block_add_to(loss, lane == 0 ? total : 0.0);
}

// One warp's logit of (user u, item i); -1 marks an unknown id (zero embeddings).
template <typename T>
__device__ __forceinline__ double ncf_pair_logit(const NcfNet& net, const T* user_gmf, const T* item_gmf,
                                                 const T* user_mlp, const T* item_mlp, const T* dense, long long u,
                                                 long long i, T* z) {
    const long long k = net.k, d = net.d;
    const T* p = k > 0 && u >= 0 ? user_gmf + u * k : nullptr;
    const T* q = k > 0 && i >= 0 ? item_gmf + i * k : nullptr;
    const T* m = d > 0 && u >= 0 ? user_mlp + u * d : nullptr;
    const T* nj = d > 0 && i >= 0 ? item_mlp + i * d : nullptr;
    return ncf_forward(net, dense, p, q, m, nj, z, static_cast<T*>(nullptr), static_cast<const T*>(nullptr));
}

// out[s] = the logit of (user_index[s], item_index[s]) (inference: no dropout).
// Scratch: n_act values per warp.
template <typename T>
__global__ void ncf_predict(const int* __restrict__ user_index,
                            const int* __restrict__ item_index,
                            long long n_samples,
                            int n_factors,
                            int mlp_dim,
                            const int* layer_sizes,
                            int n_layers,
                            const T* __restrict__ user_gmf,
                            const T* __restrict__ item_gmf,
                            const T* __restrict__ user_mlp,
                            const T* __restrict__ item_mlp,
                            const T* __restrict__ dense,
                            T* out,
                            double* scratch,
                            long long scratch_per_block) {
    const NcfNet net = ncf_layout(n_factors, mlp_dim, layer_sizes, n_layers);
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* z = scratch_take<T>(arena, warps * net.n_act) + warp * net.n_act;
    scratch_check(arena);
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long s = static_cast<long long>(blockIdx.x) * warps + warp; s < n_samples; s += stride) {
        const double logit = ncf_pair_logit(net, user_gmf, item_gmf, user_mlp, item_mlp, dense, user_index[s],
                                            item_index[s], z);
        if (lane_id() == 0) {
            out[s] = static_cast<T>(logit);
        }
    }
}

// out[r * n_items + i] = the logit of (user_index[r], item i) for every item:
// recommend's score matrix of a batch of users. Scratch: n_act values per warp.
template <typename T>
__global__ void ncf_score_items(const int* __restrict__ user_index,
                                long long n_users,
                                int n_items,
                                int n_factors,
                                int mlp_dim,
                                const int* layer_sizes,
                                int n_layers,
                                const T* __restrict__ user_gmf,
                                const T* __restrict__ item_gmf,
                                const T* __restrict__ user_mlp,
                                const T* __restrict__ item_mlp,
                                const T* __restrict__ dense,
                                T* out,
                                double* scratch,
                                long long scratch_per_block) {
    const NcfNet net = ncf_layout(n_factors, mlp_dim, layer_sizes, n_layers);
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* z = scratch_take<T>(arena, warps * net.n_act) + warp * net.n_act;
    scratch_check(arena);
    const long long n_pairs = n_users * n_items;
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long s = static_cast<long long>(blockIdx.x) * warps + warp; s < n_pairs; s += stride) {
        const long long r = s / n_items;
        const double logit = ncf_pair_logit(net, user_gmf, item_gmf, user_mlp, item_mlp, dense, user_index[r],
                                            s - r * n_items, z);
        if (lane_id() == 0) {
            out[s] = static_cast<T>(logit);
        }
    }
}
