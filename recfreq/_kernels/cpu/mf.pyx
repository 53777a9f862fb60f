"""Epoch and prediction kernels of biased matrix factorization.

r_hat(u, i) = mu + b_u + b_i + p_u . q_i, squared loss. One call runs one epoch
without the GIL over samples the host has already shuffled (gathered into
epoch order, so the kernel reads them sequentially); threads split the epoch
into static chunks and update rows lock-free (Hogwild). Every row goes through the
shared per-row step of ``solvers.pxd``, so the four solvers cost one loop.
"""

from libc.stdlib cimport malloc, calloc, free
from cython cimport floating
from cython.parallel cimport prange, parallel

from recfreq._kernels.cpu.solvers cimport (
    SolverConfig, RowFrequencyState, solver_config, frequency_state, row_learning_rate, row_step,
    SOLVER_ADAGRAD)
from recfreq._kernels.cpu.openmp cimport omp_get_thread_num, WORK_STRIDE
from recfreq._kernels.cpu.vector cimport dot, prefetch_row
from recfreq._kernels.cpu.projection cimport (
    ProjectionLayout, projection_layout, project_forward, project_backward, flush_projections)


cdef enum:
    # samples ahead whose rows are prefetched (measured on ml-1m, k=100)
    PREFETCH_DISTANCE = 6


def mf_epoch(*,
             const int[::1] user_index,
             const int[::1] item_index,
             const floating[::1] ratings,
             double global_mean,
             floating[:, ::1] user_factors,
             floating[:, ::1] item_factors,
             floating[::1] user_bias,
             floating[::1] item_bias,
             int solver,
             double learning_rate,
             double alpha,
             double alpha_bias,
             double frequency_exponent,
             double counter_halflife,
             double epsilon,
             long long t_start,
             long long t_span,
             double[::1] user_frequency,
             double[::1] item_frequency,
             double[::1] user_counter,
             double[::1] item_counter,
             long long[::1] user_last_seen,
             long long[::1] item_last_seen,
             floating[:, ::1] user_factors_accum,
             floating[:, ::1] item_factors_accum,
             floating[::1] user_bias_accum,
             floating[::1] item_bias_accum,
             int n_threads,
             long long[::1] thread_work):
    """Run one epoch over the samples in the order given; return the sum of squared errors.

    The call's n samples span ``t_span`` steps of the model's clock: sample
    ``i`` is step ``t = t_start + floor((i + 1) * t_span / n)``, in exact
    integers (``t_span = n``, a stride of 1: ``t = t_start + i + 1``; a DSGD
    block of n samples in a stratum of N_s spans N_s). Each sample's error is
    measured before its own update; both factor gradients use the rows as they
    were before the update:

        g_p = -e * q_i + alpha * p_u        g_q = -e * p_u + alpha * q_i
        g_bu = -e + alpha_bias * b_u        g_bi = -e + alpha_bias * b_i
    """
    cdef int tid
    cdef Py_ssize_t n = ratings.shape[0]
    cdef Py_ssize_t k = user_factors.shape[1]
    cdef Py_ssize_t i, f
    cdef Py_ssize_t row_bytes = k * sizeof(floating)
    cdef int u, it
    cdef long long t
    # the clock stride t_span / n as a whole part and a remainder (exact, no rounding)
    cdef long long t_step = t_span // n if n > 0 else 0
    cdef long long t_rem = t_span - t_step * n
    cdef bint unit_stride = t_step == 1 and t_rem == 0
    cdef double err, rate_u, rate_i
    cdef double sse = 0.0
    cdef floating e, grad_bu, grad_bi
    cdef floating* p
    cdef floating* q
    cdef floating* grad_p
    cdef floating* grad_q
    cdef SolverConfig cfg
    cdef RowFrequencyState user_state, item_state
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_p = &user_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_q = &item_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_bu = &user_bias_accum[0] if adagrad else NULL
    cdef floating* acc_bi = &item_bias_accum[0] if adagrad else NULL

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    user_state = frequency_state(user_frequency, user_counter, user_last_seen)
    item_state = frequency_state(item_frequency, item_counter, item_last_seen)

    grad_p = NULL  # thread-private below; set here so the compiler sees them initialised
    grad_q = NULL
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        # per-thread gradient buffers: both rows' gradients must be taken
        # before either row moves
        grad_p = <floating*> malloc(2 * k * sizeof(floating))
        grad_q = grad_p + k
        for i in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            u = user_index[i]
            it = item_index[i]
            if unit_stride:
                t = t_start + i + 1
            else:
                # (i + 1) * t_rem < n * n: the engine checks that it fits a long long
                t = t_start + (i + 1) * t_step + (i + 1) * t_rem // n
            if i + PREFETCH_DISTANCE < n:
                # rows are scattered over tables larger than L2: start loading
                # the rows of a sample a few steps ahead so the loads overlap
                prefetch_row(&user_factors[user_index[i + PREFETCH_DISTANCE], 0], row_bytes)
                prefetch_row(&item_factors[item_index[i + PREFETCH_DISTANCE], 0], row_bytes)
            p = &user_factors[u, 0]
            q = &item_factors[it, 0]
            err = ratings[i] - (global_mean + user_bias[u] + item_bias[it] + dot(p, q, k))
            sse += err * err
            e = <floating>err
            for f in range(k):
                grad_p[f] = -e * q[f] + <floating>alpha * p[f]
                grad_q[f] = -e * p[f] + <floating>alpha * q[f]
            grad_bu = -e + <floating>alpha_bias * user_bias[u]
            grad_bi = -e + <floating>alpha_bias * item_bias[it]
            rate_u = row_learning_rate(&cfg, &user_state, u, t)
            rate_i = row_learning_rate(&cfg, &item_state, it, t)
            row_step(&cfg, p, grad_p, acc_p + u * k if adagrad else NULL, k, rate_u)
            row_step(&cfg, q, grad_q, acc_q + it * k if adagrad else NULL, k, rate_i)
            row_step(&cfg, &user_bias[u], &grad_bu, acc_bu + u if adagrad else NULL, 1, rate_u)
            row_step(&cfg, &item_bias[it], &grad_bi, acc_bi + it if adagrad else NULL, 1, rate_i)
        free(grad_p)
    return sse


