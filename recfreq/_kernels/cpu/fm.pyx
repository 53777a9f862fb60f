"""Epoch and prediction kernels of the 2-way factorization machine.

y_hat(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l over the non-zero
features of one CSR row, computed in O(k nnz) with Rendle's identity

    sum_{j<l} <v_j, v_l> x_j x_l = 1/2 sum_f [(sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2].

One call runs one epoch without the GIL. The host shuffles by passing the
epoch's permutation as ``order``: the i-th sample of the epoch is CSR row
``order[i]`` (a row's entries are contiguous, so reading it through the
permutation costs one jump per sample, not one per entry). Threads split the
epoch into static chunks and update rows lock-free (Hogwild). Every feature
row (its factors v_j and its linear weight w_j) goes through the shared
per-row step of ``solvers.pxd``; the global bias w0 is a dense parameter and
takes plain SGD (or Adagrad) steps with its own learning rate through the same
``row_step``. With several threads, each thread steps a private copy of w0
and adds its change to the shared value every DENSE_SYNC samples (DESIGN
section 4 allows accumulating dense updates per thread); one thread updates
w0 directly, so n_jobs=1 stays exact.

Hot feature rows. Side features make a few rows as shared as w0: on
MovieLens-100K the numeric ``year`` column is non-zero in every sample and the
gender, age, occupation and genre rows each in a large share of them, so with
several Hogwild threads every thread writes those rows (factors, weight and
solver state) all the time and their cache lines bounce between cores: two
threads were slower than one. ``fm_epoch`` therefore takes a set of "hot"
rows (``hot_rows``, with ``hot_slot`` mapping a feature row to its index in
that set or -1), chosen by the CPU binding (``recfreq._engine.cpu.hot_rows``):
the rows whose share of the epoch's samples is at least ``HOT_ROW_MIN_SHARE``
(1/64), at most ``MAX_HOT_ROWS`` (256) of them, the most frequent first. With several threads
each thread keeps a private copy of every hot row it touches, loaded from the
shared row at its first touch after each publication: factors v_j, weight w_j
and the state the step writes (Adagrad accumulators; cf-sgd's counter and,
with a half-life, its last-seen stamp). The thread steps that copy, and every
DENSE_SYNC samples (with w0) and at the end of its share of the epoch adds
its change, copy minus the snapshot it loaded, to the shared row (the stamp
is published as the later of the two; a counter with a half-life, which is
not additive, merges as described in ``_hot_publish``). A hot row's updates from one thread
thus reach the others up to DENSE_SYNC samples late, as w0's do (DESIGN
section 4 allows that for parameters in (almost) every sample); the other
rows stay Hogwild. fa-sgd only reads the row frequency, which is shared. One
thread ignores the set and runs exactly as before, so n_jobs=1 stays exact.
``fm_projected_epoch`` (mixed-dimension tables) does not do this: its hot
rows stay Hogwild.
"""

from libc.stdlib cimport malloc, calloc, free
from libc.math cimport exp, exp2, log1p
from libc.stdint cimport uint32_t, uint64_t, int64_t
from cython cimport floating
from cython.parallel cimport prange, parallel

from recfreq._kernels.cpu.solvers cimport (
    SolverConfig, RowFrequencyState, solver_config, frequency_state, row_learning_rate, row_step,
    SOLVER_SGD, SOLVER_CF_SGD, SOLVER_ADAGRAD)
from recfreq._kernels.cpu.openmp cimport omp_get_thread_num, WORK_STRIDE
from recfreq._kernels.cpu.vector cimport prefetch_row
from recfreq._kernels.cpu.projection cimport (
    ProjectionLayout, projection_layout, project_forward, project_backward, flush_projections)
from recfreq._kernels.cpu.rng cimport rng_key, rng_block
from recfreq._kernels.cpu.negatives cimport STREAM_FIRST_TRIES, negative_stream, sample_negative


cdef enum:
    TASK_REGRESSION = 0
    TASK_CLASSIFICATION = 1
    # the ranking losses, as recfreq/_ranking_losses.py numbers them
    LOSS_LOGISTIC = 0
    LOSS_BPR = 1
    LOSS_WARP = 2
    # samples ahead whose feature rows are prefetched
    PREFETCH_DISTANCE = 4
    # with several threads, each keeps a private copy of w0 and publishes its
    # change every DENSE_SYNC samples (w0 is in every sample: writing the
    # shared value each time makes the threads fight over one cache line)
    DENSE_SYNC = 64


cdef inline double _sigmoid(double z) noexcept nogil:
    cdef double e
    if z >= 0:
        return 1.0 / (1.0 + exp(-z))
    e = exp(z)
    return e / (1.0 + e)


cdef inline double _log_loss(double z, double y) noexcept nogil:
    # softplus(z) - y z, without overflow for large |z|
    if z > 0:
        return z + log1p(exp(-z)) - y * z
    return log1p(exp(z)) - y * z


cdef inline floating _add_row(const floating* v, floating x, Py_ssize_t k, floating* sums) noexcept nogil:
    """Add v x to the sums s_f of Rendle's identity; return sum_f (v_f x)^2 for its square term."""
    cdef Py_ssize_t f
    cdef floating vx
    cdef floating squares = 0
    for f in range(k):
        vx = v[f] * x
        sums[f] = sums[f] + vx
        squares = squares + vx * vx
    return squares


cdef inline double _pairwise(const floating* sums, Py_ssize_t k, floating squares) noexcept nogil:
    """sum_{j<l} <v_j, v_l> x_j x_l = 1/2 (sum_f s_f^2 - sum_j sum_f (v_jf x_j)^2)."""
    cdef Py_ssize_t f
    cdef floating pair = 0
    for f in range(k):
        pair = pair + sums[f] * sums[f]
    return 0.5 * <double>(pair - squares)


