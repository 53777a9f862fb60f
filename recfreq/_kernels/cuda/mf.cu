// Epoch and prediction kernels of biased matrix factorization on the GPU:
// r_hat(u, i) = mu + b_u + b_i + p_u . q_i, squared loss. The mirror of
// ../cpu/mf.pyx (mf_epoch, mf_ranking_epoch, mf_projected_epoch, mf_predict).
//
// One warp per sample: lane l holds coordinates l, l + 32, ... of both rows,
// the dot product is reduced with warp shuffles, and every lane steps its own
// coordinates of both rows from values read before the step, which is the
// CPU kernel's "both gradients before either row moves". Warps walk the epoch
// positions grid-stride and update rows lock-free (Hogwild), as OpenMP threads
// do on the CPU; a launch of one block of one warp visits the positions in the
// CPU's n_jobs=1 order. Position p of the epoch is sample epoch_sample(p) and
// step t = t_start + floor((p + 1) * t_span / n_samples) in exact integers, as
// on the CPU (t_span = n_samples: t = t_start + p + 1).
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

// log(1 + e^x) without overflow
__device__ __forceinline__ double mf_softplus(double x) {
    if (x > 0.0) {
        return x + log1p(exp(-x));
    }
    return log1p(exp(x));
}

__device__ __forceinline__ double mf_sigmoid(double x) {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    const double e = exp(x);
    return e / (1.0 + e);
}

template <typename T>
__global__ void mf_epoch(const int* __restrict__ user_index,
                         const int* __restrict__ item_index,
                         const T* __restrict__ ratings,
                         long long n_samples,
                         unsigned long long order_seed,
                         unsigned long long order_epoch,
                         double global_mean,
                         T* user_factors,
                         T* item_factors,
                         T* user_bias,
                         T* item_bias,
                         int n_factors,
                         int solver,
                         double learning_rate,
                         double frequency_exponent,
                         double counter_halflife,
                         double epsilon,
                         const double* user_frequency,
                         const double* item_frequency,
                         double* user_counter,
                         double* item_counter,
                         long long* user_last_seen,
                         long long* item_last_seen,
                         T* user_factors_accum,
                         T* item_factors_accum,
                         T* user_bias_accum,
                         T* item_bias_accum,
                         double alpha,
                         double alpha_bias,
                         long long t_start,
                         long long t_span,
                         double* loss) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState user_state = frequency_state(user_frequency, user_counter, user_last_seen);
    const RowFrequencyState item_state = frequency_state(item_frequency, item_counter, item_last_seen);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const int lane = lane_id();
    const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const long long n_warps = (static_cast<long long>(gridDim.x) * blockDim.x) / 32;
    const long long k = n_factors;
    // the clock stride t_span / n_samples as a whole part and a remainder (exact)
    const long long t_step = n_samples > 0 ? t_span / n_samples : 0;
    const long long t_rem = t_span - t_step * n_samples;
    double sse = 0.0;

    for (long long position = warp; position < n_samples; position += n_warps) {
        const long long s = epoch_sample(order, position);
        const long long u = user_index[s];
        const long long it = item_index[s];
        const long long t = t_start + (position + 1) * t_step
            + (t_rem != 0 ? (position + 1) * t_rem / n_samples : 0);
        T* p = user_factors + u * k;
        T* q = item_factors + it * k;
        T partial = 0;
        for (long long f = lane; f < k; f += 32) {
            partial += p[f] * q[f];
        }
        // every lane reads the biases before lane 0 moves them (the sum synchronizes the warp)
        const T bu = user_bias[u];
        const T bi = item_bias[it];
        const T dot = warp_sum(partial);
        const double err = static_cast<double>(ratings[s])
            - (global_mean + static_cast<double>(bu) + static_cast<double>(bi) + static_cast<double>(dot));
        sse += err * err;
        const T e = static_cast<T>(err);
        const double rate_u = warp_row_learning_rate(cfg, user_state, u, t);
        const double rate_i = warp_row_learning_rate(cfg, item_state, it, t);
        const T a = static_cast<T>(alpha);
        for (long long f = lane; f < k; f += 32) {
            const T pf = p[f];
            const T qf = q[f];
            const T grad_p = -e * qf + a * pf;
            const T grad_q = -e * pf + a * qf;
            coordinate_step(cfg, p + f, grad_p, adagrad ? user_factors_accum + u * k + f : nullptr, rate_u);
            coordinate_step(cfg, q + f, grad_q, adagrad ? item_factors_accum + it * k + f : nullptr, rate_i);
        }
        if (lane == 0) {
            const T ab = static_cast<T>(alpha_bias);
            const T grad_bu = -e + ab * bu;
            const T grad_bi = -e + ab * bi;
            coordinate_step(cfg, user_bias + u, grad_bu, adagrad ? user_bias_accum + u : nullptr, rate_u);
            coordinate_step(cfg, item_bias + it, grad_bi, adagrad ? item_bias_accum + it : nullptr, rate_i);
        }
        __syncwarp();
    }
    block_add_to(loss, lane == 0 ? sse : 0.0);
}

