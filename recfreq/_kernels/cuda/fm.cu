// Epoch and prediction kernels of the 2-way factorization machine on the GPU:
// the mirror of ../cpu/fm.pyx (fm_epoch, fm_projected_epoch, fm_predict).
//
// y_hat(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l over the non-zero
// features of one CSR row, in O(k nnz) with Rendle's identity
//
//     sum_{j<l} <v_j, v_l> x_j x_l = 1/2 sum_f [(sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2].
//
// One warp per sample: lane l holds coordinates l, l + 32, ... of the sums
// s_f = sum_j v_jf x_j and of every feature row, the sums of squares are
// reduced with warp shuffles, and the warp walks the sample's non-zeros in CSR
// order twice (score, then the per-row steps), as the CPU loop does. Position p
// of the epoch is CSR row epoch_sample(p), step t = t_start + p + 1.
//
// A block's warps take the positions in rounds, one each. The global bias w0
// is a dense parameter in every sample: after each round, thread 0 steps it
// once per sample of the round, in position order (plain SGD with
// dense_learning_rate, Adagrad under adagrad). With one block it steps the
// model's w0 itself, so a launch of one block of one warp replays the CPU's
// n_jobs=1 epoch; with more blocks each steps a private copy and adds its
// change to the model's w0 every FM_DENSE_SYNC samples of the block and at its
// end, as each CPU thread does under n_jobs > 1.
//
// Hot rows (fm_epoch): the rows in a large share of the samples (side features
// such as a gender or a numeric column; chosen by the host, see
// recfreq/_engine/cuda.py) would be stepped by every warp of the grid at once.
// Each block keeps a copy of them (factors, w_j, Adagrad accumulators, cf-sgd
// counters and stamps), which its warps step, and every FM_DENSE_SYNC samples
// of the block (and at its end) adds its change to the model's rows and
// reloads them, with the CPU's rules for a counter with a half-life (see
// _hot_publish in ../cpu/fm.pyx): the block's updates of a hot row reach the
// other blocks up to FM_DENSE_SYNC samples late, as w0's do. The other rows
// stay Hogwild. fm_projected_epoch has none (nor has its CPU mirror).
#include "portability.cuh"
#include "solvers.cuh"
#include "order.cuh"
#include "reduce.cuh"
#include "scratch.cuh"
#include "dense.cuh"
#include "projection.cuh"

#define FM_TASK_CLASSIFICATION 1
// samples of a block between publications of its private w0 and hot rows (the CPU's DENSE_SYNC)
#define FM_DENSE_SYNC 64

__device__ __forceinline__ double fm_sigmoid(double z) {
    if (z >= 0.0) {
        return 1.0 / (1.0 + exp(-z));
    }
    const double e = exp(z);
    return e / (1.0 + e);
}

// softplus(z) - y z, without overflow for large |z|
__device__ __forceinline__ double fm_log_loss(double z, double y) {
    if (z > 0.0) {
        return z + log1p(exp(-z)) - y * z;
    }
    return log1p(exp(z)) - y * z;
}

// (dloss / dy_hat, the sample's loss): squared error (gradient of e^2 / 2) or log loss.
__device__ __forceinline__ void fm_loss(int task, double y_hat, double target, double* d, double* loss) {
    if (task == FM_TASK_CLASSIFICATION) {
        *d = fm_sigmoid(y_hat) - target;
        *loss = fm_log_loss(y_hat, target);
    } else {
        *d = y_hat - target;
        *loss = *d * *d;
    }
}

// The w0 a block steps: the model's own, or a private copy [w0, snapshot,
// accumulator, snapshot] in the block's scratch.
template <typename T>
struct BlockIntercept {
    T* model_w0;
    T* model_accum;  // null unless adagrad
    T* copy;         // null: the block steps the model's w0 directly
    T* w0;
    T* accum;
};