cdef inline double _score(const long long* indptr, const int* indices, const floating* data,
                          const floating* w, const floating* V, Py_ssize_t k,
                          long long row, double w0, floating* sums) noexcept nogil:
    """FM score of one CSR row; leaves sum_j v_jf x_j in ``sums`` (k entries)."""
    cdef long long p
    cdef Py_ssize_t f
    cdef floating x
    cdef floating squares = 0
    cdef double linear = w0
    for f in range(k):
        sums[f] = 0
    for p in range(indptr[row], indptr[row + 1]):
        x = data[p]
        linear = linear + w[indices[p]] * x
        squares = squares + _add_row(V + <Py_ssize_t>indices[p] * k, x, k, sums)
    return linear + _pairwise(sums, k, squares)


cdef inline void _hot_load(Py_ssize_t slot, int row, Py_ssize_t n_hot, Py_ssize_t k,
                           const floating* V, const floating* w, const floating* acc_v,
                           const floating* acc_w, const double* counter,
                           floating* hot, double* hot_count, long long* hot_last, int* info) noexcept nogil:
    """Copy shared row ``row`` into this thread's slot and snapshot it.

    ``hot`` holds, per slot of k + 1 values (factors, then w_j): the private
    copies, their snapshots, and under Adagrad the private accumulators and
    their snapshots (four blocks of ``n_hot`` slots). ``hot_count``: cf-sgd's
    private counters, then their snapshots; ``hot_last`` (with a half-life):
    the private last-seen stamps, then each one as it was at the load (the
    stamp itself is this thread's own, never reloaded). ``info``: [publication number,
    slots loaded since it, the number each slot was last loaded at (n_hot),
    the loaded slots (n_hot)].
    """
    cdef Py_ssize_t f
    cdef Py_ssize_t stride = k + 1
    cdef Py_ssize_t block = n_hot * stride
    cdef floating* copy = hot + slot * stride
    for f in range(k):
        copy[f] = V[<Py_ssize_t>row * k + f]
    copy[k] = w[row]
    for f in range(stride):
        copy[block + f] = copy[f]
    if acc_v != NULL:
        copy = hot + 2 * block + slot * stride
        for f in range(k):
            copy[f] = acc_v[<Py_ssize_t>row * k + f]
        copy[k] = acc_w[row]
        for f in range(stride):
            copy[block + f] = copy[f]
    if counter != NULL:
        hot_count[slot] = counter[row]
        hot_count[n_hot + slot] = hot_count[slot]
        hot_last[n_hot + slot] = hot_last[slot]
    info[2 + slot] = info[0]
    info[2 + n_hot + info[1]] = <int>slot
    info[1] = info[1] + 1


cdef inline void _hot_publish(const int* hot_rows, Py_ssize_t n_hot, Py_ssize_t k,
                              floating* V, floating* w, floating* acc_v, floating* acc_w,
                              double* counter, long long* last_seen, double halflife,
                              const floating* hot, const double* hot_count, const long long* hot_last,
                              int* info) noexcept nogil:
    """Add the change of every slot loaded since the last publication to its shared row.

    The slots are loaded afresh at their next touch (a new publication
    number), so that the thread then sees its peers' published changes too. A
    peer adding to the same row at the same instant may lose one delta (a
    benign Hogwild race, rare at this rate).

    cf-sgd's counter with a half-life h is not additive: since the load this
    thread decayed the snapshot c_s by D = 2^(-gap/h) (gap: its own stamps'
    advance) and added its own visits e, so c = c_s D + e. Publishing
    shared <- shared D + e = c + (shared - c_s) D applies that decay once to
    whatever the shared counter holds now and adds e, which keeps it positive
    (a plain delta c - c_s can drive it below zero when two threads each
    decay the same snapshot). Without a half-life D = 1: the plain delta.
    """
    cdef Py_ssize_t q, f, slot
    cdef Py_ssize_t stride = k + 1
    cdef Py_ssize_t block = n_hot * stride
    cdef const floating* copy
    cdef floating* shared
    cdef int row
    cdef double decay
    for q in range(info[1]):
        slot = info[2 + n_hot + q]
        row = hot_rows[slot]
        copy = hot + slot * stride
        shared = V + <Py_ssize_t>row * k
        for f in range(k):
            shared[f] = shared[f] + (copy[f] - copy[block + f])
        w[row] = w[row] + (copy[k] - copy[block + k])
        if acc_v != NULL:
            copy = hot + 2 * block + slot * stride
            shared = acc_v + <Py_ssize_t>row * k
            for f in range(k):
                shared[f] = shared[f] + (copy[f] - copy[block + f])
            acc_w[row] = acc_w[row] + (copy[k] - copy[block + k])
        if counter != NULL:
            decay = 1.0
            if halflife > 0.0 and last_seen != NULL:
                decay = exp2(-<double>(hot_last[slot] - hot_last[n_hot + slot]) / halflife)
            counter[row] = hot_count[slot] + (counter[row] - hot_count[n_hot + slot]) * decay
        if last_seen != NULL and hot_last[slot] > last_seen[row]:
            last_seen[row] = hot_last[slot]
    info[1] = 0
    info[0] = info[0] + 1


cdef inline double _score_hot(const long long* indptr, const int* indices, const floating* data,
                              const floating* w, const floating* V, Py_ssize_t k,
                              long long row, double w0, floating* sums,
                              const int* hot_slot, int* slot_at, Py_ssize_t n_hot,
                              const floating* acc_v, const floating* acc_w, const double* counter,
                              floating* hot, double* hot_count, long long* hot_last,
                              int* hot_info) noexcept nogil:
    """``_score`` where a hot row is read from this thread's private copy.

    Loads (see ``_hot_load``) each hot row not loaded since the last
    publication and leaves each non-zero's slot (or -1) in ``slot_at`` for the
    update. Same arithmetic in the same order as ``_score``.
    """
    cdef long long p
    cdef Py_ssize_t f, a, slot
    cdef const floating* v
    cdef floating x, wj
    cdef floating squares = 0
    cdef double linear = w0
    cdef int j
    for f in range(k):
        sums[f] = 0
    for p in range(indptr[row], indptr[row + 1]):
        a = p - indptr[row]
        j = indices[p]
        slot = hot_slot[j]
        slot_at[a] = <int>slot
        if slot >= 0:
            if hot_info[2 + slot] != hot_info[0]:
                _hot_load(slot, j, n_hot, k, V, w, acc_v, acc_w, counter, hot, hot_count, hot_last, hot_info)
            v = hot + slot * (k + 1)
            wj = v[k]
        else:
            v = V + <Py_ssize_t>j * k
            wj = w[j]
        x = data[p]
        linear = linear + wj * x
        squares = squares + _add_row(v, x, k, sums)
    return linear + _pairwise(sums, k, squares)


