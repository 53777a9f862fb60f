// Epoch kernel of the baseline predictor r_hat = mu + b_u + b_i on the GPU: the
// mirror of recfreq/_ext/_baseline.pyx. One thread per sample (a bias is one
// coordinate), threads walk the epoch positions grid-stride and update the
// biases lock-free (Hogwild); a launch of one thread visits the positions in
// the CPU's n_jobs=1 order. Position p is sample epoch_sample(p), step
// t = t_start + p + 1.
#include "portability.cuh"
#include "solvers.cuh"
#include "order.cuh"

template <typename T>
__global__ void baseline_epoch(const int* __restrict__ user_index,
                               const int* __restrict__ item_index,
                               const T* __restrict__ ratings,
                               long long n_samples,
                               unsigned long long order_seed,
                               unsigned long long order_epoch,
                               double global_mean,
                               T* user_bias,
                               T* item_bias,
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
                               T* user_bias_accum,
                               T* item_bias_accum,
                               double alpha,
                               long long t_start,
                               double* loss) {
    const SolverConfig cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon);
    const RowFrequencyState user_state = frequency_state(user_frequency, user_counter, user_last_seen);
    const RowFrequencyState item_state = frequency_state(item_frequency, item_counter, item_last_seen);
    const EpochOrder order = epoch_order(n_samples, order_seed, order_epoch);
    const bool adagrad = cfg.kind == SOLVER_ADAGRAD;
    const long long first = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    double sse = 0.0;
    for (long long position = first; position < n_samples; position += stride) {
        const long long s = epoch_sample(order, position);
        const long long u = user_index[s];
        const long long it = item_index[s];
        const long long t = t_start + position + 1;
        const T bu = user_bias[u];
        const T bi = item_bias[it];
        const double err = static_cast<double>(ratings[s])
            - (global_mean + static_cast<double>(bu) + static_cast<double>(bi));
        sse += err * err;
        const double rate_u = row_learning_rate(cfg, user_state, u, t);
        const double rate_i = row_learning_rate(cfg, item_state, it, t);
        // both gradients use the biases from before this sample's update
        const T grad_u = static_cast<T>(-err + alpha * static_cast<double>(bu));
        const T grad_i = static_cast<T>(-err + alpha * static_cast<double>(bi));
        coordinate_step(cfg, user_bias + u, grad_u, adagrad ? user_bias_accum + u : nullptr, rate_u);
        coordinate_step(cfg, item_bias + it, grad_i, adagrad ? item_bias_accum + it : nullptr, rate_i);
    }
    // one atomic per thread: a launch may use fewer threads than a warp (the
    // sequential replay runs one), so no warp-wide reduction here
    atomicAdd(loss, sse);
}
