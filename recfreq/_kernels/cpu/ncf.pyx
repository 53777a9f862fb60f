"""Epoch kernel of Neural Collaborative Filtering (GMF, MLP, NeuMF; He et al. 2017).

One call runs one epoch without the GIL over rows the host has already
shuffled. Each positive row emits its own sample and then `n_negatives`
sampled negatives of the same user (items drawn uniformly, rejected while the
user has them as a positive); an explicit negative row emits only itself.
Every emitted sample takes a forward and backward pass through the network and
its embedding rows take the shared per-row step of ``solvers.pxd`` at once;
the dense parameters (tower, output layer) sum their gradients per thread and
step every `dense_batch_size` samples of that thread (``dense.pxd``).

Network (per sample, u the user, j the item)::

    g   = p_u * q_j                          (GMF, width k)
    z_0 = [m_u ; n_j]                        (MLP embeddings, width 2 d)
    z_l = relu(z_{l-1} W_l + b_l)            (W_l: in x out, row-major)
    logit = [g ; z_L] . h + h0,   loss = softplus(logit) - y * logit

The dense parameters live in one flat vector, layer by layer:
W_1, b_1, ..., W_L, b_L, h, h0.

Dropout (training only): with ``dropout`` > 0 the input of every tower layer,
z_0, ..., z_{L-1}, is multiplied elementwise by a fresh mask r of
0 / (1 / (1 - dropout)) entries before layer l reads it (inverted dropout, as
PyTorch NCF puts ``nn.Dropout`` before each ``nn.Linear`` of the tower); z_L,
the GMF vector and the output layer are never masked. The masked vector is what
layer l and its weight gradient see, and the backward pass multiplies
d loss / d z_{l-1} by the same r.

Random numbers come from the counter-based generator of ``rng.pxd``, keyed on
(seed, epoch) and then on the row's own index in the training data and a
stream, so they do not depend on the thread that draws them (nor on the
row's position in the epoch): any ``n_threads`` and the GPU draw the same
negatives and masks. For emitted sample s of a row (s = 0 the row itself,
s >= 1 its s-th negative):

* negative s first tries word (s - 1) mod 4 of block (s - 1) // 4 of the row's
  stream 0 (a stream the row itself never uses), so one Philox call serves
  four negatives' first tries; when that candidate is refused (a positive of
  the user, or a rejection of the unbiased bounded draw) the negative goes on
  with its own stream 2 s. Each negative stays a function of (row, s) alone;
* stream 2 s + 1 seeds the bit stream of the sample's dropout masks: unit a,
  counted over z_0, ..., z_{L-1}, takes bits 63-48, 47-32, 31-16 or 15-0 (for
  a mod 4 = 0 .. 3) of 64-bit draw a // 4.

The sampler thus draws the same items whatever ``dropout`` is, and
dropout = 0 draws nothing.
"""

from libc.stdlib cimport malloc, calloc, free
from libc.math cimport exp, log1p
from libc.stdint cimport uint32_t, uint64_t, int64_t
from cython cimport floating
from cython.parallel cimport prange, parallel

from recfreq._kernels.cpu.solvers cimport (
    SolverConfig, RowFrequencyState, row_learning_rate, row_step, SOLVER_ADAGRAD)
from recfreq._kernels.cpu.vector cimport dot
from recfreq._kernels.cpu.dense cimport flush_dense
from recfreq._kernels.cpu.openmp cimport omp_get_thread_num, WORK_STRIDE
from recfreq._kernels.cpu.rng cimport BitStream, bit_stream, bit_stream_next64, rng_key, rng_block
from recfreq._kernels.cpu.negatives cimport STREAM_FIRST_TRIES, negative_stream, sample_negative