// Every thread builds it; thread 0 loads a private copy (the caller synchronizes).
template <typename T>
__device__ __forceinline__ BlockIntercept<T> block_intercept(T* intercept, T* intercept_accum, bool adagrad, T* copy) {
    BlockIntercept<T> b;
    b.model_w0 = intercept;
    b.model_accum = adagrad ? intercept_accum : nullptr;
    b.copy = copy;
    if (copy == nullptr) {
        b.w0 = intercept;
        b.accum = b.model_accum;
        return b;
    }
    b.w0 = copy;
    b.accum = adagrad ? copy + 2 : nullptr;
    if (threadIdx.x == 0) {
        copy[0] = copy[1] = intercept[0];
        copy[2] = copy[3] = adagrad ? intercept_accum[0] : T(0);
    }
    return b;
}

// Thread 0 adds the private copy's change since its last publication to the
// model's w0 (and accumulator) and continues from the result (the CPU's _publish).
template <typename T>
__device__ __forceinline__ void intercept_publish(const BlockIntercept<T>& b) {
    if (b.copy == nullptr || threadIdx.x != 0) {
        return;
    }
    T delta = b.copy[0] - b.copy[1];
    b.copy[0] = b.copy[1] = atomicAdd(b.model_w0, delta) + delta;
    if (b.model_accum != nullptr) {
        delta = b.copy[2] - b.copy[3];
        b.copy[2] = b.copy[3] = atomicAdd(b.model_accum, delta) + delta;
    }
}

// Thread 0 steps w0 once per sample of the round just trained (d_round[w]: dloss/dy_hat
// of warp w's sample; the round's active warps are 0 .. n_active - 1).
template <typename T>
__device__ __forceinline__ void intercept_steps(const SolverConfig& dense_cfg, const BlockIntercept<T>& b,
                                                const T* d_round, int n_active, double rate) {
    if (threadIdx.x != 0) {
        return;
    }
    for (int w = 0; w < n_active; ++w) {
        coordinate_step(dense_cfg, b.w0, d_round[w], b.accum, rate);
    }
}

// A block's copies of the hot rows (slot i holds feature row rows[i]).
template <typename T>
struct HotRows {
    int n;                      // 0: no hot rows
    const int* rows;
    const int* slot;            // feature row -> slot, or -1 (n_features entries)
    T* copy;                    // n x (k + 1): factors, then w_j
    T* snap;                    // the same at the last load
    T* accum;                   // Adagrad: the accumulators' copies and snapshots (else null)
    T* accum_snap;
    double* count;              // cf-sgd: the counters' copies and snapshots (else null)
    double* count_snap;
    long long* last;            // cf-sgd with a half-life: the block's own stamps, and
    long long* last_at_load;    //   each one as it was at the last load (else null)
};

// Load every hot row into the block's copies; `first`: also start the block's stamps
// from the model's. Every thread calls it (the caller synchronizes).
template <typename T>
__device__ __forceinline__ void hot_load(const HotRows<T>& h, long long k, const T* V, const T* w, const T* acc_v,
                                         const T* acc_w, const double* counter, const long long* last_seen,
                                         bool first) {
    const long long stride = k + 1;
    for (long long c = threadIdx.x; c < h.n * stride; c += blockDim.x) {
        const long long slot = c / stride;
        const long long f = c - slot * stride;
        const long long row = h.rows[slot];
        h.copy[c] = h.snap[c] = f < k ? V[row * k + f] : w[row];
        if (h.accum != nullptr) {
            h.accum[c] = h.accum_snap[c] = f < k ? acc_v[row * k + f] : acc_w[row];
        }
    }
    for (int slot = threadIdx.x; slot < h.n; slot += blockDim.x) {
        const long long row = h.rows[slot];
        if (h.count != nullptr) {
            h.count[slot] = h.count_snap[slot] = counter[row];
        }
        if (h.last != nullptr) {
            if (first) {
                h.last[slot] = last_seen[row];
            }
            h.last_at_load[slot] = h.last[slot];
        }
    }
}

