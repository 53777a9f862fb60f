// Epoch and prediction kernels of biased matrix factorization on the GPU:
// r_hat(u, i) = mu + b_u + b_i + p_u . q_i, squared loss. The mirror of
// recfreq/_ext/_mf.pyx (mf_epoch, mf_predict).
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
        const T dot = warp_sum(partial);
        // every lane reads the biases before lane 0 moves them
        const T bu = user_bias[u];
        const T bi = item_bias[it];
        const double err = static_cast<double>(ratings[s])
            - (global_mean + static_cast<double>(bu) + static_cast<double>(bi) + static_cast<double>(dot));
        sse += err * err;
        const T e = static_cast<T>(err);
        double rate_u = 0.0, rate_i = 0.0;
        if (lane == 0) {  // the rates mutate cf-sgd counters: one lane per row
            rate_u = row_learning_rate(cfg, user_state, u, t);
            rate_i = row_learning_rate(cfg, item_state, it, t);
        }
        rate_u = __shfl_sync(RECFREQ_FULL_MASK, rate_u, 0);
        rate_i = __shfl_sync(RECFREQ_FULL_MASK, rate_i, 0);
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