cdef inline void _publish(floating* w0, floating* acc_0, floating* dense) noexcept nogil:
    # add this thread's change since its last publication; a peer publishing at
    # the same instant may lose one delta (a benign Hogwild race)
    w0[0] = w0[0] + (dense[0] - dense[1])
    dense[0] = w0[0]
    dense[1] = dense[0]
    if acc_0 != NULL:
        acc_0[0] = acc_0[0] + (dense[2] - dense[3])
        dense[2] = acc_0[0]
        dense[3] = dense[2]


def fm_epoch(*,
             const long long[::1] indptr,
             const int[::1] indices,
             const floating[::1] data,
             const floating[::1] targets,
             const long long[::1] order,
             int task,
             floating[::1] intercept,
             floating[::1] intercept_accum,
             floating[::1] feature_bias,
             floating[:, ::1] feature_factors,
             int solver,
             double learning_rate,
             double dense_learning_rate,
             double alpha,
             double alpha_bias,
             double frequency_exponent,
             double counter_halflife,
             double epsilon,
             long long t_start,
             double[::1] feature_frequency,
             double[::1] feature_counter,
             long long[::1] feature_last_seen,
             floating[:, ::1] feature_factors_accum,
             floating[::1] feature_bias_accum,
             const int[::1] hot_rows,
             const int[::1] hot_slot,
             int max_nnz,
             int n_threads,
             long long[::1] thread_work):
    """Run one epoch over the rows ``order``; return the summed loss.

    The loss is the squared error ``e^2`` per sample for regression (the
    gradient is that of ``e^2 / 2``, as in MF) and the log loss for
    classification (``targets`` in {0, 1}). Sample ``i`` is step
    ``t = t_start + i + 1``. With ``d = dloss/dy_hat`` (``-e`` or
    ``sigmoid(y_hat) - y``) and ``s_f = sum_l v_lf x_l``, every non-zero feature
    j of the sample takes, with parameters as they were before the sample:

        g_wj  = d x_j + alpha_bias w_j
        g_vjf = d x_j (s_f - v_jf x_j) + alpha v_jf
        g_w0  = d

    ``hot_rows``: the hot feature rows (see the module docstring), stepped
    on private copies when ``n_threads > 1``; ``hot_slot``: for every feature
    row its index in ``hot_rows`` or -1 (n_features entries; may be empty when
    ``hot_rows`` is). ``max_nnz``: the most non-zeros of any CSR row (at
    least 1), the size of each thread's list of the current sample's slots.
    """
    cdef int tid
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t k = feature_factors.shape[1]
    cdef Py_ssize_t i, f, q, slot
    cdef Py_ssize_t row_bytes = k * sizeof(floating)
    cdef long long s, p, ahead
    cdef long long t
    cdef int j
    cdef double y_hat, d, rate
    cdef double loss = 0.0
    cdef floating x, dx, grad_w, grad_0
    cdef floating* v
    cdef floating* wj
    cdef floating* av
    cdef floating* aw
    cdef floating* sums
    cdef floating* grad
    cdef floating* dense
    cdef bint private_w0 = n_threads > 1
    cdef SolverConfig cfg, dense_cfg
    cdef RowFrequencyState state
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_v = &feature_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_w = &feature_bias_accum[0] if adagrad else NULL
    cdef floating* acc_0 = &intercept_accum[0] if adagrad else NULL
    cdef floating* w0 = &intercept[0]
    cdef const long long* ip = &indptr[0]
    cdef const int* ind = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const floating* val = &data[0] if data.shape[0] > 0 else NULL
    cdef floating* w = &feature_bias[0] if feature_bias.shape[0] > 0 else NULL
    cdef floating* V = &feature_factors[0, 0] if feature_factors.shape[0] > 0 else NULL
    cdef Py_ssize_t n_hot = hot_rows.shape[0]
    # one thread has no one to fight over the hot rows with: exact Hogwild-free path
    cdef bint use_hot = n_threads > 1 and n_hot > 0
    cdef const int* hot_row = &hot_rows[0] if use_hot else NULL
    cdef const int* slot_of = &hot_slot[0] if use_hot else NULL
    cdef bint cf = solver == SOLVER_CF_SGD
    cdef double* counter = &feature_counter[0] if cf and feature_counter.shape[0] > 0 else NULL
    cdef long long* last_seen = &feature_last_seen[0] if cf and feature_last_seen.shape[0] > 0 else NULL
    cdef long long* last_start = NULL
    cdef floating* hot
    cdef double* hot_count
    cdef long long* hot_last
    cdef int* hot_info
    cdef RowFrequencyState* hot_state
    cdef int* slot_at
    cdef Py_ssize_t stride = k + 1

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    # w0 is in every sample: no frequency rule, its own step size (DESIGN 3)
    dense_cfg = cfg
    dense_cfg.kind = SOLVER_ADAGRAD if solver == SOLVER_ADAGRAD else SOLVER_SGD
    dense_cfg.learning_rate = dense_learning_rate
    state = frequency_state(feature_frequency, feature_counter, feature_last_seen)

    if use_hot and last_seen != NULL:
        # each thread keeps its own last-seen stamp of a hot row for the whole
        # epoch, starting from the value before the epoch: a peer's stamps lie
        # in another part of the epoch (static chunks), and stepping from them
        # would give a negative or inflated gap
        last_start = <long long*> malloc(n_hot * sizeof(long long))
        for slot in range(n_hot):
            last_start[slot] = last_seen[hot_row[slot]]

    sums = NULL  # thread-private below
    grad = NULL
    dense = NULL
    hot = NULL
    hot_count = NULL
    hot_last = NULL
    hot_info = NULL
    hot_state = NULL
    slot_at = NULL
    q = 0
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        sums = <floating*> malloc((2 * (k + 1) + 4) * sizeof(floating))
        grad = sums + k + 1
        # dense[0]: this thread's w0, dense[1]: the shared w0 it started from,
        # dense[2], dense[3]: the same for w0's Adagrad accumulator
        dense = grad + k + 1
        dense[0] = w0[0]
        dense[1] = dense[0]
        dense[2] = acc_0[0] if adagrad else 0
        dense[3] = dense[2]
        if use_hot:
            # private copies, snapshots (and Adagrad's two more blocks); the
            # loop counters live in memory because prange privatizes scalars
            hot = <floating*> malloc((4 if adagrad else 2) * n_hot * (k + 1) * sizeof(floating))
            hot_count = <double*> malloc(2 * n_hot * sizeof(double))
            hot_last = <long long*> calloc(2 * n_hot, sizeof(long long))
            hot_info = <int*> calloc(2 + 2 * n_hot, sizeof(int))
            hot_info[0] = 1  # publication number; 0 marks a slot never loaded
            if last_start != NULL:
                for q in range(n_hot):
                    hot_last[q] = last_start[q]
            # on the heap: Cython shares a struct declared in the function
            # between the threads, but privatizes a pointer assigned here
            hot_state = <RowFrequencyState*> malloc(sizeof(RowFrequencyState))
            hot_state.frequency = NULL
            hot_state.counter = hot_count
            hot_state.last_seen = hot_last if last_start != NULL else NULL
            # each non-zero's slot in the current sample, found while scoring
            slot_at = <int*> malloc(max_nnz * sizeof(int))
        for i in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            s = order[i]
            t = t_start + i + 1
            if i + PREFETCH_DISTANCE < n:
                # feature rows are scattered: load the rows of a later sample early
                ahead = order[i + PREFETCH_DISTANCE]
                for p in range(ip[ahead], ip[ahead + 1]):
                    # a hot row is read from the private copy; touching the
                    # shared one would pull its cache line from a peer
                    if not use_hot or slot_of[ind[p]] < 0:
                        prefetch_row(V + <Py_ssize_t>ind[p] * k, row_bytes)
            if use_hot:
                y_hat = _score_hot(ip, ind, val, w, V, k, s, dense[0], sums, slot_of, slot_at, n_hot,
                                   acc_v, acc_w, counter, hot, hot_count, hot_last, hot_info)
            else:
                y_hat = _score(ip, ind, val, w, V, k, s, dense[0] if private_w0 else w0[0], sums)
            if task == TASK_CLASSIFICATION:
                d = _sigmoid(y_hat) - targets[s]
                loss += _log_loss(y_hat, targets[s])
            else:
                d = y_hat - targets[s]
                loss += d * d
            for p in range(ip[s], ip[s + 1]):
                j = ind[p]
                x = val[p]
                dx = <floating>d * x
                slot = slot_at[p - ip[s]] if use_hot else -1
                if slot >= 0:
                    v = hot + slot * stride
                    wj = v + k
                    av = v + 2 * n_hot * stride if adagrad else NULL
                    aw = av + k if adagrad else NULL
                else:
                    v = V + <Py_ssize_t>j * k
                    wj = &w[j]
                    av = acc_v + <Py_ssize_t>j * k if adagrad else NULL
                    aw = acc_w + j if adagrad else NULL
                # each feature appears once per row, so v_j is still the
                # pre-sample value and s_f - v_jf x_j excludes exactly itself
                for f in range(k):
                    grad[f] = dx * (sums[f] - v[f] * x) + <floating>alpha * v[f]
                grad_w = dx + <floating>alpha_bias * wj[0]
                if cf and slot >= 0:
                    rate = row_learning_rate(&cfg, hot_state, slot, t)
                else:
                    rate = row_learning_rate(&cfg, &state, j, t)
                row_step(&cfg, v, grad, av, k, rate)
                row_step(&cfg, wj, &grad_w, aw, 1, rate)
            grad_0 = <floating>d
            if not private_w0:
                row_step(&dense_cfg, w0, &grad_0, acc_0, 1, dense_learning_rate)
            else:
                row_step(&dense_cfg, &dense[0], &grad_0, &dense[2] if adagrad else NULL, 1, dense_learning_rate)
                if i % DENSE_SYNC == DENSE_SYNC - 1:
                    _publish(w0, acc_0, dense)
                    if use_hot:
                        _hot_publish(hot_row, n_hot, k, V, w, acc_v, acc_w, counter, last_seen,
                                     counter_halflife, hot, hot_count, hot_last, hot_info)
        if private_w0:
            _publish(w0, acc_0, dense)
        if use_hot:
            _hot_publish(hot_row, n_hot, k, V, w, acc_v, acc_w, counter, last_seen,
                         counter_halflife, hot, hot_count, hot_last, hot_info)
            free(slot_at)
            free(hot_state)
            free(hot_info)
            free(hot_last)
            free(hot_count)
            free(hot)
        free(sums)
    free(last_start)
    return loss