// Add every hot row's change since its last load to the model's row, then
// continue from the result. A counter with a half-life h is not additive: since
// the load the block decayed the snapshot c_s by D = 2^(-gap/h) (gap: its own
// stamps' advance) and added its visits e, so c = c_s D + e; the model's counter
// becomes shared D + e = c + (shared - c_s) D, which keeps it positive. The
// stamp is published as the later of the two. Every thread calls it (the caller
// synchronizes before and after).
template <typename T>
__device__ __forceinline__ void hot_publish(const HotRows<T>& h, long long k, T* V, T* w, T* acc_v, T* acc_w,
                                            double* counter, long long* last_seen, double halflife) {
    const long long stride = k + 1;
    for (long long c = threadIdx.x; c < h.n * stride; c += blockDim.x) {
        const long long slot = c / stride;
        const long long f = c - slot * stride;
        const long long row = h.rows[slot];
        T delta = h.copy[c] - h.snap[c];
        h.copy[c] = h.snap[c] = atomicAdd(f < k ? V + row * k + f : w + row, delta) + delta;
        if (h.accum != nullptr) {
            delta = h.accum[c] - h.accum_snap[c];
            h.accum[c] = h.accum_snap[c] = atomicAdd(f < k ? acc_v + row * k + f : acc_w + row, delta) + delta;
        }
    }
    for (int slot = threadIdx.x; slot < h.n; slot += blockDim.x) {
        const long long row = h.rows[slot];
        if (h.count != nullptr) {
            double decay = 1.0;
            if (halflife > 0.0 && h.last != nullptr) {
                decay = exp2(-static_cast<double>(h.last[slot] - h.last_at_load[slot]) / halflife);
            }
            unsigned long long* word = reinterpret_cast<unsigned long long*>(counter + row);
            unsigned long long seen = *word, expected;
            double merged;
            do {
                expected = seen;
                const double shared = __longlong_as_double(static_cast<long long>(expected));
                merged = h.count[slot] + (shared - h.count_snap[slot]) * decay;
                seen = atomicCAS(word, expected, static_cast<unsigned long long>(__double_as_longlong(merged)));
            } while (seen != expected);
            h.count[slot] = h.count_snap[slot] = merged;
        }
        if (h.last != nullptr) {
            atomicMax(last_seen + row, h.last[slot]);
            h.last_at_load[slot] = h.last[slot];
        }
    }
}

