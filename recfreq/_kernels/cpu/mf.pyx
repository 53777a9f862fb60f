"""Epoch and prediction kernels of biased matrix factorization.

r_hat(u, i) = mu + b_u + b_i + p_u . q_i, squared loss. One call runs one epoch
without the GIL over samples the host has already shuffled (gathered into
epoch order, so the kernel reads them sequentially); threads split the epoch
into static chunks and update rows lock-free (Hogwild). Every row goes through the
shared per-row step of ``solvers.pxd``, so the four solvers cost one loop.
"""

from libc.stdlib cimport malloc, calloc, free
from libc.math cimport exp, log1p
from libc.stdint cimport uint32_t, uint64_t, int64_t
from cython cimport floating
from cython.parallel cimport prange, parallel

from recfreq._kernels.cpu.solvers cimport (
    SolverConfig, RowFrequencyState, solver_config, frequency_state, row_learning_rate, row_step,
    SOLVER_ADAGRAD)
from recfreq._kernels.cpu.fused cimport point_step, pair_step
from recfreq._kernels.cpu.openmp cimport omp_get_thread_num, WORK_STRIDE
from recfreq._kernels.cpu.vector cimport dot, prefetch_row, prefetch_rows
from recfreq._kernels.cpu.projection cimport (
    ProjectionLayout, projection_layout, project_forward, project_backward, flush_projections)
from recfreq._kernels.cpu.rng cimport rng_key, rng_block
from recfreq._kernels.cpu.negatives cimport STREAM_FIRST_TRIES, negative_stream, sample_negative


cdef enum:
    # samples ahead whose rows are prefetched (measured on ml-1m, k=100)
    PREFETCH_DISTANCE = 6
    # the ranking losses, as recfreq/_ranking_losses.py numbers them
    LOSS_LOGISTIC = 0
    LOSS_BPR = 1
    LOSS_WARP = 2


cdef inline double _softplus(double x) noexcept nogil:
    """log(1 + e^x) without overflow."""
    if x > 0:
        return x + log1p(exp(-x))
    return log1p(exp(x))


cdef inline double _sigmoid(double x) noexcept nogil:
    cdef double e
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)
    return e / (1.0 + e)


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
    cdef Py_ssize_t i
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
    cdef SolverConfig cfg
    cdef RowFrequencyState user_state, item_state
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_p = &user_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_q = &item_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_bu = &user_bias_accum[0] if adagrad else NULL
    cdef floating* acc_bi = &item_bias_accum[0] if adagrad else NULL
    cdef floating a = <floating>alpha
    cdef floating ab = <floating>alpha_bias

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    user_state = frequency_state(user_frequency, user_counter, user_last_seen)
    item_state = frequency_state(item_frequency, item_counter, item_last_seen)

    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
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
                prefetch_rows(&user_factors[user_index[i + PREFETCH_DISTANCE], 0],
                              &item_factors[item_index[i + PREFETCH_DISTANCE], 0], row_bytes)
            p = &user_factors[u, 0]
            q = &item_factors[it, 0]
            err = ratings[i] - (global_mean + user_bias[u] + item_bias[it] + dot(p, q, k))
            sse += err * err
            e = <floating>(-err)  # the squared loss's gradient in the score
            grad_bu = e + ab * user_bias[u]
            grad_bi = e + ab * item_bias[it]
            rate_u = row_learning_rate(&cfg, &user_state, u, t)
            rate_i = row_learning_rate(&cfg, &item_state, it, t)
            # both factor rows in one pass, each coordinate's gradients taken
            # from the values before its step (fused.pxd)
            point_step(&cfg, p, q, acc_p + u * k if adagrad else NULL, acc_q + it * k if adagrad else NULL,
                       k, e, a, <floating>rate_u, <floating>rate_i)
            row_step(&cfg, &user_bias[u], &grad_bu, acc_bu + u if adagrad else NULL, 1, rate_u)
            row_step(&cfg, &item_bias[it], &grad_bi, acc_bi + it if adagrad else NULL, 1, rate_i)
    return sse


