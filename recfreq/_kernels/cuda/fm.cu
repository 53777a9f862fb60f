// Epoch and prediction kernels of the 2-way factorization machine on the GPU:
// the mirror of ../cpu/fm.pyx (fm_epoch, fm_ranking_epoch, fm_projected_epoch,
// fm_predict).
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
#include "rng.cuh"
#include "negatives.cuh"
#include "ranking.cuh"

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

// A warp's private w0 (and accumulator; null: none), the same on every lane:
// lane 0 adds its change since the last publication to the model's, and every
// lane continues from the result (the CPU's _publish, per warp).
template <typename T>
__device__ __forceinline__ void warp_publish_intercept(T* model_w0, T* model_accum, T& w0, T& w0_snap, T& acc,
                                                       T& acc_snap) {
    T published_w0 = T(0), published_acc = T(0);
    if (lane_id() == 0) {
        const T delta = w0 - w0_snap;
        published_w0 = atomicAdd(model_w0, delta) + delta;
        if (model_accum != nullptr) {
            const T delta_acc = acc - acc_snap;
            published_acc = atomicAdd(model_accum, delta_acc) + delta_acc;
        }
    }
    w0 = w0_snap = __shfl_sync(0xffffffffu, published_w0, 0);
    if (model_accum != nullptr) {
        acc = acc_snap = __shfl_sync(0xffffffffu, published_acc, 0);
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

// One part of a ranking sample (a CSR row: the context, or an item's row of the
// item table) by the calling warp, the CPU's _part_sums: this lane's
// coordinates of s_f = sum_j v_jf x_j into `sums`, its share of
// sum_j sum_f (v_jf x_j)^2 into *squares; returns the linear term
// sum_j w_j x_j (on every lane).
template <typename T>
__device__ __forceinline__ double fm_part_sums(const long long* ip, const int* ind, const T* val, long long row,
                                               const T* w, const T* V, long long k, T* sums, T* squares) {
    const int lane = lane_id();
    for (long long f = lane; f < k; f += 32) {
        sums[f] = T(0);
    }
    double linear = 0.0;
    T sq = T(0);
    for (long long p = ip[row]; p < ip[row + 1]; ++p) {
        const long long a = ind[p];
        const T x = val[p];
        linear = linear + static_cast<double>(w[a] * x);
        for (long long f = lane; f < k; f += 32) {
            const T vx = V[a * k + f] * x;
            sums[f] = sums[f] + vx;
            sq = sq + vx * vx;
        }
    }
    *squares = sq;
    return linear;
}

// The pairwise term of two parts joined, 1/2 (||a + b||^2 - their squares), by the
// calling warp (`squares`: this lane's share); on every lane. The CPU's _joined.
template <typename T>
__device__ __forceinline__ double fm_joined(const T* a, const T* b, long long k, T squares) {
    const int lane = lane_id();
    T pair = T(0);
    for (long long f = lane; f < k; f += 32) {
        pair = pair + (a[f] + b[f]) * (a[f] + b[f]);
    }
    return 0.5 * static_cast<double>(warp_sum(pair - squares));
}

// Position of `feature` in CSR row `row`, or -1 (an item's part is a few entries).
__device__ __forceinline__ long long fm_find(const long long* ip, const int* ind, long long row, int feature) {
    for (long long p = ip[row]; p < ip[row + 1]; ++p) {
        if (ind[p] == feature) {
            return p;
        }
    }
    return -1;
}

// One feature row's step by the calling warp (one rate, one cf-sgd visit): this
// lane's coordinates of its factors by grad_v (`grad_v(f)`, L2 included) and, when
// `with_weight`, its weight by grad_w (lane 0). The CPU's _step_feature.
template <typename T, typename Grad>
__device__ __forceinline__ void fm_step_feature(const SolverConfig& cfg, const RowFrequencyState& state, long long a,
                                                long long t, T* V, T* w, T* acc_v, T* acc_w, long long k,
                                                Grad grad_v, T grad_w, bool with_weight) {
    const int lane = lane_id();
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const double rate = warp_row_learning_rate(cfg, state, a, t);
    for (long long f = lane; f < k; f += 32) {
        coordinate_step(cfg, V + a * k + f, grad_v(f), adagrad ? acc_v + a * k + f : nullptr, rate);
    }
    if (with_weight && lane == 0) {
        coordinate_step(cfg, w + a, grad_w, adagrad ? acc_w + a : nullptr, rate);
    }
}

// One epoch of the factorization machine under a ranking loss; adds the summed
// loss to *loss. The mirror of fm_ranking_epoch in ../cpu/fm.pyx.
//
// A positive is a context part C (CSR row epoch_sample(p) of ctx_*: the user id
// and every side column that does not describe the item) and an item i
// (item_index), whose part I is row i of the item table (item_*: its id and
// item-side columns). A sampled negative j (never one of the user's
// positive_indices, drawn as the CPU draws it, keyed on the positive's own
// index with (sample_seed, order_epoch): negatives.cuh) keeps C and takes the
// part J of item j. With s(C, X) = w0 + sum w x + sum_{a<b} <v_a, v_b> x_a x_b
// over C and X joined (Rendle's identity), position p is step t = t_start + p + 1:
//
// * logistic: (C, I) with label 1, then n_negatives (C, J) with label 0, each a
//   pointwise step on softplus(s) - y s (d = sigmoid(s) - y):
//   g_wa = d x_a + alpha_bias w_a, g_va = d x_a (S - v_a x_a) + alpha v_a for
//   every feature a of the pair (S the joined sums), and w0 its dense step with d;
// * bpr and warp: x = s(C, I) - s(C, J) (w0 and C's weights cancel), loss
//   softplus(-x) (g = sigmoid(-x)) or L(r) (1 - x) after drawing until
//   s(C, J) > s(C, I) - 1 (g = L(r), r = (n_items - n_pos(u)) / draws; no
//   violation, no step). Every row takes one step with -g dx/dtheta plus its
//   L2: a context row's factors (dx/dv_a = x_a (S_I - S_J)), an item-part row's
//   factors and weight; a row in both items' parts steps once with both
//   contributions.
//
// One warp per positive, as fm_epoch (lane l holds coordinates l, l + 32, ... of
// the sums and rows); every lane draws the negatives itself (a function of
// (positive, s) alone). w0, in every logistic sample, is kept per warp as the
// CPU keeps it per thread: a launch of one warp steps it and writes the model's
// at the end (the CPU's n_jobs=1), a launch of more warps steps a private copy
// and adds its change to the model's every FM_DENSE_SYNC positives of the warp
// and at its end. A launch of one warp replays the CPU's n_jobs=1 epoch.
//
// Scratch: per warp 3 n_factors values (the sums of C, of I and of J).
template <typename T>
__global__ void fm_ranking_epoch(const long long* __restrict__ ctx_indptr,
                                 const int* __restrict__ ctx_indices,
                                 const T* __restrict__ ctx_data,
                                 const int* __restrict__ user_index,
                                 const int* __restrict__ item_index,
                                 long long n_samples,
                                 unsigned long long order_seed,
                                 unsigned long long order_epoch,
                                 unsigned long long sample_seed,
                                 const long long* __restrict__ item_indptr,
                                 const int* __restrict__ item_indices,
                                 const T* __restrict__ item_data,
                                 const long long* __restrict__ positive_indptr,
                                 const int* __restrict__ positive_indices,
                                 int n_items,
                                 int ranking_loss,
                                 int n_negatives,
                                 int max_sampled,
                                 const double* __restrict__ warp_weights,
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
                                 double alpha,
                                 double alpha_bias,
                                 long long t_start,
                                 double* loss,
                                 double* scratch,
                                 long long scratch_per_block) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    // w0 is in every sample: no frequency rule, its own step size (DESIGN 3)
    const SolverConfig dense_cfg = solver_config(adagrad ? SOLVER_ADAGRAD : SOLVER_SGD, dense_learning_rate,
                                                 frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState state = frequency_state(feature_frequency, feature_counter, feature_last_seen);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const unsigned long long key = rng_key(sample_seed, order_epoch);
    const int lane = lane_id();
    const int warp_in_block = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    const long long warp = static_cast<long long>(blockIdx.x) * warps + warp_in_block;
    const long long n_warps = static_cast<long long>(gridDim.x) * warps;
    const long long k = n_factors;
    const T fa = static_cast<T>(alpha);
    const T fb = static_cast<T>(alpha_bias);
    T* V = feature_factors;
    T* w = feature_bias;

    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* sums_c = scratch_take<T>(arena, warps * 3 * k) + warp_in_block * 3 * k;
    scratch_check(arena);
    T* sums_i = sums_c + k;
    T* sums_j = sums_i + k;

    // this warp's w0 (and Adagrad accumulator), the same on every lane, and what it
    // was at the last publication; one warp in the launch steps the model's own
    const bool private_w0 = n_warps > 1;
    T w0 = *intercept;
    T acc_0 = adagrad ? *intercept_accum : T(0);
    T w0_snap = w0;
    T acc_0_snap = acc_0;
    bool stepped_w0 = false;

    double total = 0.0;
    long long trained = 0;
    for (long long position = warp; position < n_samples; position += n_warps) {
        const long long ctx_row = epoch_sample(order, position);
        const long long u = user_index[ctx_row];
        const long long i = item_index[ctx_row];
        const long long t = t_start + position + 1;
        const int* positives = positive_indices + positive_indptr[u];
        const long long n_pos = positive_indptr[u + 1] - positive_indptr[u];
        unsigned int first_tries[4] = {0u, 0u, 0u, 0u};  // the current block of the negatives' first tries
        T sq_c = T(0), sq_i = T(0), sq_j = T(0);
        if (ranking_loss == LOSS_LOGISTIC) {
            for (int s = 0; s <= n_negatives; ++s) {
                long long j = i;
                if (s > 0) {
                    if (n_pos >= n_items) {
                        break;  // the user holds every item: no negative to give
                    }
                    if ((s - 1) % 4 == 0) {
                        rng_block(key, ctx_row, STREAM_FIRST_TRIES, static_cast<unsigned int>((s - 1) / 4),
                                  first_tries);
                    }
                    j = sample_negative(first_tries[(s - 1) % 4], key, ctx_row, negative_stream(s), positives, n_pos,
                                        n_items);
                }
                // the context's rows moved with the previous emitted sample: sum them again
                const double lin_c = fm_part_sums(ctx_indptr, ctx_indices, ctx_data, ctx_row, w, V, k, sums_c, &sq_c);
                const double lin_j = fm_part_sums(item_indptr, item_indices, item_data, j, w, V, k, sums_j, &sq_j);
                // (the reduction in fm_joined orders every lane's reads of w before lane 0 steps them)
                // one score for the warp (lane 0's: every lane sums the linear part from shared rows)
                const double score = warp_broadcast(static_cast<double>(w0) + lin_c + lin_j
                                                    + fm_joined(sums_c, sums_j, k, sq_c + sq_j));
                const double y = s == 0 ? 1.0 : 0.0;
                total += fm_log_loss(score, y);
                const T d = static_cast<T>(fm_sigmoid(score) - y);
                for (long long f = lane; f < k; f += 32) {
                    sums_i[f] = sums_c[f] + sums_j[f];  // S of the joined sample
                }
                // every feature appears once in C and J together: its v_a is still the
                // pre-sample value when its gradient is taken
                for (int part = 0; part < 2; ++part) {
                    const long long* ip = part == 0 ? ctx_indptr : item_indptr;
                    const int* ind = part == 0 ? ctx_indices : item_indices;
                    const T* val = part == 0 ? ctx_data : item_data;
                    const long long r = part == 0 ? ctx_row : j;
                    for (long long q = ip[r]; q < ip[r + 1]; ++q) {
                        const long long a = ind[q];
                        const T xa = val[q];
                        const T* v = V + a * k;
                        fm_step_feature(cfg, state, a, t, V, w, feature_factors_accum, feature_bias_accum, k,
                                        [&](long long f) { return d * xa * (sums_i[f] - v[f] * xa) + fa * v[f]; },
                                        d * xa + fb * w[a], true);
                    }
                }
                coordinate_step(dense_cfg, &w0, d, adagrad ? &acc_0 : nullptr, dense_learning_rate);
                stepped_w0 = true;
                __syncwarp();  // the next sample reads the rows as stepped
            }
            trained += 1;
            if (private_w0 && trained % FM_DENSE_SYNC == 0) {
                warp_publish_intercept(intercept, adagrad ? intercept_accum : nullptr, w0, w0_snap, acc_0, acc_0_snap);
            }
            continue;
        }
        if (n_pos >= n_items) {
            continue;  // no negative exists: a pairwise loss has nothing to compare
        }
        fm_part_sums(ctx_indptr, ctx_indices, ctx_data, ctx_row, w, V, k, sums_c, &sq_c);
        const double lin_i = fm_part_sums(item_indptr, item_indices, item_data, i, w, V, k, sums_i, &sq_i);
        // s(C, I) less the terms that cancel; lane 0's, as every score the warp branches on
        const double score_i = warp_broadcast(lin_i + fm_joined(sums_c, sums_i, k, sq_i));
        long long j = -1;
        int draws = 0;
        double score_j = 0.0;
        // bpr takes the first negative; warp draws until one violates the margin
        const int max_draws = ranking_loss == LOSS_BPR ? 1 : max_sampled;
        while (draws < max_draws) {
            draws = draws + 1;
            if ((draws - 1) % 4 == 0) {
                rng_block(key, ctx_row, STREAM_FIRST_TRIES, static_cast<unsigned int>((draws - 1) / 4), first_tries);
            }
            j = sample_negative(first_tries[(draws - 1) % 4], key, ctx_row, negative_stream(draws), positives, n_pos,
                                n_items);
            const double lin_j = fm_part_sums(item_indptr, item_indices, item_data, j, w, V, k, sums_j, &sq_j);
            score_j = warp_broadcast(lin_j + fm_joined(sums_c, sums_j, k, sq_j));
            if (ranking_loss == LOSS_BPR || score_j > score_i - 1.0) {
                break;
            }
            j = -1;
        }
        if (j < 0) {
            continue;  // warp: no violation among max_sampled negatives, no step
        }
        const double x = score_i - score_j;
        T g;
        if (ranking_loss == LOSS_BPR) {
            total += fm_log_loss(-x, 0.0);
            g = static_cast<T>(fm_sigmoid(-x));
        } else {
            const int rank = static_cast<int>((n_items - n_pos) / draws);
            total += warp_weights[rank] * (1.0 - x);
            g = static_cast<T>(warp_weights[rank]);
        }
        // context rows: dx/dv_a = x_a (S_I - S_J); their weights cancel and do not move
        for (long long q = ctx_indptr[ctx_row]; q < ctx_indptr[ctx_row + 1]; ++q) {
            const long long a = ctx_indices[q];
            const T xa = ctx_data[q];
            const T* v = V + a * k;
            fm_step_feature(cfg, state, a, t, V, w, feature_factors_accum, feature_bias_accum, k,
                            [&](long long f) { return -g * xa * (sums_i[f] - sums_j[f]) + fa * v[f]; }, T(0), false);
        }
        // the positive's item part (and the negative's where they share a row):
        // dx/dv_a = x_a (S_C + S_I - v_a x_a) - x'_a (S_C + S_J - v_a x'_a), dx/dw_a = x_a - x'_a
        for (long long q = item_indptr[i]; q < item_indptr[i + 1]; ++q) {
            const long long a = item_indices[q];
            const T xa = item_data[q];
            const long long other = fm_find(item_indptr, item_indices, j, static_cast<int>(a));
            const T xb = other >= 0 ? item_data[other] : T(0);
            const T* v = V + a * k;
            fm_step_feature(cfg, state, a, t, V, w, feature_factors_accum, feature_bias_accum, k,
                            [&](long long f) {
                                return (-g * (xa * (sums_c[f] + sums_i[f] - v[f] * xa)
                                              - xb * (sums_c[f] + sums_j[f] - v[f] * xb))
                                        + fa * v[f]);
                            },
                            -g * (xa - xb) + fb * w[a], true);
        }
        for (long long q = item_indptr[j]; q < item_indptr[j + 1]; ++q) {
            const long long a = item_indices[q];
            if (fm_find(item_indptr, item_indices, i, static_cast<int>(a)) >= 0) {
                continue;  // stepped with the positive's part
            }
            const T xb = item_data[q];
            const T* v = V + a * k;
            fm_step_feature(cfg, state, a, t, V, w, feature_factors_accum, feature_bias_accum, k,
                            [&](long long f) { return g * xb * (sums_c[f] + sums_j[f] - v[f] * xb) + fa * v[f]; },
                            g * xb + fb * w[a], true);
        }
        __syncwarp();  // the next positive reads the rows as stepped
    }
    if (stepped_w0) {
        if (private_w0) {
            warp_publish_intercept(intercept, adagrad ? intercept_accum : nullptr, w0, w0_snap, acc_0, acc_0_snap);
        } else if (lane == 0) {
            *intercept = w0;
            if (adagrad) {
                *intercept_accum = acc_0;
            }
        }
    }
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