// One epoch over the CSR rows in the epoch's order; adds the summed loss to *loss.
//
// With d = dloss/dy_hat and s_f = sum_l v_lf x_l, every non-zero feature j of the
// sample takes, with parameters as they were before the sample:
//     g_wj = d x_j + alpha_bias w_j,  g_vjf = d x_j (s_f - v_jf x_j) + alpha v_jf,  g_w0 = d.
// Scratch, in this order: the private w0 (4 values, with more than one block),
// d_round (one value per warp), the hot rows' copies and snapshots (n_hot x
// (n_factors + 1) values each), the same for their Adagrad accumulators, the
// cf-sgd counters (2 n_hot doubles) and stamps (2 n_hot long longs), then
// n_factors values per warp (the sums s_f).
template <typename T>
__global__ void fm_epoch(const long long* __restrict__ indptr,
                         const int* __restrict__ indices,
                         const T* __restrict__ data,
                         const T* __restrict__ targets,
                         long long n_samples,
                         unsigned long long order_seed,
                         unsigned long long order_epoch,
                         int task,
                         T* intercept,
                         T* feature_bias,
                         T* feature_factors,
                         int n_factors,
                         int solver,
                         double learning_rate,
                         double frequency_exponent,
                         double counter_halflife,
                         double epsilon,
                         double dense_learning_rate,
                         const double* feature_frequency,
                         double* feature_counter,
                         long long* feature_last_seen,
                         T* intercept_accum,
                         T* feature_factors_accum,
                         T* feature_bias_accum,
                         const int* hot_rows,
                         const int* hot_slot,
                         double alpha,
                         double alpha_bias,
                         long long t_start,
                         double* loss,
                         int n_hot,
                         double* scratch,
                         long long scratch_per_block) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const bool cf = cfg.kind == SOLVER_CF_SGD;
    // w0 is in every sample: no frequency rule, its own step size (DESIGN 3)
    const SolverConfig dense_cfg = solver_config(adagrad ? SOLVER_ADAGRAD : SOLVER_SGD, dense_learning_rate,
                                                 frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState state = frequency_state(feature_frequency, feature_counter, feature_last_seen);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const int lane = lane_id();
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    const long long k = n_factors;
    const long long stride_k = k + 1;
    T* V = feature_factors;
    T* w = feature_bias;

    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* w0_copy = gridDim.x > 1 ? scratch_take<T>(arena, 4) : nullptr;
    T* d_round = scratch_take<T>(arena, warps);
    HotRows<T> h;
    h.n = n_hot;
    h.rows = hot_rows;
    h.slot = hot_slot;
    h.copy = h.snap = h.accum = h.accum_snap = nullptr;
    h.count = h.count_snap = nullptr;
    h.last = h.last_at_load = nullptr;
    if (n_hot > 0) {
        h.copy = scratch_take<T>(arena, n_hot * stride_k);
        h.snap = scratch_take<T>(arena, n_hot * stride_k);
        if (adagrad) {
            h.accum = scratch_take<T>(arena, n_hot * stride_k);
            h.accum_snap = scratch_take<T>(arena, n_hot * stride_k);
        }
        if (cf) {
            h.count = scratch_take<double>(arena, n_hot);
            h.count_snap = scratch_take<double>(arena, n_hot);
            if (counter_halflife > 0.0 && feature_last_seen != nullptr) {
                h.last = scratch_take<long long>(arena, n_hot);
                h.last_at_load = scratch_take<long long>(arena, n_hot);
            }
        }
    }
    T* sums = scratch_take<T>(arena, warps * k) + warp * k;
    scratch_check(arena);
    const RowFrequencyState hot_state = frequency_state(nullptr, h.count, h.last);
    const BlockIntercept<T> b0 = block_intercept(intercept, intercept_accum, adagrad, w0_copy);
    if (n_hot > 0) {
        hot_load(h, k, V, w, feature_factors_accum, feature_bias_accum, feature_counter, feature_last_seen, true);
    }
    __syncthreads();

    double total = 0.0;
    long long since_publish = 0;
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long base = static_cast<long long>(blockIdx.x) * warps; base < n_samples; base += stride) {
        const long long position = base + warp;
        if (position < n_samples) {
            const long long s = epoch_sample(order, position);
            const long long t = t_start + position + 1;
            const long long start = indptr[s], end = indptr[s + 1];
            for (long long f = lane; f < k; f += 32) {
                sums[f] = T(0);
            }
            // the score, non-zero by non-zero as the CPU's _score; every lane sums the
            // linear part (so every lane has the loss derivative without a shuffle)
            double linear = static_cast<double>(*b0.w0);
            T squares_part = T(0);
            for (long long p = start; p < end; ++p) {
                const long long j = indices[p];
                const T x = data[p];
                const int slot = n_hot > 0 ? h.slot[j] : -1;
                const T* v = slot >= 0 ? h.copy + slot * stride_k : V + j * k;
                linear = linear + static_cast<double>((slot >= 0 ? v[k] : w[j]) * x);
                for (long long f = lane; f < k; f += 32) {
                    const T vx = v[f] * x;
                    sums[f] = sums[f] + vx;
                    squares_part = squares_part + vx * vx;
                }
            }
            T pair_part = T(0);
            for (long long f = lane; f < k; f += 32) {
                pair_part = pair_part + sums[f] * sums[f];
            }
            // sum_f s_f^2 - sum_j ||v_j x_j||^2, one reduction (which also orders every
            // lane's reads of w before lane 0 steps them)
            const T pairwise = warp_sum(pair_part - squares_part);
            double d, sample_loss;
            fm_loss(task, linear + 0.5 * static_cast<double>(pairwise), static_cast<double>(targets[s]), &d,
                    &sample_loss);
            if (lane == 0) {
                total += sample_loss;
            }
            const T dd = static_cast<T>(d);
            for (long long p = start; p < end; ++p) {
                const long long j = indices[p];
                const T x = data[p];
                const T dx = dd * x;
                const int slot = n_hot > 0 ? h.slot[j] : -1;
                T* v = slot >= 0 ? h.copy + slot * stride_k : V + j * k;
                T* wj = slot >= 0 ? v + k : w + j;
                T* av = nullptr;
                T* aw = nullptr;
                if (adagrad) {
                    av = slot >= 0 ? h.accum + slot * stride_k : feature_factors_accum + j * k;
                    aw = slot >= 0 ? av + k : feature_bias_accum + j;
                }
                // the rates mutate cf-sgd counters: one lane per row
                const double rate = cf && slot >= 0 ? warp_row_learning_rate(cfg, hot_state, slot, t)
                                                    : warp_row_learning_rate(cfg, state, j, t);
                // each feature appears once per row, so v_j is still the pre-sample
                // value and s_f - v_jf x_j excludes exactly itself
                for (long long f = lane; f < k; f += 32) {
                    const T vf = v[f];
                    coordinate_step(cfg, v + f, dx * (sums[f] - vf * x) + static_cast<T>(alpha) * vf,
                                    adagrad ? av + f : nullptr, rate);
                }
                if (lane == 0) {
                    coordinate_step(cfg, wj, dx + static_cast<T>(alpha_bias) * *wj, aw, rate);
                }
            }
            if (lane == 0) {
                d_round[warp] = dd;
            }
        }
        const int n_active = __syncthreads_count(lane == 0 && position < n_samples);
        intercept_steps(dense_cfg, b0, d_round, n_active, dense_learning_rate);
        since_publish += n_active;
        if ((w0_copy != nullptr || n_hot > 0) && since_publish >= FM_DENSE_SYNC) {
            __syncthreads();
            intercept_publish(b0);
            hot_publish(h, k, V, w, feature_factors_accum, feature_bias_accum, feature_counter, feature_last_seen,
                        counter_halflife);
            since_publish = 0;
        }
        __syncthreads();  // the next round reads w0 (and the hot rows) as stepped
    }
    intercept_publish(b0);
    hot_publish(h, k, V, w, feature_factors_accum, feature_bias_accum, feature_counter, feature_last_seen,
                counter_halflife);
    block_add_to(loss, lane == 0 ? total : 0.0);
}