// One epoch of matrix factorization under a ranking loss; adds the summed loss
// to *loss. The samples are positive (user, item) interactions: position p of
// the epoch is positive epoch_sample(p) and step t = t_start + p + 1 of every
// row it moves, and that positive's own index keys its negatives with
// (sample_seed, order_epoch), drawn as the CPU draws them (negatives.cuh:
// never one of the user's positive_indices). With the score
// s(u, j) = mu + b_u + b_j + p_u . q_j:
//
// * logistic (LOSS_LOGISTIC): the positive (label 1) and then n_negatives
//   negatives (label 0) each take a pointwise step of softplus(s) - y s,
//   whose gradient in s is sigmoid(s) - y;
// * bpr: one negative j; x = s(u, i) - s(u, j), loss softplus(-x), gradient
//   -sigmoid(-x) in x;
// * warp: negatives are drawn until one violates the margin,
//   s(u, j) > s(u, i) - 1, at most max_sampled; after N draws the rank is
//   estimated as r = (n_items - n_pos(u)) / N and the loss is
//   warp_weights[r] (1 - x), gradient -warp_weights[r] in x; no violation, no step.
//
// A pairwise step moves p_u, q_i, q_j, b_i and b_j (b_u cancels in x); each
// gradient adds alpha times the factor row (alpha_bias times the bias), and a
// user who holds every item has no negative: its logistic positive still
// steps, its pairwise losses do not.
//
// One warp per positive, as mf_epoch: lane l holds coordinates l, l + 32, ...
// of the rows, every lane draws the negatives itself (each is a function of
// (positive, s) alone, so all lanes get the same item without a shuffle), and
// every lane steps its own coordinates of the rows from values read before
// the step, the CPU's fused row update. A launch of one warp replays the
// CPU's n_jobs=1 epoch, negatives included.
template <typename T>
__global__ void mf_ranking_epoch(const int* __restrict__ user_index,
                                 const int* __restrict__ item_index,
                                 long long n_samples,
                                 unsigned long long order_seed,
                                 unsigned long long order_epoch,
                                 unsigned long long sample_seed,
                                 double global_mean,
                                 T* user_factors,
                                 T* item_factors,
                                 T* user_bias,
                                 T* item_bias,
                                 int n_factors,
                                 int ranking_loss,
                                 int n_negatives,
                                 int max_sampled,
                                 const long long* __restrict__ positive_indptr,
                                 const int* __restrict__ positive_indices,
                                 int n_items,
                                 const double* __restrict__ warp_weights,
                                 int solver,
                                 double learning_rate,
                                 double frequency_exponent,
                                 double counter_halflife,
                                 double epsilon,
                                 const double* user_frequency,
                                 const double* item_frequency,
                                 double* user_counter,
                                 double* item_counter,
                                 long long* user_last_seen,
                                 long long* item_last_seen,
                                 T* user_factors_accum,
                                 T* item_factors_accum,
                                 T* user_bias_accum,
                                 T* item_bias_accum,
                                 double alpha,
                                 double alpha_bias,
                                 long long t_start,
                                 double* loss) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState user_state = frequency_state(user_frequency, user_counter, user_last_seen);
    const RowFrequencyState item_state = frequency_state(item_frequency, item_counter, item_last_seen);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const unsigned long long key = rng_key(sample_seed, order_epoch);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const int lane = lane_id();
    const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const long long n_warps = (static_cast<long long>(gridDim.x) * blockDim.x) / 32;
    const long long k = n_factors;
    const T a = static_cast<T>(alpha);
    const T ab = static_cast<T>(alpha_bias);
    double total = 0.0;

    for (long long position = warp; position < n_samples; position += n_warps) {
        const long long row = epoch_sample(order, position);
        const long long u = user_index[row];
        const long long i = item_index[row];
        const long long t = t_start + position + 1;
        const int* positives = positive_indices + positive_indptr[u];
        const long long n_pos = positive_indptr[u + 1] - positive_indptr[u];
        T* p = user_factors + u * k;
        unsigned int first_tries[4] = {0u, 0u, 0u, 0u};  // the current block of the negatives' first tries
        if (ranking_loss == LOSS_LOGISTIC) {
            for (int s = 0; s <= n_negatives; ++s) {
                long long j = i;
                if (s > 0) {
                    if (n_pos >= n_items) {
                        break;  // the user holds every item: no negative to give
                    }
                    if ((s - 1) % 4 == 0) {
                        rng_block(key, row, STREAM_FIRST_TRIES, static_cast<unsigned int>((s - 1) / 4), first_tries);
                    }
                    j = sample_negative(first_tries[(s - 1) % 4], key, row, negative_stream(s), positives, n_pos,
                                        n_items);
                }
                T* q = item_factors + j * k;
                T partial = 0;
                for (long long f = lane; f < k; f += 32) {
                    partial += p[f] * q[f];
                }
                // every lane reads the biases before lane 0 moves them (the sum synchronizes the warp)
                const T bu = user_bias[u];
                const T bj = item_bias[j];
                const T dot = warp_sum(partial);
                // one score for the warp: every lane steps with the same derivative
                const double score = warp_broadcast(global_mean + static_cast<double>(bu) + static_cast<double>(bj)
                                                    + static_cast<double>(dot));
                total += mf_softplus(score) - (s == 0 ? score : 0.0);
                const T e = static_cast<T>(mf_sigmoid(score) - (s == 0 ? 1.0 : 0.0));
                const double rate_u = warp_row_learning_rate(cfg, user_state, u, t);
                const double rate_j = warp_row_learning_rate(cfg, item_state, j, t);
                for (long long f = lane; f < k; f += 32) {
                    const T pf = p[f];
                    const T qf = q[f];
                    coordinate_step(cfg, p + f, e * qf + a * pf, adagrad ? user_factors_accum + u * k + f : nullptr,
                                    rate_u);
                    coordinate_step(cfg, q + f, e * pf + a * qf, adagrad ? item_factors_accum + j * k + f : nullptr,
                                    rate_j);
                }
                if (lane == 0) {
                    coordinate_step(cfg, user_bias + u, e + ab * bu, adagrad ? user_bias_accum + u : nullptr, rate_u);
                    coordinate_step(cfg, item_bias + j, e + ab * bj, adagrad ? item_bias_accum + j : nullptr, rate_j);
                }
                __syncwarp();  // the next sample reads the rows and biases as stepped
            }
            continue;
        }
        if (n_pos >= n_items) {
            continue;  // no negative exists: a pairwise loss has nothing to compare
        }
        T* qi = item_factors + i * k;
        T partial_i = 0;
        for (long long f = lane; f < k; f += 32) {
            partial_i += p[f] * qi[f];
        }
        const T bi = item_bias[i];
        // b_i + p_u . q_i in the model's type, as the CPU adds them
        const double score_i = warp_broadcast(static_cast<double>(bi + warp_sum(partial_i)));
        long long j = -1;
        int draws = 0;
        double score_j = 0.0;
        T bj = 0;
        // bpr takes the first negative; warp draws until one violates the margin
        const int max_draws = ranking_loss == LOSS_BPR ? 1 : max_sampled;
        while (draws < max_draws) {
            draws = draws + 1;
            if ((draws - 1) % 4 == 0) {
                rng_block(key, row, STREAM_FIRST_TRIES, static_cast<unsigned int>((draws - 1) / 4), first_tries);
            }
            j = sample_negative(first_tries[(draws - 1) % 4], key, row, negative_stream(draws), positives, n_pos,
                                n_items);
            const T* qj = item_factors + j * k;
            T partial_j = 0;
            for (long long f = lane; f < k; f += 32) {
                partial_j += p[f] * qj[f];
            }
            bj = item_bias[j];
            // (lane 0's score: the margin test must send the whole warp the same way)
            score_j = warp_broadcast(static_cast<double>(bj + warp_sum(partial_j)));
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
            total += mf_softplus(-x);
            g = static_cast<T>(mf_sigmoid(-x));
        } else {
            const int rank = static_cast<int>((n_items - n_pos) / draws);
            total += warp_weights[rank] * (1.0 - x);
            g = static_cast<T>(warp_weights[rank]);
        }
        T* qj = item_factors + j * k;
        const double rate_u = warp_row_learning_rate(cfg, user_state, u, t);
        const double rate_i = warp_row_learning_rate(cfg, item_state, i, t);
        const double rate_j = warp_row_learning_rate(cfg, item_state, j, t);
        for (long long f = lane; f < k; f += 32) {
            const T pf = p[f];
            const T qf = qi[f];
            const T qg = qj[f];
            coordinate_step(cfg, p + f, -g * (qf - qg) + a * pf, adagrad ? user_factors_accum + u * k + f : nullptr,
                            rate_u);
            coordinate_step(cfg, qi + f, -g * pf + a * qf, adagrad ? item_factors_accum + i * k + f : nullptr, rate_i);
            coordinate_step(cfg, qj + f, g * pf + a * qg, adagrad ? item_factors_accum + j * k + f : nullptr, rate_j);
        }
        if (lane == 0) {
            coordinate_step(cfg, item_bias + i, -g + ab * bi, adagrad ? item_bias_accum + i : nullptr, rate_i);
            coordinate_step(cfg, item_bias + j, g + ab * bj, adagrad ? item_bias_accum + j : nullptr, rate_j);
        }
        __syncwarp();  // the next positive reads the rows and biases as stepped
    }
    block_add_to(loss, lane == 0 ? total : 0.0);
}