def mf_projected_epoch(*,
                       const int[::1] user_index,
                       const int[::1] item_index,
                       const floating[::1] ratings,
                       double global_mean,
                       int n_factors,
                       floating[::1] user_rows,
                       const long long[::1] user_row_offset,
                       const int[::1] user_row_group,
                       const int[::1] user_group_in_dim,
                       const int[::1] user_group_n_layers,
                       const int[::1] user_group_first_layer,
                       const long long[::1] user_layer_offset,
                       const int[::1] user_layer_in,
                       const int[::1] user_layer_out,
                       floating[::1] user_dense,
                       floating[::1] item_rows,
                       const long long[::1] item_row_offset,
                       const int[::1] item_row_group,
                       const int[::1] item_group_in_dim,
                       const int[::1] item_group_n_layers,
                       const int[::1] item_group_first_layer,
                       const long long[::1] item_layer_offset,
                       const int[::1] item_layer_in,
                       const int[::1] item_layer_out,
                       floating[::1] item_dense,
                       floating[::1] user_bias,
                       floating[::1] item_bias,
                       int solver,
                       double learning_rate,
                       double dense_learning_rate,
                       double alpha,
                       double alpha_bias,
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
                       floating[::1] user_rows_accum,
                       floating[::1] item_rows_accum,
                       floating[::1] user_dense_accum,
                       floating[::1] item_dense_accum,
                       floating[::1] user_bias_accum,
                       floating[::1] item_bias_accum,
                       int max_activation,
                       int max_width,
                       int dense_batch_size,
                       int n_threads,
                       long long[::1] thread_work):
    """One epoch of MF whose rows are projected (factored or mixed-dimension tables).

    r_hat = mu + b_u + b_i + p_u . q_i with p_u = x_u W_u,1 ... W_u,L (likewise
    q_i). For a sample with error e, the loss gradients -e q_i and -e p_u are
    back-propagated to the raw rows x_u, x_i (which add alpha * x and take the
    per-row solver step of their row) and to the dense layers, whose gradients
    are summed per thread and applied every `dense_batch_size` samples of that
    thread and at the end of its share of the epoch. Samples are in epoch order;
    sample i is step t = t_start + i + 1. Returns the sum of squared errors.

    `max_activation`: the largest sum of layer widths of any chain;
    `max_width`: the widest raw row or layer input of any chain (at least k).
    """
    cdef int tid
    cdef Py_ssize_t n = ratings.shape[0]
    cdef Py_ssize_t k = n_factors
    cdef Py_ssize_t i, f, a
    cdef Py_ssize_t user_dense_size = user_dense.shape[0]
    cdef Py_ssize_t item_dense_size = item_dense.shape[0]
    cdef int n_groups_u = user_group_in_dim.shape[0]
    cdef int n_groups_i = item_group_in_dim.shape[0]
    cdef int u, it, d_u, d_i
    cdef long long t
    cdef double err, rate_u, rate_i
    cdef double sse = 0.0
    cdef floating e, grad_bu, grad_bi
    cdef floating* p
    cdef floating* q
    cdef floating* x_u
    cdef floating* x_i
    cdef floating* g_u
    cdef floating* g_i
    cdef floating* buf
    cdef floating* act_u
    cdef floating* act_i
    cdef floating* grad_p
    cdef floating* grad_q
    cdef floating* work_u
    cdef floating* work_i
    cdef floating* user_dense_grad
    cdef floating* item_dense_grad
    cdef int* pending
    cdef SolverConfig cfg, dense_cfg
    cdef RowFrequencyState user_state, item_state
    cdef ProjectionLayout user_lay = projection_layout(
        user_row_offset, user_row_group, user_group_in_dim, user_group_n_layers, user_group_first_layer,
        user_layer_offset, user_layer_in, user_layer_out)
    cdef ProjectionLayout item_lay = projection_layout(
        item_row_offset, item_row_group, item_group_in_dim, item_group_n_layers, item_group_first_layer,
        item_layer_offset, item_layer_in, item_layer_out)
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_xu = &user_rows_accum[0] if adagrad else NULL
    cdef floating* acc_xi = &item_rows_accum[0] if adagrad else NULL
    cdef floating* acc_bu = &user_bias_accum[0] if adagrad else NULL
    cdef floating* acc_bi = &item_bias_accum[0] if adagrad else NULL
    cdef floating* acc_du = &user_dense_accum[0] if adagrad and user_dense_size > 0 else NULL
    cdef floating* acc_di = &item_dense_accum[0] if adagrad and item_dense_size > 0 else NULL
    cdef floating* dense_u = &user_dense[0] if user_dense_size > 0 else NULL
    cdef floating* dense_i = &item_dense[0] if item_dense_size > 0 else NULL
    cdef Py_ssize_t buf_size = 2 * max_activation + 2 * k + 4 * max_width + user_dense_size + item_dense_size

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    dense_cfg = cfg
    dense_cfg.learning_rate = dense_learning_rate
    user_state = frequency_state(user_frequency, user_counter, user_last_seen)
    item_state = frequency_state(item_frequency, item_counter, item_last_seen)

    # thread-private below; set here so the compiler sees them initialised
    buf = act_u = act_i = grad_p = grad_q = work_u = work_i = NULL
    user_dense_grad = item_dense_grad = NULL
    pending = NULL
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        # one zeroed block per thread: activations, loss gradients, back-prop
        # work space and this thread's dense-gradient sums
        buf = <floating*> calloc(buf_size, sizeof(floating))
        # pending[0]: samples since the last flush; then one "touched" flag per
        # chain of the user table, then per chain of the item table
        pending = <int*> calloc(1 + n_groups_u + n_groups_i, sizeof(int))
        act_u = buf
        act_i = act_u + max_activation
        grad_p = act_i + max_activation
        grad_q = grad_p + k
        work_u = grad_q + k
        work_i = work_u + 2 * max_width
        user_dense_grad = work_i + 2 * max_width
        item_dense_grad = user_dense_grad + user_dense_size
        for i in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            u = user_index[i]
            it = item_index[i]
            t = t_start + i + 1
            p = project_forward(&user_lay, &user_rows[0], dense_u, u, act_u)
            q = project_forward(&item_lay, &item_rows[0], dense_i, it, act_i)
            err = ratings[i] - (global_mean + user_bias[u] + item_bias[it] + dot(p, q, k))
            sse += err * err
            e = <floating>err
            for f in range(k):
                grad_p[f] = -e * q[f]
                grad_q[f] = -e * p[f]
            g_u = project_backward(&user_lay, &user_rows[0], dense_u, u, act_u, grad_p,
                                   work_u, user_dense_grad)
            g_i = project_backward(&item_lay, &item_rows[0], dense_i, it, act_i, grad_q,
                                   work_i, item_dense_grad)
            x_u = &user_rows[0] + user_row_offset[u]
            x_i = &item_rows[0] + item_row_offset[it]
            d_u = user_group_in_dim[user_row_group[u]]
            d_i = item_group_in_dim[item_row_group[it]]
            for a in range(d_u):
                g_u[a] = g_u[a] + <floating>alpha * x_u[a]
            for a in range(d_i):
                g_i[a] = g_i[a] + <floating>alpha * x_i[a]
            grad_bu = -e + <floating>alpha_bias * user_bias[u]
            grad_bi = -e + <floating>alpha_bias * item_bias[it]
            rate_u = row_learning_rate(&cfg, &user_state, u, t)
            rate_i = row_learning_rate(&cfg, &item_state, it, t)
            row_step(&cfg, x_u, g_u, acc_xu + user_row_offset[u] if adagrad else NULL, d_u, rate_u)
            row_step(&cfg, x_i, g_i, acc_xi + item_row_offset[it] if adagrad else NULL, d_i, rate_i)
            row_step(&cfg, &user_bias[u], &grad_bu, acc_bu + u if adagrad else NULL, 1, rate_u)
            row_step(&cfg, &item_bias[it], &grad_bi, acc_bi + it if adagrad else NULL, 1, rate_i)
            pending[1 + user_row_group[u]] = 1
            pending[1 + n_groups_u + item_row_group[it]] = 1
            pending[0] = pending[0] + 1
            if pending[0] == dense_batch_size:
                flush_projections(&dense_cfg, &user_lay, n_groups_u, dense_u, user_dense_grad, acc_du,
                                  pending + 1, dense_learning_rate)
                flush_projections(&dense_cfg, &item_lay, n_groups_i, dense_i, item_dense_grad, acc_di,
                                  pending + 1 + n_groups_u, dense_learning_rate)
                pending[0] = 0
        if pending[0] > 0:
            flush_projections(&dense_cfg, &user_lay, n_groups_u, dense_u, user_dense_grad, acc_du,
                              pending + 1, dense_learning_rate)
            flush_projections(&dense_cfg, &item_lay, n_groups_i, dense_i, item_dense_grad, acc_di,
                              pending + 1 + n_groups_u, dense_learning_rate)
        free(pending)
        free(buf)
    return sse


def mf_predict(*,
               const int[::1] user_index,
               const int[::1] item_index,
               double global_mean,
               const floating[:, ::1] user_factors,
               const floating[:, ::1] item_factors,
               const floating[::1] user_bias,
               const floating[::1] item_bias,
               floating[::1] out,
               int n_threads):
    """out[i] = mu + b_u + b_i + p_u . q_i, leaving out the parts of an unknown (-1) id."""
    cdef Py_ssize_t n = user_index.shape[0]
    cdef Py_ssize_t k = user_factors.shape[1]
    cdef Py_ssize_t s
    cdef int u, it
    cdef double pred
    with nogil:
        for s in prange(n, num_threads=n_threads, schedule="static"):
            u = user_index[s]
            it = item_index[s]
            pred = global_mean
            if u >= 0:
                pred = pred + user_bias[u]
            if it >= 0:
                pred = pred + item_bias[it]
            if u >= 0 and it >= 0:
                pred = pred + dot(&user_factors[u, 0], &item_factors[it, 0], k)
            out[s] = <floating>pred