// One FM epoch whose factor rows are projected (mixed-dimension tables):
// v_j = e_j P_g(j), the raw row e_j of feature j (width d_g) times its group's
// projection (none for a group of width k). The score and dL/dv_j are those of
// fm_epoch on the projected rows; each dL/dv_j is back-propagated to e_j (which
// adds alpha * e_j and takes the per-row step of row j, shared with w_j) and to
// the projection, whose gradient the block sums and applies every
// `dense_batch_size` samples of the block and at its end (dense.cuh). w0 is
// stepped as in fm_epoch.
//
// Scratch, in this order: the private w0 (4 values, with more than one block),
// d_round (one value per warp), the block's projection-gradient sums
// (feature_dense_size), then per warp 2 n_factors + max_nnz max_activation +
// 2 max_width values.
template <typename T>
__global__ void fm_projected_epoch(const long long* __restrict__ indptr,
                                   const int* __restrict__ indices,
                                   const T* __restrict__ data,
                                   const T* __restrict__ targets,
                                   long long n_samples,
                                   unsigned long long order_seed,
                                   unsigned long long order_epoch,
                                   int task,
                                   T* intercept,
                                   T* feature_bias,
                                   int n_factors,
                                   T* feature_rows,
                                   const long long* feature_row_offset,
                                   const int* feature_row_group,
                                   const int* feature_group_in_dim,
                                   const int* feature_group_n_layers,
                                   const int* feature_group_first_layer,
                                   const long long* feature_layer_offset,
                                   const int* feature_layer_in,
                                   const int* feature_layer_out,
                                   T* feature_dense,
                                   T* feature_rows_accum,
                                   T* feature_dense_accum,
                                   int solver,
                                   double learning_rate,
                                   double frequency_exponent,
                                   double counter_halflife,
                                   double epsilon,
                                   double dense_learning_rate,
                                   const double* feature_frequency,
                                   double* feature_counter,
                                   long long* feature_last_seen,
                                   T* intercept_accum,
                                   T* feature_bias_accum,
                                   double alpha,
                                   double alpha_bias,
                                   long long t_start,
                                   int max_nnz,
                                   int max_activation,
                                   int max_width,
                                   int dense_batch_size,
                                   double* loss,
                                   long long feature_dense_size,
                                   double* scratch,
                                   long long scratch_per_block) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    // w0 and the projections are in (almost) every sample: no frequency rule,
    // their own step size (DESIGN 3)
    const SolverConfig dense_cfg = solver_config(adagrad ? SOLVER_ADAGRAD : SOLVER_SGD, dense_learning_rate,
                                                 frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState state = frequency_state(feature_frequency, feature_counter, feature_last_seen);
    const ProjectionLayout lay = projection_layout(feature_row_offset, feature_row_group, feature_group_in_dim,
                                                   feature_group_n_layers, feature_group_first_layer,
                                                   feature_layer_offset, feature_layer_in, feature_layer_out);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const int lane = lane_id();
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    const long long k = n_factors;
    T* w = feature_bias;
    T* rows = feature_rows;

    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* w0_copy = gridDim.x > 1 ? scratch_take<T>(arena, 4) : nullptr;
    T* d_round = scratch_take<T>(arena, warps);
    T* dense_grad = scratch_take<T>(arena, feature_dense_size);
    const long long act_size = static_cast<long long>(max_nnz) * max_activation;
    const long long per_warp = 2 * k + act_size + 2LL * max_width;
    T* mine = scratch_take<T>(arena, warps * per_warp) + warp * per_warp;
    scratch_check(arena);
    T* sums = mine;
    T* grad = sums + k;
    T* act = grad + k;
    T* work = act + act_size;
    const BlockIntercept<T> b0 = block_intercept(intercept, intercept_accum, adagrad, w0_copy);
    block_zero(dense_grad, feature_dense_size);
    __syncthreads();

    double total = 0.0;
    long long pending = 0, since_publish = 0;
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long base = static_cast<long long>(blockIdx.x) * warps; base < n_samples; base += stride) {
        const long long position = base + warp;
        if (position < n_samples) {
            const long long s = epoch_sample(order, position);
            const long long t = t_start + position + 1;
            const long long start = indptr[s], end = indptr[s + 1];
            for (long long f = lane; f < k; f += 32) {
                sums[f] = T(0);
            }
            double linear = static_cast<double>(*b0.w0);
            T squares_part = T(0);
            for (long long p = start; p < end; ++p) {
                const long long j = indices[p];
                const T x = data[p];
                const T* v = warp_project_forward(lay, rows, feature_dense, j, act + (p - start) * max_activation);
                linear = linear + static_cast<double>(w[j] * x);
                for (long long f = lane; f < k; f += 32) {
                    const T vx = v[f] * x;
                    sums[f] = sums[f] + vx;
                    squares_part = squares_part + vx * vx;
                }
            }
            T pair_part = T(0);
            for (long long f = lane; f < k; f += 32) {
                pair_part = pair_part + sums[f] * sums[f];
            }
            const T pairwise = warp_sum(pair_part - squares_part);
            double d, sample_loss;
            fm_loss(task, linear + 0.5 * static_cast<double>(pairwise), static_cast<double>(targets[s]), &d,
                    &sample_loss);
            if (lane == 0) {
                total += sample_loss;
            }
            const T dd = static_cast<T>(d);
            for (long long p = start; p < end; ++p) {
                const long long j = indices[p];
                const T x = data[p];
                const T dx = dd * x;
                T* act_j = act + (p - start) * max_activation;
                // v_j is the pre-sample projection: a plain row (no layer) is e_j
                // itself, which only this feature's own step below moves
                const T* v = projected_row(lay, rows, act_j, j);
                for (long long f = lane; f < k; f += 32) {
                    grad[f] = dx * (sums[f] - v[f] * x);
                }
                if (projected_layers(lay, j) > 0) {
                    __syncwarp();  // the layers' gradients read every lane's entries of grad
                }
                // reads e_j and the projection before either is stepped
                const T* g = warp_project_backward(lay, rows, feature_dense, j, act_j, grad, work, dense_grad);
                T* e = rows + feature_row_offset[j];
                const int d_j = projected_in_dim(lay, j);
                // the rates mutate cf-sgd counters: one lane per row
                const double rate = warp_row_learning_rate(cfg, state, j, t);
                for (int c = lane; c < d_j; c += 32) {
                    coordinate_step(cfg, e + c, g[c] + static_cast<T>(alpha) * e[c],
                                    adagrad ? feature_rows_accum + feature_row_offset[j] + c : nullptr, rate);
                }
                if (lane == 0) {
                    coordinate_step(cfg, w + j, dx + static_cast<T>(alpha_bias) * w[j],
                                    adagrad ? feature_bias_accum + j : nullptr, rate);
                }
                // (the next non-zero rewrites grad and work only after the backward pass's
                // last synchronization: each lane reads back only the entries it wrote)
            }
            if (lane == 0) {
                d_round[warp] = dd;
            }
        }
        const int n_active = __syncthreads_count(lane == 0 && position < n_samples);
        intercept_steps(dense_cfg, b0, d_round, n_active, dense_learning_rate);
        pending += n_active;
        since_publish += n_active;
        if (pending >= dense_batch_size) {
            block_flush_dense(dense_cfg, feature_dense, dense_grad, feature_dense_accum, feature_dense_size,
                              dense_learning_rate);
            pending = 0;
        }
        if (w0_copy != nullptr && since_publish >= FM_DENSE_SYNC) {
            __syncthreads();
            intercept_publish(b0);
            since_publish = 0;
        }
        __syncthreads();  // the next round reads w0 and the projections as stepped
    }
    if (pending > 0) {
        block_flush_dense(dense_cfg, feature_dense, dense_grad, feature_dense_accum, feature_dense_size,
                          dense_learning_rate);
    }
    intercept_publish(b0);
    block_add_to(loss, lane == 0 ? total : 0.0);
}