def mf_ranking_epoch(*,
                     const int[::1] user_index,
                     const int[::1] item_index,
                     const long long[::1] sample_index,
                     double global_mean,
                     floating[:, ::1] user_factors,
                     floating[:, ::1] item_factors,
                     floating[::1] user_bias,
                     floating[::1] item_bias,
                     int ranking_loss,
                     int n_negatives,
                     int max_sampled,
                     const long long[::1] positive_indptr,
                     const int[::1] positive_indices,
                     int n_items,
                     unsigned long long sample_seed,
                     unsigned long long order_epoch,
                     const double[::1] warp_weights,
                     int solver,
                     double learning_rate,
                     double frequency_exponent,
                     double counter_halflife,
                     double epsilon,
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
                     double alpha,
                     double alpha_bias,
                     long long t_start,
                     int n_threads,
                     long long[::1] thread_work):
    """One epoch of matrix factorization under a ranking loss; returns the summed loss.

    The samples are positive (user, item) interactions in epoch order;
    position p is step ``t = t_start + p + 1`` of every row it moves, and
    ``sample_index[p]`` is the positive's own index in the training data,
    which with ``(sample_seed, order_epoch)`` keys its negatives (drawn by
    ``negatives.pxd``: never one of the user's ``positive_indices``). With the
    score ``s(u, j) = mu + b_u + b_j + p_u . q_j``:

    * logistic (``ranking_loss`` 0): the positive (label 1) and then ``n_negatives``
      negatives (label 0) each take a pointwise step of
      ``softplus(s) - y s``, whose gradient in s is ``sigmoid(s) - y``;
    * bpr (1): one negative j; ``x = s(u, i) - s(u, j)`` and loss
      ``softplus(-x)``, gradient ``-sigmoid(-x)`` in x;
    * warp (2): negatives are drawn until one violates the margin,
      ``s(u, j) > s(u, i) - 1``, at most ``max_sampled``; after N draws the
      rank is estimated as ``r = (n_items - n_pos(u)) // N`` and the loss is
      ``warp_weights[r] * (1 - x)`` (``warp_weights[r]`` = 1 + 1/2 + ... + 1/r),
      so its gradient in x is ``-warp_weights[r]``; no violation, no step.

    A pairwise step moves p_u, q_i, q_j, b_i and b_j (b_u cancels in x); each
    gradient adds ``alpha`` times the factor row (``alpha_bias`` times the
    bias), every row takes its solver step (``solvers.pxd``) with its own rate,
    and a user who holds every item has no negative: its logistic positive
    still steps, its pairwise losses do not.
    """
    cdef int tid
    cdef Py_ssize_t n = user_index.shape[0]
    cdef Py_ssize_t k = user_factors.shape[1]
    cdef Py_ssize_t p, f
    cdef int u, i, j, s, draws, rank
    cdef Py_ssize_t n_pos
    cdef long long t
    cdef int64_t row
    cdef double score, score_i, score_j, x, total = 0.0
    cdef double rate_u, rate_i, rate_j
    cdef floating e, g, grad_bu, grad_bi, grad_bj
    cdef floating* pu
    cdef floating* qi
    cdef floating* qj
    cdef uint32_t* first_tries
    cdef const int* positives
    cdef SolverConfig cfg
    cdef RowFrequencyState user_state, item_state
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_p = &user_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_q = &item_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_bu = &user_bias_accum[0] if adagrad else NULL
    cdef floating* acc_bi = &item_bias_accum[0] if adagrad else NULL
    cdef floating a = <floating>alpha
    cdef floating ab = <floating>alpha_bias
    cdef const int* all_positives = &positive_indices[0] if positive_indices.shape[0] > 0 else NULL
    cdef uint64_t key = rng_key(sample_seed, order_epoch)

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    user_state = frequency_state(user_frequency, user_counter, user_last_seen)
    item_state = frequency_state(item_frequency, item_counter, item_last_seen)

    # thread-private below; set here so the compiler sees them initialised
    first_tries = NULL
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        first_tries = <uint32_t*> malloc(4 * sizeof(uint32_t))
        for p in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            u = user_index[p]
            i = item_index[p]
            row = sample_index[p]
            t = t_start + p + 1
            positives = all_positives + positive_indptr[u]
            n_pos = positive_indptr[u + 1] - positive_indptr[u]
            pu = &user_factors[u, 0]
            if ranking_loss == LOSS_LOGISTIC:
                for s in range(n_negatives + 1):
                    if s == 0:
                        j = i
                    else:
                        if n_pos >= n_items:
                            break  # the user holds every item: no negative to give
                        if (s - 1) % 4 == 0:
                            rng_block(key, row, STREAM_FIRST_TRIES, <uint32_t>((s - 1) // 4), first_tries)
                        j = sample_negative(first_tries[(s - 1) % 4], key, row, negative_stream(s),
                                            positives, n_pos, n_items)
                    qj = &item_factors[j, 0]
                    score = global_mean + user_bias[u] + item_bias[j] + dot(pu, qj, k)
                    total += _softplus(score) - (score if s == 0 else 0.0)
                    e = <floating>(_sigmoid(score) - (1.0 if s == 0 else 0.0))
                    grad_bu = e + ab * user_bias[u]
                    grad_bj = e + ab * item_bias[j]
                    rate_u = row_learning_rate(&cfg, &user_state, u, t)
                    rate_j = row_learning_rate(&cfg, &item_state, j, t)
                    point_step(&cfg, pu, qj, acc_p + u * k if adagrad else NULL, acc_q + j * k if adagrad else NULL,
                               k, e, a, <floating>rate_u, <floating>rate_j)
                    row_step(&cfg, &user_bias[u], &grad_bu, acc_bu + u if adagrad else NULL, 1, rate_u)
                    row_step(&cfg, &item_bias[j], &grad_bj, acc_bi + j if adagrad else NULL, 1, rate_j)
                continue
            if n_pos >= n_items:
                continue  # no negative exists: a pairwise loss has nothing to compare
            qi = &item_factors[i, 0]
            j = -1
            draws = 0
            score_i = item_bias[i] + dot(pu, qi, k)
            score_j = 0.0
            # bpr takes the first negative; warp draws until one violates the margin
            while draws < (1 if ranking_loss == LOSS_BPR else max_sampled):
                draws = draws + 1
                if (draws - 1) % 4 == 0:
                    rng_block(key, row, STREAM_FIRST_TRIES, <uint32_t>((draws - 1) // 4), first_tries)
                j = sample_negative(first_tries[(draws - 1) % 4], key, row, negative_stream(draws),
                                    positives, n_pos, n_items)
                score_j = item_bias[j] + dot(pu, &item_factors[j, 0], k)
                if ranking_loss == LOSS_BPR or score_j > score_i - 1.0:
                    break
                j = -1
            if j < 0:
                continue  # warp: no violation among max_sampled negatives, no step
            x = score_i - score_j
            if ranking_loss == LOSS_BPR:
                total += _softplus(-x)
                g = <floating>_sigmoid(-x)
            else:
                rank = <int>((n_items - n_pos) // draws)
                total += warp_weights[rank] * (1.0 - x)
                g = <floating>warp_weights[rank]
            qj = &item_factors[j, 0]
            grad_bi = -g + ab * item_bias[i]
            grad_bj = g + ab * item_bias[j]
            rate_u = row_learning_rate(&cfg, &user_state, u, t)
            rate_i = row_learning_rate(&cfg, &item_state, i, t)
            rate_j = row_learning_rate(&cfg, &item_state, j, t)
            pair_step(&cfg, pu, qi, qj, acc_p + u * k if adagrad else NULL, acc_q + i * k if adagrad else NULL,
                      acc_q + j * k if adagrad else NULL, k, g, a, <floating>rate_u, <floating>rate_i,
                      <floating>rate_j)
            row_step(&cfg, &item_bias[i], &grad_bi, acc_bi + i if adagrad else NULL, 1, rate_i)
            row_step(&cfg, &item_bias[j], &grad_bj, acc_bi + j if adagrad else NULL, 1, rate_j)
        free(first_tries)
    return total


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