// One epoch of MF whose rows are projected (factored or mixed-dimension tables):
// p_u = x_u W_u,1 ... W_u,L, likewise q_i. For a sample with error e the loss
// gradients -e q_i and -e p_u are back-propagated to the raw rows x_u, x_i
// (which add alpha * x and take the per-row solver step of their row) and to
// the dense layers, whose gradients the block sums (dense.cuh).
//
// One warp per sample (projection.cuh). A block's warps take the epoch
// positions in rounds, one position each (positions grid-stride by block):
// after a round the block has trained that many samples, and once
// `dense_batch_size` samples of the block have gone by since its last flush,
// its threads step the layers with the block's sum (and at the end of the
// block's share of the epoch). Rows are updated lock-free (Hogwild) as in
// mf_epoch; a launch of one block of one warp flushes after every
// `dense_batch_size` samples, in the CPU's n_jobs=1 order.
//
// Scratch (scratch.cuh), in this order: the block's layer-gradient sums of the
// user table (user_dense_size) and of the item table (item_dense_size), then
// per warp 2 max_activation + 2 n_factors + 4 max_width values.
template <typename T>
__global__ void mf_projected_epoch(const int* __restrict__ user_index,
                                   const int* __restrict__ item_index,
                                   const T* __restrict__ ratings,
                                   long long n_samples,
                                   unsigned long long order_seed,
                                   unsigned long long order_epoch,
                                   double global_mean,
                                   int n_factors,
                                   T* user_rows,
                                   const long long* user_row_offset,
                                   const int* user_row_group,
                                   const int* user_group_in_dim,
                                   const int* user_group_n_layers,
                                   const int* user_group_first_layer,
                                   const long long* user_layer_offset,
                                   const int* user_layer_in,
                                   const int* user_layer_out,
                                   T* user_dense,
                                   T* user_rows_accum,
                                   T* user_dense_accum,
                                   T* item_rows,
                                   const long long* item_row_offset,
                                   const int* item_row_group,
                                   const int* item_group_in_dim,
                                   const int* item_group_n_layers,
                                   const int* item_group_first_layer,
                                   const long long* item_layer_offset,
                                   const int* item_layer_in,
                                   const int* item_layer_out,
                                   T* item_dense,
                                   T* item_rows_accum,
                                   T* item_dense_accum,
                                   T* user_bias,
                                   T* item_bias,
                                   int solver,
                                   double learning_rate,
                                   double frequency_exponent,
                                   double counter_halflife,
                                   double epsilon,
                                   double dense_learning_rate,
                                   const double* user_frequency,
                                   const double* item_frequency,
                                   double* user_counter,
                                   double* item_counter,
                                   long long* user_last_seen,
                                   long long* item_last_seen,
                                   T* user_bias_accum,
                                   T* item_bias_accum,
                                   double alpha,
                                   double alpha_bias,
                                   long long t_start,
                                   int max_activation,
                                   int max_width,
                                   int dense_batch_size,
                                   double* loss,
                                   long long user_dense_size,
                                   long long item_dense_size,
                                   double* scratch,
                                   long long scratch_per_block) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState user_state = frequency_state(user_frequency, user_counter, user_last_seen);
    const RowFrequencyState item_state = frequency_state(item_frequency, item_counter, item_last_seen);
    const ProjectionLayout user_lay = projection_layout(user_row_offset, user_row_group, user_group_in_dim,
                                                        user_group_n_layers, user_group_first_layer,
                                                        user_layer_offset, user_layer_in, user_layer_out);
    const ProjectionLayout item_lay = projection_layout(item_row_offset, item_row_group, item_group_in_dim,
                                                        item_group_n_layers, item_group_first_layer,
                                                        item_layer_offset, item_layer_in, item_layer_out);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const int lane = lane_id();
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    const long long k = n_factors;

    Scratch arena = block_scratch(scratch, scratch_per_block);
    T* user_dense_grad = scratch_take<T>(arena, user_dense_size);
    T* item_dense_grad = scratch_take<T>(arena, item_dense_size);
    const long long per_warp = 2LL * max_activation + 2 * k + 4LL * max_width;
    T* mine = scratch_take<T>(arena, warps * per_warp) + warp * per_warp;
    scratch_check(arena);
    T* act_u = mine;
    T* act_i = act_u + max_activation;
    T* grad_p = act_i + max_activation;
    T* grad_q = grad_p + k;
    T* work_u = grad_q + k;
    T* work_i = work_u + 2LL * max_width;
    block_zero(user_dense_grad, user_dense_size);
    block_zero(item_dense_grad, item_dense_size);
    __syncthreads();

    double sse = 0.0;
    long long pending = 0;  // the block's samples since its last flush (the same in every thread)
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long base = static_cast<long long>(blockIdx.x) * warps; base < n_samples; base += stride) {
        const long long position = base + warp;
        if (position < n_samples) {
            const long long s = epoch_sample(order, position);
            const long long u = user_index[s];
            const long long it = item_index[s];
            const long long t = t_start + position + 1;
            const T* p = warp_project_forward(user_lay, user_rows, user_dense, u, act_u);
            const T* q = warp_project_forward(item_lay, item_rows, item_dense, it, act_i);
            T partial = 0;
            for (long long f = lane; f < k; f += 32) {
                partial += p[f] * q[f];
            }
            // every lane reads the biases before lane 0 moves them (the sum synchronizes the warp)
            const T bu = user_bias[u];
            const T bi = item_bias[it];
            const T dot = warp_sum(partial);
            const double err = static_cast<double>(ratings[s])
                - (global_mean + static_cast<double>(bu) + static_cast<double>(bi) + static_cast<double>(dot));
            sse += err * err;
            const T e = static_cast<T>(err);
            for (long long f = lane; f < k; f += 32) {
                grad_p[f] = -e * q[f];
                grad_q[f] = -e * p[f];
            }
            if (projected_layers(user_lay, u) > 0 || projected_layers(item_lay, it) > 0) {
                __syncwarp();  // the layers' gradients read every lane's entries of grad_p, grad_q
            }
            T* g_u = warp_project_backward(user_lay, user_rows, user_dense, u, act_u, grad_p, work_u,
                                           user_dense_grad);
            T* g_i = warp_project_backward(item_lay, item_rows, item_dense, it, act_i, grad_q, work_i,
                                           item_dense_grad);
            T* x_u = user_rows + user_row_offset[u];
            T* x_i = item_rows + item_row_offset[it];
            const int d_u = projected_in_dim(user_lay, u);
            const int d_i = projected_in_dim(item_lay, it);
            const T a = static_cast<T>(alpha);
            // the rates mutate cf-sgd counters: one lane per row
            const double rate_u = warp_row_learning_rate(cfg, user_state, u, t);
            const double rate_i = warp_row_learning_rate(cfg, item_state, it, t);
            // each lane steps the raw-row coordinates whose gradients it holds
            for (int c = lane; c < d_u; c += 32) {
                coordinate_step(cfg, x_u + c, g_u[c] + a * x_u[c],
                                adagrad ? user_rows_accum + user_row_offset[u] + c : nullptr, rate_u);
            }
            for (int c = lane; c < d_i; c += 32) {
                coordinate_step(cfg, x_i + c, g_i[c] + a * x_i[c],
                                adagrad ? item_rows_accum + item_row_offset[it] + c : nullptr, rate_i);
            }
            if (lane == 0) {
                const T ab = static_cast<T>(alpha_bias);
                coordinate_step(cfg, user_bias + u, -e + ab * bu, adagrad ? user_bias_accum + u : nullptr, rate_u);
                coordinate_step(cfg, item_bias + it, -e + ab * bi, adagrad ? item_bias_accum + it : nullptr, rate_i);
            }
        }
        pending += __syncthreads_count(lane == 0 && position < n_samples);
        if (pending >= dense_batch_size) {
            block_flush_dense(cfg, user_dense, user_dense_grad, user_dense_accum, user_dense_size, dense_learning_rate);
            block_flush_dense(cfg, item_dense, item_dense_grad, item_dense_accum, item_dense_size, dense_learning_rate);
            pending = 0;
            __syncthreads();  // the next round reads the stepped layers
        }
    }
    if (pending > 0) {
        block_flush_dense(cfg, user_dense, user_dense_grad, user_dense_accum, user_dense_size, dense_learning_rate);
        block_flush_dense(cfg, item_dense, item_dense_grad, item_dense_accum, item_dense_size, dense_learning_rate);
    }
    block_add_to(loss, lane == 0 ? sse : 0.0);
}

