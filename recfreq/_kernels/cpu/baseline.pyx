"""Epoch kernel of the baseline predictor r_hat = mu + b_u + b_i.

The loop is the simplest instance of the house pattern: Python shuffles (by
gathering the samples into epoch order) and validates, this kernel runs one
epoch without the GIL reading them sequentially, and every parameter row is updated through the shared per-row step of
``solvers.pxd``. Rows are updated lock-free across threads (Hogwild).
"""

from cython cimport floating
from cython.parallel cimport prange, parallel

from recfreq._kernels.cpu.openmp cimport omp_get_thread_num, WORK_STRIDE

from recfreq._kernels.cpu.solvers cimport (
    SolverConfig, RowFrequencyState, solver_config, frequency_state, row_learning_rate, row_step)


def baseline_epoch(*,
                   const int[::1] user_index,
                   const int[::1] item_index,
                   const floating[::1] ratings,
                         double global_mean,
                   floating[::1] user_bias,
                   floating[::1] item_bias,
                   int solver,
                   double learning_rate,
                   double alpha,
                   double frequency_exponent,
                   double counter_halflife,
                   double epsilon,
                   long long t_start,
                   double[::1] user_frequency,
                   double[::1] item_frequency,
                   double[::1] user_counter,
                   double[::1] item_counter,
                   long long[::1] user_last_seen,
                   long long[::1] item_last_seen,
                   floating[::1] user_bias_accum,
                   floating[::1] item_bias_accum,
                   int n_threads,
                   long long[::1] thread_work):
    """Run one epoch over the samples in the order given; return the sum of squared errors.

    The error of each sample is measured before its own update. Sample ``i``
    is step ``t = t_start + i + 1`` of the model's life.
    """
    cdef Py_ssize_t n = ratings.shape[0]
    cdef Py_ssize_t i
    cdef int u, it, tid
    cdef long long t
    cdef double err, rate_u, rate_i
    cdef double sse = 0.0
    cdef floating grad_u, grad_i
    cdef SolverConfig cfg
    cdef RowFrequencyState user_state, item_state
    cdef floating* user_accum = &user_bias_accum[0] if user_bias_accum.shape[0] > 0 else NULL
    cdef floating* item_accum = &item_bias_accum[0] if item_bias_accum.shape[0] > 0 else NULL

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    user_state = frequency_state(user_frequency, user_counter, user_last_seen)
    item_state = frequency_state(item_frequency, item_counter, item_last_seen)

    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        for i in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            u = user_index[i]
            it = item_index[i]
            t = t_start + i + 1
            err = ratings[i] - (global_mean + user_bias[u] + item_bias[it])
            sse += err * err
            rate_u = row_learning_rate(&cfg, &user_state, u, t)
            rate_i = row_learning_rate(&cfg, &item_state, it, t)
            # Both gradients use the biases from before this sample's update.
            grad_u = <floating>(-err + alpha * user_bias[u])
            grad_i = <floating>(-err + alpha * item_bias[it])
            row_step(&cfg, &user_bias[u], &grad_u,
                     user_accum + u if user_accum != NULL else NULL, 1, rate_u)
            row_step(&cfg, &item_bias[it], &grad_i,
                     item_accum + it if item_accum != NULL else NULL, 1, rate_i)
    return sse