// out[i] = y_hat of CSR row i (the raw score: no sigmoid, no clipping). One warp per
// row; lane l sums s_f over the row's non-zeros for its coordinates f.
template <typename T>
__global__ void fm_predict(const long long* __restrict__ indptr,
                           const int* __restrict__ indices,
                           const T* __restrict__ data,
                           long long n_samples,
                           double intercept,
                           const T* __restrict__ feature_bias,
                           const T* __restrict__ feature_factors,
                           int n_factors,
                           T* out) {
    const int lane = lane_id();
    const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const long long n_warps = (static_cast<long long>(gridDim.x) * blockDim.x) / 32;
    const long long k = n_factors;
    for (long long s = warp; s < n_samples; s += n_warps) {
        const long long start = indptr[s], end = indptr[s + 1];
        T pair_part = T(0), squares_part = T(0);
        for (long long f = lane; f < k; f += 32) {
            T sum = T(0);
            for (long long p = start; p < end; ++p) {
                const T vx = feature_factors[static_cast<long long>(indices[p]) * k + f] * data[p];
                sum = sum + vx;
                squares_part = squares_part + vx * vx;
            }
            pair_part = pair_part + sum * sum;
        }
        const T pairwise = warp_sum(pair_part - squares_part);
        if (lane == 0) {
            double linear = intercept;
            for (long long p = start; p < end; ++p) {
                linear = linear + static_cast<double>(feature_bias[indices[p]] * data[p]);
            }
            out[s] = static_cast<T>(linear + 0.5 * static_cast<double>(pairwise));
        }
    }
}