cdef extern from *:
    """
    #include <stddef.h>
    #include <stdlib.h>
    /* One Dense+ReLU layer forward and backward, for float and double.
       Six calls per sample instead of a call per row keep the loops long enough
       to vectorize. On x86-64 Linux with GCC they are compiled twice, for AVX2
       and for the baseline, and the loader picks one for the CPU it runs on
       (target_clones): wider vectors without -march=native. AVX2 without FMA
       keeps every product and sum rounded exactly as the baseline does (only
       the dot products' summation order follows the vector width). */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
        && !defined(RECFREQ_NO_TARGET_CLONES)
    #define RECFREQ_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define RECFREQ_CLONES
    #endif
    #define RECFREQ_LAYER_FUNCS(T, SUF) \
    RECFREQ_CLONES static void recfreq_layer_forward_##SUF( \
            const T* restrict zin, const T* restrict W, const T* restrict b, T* restrict zout, \
            ptrdiff_t n_in, ptrdiff_t n_out) { \
        for (ptrdiff_t o = 0; o < n_out; ++o) zout[o] = b[o]; \
        for (ptrdiff_t a = 0; a < n_in; ++a) { \
            const T za = zin[a]; \
            const T* restrict w = W + a * n_out; \
            _Pragma("omp simd") \
            for (ptrdiff_t o = 0; o < n_out; ++o) zout[o] += za * w[o]; \
        } \
        for (ptrdiff_t o = 0; o < n_out; ++o) zout[o] = zout[o] < 0 ? 0 : zout[o]; \
    } \
    /* cur: d loss / d z_out on entry (masked here by the ReLU); prev: d loss / d z_in. */ \
    RECFREQ_CLONES static void recfreq_layer_backward_##SUF( \
            const T* restrict zin, const T* restrict zout, const T* restrict W, T* restrict gW, \
            T* restrict gb, T* restrict cur, T* restrict prev, ptrdiff_t n_in, ptrdiff_t n_out) { \
        for (ptrdiff_t o = 0; o < n_out; ++o) { \
            cur[o] = zout[o] <= 0 ? 0 : cur[o]; \
            gb[o] += cur[o]; \
        } \
        for (ptrdiff_t a = 0; a < n_in; ++a) { \
            const T za = zin[a]; \
            T* restrict g = gW + a * n_out; \
            const T* restrict w = W + a * n_out; \
            T s = 0; \
            _Pragma("omp simd reduction(+:s)") \
            for (ptrdiff_t o = 0; o < n_out; ++o) { \
                g[o] += za * cur[o]; \
                s += w[o] * cur[o]; \
            } \
            prev[a] = s; \
        } \
    }
    RECFREQ_LAYER_FUNCS(float, f)
    RECFREQ_LAYER_FUNCS(double, d)
    """
    void recfreq_layer_forward_f(const float* zin, const float* W, const float* b, float* zout,
                                 Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    void recfreq_layer_forward_d(const double* zin, const double* W, const double* b, double* zout,
                                 Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    void recfreq_layer_backward_f(const float* zin, const float* zout, const float* W, float* gW, float* gb,
                                  float* cur, float* prev, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    void recfreq_layer_backward_d(const double* zin, const double* zout, const double* W, double* gW,
                                  double* gb, double* cur, double* prev, Py_ssize_t n_in,
                                  Py_ssize_t n_out) noexcept nogil


cdef inline void _layer_forward(const floating* zin, const floating* W, const floating* b, floating* zout,
                                Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    if floating is float:
        recfreq_layer_forward_f(zin, W, b, zout, n_in, n_out)
    else:
        recfreq_layer_forward_d(zin, W, b, zout, n_in, n_out)


cdef inline void _layer_backward(const floating* zin, const floating* zout, const floating* W, floating* gW,
                                 floating* gb, floating* cur, floating* prev, Py_ssize_t n_in,
                                 Py_ssize_t n_out) noexcept nogil:
    if floating is float:
        recfreq_layer_backward_f(zin, zout, W, gW, gb, cur, prev, n_in, n_out)
    else:
        recfreq_layer_backward_d(zin, zout, W, gW, gb, cur, prev, n_in, n_out)


cdef enum:
    # tower layers the kernel's fixed-size layout arrays hold (checked in _engine)
    MAX_LAYERS = 32
    # the dropout stream of emitted sample s of a row is 2 s + STREAM_DROPOUT (the even
    # streams are the negatives', negatives.pxd)
    STREAM_DROPOUT = 1


cdef struct Net:
    int k                           # GMF width (0: no GMF part)
    int d                           # MLP embedding width per side (0: no MLP part)
    int n_layers                    # tower Dense+ReLU layers L
    int size[MAX_LAYERS + 1]        # size[0] = 2 d, size[l] = width of layer l
    Py_ssize_t w_off[MAX_LAYERS + 1]
    Py_ssize_t b_off[MAX_LAYERS + 1]
    Py_ssize_t z_off[MAX_LAYERS + 1]    # offset of z_l in the activation buffer
    Py_ssize_t h_off                # output weights h (k + size[L] if d else k)
    Py_ssize_t h0_off
    Py_ssize_t n_dense
    Py_ssize_t n_act                # sum of size[0..L]
    int max_width


cdef inline double* _dptr(double[::1] a) noexcept:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline long long* _lptr(long long[::1] a) noexcept:
    return &a[0] if a.shape[0] > 0 else NULL


cdef Net _layout(int k, int d, const int[::1] layer_sizes) except *:
    cdef Net net
    cdef int l
    cdef Py_ssize_t off = 0, act = 0
    net.k = k
    net.d = d
    net.n_layers = layer_sizes.shape[0] - 1 if d > 0 else 0
    if net.n_layers > MAX_LAYERS:
        raise ValueError("too many tower layers")
    net.max_width = k
    net.size[0] = 2 * d
    net.z_off[0] = 0
    act = 2 * d
    if 2 * d > net.max_width:
        net.max_width = 2 * d
    for l in range(1, net.n_layers + 1):
        net.size[l] = layer_sizes[l]
        net.w_off[l] = off
        off += <Py_ssize_t>net.size[l - 1] * net.size[l]
        net.b_off[l] = off
        off += net.size[l]
        net.z_off[l] = act
        act += net.size[l]
        if net.size[l] > net.max_width:
            net.max_width = net.size[l]
    net.h_off = off
    off += k + (net.size[net.n_layers] if d > 0 else 0)
    net.h0_off = off
    net.n_dense = off + 1
    net.n_act = act
    return net


cdef inline void _draw_dropout_masks(uint64_t key, int64_t row, uint32_t stream, floating* mult, Py_ssize_t n,
                                     uint32_t threshold, floating keep_scale) noexcept nogil:
    """mult[a] = 0 (dropped) or keep_scale for the n units of one sample's masks.

    Unit a takes 16 bits of the sample's bit stream (``rng.pxd``): bits
    63-48, 47-32, 31-16, 15-0 of 64-bit draw a // 4 for a mod 4 = 0, 1, 2, 3;
    it is dropped when they are below `threshold` = floor(dropout 2^16). A
    keep/drop decision needs no more bits (the rate is met to 2^-16)."""
    cdef BitStream bits = bit_stream(key, row, stream)
    cdef uint64_t x
    cdef Py_ssize_t a = 0
    cdef int w
    while a + 4 <= n:
        x = bit_stream_next64(&bits)
        mult[a] = 0 if <uint32_t>(x >> 48) < threshold else keep_scale
        mult[a + 1] = 0 if <uint32_t>((x >> 32) & 0xFFFFU) < threshold else keep_scale
        mult[a + 2] = 0 if <uint32_t>((x >> 16) & 0xFFFFU) < threshold else keep_scale
        mult[a + 3] = 0 if <uint32_t>(x & 0xFFFFU) < threshold else keep_scale
        a += 4
    if a < n:
        x = bit_stream_next64(&bits)
        for w in range(<int>(n - a)):
            mult[a + w] = 0 if <uint32_t>((x >> (48 - 16 * w)) & 0xFFFFU) < threshold else keep_scale


cdef inline double _softplus(double x) noexcept nogil:
    if x > 0:
        return x + log1p(exp(-x))
    return log1p(exp(x))


cdef inline double _sigmoid(double x) noexcept nogil:
    cdef double e
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)
    return e / (1.0 + e)


cdef inline double _forward_backward(const Net* net, const floating* dense, floating* dense_grad,
                                     const floating* p, const floating* q,
                                     const floating* m, const floating* nj,
                                     double y, double alpha,
                                     floating* z, floating* dz_a, floating* dz_b,
                                     floating* grad_p, floating* grad_q,
                                     floating* grad_m, floating* grad_n,
                                     const floating* mult) noexcept nogil:
    """Loss of one sample; adds the dense gradients to `dense_grad` and writes the
    embedding rows' gradients (loss + alpha * theta) to grad_p/q/m/n.

    `mult` NULL: no dropout. Otherwise mult + z_off[l-1] holds the sample's
    dropout multipliers of z_{l-1} (drawn by the caller), applied before layer
    l reads it and again in the backward pass."""
    cdef int k = net.k, d = net.d, L = net.n_layers
    cdef int l, a, o, last = 0
    cdef double logit, dl
    cdef floating s
    cdef floating e
    cdef floating* zout
    cdef floating* cur
    cdef floating* prev
    cdef floating* tmp
    cdef const floating* h = dense + net.h_off
    cdef floating* gh = dense_grad + net.h_off

    # ---- forward
    logit = dense[net.h0_off]
    if k > 0:
        # grad_p holds g = p * q until the backward pass overwrites it
        for a in range(k):
            grad_p[a] = p[a] * q[a]
        logit += dot(grad_p, h, k)
    if d > 0:
        for a in range(d):
            z[a] = m[a]
            z[d + a] = nj[a]
        for l in range(1, L + 1):
            if mult != NULL:
                for a in range(net.size[l - 1]):
                    z[net.z_off[l - 1] + a] = z[net.z_off[l - 1] + a] * mult[net.z_off[l - 1] + a]
            _layer_forward(z + net.z_off[l - 1], dense + net.w_off[l], dense + net.b_off[l], z + net.z_off[l],
                           net.size[l - 1], net.size[l])
        last = net.size[L]
        logit += dot(z + net.z_off[L], h + k, last)

    # ---- loss and its derivative in the logit
    dl = _sigmoid(logit) - y
    e = <floating>dl
    dense_grad[net.h0_off] += e

    # ---- backward (every read of p, q, m, n, W, h is of the values before this sample)
    if k > 0:
        for a in range(k):
            gh[a] = gh[a] + e * grad_p[a]     # d logit / d h_a = g_a
        for a in range(k):
            s = e * h[a]
            grad_p[a] = s * q[a] + <floating>alpha * p[a]
            grad_q[a] = s * p[a] + <floating>alpha * q[a]
    if d > 0:
        zout = z + net.z_off[L]
        cur = dz_a
        prev = dz_b
        for o in range(last):
            gh[k + o] = gh[k + o] + e * zout[o]
            cur[o] = e * h[k + o]
        for l in range(L, 0, -1):
            # masks cur by layer l's ReLU, adds its weight and bias gradients, and
            # writes d loss / d z_{l-1} to prev (masked in turn by layer l - 1)
            _layer_backward(z + net.z_off[l - 1], z + net.z_off[l], dense + net.w_off[l],
                            dense_grad + net.w_off[l], dense_grad + net.b_off[l], cur, prev,
                            net.size[l - 1], net.size[l])
            if mult != NULL:
                # prev is d loss / d (r * z_{l-1}); the chain rule through the mask
                for a in range(net.size[l - 1]):
                    prev[a] = prev[a] * mult[net.z_off[l - 1] + a]
            tmp = cur
            cur = prev
            prev = tmp
        for a in range(d):
            grad_m[a] = cur[a] + <floating>alpha * m[a]
            grad_n[a] = cur[d + a] + <floating>alpha * nj[a]
    return _softplus(logit) - y * logit


def ncf_epoch(*,
              const int[::1] user_index,
              const int[::1] item_index,
              const floating[::1] labels,
              const long long[::1] sample_start,
              int n_factors,
              int mlp_dim,
              const int[::1] layer_sizes,
              floating[:, ::1] user_gmf,
              floating[:, ::1] item_gmf,
              floating[:, ::1] user_mlp,
              floating[:, ::1] item_mlp,
              floating[::1] dense,
              const long long[::1] positive_indptr,
              const int[::1] positive_indices,
              int n_items,
              int n_negatives,
              const int[:, ::1] negatives,
              const long long[::1] sample_index,
              unsigned long long sample_seed,
              unsigned long long order_epoch,
              int solver,
              double learning_rate,
              double dense_learning_rate,
              double alpha,
              double frequency_exponent,
              double counter_halflife,
              double epsilon,
              double dropout,
              long long t_start,
              double[::1] user_frequency,
              double[::1] item_frequency,
              double[::1] user_counter,
              double[::1] item_counter,
              long long[::1] user_last_seen,
              long long[::1] item_last_seen,
              floating[::1] user_gmf_accum,
              floating[::1] item_gmf_accum,
              floating[::1] user_mlp_accum,
              floating[::1] item_mlp_accum,
              floating[::1] dense_accum,
              int dense_batch_size,
              int n_threads,
              long long[::1] thread_work):
    """Run one epoch over the rows in the order given; return the summed log loss.

    Row i emits ``1 + n_negatives`` samples if ``labels[i] == 1`` (the row, then
    its negatives) and 1 sample otherwise; its s-th sample is step
    ``t = t_start + sample_start[i] + s + 1`` (``sample_start``: the host's
    exclusive cumulative sum of the emitted counts, so threads need no
    coordination). ``sample_index[i]`` is row i's own index in the training data
    (the epoch order maps positions to it): with the key
    ``rng_key(sample_seed, order_epoch)`` it keys every draw made for the row
    (see the module docstring). ``negatives`` (rows x n_negatives) replaces
    sampling when it has rows (test hook). ``dropout`` in [0, 1) masks the
    tower's layer inputs; with 0, or without tower layers, nothing is masked or
    drawn.
    """
    cdef int tid
    cdef Net net = _layout(n_factors, mlp_dim, layer_sizes)
    cdef Py_ssize_t n = labels.shape[0]
    cdef Py_ssize_t i
    cdef int u, j, s, n_emit
    cdef long long t
    cdef double y, rate_u, rate_i
    cdef double loss = 0.0
    cdef int k = n_factors, d = mlp_dim
    cdef bint given = negatives.shape[0] > 0
    cdef bint adagrad = solver == SOLVER_ADAGRAD
    cdef floating* p_base = &user_gmf[0, 0] if k > 0 else NULL
    cdef floating* q_base = &item_gmf[0, 0] if k > 0 else NULL
    cdef floating* m_base = &user_mlp[0, 0] if d > 0 else NULL
    cdef floating* n_base = &item_mlp[0, 0] if d > 0 else NULL
    cdef floating* acc_p = &user_gmf_accum[0] if adagrad and k > 0 else NULL
    cdef floating* acc_q = &item_gmf_accum[0] if adagrad and k > 0 else NULL
    cdef floating* acc_m = &user_mlp_accum[0] if adagrad and d > 0 else NULL
    cdef floating* acc_n = &item_mlp_accum[0] if adagrad and d > 0 else NULL
    cdef floating* acc_dense = &dense_accum[0] if adagrad else NULL
    cdef floating* dense_ptr = &dense[0]
    cdef const int* pos_ptr = &positive_indices[0] if positive_indices.shape[0] > 0 else NULL
    cdef bint use_dropout = dropout > 0 and net.n_layers > 0
    # dropout * 2^16 is exact in binary and below 2^16 for dropout < 1
    cdef uint32_t drop_threshold = <uint32_t>(dropout * 65536.0) if use_dropout else 0
    cdef floating keep_scale = <floating>(1.0 / (1.0 - dropout)) if use_dropout else 1
    # z, two gradient rows, the embedding gradients, the dense gradient, then
    # the dropout multipliers (indexed like z)
    cdef Py_ssize_t buf_size = (net.n_act + 2 * net.max_width + 2 * k + 2 * d + net.n_dense
                                + (net.n_act if use_dropout else 0))
    cdef floating* buf
    cdef floating* z
    cdef floating* dz_a
    cdef floating* dz_b
    cdef floating* grad_p
    cdef floating* grad_q
    cdef floating* grad_m
    cdef floating* grad_n
    cdef floating* dense_grad
    cdef floating* mult
    cdef floating* p
    cdef floating* q
    cdef floating* m
    cdef floating* nj
    cdef uint32_t* first_tries
    cdef uint64_t key = rng_key(sample_seed, order_epoch)
    cdef int64_t row
    cdef int* pending
    cdef SolverConfig cfg, dense_cfg
    cdef RowFrequencyState user_state, item_state

    cfg.kind = solver
    cfg.learning_rate = learning_rate
    cfg.frequency_exponent = frequency_exponent
    cfg.counter_halflife = counter_halflife
    cfg.epsilon = epsilon
    dense_cfg = cfg
    dense_cfg.learning_rate = dense_learning_rate
    user_state.frequency = _dptr(user_frequency)
    user_state.counter = _dptr(user_counter)
    user_state.last_seen = _lptr(user_last_seen)
    item_state.frequency = _dptr(item_frequency)
    item_state.counter = _dptr(item_counter)
    item_state.last_seen = _lptr(item_last_seen)

    # thread-private below; set here so the compiler sees them initialised
    buf = z = dz_a = dz_b = grad_p = grad_q = grad_m = grad_n = dense_grad = mult = NULL
    p = q = m = nj = NULL
    first_tries = NULL
    pending = NULL
    with nogil, parallel(num_threads=n_threads):
        tid = omp_get_thread_num()
        buf = <floating*> calloc(buf_size, sizeof(floating))
        # the current block of the row's negatives' first tries
        first_tries = <uint32_t*> malloc(4 * sizeof(uint32_t))
        pending = <int*> calloc(1, sizeof(int))
        z = buf
        dz_a = z + net.n_act
        dz_b = dz_a + net.max_width
        grad_p = dz_b + net.max_width
        grad_q = grad_p + k
        grad_m = grad_q + k
        grad_n = grad_m + d
        dense_grad = grad_n + d
        mult = dense_grad + net.n_dense if use_dropout else NULL
        for i in prange(n, schedule="static"):
            thread_work[tid * WORK_STRIDE] += 1
            u = user_index[i]
            y = labels[i]
            row = sample_index[i]
            n_emit = 1 + n_negatives if y > 0.5 else 1
            for s in range(n_emit):
                if s == 0:
                    j = item_index[i]
                elif given:
                    j = negatives[i, s - 1]
                    y = 0.0
                else:
                    if (s - 1) % 4 == 0:
                        rng_block(key, row, STREAM_FIRST_TRIES, <uint32_t>((s - 1) // 4), first_tries)
                    j = sample_negative(first_tries[(s - 1) % 4], key, row, negative_stream(s),
                                        pos_ptr + positive_indptr[u],
                                        positive_indptr[u + 1] - positive_indptr[u], n_items)
                    y = 0.0
                if use_dropout:
                    # the masks of z_0 .. z_{L-1}, laid out like them
                    _draw_dropout_masks(key, row, 2 * s + STREAM_DROPOUT, mult, net.z_off[net.n_layers],
                                        drop_threshold, keep_scale)
                t = t_start + sample_start[i] + s + 1
                p = p_base + <Py_ssize_t>u * k if k > 0 else NULL
                q = q_base + <Py_ssize_t>j * k if k > 0 else NULL
                m = m_base + <Py_ssize_t>u * d if d > 0 else NULL
                nj = n_base + <Py_ssize_t>j * d if d > 0 else NULL
                loss += _forward_backward(&net, dense_ptr, dense_grad, p, q, m, nj, y, alpha,
                                          z, dz_a, dz_b, grad_p, grad_q, grad_m, grad_n,
                                          mult)
                # a user's GMF and MLP blocks share one frequency row (one rate)
                rate_u = row_learning_rate(&cfg, &user_state, u, t)
                rate_i = row_learning_rate(&cfg, &item_state, j, t)
                if k > 0:
                    row_step(&cfg, p, grad_p, acc_p + <Py_ssize_t>u * k if adagrad else NULL, k, rate_u)
                    row_step(&cfg, q, grad_q, acc_q + <Py_ssize_t>j * k if adagrad else NULL, k, rate_i)
                if d > 0:
                    row_step(&cfg, m, grad_m, acc_m + <Py_ssize_t>u * d if adagrad else NULL, d, rate_u)
                    row_step(&cfg, nj, grad_n, acc_n + <Py_ssize_t>j * d if adagrad else NULL, d, rate_i)
                pending[0] = pending[0] + 1
                if pending[0] == dense_batch_size:
                    flush_dense(&dense_cfg, dense_ptr, dense_grad, acc_dense, net.n_dense,
                                dense_learning_rate)
                    pending[0] = 0
        if pending[0] > 0:
            flush_dense(&dense_cfg, dense_ptr, dense_grad, acc_dense, net.n_dense, dense_learning_rate)
        free(pending)
        free(first_tries)
        free(buf)
    return loss


def ncf_sample_negatives(*,
                         const int[::1] user_index,
                         const long long[::1] sample_index,
                         const long long[::1] positive_indptr,
                         const int[::1] positive_indices,
                         int n_items,
                         int n_negatives,
                         unsigned long long sample_seed,
                         unsigned long long order_epoch,
                         int[:, ::1] out,
                         int n_threads):
    """The epoch's negative sampler on its own: ``out[i]`` gets the ``n_negatives``
    draws for user ``user_index[i]`` of the row whose own index is
    ``sample_index[i]``, exactly those ``ncf_epoch`` draws for that positive row
    with the same ``sample_seed`` and ``order_epoch``, for any ``n_threads``.
    """
    cdef Py_ssize_t n = user_index.shape[0]
    cdef Py_ssize_t i
    cdef int u, s
    cdef uint32_t* first_tries
    cdef uint64_t key = rng_key(sample_seed, order_epoch)
    cdef const int* pos_ptr = &positive_indices[0] if positive_indices.shape[0] > 0 else NULL
    first_tries = NULL
    with nogil, parallel(num_threads=n_threads):
        first_tries = <uint32_t*> malloc(4 * sizeof(uint32_t))
        for i in prange(n, schedule="static"):
            u = user_index[i]
            for s in range(n_negatives):
                # negative s is emitted sample s + 1 of its row
                if s % 4 == 0:
                    rng_block(key, sample_index[i], STREAM_FIRST_TRIES, <uint32_t>(s // 4), first_tries)
                out[i, s] = sample_negative(first_tries[s % 4], key, sample_index[i], negative_stream(s + 1),
                                            pos_ptr + positive_indptr[u],
                                            positive_indptr[u + 1] - positive_indptr[u], n_items)
        free(first_tries)