// out[s] = mu + b_u + b_i + p_u . q_i, leaving out the parts of an unknown (-1) id.
template <typename T>
__global__ void mf_predict(const int* __restrict__ user_index,
                           const int* __restrict__ item_index,
                           long long n_samples,
                           double global_mean,
                           const T* __restrict__ user_factors,
                           const T* __restrict__ item_factors,
                           const T* __restrict__ user_bias,
                           const T* __restrict__ item_bias,
                           int n_factors,
                           T* out) {
    const int lane = lane_id();
    const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const long long n_warps = (static_cast<long long>(gridDim.x) * blockDim.x) / 32;
    const long long k = n_factors;
    for (long long s = warp; s < n_samples; s += n_warps) {
        const long long u = user_index[s];
        const long long it = item_index[s];
        T partial = 0;
        if (u >= 0 && it >= 0) {
            for (long long f = lane; f < k; f += 32) {
                partial += user_factors[u * k + f] * item_factors[it * k + f];
            }
        }
        const T dot = warp_sum(partial);
        if (lane == 0) {
            double pred = global_mean;
            if (u >= 0) pred += static_cast<double>(user_bias[u]);
            if (it >= 0) pred += static_cast<double>(item_bias[it]);
            if (u >= 0 && it >= 0) pred += static_cast<double>(dot);
            out[s] = static_cast<T>(pred);
        }
    }
}