cdef inline double _part_sums(const long long* ip, const int* ind, const floating* val, long long row,
                              const floating* w, const floating* V, Py_ssize_t k, floating* sums,
                              floating* squares) noexcept nogil:
    """One part of a sample (a CSR row): sums_f = sum_j v_jf x_j, squares = sum_j sum_f (v_jf x_j)^2;
    returns its linear term sum_j w_j x_j."""
    cdef long long p
    cdef Py_ssize_t f
    cdef double linear = 0.0
    cdef floating sq = 0
    for f in range(k):
        sums[f] = 0
    for p in range(ip[row], ip[row + 1]):
        linear = linear + w[ind[p]] * val[p]
        sq = sq + _add_row(V + <Py_ssize_t>ind[p] * k, val[p], k, sums)
    squares[0] = sq
    return linear


cdef inline double _joined(const floating* a, const floating* b, Py_ssize_t k, floating squares) noexcept nogil:
    """The pairwise term of two parts joined: 1/2 (||a + b||^2 - squares of both)."""
    cdef Py_ssize_t f
    cdef floating pair = 0
    for f in range(k):
        pair = pair + (a[f] + b[f]) * (a[f] + b[f])
    return 0.5 * <double>(pair - squares)


cdef inline long long _find(const long long* ip, const int* ind, long long row, int feature) noexcept nogil:
    """Position of `feature` in CSR row `row`, or -1 (an item's part is a few entries)."""
    cdef long long p
    for p in range(ip[row], ip[row + 1]):
        if ind[p] == feature:
            return p
    return -1


