"""Epoch and prediction kernels of biased matrix factorization.

r_hat(u, i) = mu + b_u + b_i + p_u . q_i, squared loss. One call runs one epoch
without the GIL over samples the host has already shuffled (gathered into
epoch order, so the kernel reads them sequentially); threads split the epoch
into static chunks and update rows lock-free (Hogwild). Every row goes through the
shared per-row step of ``_solvers.pxd``, so the four solvers cost one loop.
"""

from libc.stdlib cimport malloc, free
from cython cimport floating
from cython.parallel cimport prange, parallel

from recfreq._ext._solvers cimport (
    SolverConfig, RowFrequencyState, row_learning_rate, row_step)
from recfreq._ext._vector cimport dot, prefetch_row


cdef enum:
    # samples ahead whose rows are prefetched (measured on ml-1m, k=100)
    PREFETCH_DISTANCE = 6


cdef inline double* _dptr(double[::1] a) noexcept:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline long long* _lptr(long long[::1] a) noexcept:
    return &a[0] if a.shape[0] > 0 else NULL


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
             int n_threads):
    """Run one epoch over the samples in the order given; return the sum of squared errors.

    Sample ``i`` is step ``t = t_start + i + 1``. Each sample's error is
    measured before its own update; both factor gradients use the rows as they
    were before the update:

        g_p = -e * q_i + alpha * p_u        g_q = -e * p_u + alpha * q_i
        g_bu = -e + alpha_bias * b_u        g_bi = -e + alpha_bias * b_i
    """
    cdef Py_ssize_t n = ratings.shape[0]
    cdef Py_ssize_t k = user_factors.shape[1]
    cdef Py_ssize_t i, f
    cdef Py_ssize_t row_bytes = k * sizeof(floating)
    cdef int u, it
    cdef long long t
    cdef double err, rate_u, rate_i
    cdef double sse = 0.0
    cdef floating e, grad_bu, grad_bi
    cdef floating* p
    cdef floating* q
    cdef floating* grad_p
    cdef floating* grad_q
    cdef SolverConfig cfg
    cdef RowFrequencyState user_state, item_state
    cdef bint adagrad = user_factors_accum.shape[0] > 0
    cdef floating* acc_p = &user_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_q = &item_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_bu = &user_bias_accum[0] if adagrad else NULL
    cdef floating* acc_bi = &item_bias_accum[0] if adagrad else NULL

    cfg.kind = solver
    cfg.learning_rate = learning_rate
    cfg.frequency_exponent = frequency_exponent
    cfg.counter_halflife = counter_halflife
    cfg.epsilon = epsilon
    user_state.frequency = _dptr(user_frequency)
    user_state.counter = _dptr(user_counter)
    user_state.last_seen = _lptr(user_last_seen)
    item_state.frequency = _dptr(item_frequency)
    item_state.counter = _dptr(item_counter)
    item_state.last_seen = _lptr(item_last_seen)

    grad_p = NULL  # thread-private below; set here so the compiler sees them initialised
    grad_q = NULL
    with nogil, parallel(num_threads=n_threads):
        # per-thread gradient buffers: both rows' gradients must be taken
        # before either row moves
        grad_p = <floating*> malloc(2 * k * sizeof(floating))
        grad_q = grad_p + k
        for i in prange(n, schedule="static"):
            u = user_index[i]
            it = item_index[i]
            t = t_start + i + 1
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