// out[r * n_items + i] = mu + b_u + b_i + p_u . q_i for u = user_index[r] and every
// item i, leaving out the personal parts of an unknown (-1) user: the scores of
// recommend for a batch of users. One warp per (user, item) pair. With unit rows
// and zero biases it gives cosine similarities (similar_items), with the sides'
// own scores as biases the FM's recommend scores.
template <typename T>
__global__ void mf_score_items(const int* __restrict__ user_index,
                               long long n_users,
                               int n_items,
                               double global_mean,
                               const T* __restrict__ user_factors,
                               const T* __restrict__ item_factors,
                               const T* __restrict__ user_bias,
                               const T* __restrict__ item_bias,
                               int n_factors,
                               T* out) {
    const int lane = lane_id();
    const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const long long n_warps = (static_cast<long long>(gridDim.x) * blockDim.x) / 32;
    const long long k = n_factors;
    const long long n_pairs = n_users * n_items;
    for (long long s = warp; s < n_pairs; s += n_warps) {
        const long long r = s / n_items;
        const long long it = s - r * n_items;
        const long long u = user_index[r];
        T partial = 0;
        if (u >= 0) {
            for (long long f = lane; f < k; f += 32) {
                partial += user_factors[u * k + f] * item_factors[it * k + f];
            }
        }
        const T dot = warp_sum(partial);
        if (lane == 0) {
            double score = global_mean + static_cast<double>(item_bias[it]);
            if (u >= 0) score += static_cast<double>(user_bias[u]) + static_cast<double>(dot);
            out[s] = static_cast<T>(score);
        }
    }
}