cdef inline void _step_feature(const SolverConfig* cfg, RowFrequencyState* state, int a, long long t,
                               floating* V, floating* w, floating* acc_v, floating* acc_w, Py_ssize_t k,
                               const floating* grad_v, floating grad_w, bint with_weight) noexcept nogil:
    """One feature row's step (one rate, one cf-sgd visit): its factors by ``grad_v`` and, when
    ``with_weight``, its weight by ``grad_w`` (both with their L2 included)."""
    cdef double rate = row_learning_rate(cfg, state, a, t)
    row_step(cfg, V + <Py_ssize_t>a * k, grad_v, acc_v + <Py_ssize_t>a * k if acc_v != NULL else NULL, k, rate)
    if with_weight:
        row_step(cfg, &w[a], &grad_w, acc_w + a if acc_w != NULL else NULL, 1, rate)


def fm_ranking_epoch(*,
                     const long long[::1] ctx_indptr,
                     const int[::1] ctx_indices,
                     const floating[::1] ctx_data,
                     const int[::1] user_index,
                     const int[::1] item_index,
                     const long long[::1] order,
                     const long long[::1] item_indptr,
                     const int[::1] item_indices,
                     const floating[::1] item_data,
                     const long long[::1] positive_indptr,
                     const int[::1] positive_indices,
                     int n_items,
                     int ranking_loss,
                     int n_negatives,
                     int max_sampled,
                     const double[::1] warp_weights,
                     unsigned long long sample_seed,
                     unsigned long long order_epoch,
                     floating[::1] intercept,
                     floating[::1] intercept_accum,
                     floating[::1] feature_bias,
                     floating[:, ::1] feature_factors,
                     int solver,
                     double learning_rate,
                     double dense_learning_rate,
                     double alpha,
                     double alpha_bias,
                     double frequency_exponent,
                     double counter_halflife,
                     double epsilon,
                     long long t_start,
                     double[::1] feature_frequency,
                     double[::1] feature_counter,
                     long long[::1] feature_last_seen,
                     floating[:, ::1] feature_factors_accum,
                     floating[::1] feature_bias_accum,
                     int n_threads,
                     long long[::1] thread_work):
    """One epoch of the factorization machine under a ranking loss; returns the summed loss.

    A positive is a context part C (CSR row ``order[p]`` of ``ctx_*``: the
    user id and every side column that does not describe the item) and an
    item i (``item_index``), whose part I is row i of the item table
    (``item_*``: its id and item-side columns). A sampled negative j (never
    one of the user's ``positive_indices``, drawn as ``negatives.pxd`` does,
    keyed on the positive's own index ``order[p]``) keeps C and takes the part
    J of item j. With ``s(C, X) = w0 + sum w x + sum_{a<b} <v_a, v_b> x_a x_b``
    over C and X joined (Rendle's identity), position p is step
    ``t = t_start + p + 1`` and:

    * logistic: (C, I) with label 1, then ``n_negatives`` (C, J) with label
      0, each a pointwise step on ``softplus(s) - y s`` (d = sigmoid(s) - y):
      ``g_wa = d x_a + alpha_bias w_a``, ``g_va = d x_a (S - v_a x_a) + alpha
      v_a`` for every feature a of the pair (S the joined sums), and w0 its
      dense step with d;
    * bpr and warp: ``x = s(C, I) - s(C, J)`` (w0 and C's weights cancel),
      loss ``softplus(-x)`` (g = sigmoid(-x)) or ``L(r) (1 - x)`` after
      drawing until ``s(C, J) > s(C, I) - 1`` (g = L(r), r = (n_items -
      n_pos(u)) // draws; no violation, no step). Every row takes one step
      with ``-g dx/dtheta`` plus its L2: a context row's factors
      (``dx/dv_a = x_a (S_I - S_J)``), an item-part row's factors and weight;
      a row in both items' parts steps once with both contributions.
    """
    cdef int tid
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t k = feature_factors.shape[1]
    cdef Py_ssize_t p, f
    cdef long long q, ctx_row, other
    cdef long long t
    cdef int u, i, j, a, s, draws, rank
    cdef Py_ssize_t n_pos
    cdef double lin_c, lin_i, lin_j, score, score_i, score_j, x, total = 0.0
    cdef floating sq_c, sq_i, sq_j, d, g, xa, xb, gw, grad_0
    cdef floating* sums_c
    cdef floating* sums_i
    cdef floating* sums_j
    cdef floating* grad
    cdef floating* dense
    cdef uint32_t* first_tries
    cdef const int* positives
    cdef const int* all_positives = &positive_indices[0] if positive_indices.shape[0] > 0 else NULL
    cdef bint private_w0 = n_threads > 1
    cdef SolverConfig cfg, dense_cfg
    cdef RowFrequencyState state
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_v = &feature_factors_accum[0, 0] if adagrad else NULL
    cdef floating* acc_w = &feature_bias_accum[0] if adagrad else NULL
    cdef floating* acc_0 = &intercept_accum[0] if adagrad else NULL
    cdef floating* w0 = &intercept[0]
    cdef floating* w = &feature_bias[0]
    cdef floating* V = &feature_factors[0, 0]
    cdef const long long* cp = &ctx_indptr[0]
    cdef const int* ci = &ctx_indices[0] if ctx_indices.shape[0] > 0 else NULL
    cdef const floating* cv = &ctx_data[0] if ctx_data.shape[0] > 0 else NULL
    cdef const long long* ip = &item_indptr[0]
    cdef const int* ii = &item_indices[0] if item_indices.shape[0] > 0 else NULL
    cdef const floating* iv = &item_data[0] if item_data.shape[0] > 0 else NULL
    cdef floating fa = <floating>alpha
    cdef floating fb = <floating>alpha_bias
    cdef uint64_t key = rng_key(sample_seed, order_epoch)

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    # w0 is in every sample: no frequency rule, its own step size (DESIGN 3)
    dense_cfg = cfg
    dense_cfg.kind = SOLVER_ADAGRAD if solver == SOLVER_ADAGRAD else SOLVER_SGD
    dense_cfg.learning_rate = dense_learning_rate
    state = frequency_state(feature_frequency, feature_counter, feature_last_seen)

    sums_c = NULL  # thread-private below
    first_tries = NULL
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        sums_c = <floating*> malloc((5 * k + 4) * sizeof(floating))
        sums_i = sums_c + k
        sums_j = sums_i + k
        grad = sums_j + k
        # dense[0]: this thread's w0, dense[1]: the shared w0 it started from,
        # dense[2], dense[3]: the same for w0's Adagrad accumulator (as fm_epoch)
        dense = grad + 2 * k
        dense[0] = w0[0]
        dense[1] = dense[0]
        dense[2] = acc_0[0] if adagrad else 0
        dense[3] = dense[2]
        first_tries = <uint32_t*> malloc(4 * sizeof(uint32_t))
        for p in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            # _part_sums writes these through a pointer; Cython makes a prange variable
            # private only when it is assigned in the loop, so assign them here
            sq_c = 0
            sq_i = 0
            sq_j = 0
            ctx_row = order[p]
            u = user_index[ctx_row]
            i = item_index[ctx_row]
            t = t_start + p + 1
            positives = all_positives + positive_indptr[u]
            n_pos = positive_indptr[u + 1] - positive_indptr[u]
            if ranking_loss == LOSS_LOGISTIC:
                for s in range(n_negatives + 1):
                    if s == 0:
                        j = i
                    else:
                        if n_pos >= n_items:
                            break  # the user holds every item: no negative to give
                        if (s - 1) % 4 == 0:
                            rng_block(key, ctx_row, STREAM_FIRST_TRIES, <uint32_t>((s - 1) // 4), first_tries)
                        j = sample_negative(first_tries[(s - 1) % 4], key, ctx_row, negative_stream(s),
                                            positives, n_pos, n_items)
                    # the context's rows moved with the previous emitted sample: sum them again
                    lin_c = _part_sums(cp, ci, cv, ctx_row, w, V, k, sums_c, &sq_c)
                    lin_j = _part_sums(ip, ii, iv, j, w, V, k, sums_j, &sq_j)
                    score = ((dense[0] if private_w0 else w0[0]) + lin_c + lin_j
                             + _joined(sums_c, sums_j, k, sq_c + sq_j))
                    total += _log_loss(score, 1.0 if s == 0 else 0.0)
                    d = <floating>(_sigmoid(score) - (1.0 if s == 0 else 0.0))
                    for f in range(k):
                        sums_i[f] = sums_c[f] + sums_j[f]  # S of the joined sample
                    # every feature appears once in C and J together: its v_a is still the
                    # pre-sample value when its gradient is taken
                    for q in range(cp[ctx_row], cp[ctx_row + 1]):
                        a = ci[q]
                        xa = cv[q]
                        for f in range(k):
                            grad[f] = d * xa * (sums_i[f] - V[<Py_ssize_t>a * k + f] * xa) + fa * V[<Py_ssize_t>a * k + f]
                        _step_feature(&cfg, &state, a, t, V, w, acc_v, acc_w, k, grad, d * xa + fb * w[a], True)
                    for q in range(ip[j], ip[j + 1]):
                        a = ii[q]
                        xa = iv[q]
                        for f in range(k):
                            grad[f] = d * xa * (sums_i[f] - V[<Py_ssize_t>a * k + f] * xa) + fa * V[<Py_ssize_t>a * k + f]
                        _step_feature(&cfg, &state, a, t, V, w, acc_v, acc_w, k, grad, d * xa + fb * w[a], True)
                    grad_0 = d
                    if not private_w0:
                        row_step(&dense_cfg, w0, &grad_0, acc_0, 1, dense_learning_rate)
                    else:
                        row_step(&dense_cfg, &dense[0], &grad_0, &dense[2] if adagrad else NULL, 1,
                                 dense_learning_rate)
                if private_w0 and p % DENSE_SYNC == DENSE_SYNC - 1:
                    _publish(w0, acc_0, dense)
                continue
            if n_pos >= n_items:
                continue  # no negative exists: a pairwise loss has nothing to compare
            lin_c = _part_sums(cp, ci, cv, ctx_row, w, V, k, sums_c, &sq_c)
            lin_i = _part_sums(ip, ii, iv, i, w, V, k, sums_i, &sq_i)
            score_i = lin_i + _joined(sums_c, sums_i, k, sq_i)  # s(C, I) less the terms that cancel
            j = -1
            draws = 0
            score_j = 0.0
            while draws < (1 if ranking_loss == LOSS_BPR else max_sampled):
                draws = draws + 1
                if (draws - 1) % 4 == 0:
                    rng_block(key, ctx_row, STREAM_FIRST_TRIES, <uint32_t>((draws - 1) // 4), first_tries)
                j = sample_negative(first_tries[(draws - 1) % 4], key, ctx_row, negative_stream(draws),
                                    positives, n_pos, n_items)
                lin_j = _part_sums(ip, ii, iv, j, w, V, k, sums_j, &sq_j)
                score_j = lin_j + _joined(sums_c, sums_j, k, sq_j)
                if ranking_loss == LOSS_BPR or score_j > score_i - 1.0:
                    break
                j = -1
            if j < 0:
                continue  # warp: no violation among max_sampled negatives, no step
            x = score_i - score_j
            if ranking_loss == LOSS_BPR:
                total += _log_loss(-x, 0.0)
                g = <floating>_sigmoid(-x)
            else:
                rank = <int>((n_items - n_pos) // draws)
                total += warp_weights[rank] * (1.0 - x)
                g = <floating>warp_weights[rank]
            # context rows: dx/dv_a = x_a (S_I - S_J); their weights cancel and do not move
            for q in range(cp[ctx_row], cp[ctx_row + 1]):
                a = ci[q]
                xa = cv[q]
                for f in range(k):
                    grad[f] = -g * xa * (sums_i[f] - sums_j[f]) + fa * V[<Py_ssize_t>a * k + f]
                _step_feature(&cfg, &state, a, t, V, w, acc_v, acc_w, k, grad, 0, False)
            # the positive's item part (and the negative's where they share a row):
            # dx/dv_a = x_a (S_C + S_I - v_a x_a) - x'_a (S_C + S_J - v_a x'_a), dx/dw_a = x_a - x'_a
            for q in range(ip[i], ip[i + 1]):
                a = ii[q]
                xa = iv[q]
                other = _find(ip, ii, j, a)
                xb = iv[other] if other >= 0 else 0
                for f in range(k):
                    grad[f] = (-g * (xa * (sums_c[f] + sums_i[f] - V[<Py_ssize_t>a * k + f] * xa)
                                     - xb * (sums_c[f] + sums_j[f] - V[<Py_ssize_t>a * k + f] * xb))
                               + fa * V[<Py_ssize_t>a * k + f])
                _step_feature(&cfg, &state, a, t, V, w, acc_v, acc_w, k, grad, -g * (xa - xb) + fb * w[a], True)
            for q in range(ip[j], ip[j + 1]):
                a = ii[q]
                if _find(ip, ii, i, a) >= 0:
                    continue  # stepped with the positive's part
                xb = iv[q]
                for f in range(k):
                    grad[f] = g * xb * (sums_c[f] + sums_j[f] - V[<Py_ssize_t>a * k + f] * xb) + fa * V[<Py_ssize_t>a * k + f]
                _step_feature(&cfg, &state, a, t, V, w, acc_v, acc_w, k, grad, g * xb + fb * w[a], True)
        if private_w0:
            _publish(w0, acc_0, dense)
        free(first_tries)
        free(sums_c)
    return total


def fm_projected_epoch(*,
                       const long long[::1] indptr,
                       const int[::1] indices,
                       const floating[::1] data,
                       const floating[::1] targets,
                       const long long[::1] order,
                       int task,
                       floating[::1] intercept,
                       floating[::1] intercept_accum,
                       floating[::1] feature_bias,
                       int n_factors,
                       floating[::1] feature_rows,
                       const long long[::1] feature_row_offset,
                       const int[::1] feature_row_group,
                       const int[::1] feature_group_in_dim,
                       const int[::1] feature_group_n_layers,
                       const int[::1] feature_group_first_layer,
                       const long long[::1] feature_layer_offset,
                       const int[::1] feature_layer_in,
                       const int[::1] feature_layer_out,
                       floating[::1] feature_dense,
                       int solver,
                       double learning_rate,
                       double dense_learning_rate,
                       double alpha,
                       double alpha_bias,
                       double frequency_exponent,
                       double counter_halflife,
                       double epsilon,
                       long long t_start,
                       double[::1] feature_frequency,
                       double[::1] feature_counter,
                       long long[::1] feature_last_seen,
                       floating[::1] feature_rows_accum,
                       floating[::1] feature_dense_accum,
                       floating[::1] feature_bias_accum,
                       int max_nnz,
                       int max_activation,
                       int max_width,
                       int dense_batch_size,
                       int n_threads,
                       long long[::1] thread_work):
    """One FM epoch whose factor rows are projected (mixed-dimension tables).

    v_j = e_j P_g(j): the raw row e_j of feature j (width d_g) times its
    group's projection (none for a group of width k), so the score and the
    loss gradients dL/dv_j are those of ``fm_epoch`` on the projected rows.
    Each dL/dv_j is back-propagated to e_j (which adds alpha * e_j and takes
    the per-row solver step of row j, shared with w_j) and to the projection,
    whose gradient is summed per thread and applied every `dense_batch_size`
    samples of that thread and at the end of its share of the epoch (plain
    SGD with `dense_learning_rate`, Adagrad under adagrad). w0 is stepped as in
    ``fm_epoch``. Returns the summed loss.

    `max_nnz`: the most non-zeros of any CSR row; `max_activation`: the
    largest sum of layer widths of any chain; `max_width`: the widest raw
    row or layer input (at least k).
    """
    cdef int tid
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t k = n_factors
    cdef Py_ssize_t i, f, a, slot
    cdef Py_ssize_t dense_size = feature_dense.shape[0]
    cdef int n_groups = feature_group_in_dim.shape[0]
    cdef long long s, p
    cdef long long t
    cdef int j, d_j
    cdef double y_hat, d, rate, linear
    cdef double loss = 0.0
    cdef floating x, dx, grad_w, grad_0, squares
    cdef floating* v
    cdef floating* e
    cdef floating* g
    cdef floating* buf
    cdef floating* sums
    cdef floating* grad
    cdef floating* dense
    cdef floating* act
    cdef floating* work
    cdef floating* dense_grad
    cdef floating** projected
    cdef int* pending
    cdef bint private_w0 = n_threads > 1
    cdef SolverConfig cfg, dense_cfg
    cdef RowFrequencyState state
    cdef ProjectionLayout lay = projection_layout(
        feature_row_offset, feature_row_group, feature_group_in_dim, feature_group_n_layers,
        feature_group_first_layer, feature_layer_offset, feature_layer_in, feature_layer_out)
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* acc_e = &feature_rows_accum[0] if adagrad else NULL
    cdef floating* acc_P = &feature_dense_accum[0] if adagrad and dense_size > 0 else NULL
    cdef floating* acc_w = &feature_bias_accum[0] if adagrad else NULL
    cdef floating* acc_0 = &intercept_accum[0] if adagrad else NULL
    cdef floating* w0 = &intercept[0]
    cdef floating* rows = &feature_rows[0] if feature_rows.shape[0] > 0 else NULL
    cdef floating* P = &feature_dense[0] if dense_size > 0 else NULL
    cdef const long long* ip = &indptr[0]
    cdef const int* ind = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const floating* val = &data[0] if data.shape[0] > 0 else NULL
    cdef floating* w = &feature_bias[0] if feature_bias.shape[0] > 0 else NULL
    cdef Py_ssize_t buf_size = 2 * k + 4 + <Py_ssize_t>max_nnz * max_activation + 2 * max_width + dense_size

    cfg = solver_config(solver, learning_rate, frequency_exponent, counter_halflife, epsilon)
    # w0 and the projections are in (almost) every sample: no frequency rule,
    # their own step size (DESIGN 3)
    dense_cfg = cfg
    dense_cfg.kind = SOLVER_ADAGRAD if solver == SOLVER_ADAGRAD else SOLVER_SGD
    dense_cfg.learning_rate = dense_learning_rate
    state = frequency_state(feature_frequency, feature_counter, feature_last_seen)

    # thread-private below; set here so the compiler sees them initialised
    buf = sums = grad = dense = act = work = dense_grad = NULL
    projected = NULL
    pending = NULL
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        # one zeroed block per thread: the sums s_f, dL/dv, the private w0 (as
        # in fm_epoch), every non-zero's activations (its backward pass needs
        # them after all of the sample's rows were projected), back-prop work
        # space and this thread's projection-gradient sums
        buf = <floating*> calloc(buf_size, sizeof(floating))
        projected = <floating**> malloc((max_nnz + 1) * sizeof(floating*))
        # pending[0]: samples since the last flush, then a "touched" flag per group
        pending = <int*> calloc(1 + n_groups, sizeof(int))
        sums = buf
        grad = sums + k
        dense = grad + k
        act = dense + 4
        work = act + <Py_ssize_t>max_nnz * max_activation
        dense_grad = work + 2 * max_width
        dense[0] = w0[0]
        dense[1] = dense[0]
        dense[2] = acc_0[0] if adagrad else 0
        dense[3] = dense[2]
        for i in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            s = order[i]
            t = t_start + i + 1
            # the score on the projected rows, as _score does it on plain ones
            linear = dense[0] if private_w0 else w0[0]
            squares = 0
            for f in range(k):
                sums[f] = 0
            for p in range(ip[s], ip[s + 1]):
                slot = p - ip[s]
                j = ind[p]
                x = val[p]
                v = project_forward(&lay, rows, P, j, act + slot * max_activation)
                projected[slot] = v
                linear = linear + w[j] * x
                squares = squares + _add_row(v, x, k, sums)
            y_hat = linear + _pairwise(sums, k, squares)
            if task == TASK_CLASSIFICATION:
                d = _sigmoid(y_hat) - targets[s]
                loss += _log_loss(y_hat, targets[s])
            else:
                d = y_hat - targets[s]
                loss += d * d
            for p in range(ip[s], ip[s + 1]):
                slot = p - ip[s]
                j = ind[p]
                x = val[p]
                dx = <floating>d * x
                # v_j is the pre-sample projection: a plain row (no layer) is
                # e_j itself, which only this feature's own step below moves
                v = projected[slot]
                for f in range(k):
                    grad[f] = dx * (sums[f] - v[f] * x)
                # reads e_j and the projection before either is stepped
                g = project_backward(&lay, rows, P, j, act + slot * max_activation, grad, work, dense_grad)
                e = rows + feature_row_offset[j]
                d_j = feature_group_in_dim[feature_row_group[j]]
                for a in range(d_j):
                    g[a] = g[a] + <floating>alpha * e[a]
                grad_w = dx + <floating>alpha_bias * w[j]
                rate = row_learning_rate(&cfg, &state, j, t)
                row_step(&cfg, e, g, acc_e + feature_row_offset[j] if adagrad else NULL, d_j, rate)
                row_step(&cfg, &w[j], &grad_w, acc_w + j if adagrad else NULL, 1, rate)
                pending[1 + feature_row_group[j]] = 1
            grad_0 = <floating>d
            if not private_w0:
                row_step(&dense_cfg, w0, &grad_0, acc_0, 1, dense_learning_rate)
            else:
                row_step(&dense_cfg, &dense[0], &grad_0, &dense[2] if adagrad else NULL, 1, dense_learning_rate)
                if i % DENSE_SYNC == DENSE_SYNC - 1:
                    _publish(w0, acc_0, dense)
            pending[0] = pending[0] + 1
            if pending[0] == dense_batch_size:
                flush_projections(&dense_cfg, &lay, n_groups, P, dense_grad, acc_P, pending + 1,
                                  dense_learning_rate)
                pending[0] = 0
        if pending[0] > 0:
            flush_projections(&dense_cfg, &lay, n_groups, P, dense_grad, acc_P, pending + 1, dense_learning_rate)
        if private_w0:
            _publish(w0, acc_0, dense)
        free(pending)
        free(projected)
        free(buf)
    return loss


def fm_predict(*,
               const long long[::1] indptr,
               const int[::1] indices,
               const floating[::1] data,
               double intercept,
               const floating[::1] feature_bias,
               const floating[:, ::1] feature_factors,
               floating[::1] out,
               int n_threads):
    """out[i] = y_hat of CSR row i (the raw score: no sigmoid, no clipping)."""
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t k = feature_factors.shape[1]
    cdef Py_ssize_t i
    cdef floating* sums
    cdef const long long* ip = &indptr[0]
    cdef const int* ind = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const floating* val = &data[0] if data.shape[0] > 0 else NULL
    cdef const floating* w = &feature_bias[0] if feature_bias.shape[0] > 0 else NULL
    cdef const floating* V = &feature_factors[0, 0] if feature_factors.shape[0] > 0 else NULL
    sums = NULL
    with nogil, parallel(num_threads=n_threads):
        sums = <floating*> malloc((k + 1) * sizeof(floating))
        for i in prange(n, schedule="static"):
            out[i] = <floating>_score(ip, ind, val, w, V, k, i, intercept, sums)
        free(sums)
