# The per-row update shared by every model loop (the rules: docs/solvers.md).
#
# A training sample touches a few parameter rows (a user row and its bias, an
# item row and its bias, ...). Each model loop computes the gradient g_r of the
# sample's loss plus alpha * theta_r for each row it touches, then calls
#
#     rate = row_learning_rate(&cfg, &state, r, t)   # once per row and sample
#     row_step(&cfg, theta_r, g_r, accum_r, width, rate)
#
# for every block of that row (factors, bias). row_step is coordinate_step
# over the row's coordinates; a loop that fuses the updates of several rows
# into one pass calls coordinate_step itself, as the CUDA kernels do.
# Splitting the rate from the step keeps the frequency bookkeeping (one number
# per row) apart from the vector update, so a row's factors and its bias share
# one counter but keep separate Adagrad accumulators. Adding a solver means one more case here, in the CUDA mirror
# (../cuda/solvers.cuh) and in recfreq/_solvers.py; no model loop changes.
#
# The functions trust their arguments: the caller validated every index.

from libc.math cimport pow, exp2, sqrt, sqrtf
from cython cimport floating

cdef extern from *:
    """
    #include <math.h>
    /* One coordinate's step of every solver, in C so that the fused loops of the
       model kernels (fused.pxd), which the compiler vectorizes, share it:
       theta - eta * g, or Adagrad's G <- G + g * g; theta - eta * g / (sqrt(G) + eps).
       Each fused loop is written once per value of `adagrad`, a constant at the
       call, so the branch folds away. sqrt and division are correctly rounded in
       scalar and vector code alike (and the build has -fno-math-errno), so a
       vectorized loop gives the same values as a scalar one. */
    static inline float recfreq_step_f(const int adagrad, float theta, float g, float* accum, float eta, float eps) {
        if (adagrad) {
            const float total = *accum + g * g;
            *accum = total;
            return theta - eta * g / (sqrtf(total) + eps);
        }
        return theta - eta * g;
    }
    static inline double recfreq_step_d(const int adagrad, double theta, double g, double* accum, double eta,
                                        double eps) {
        if (adagrad) {
            const double total = *accum + g * g;
            *accum = total;
            return theta - eta * g / (sqrt(total) + eps);
        }
        return theta - eta * g;
    }
    """
    float recfreq_step_f(int adagrad, float theta, float g, float* accum, float eta, float eps) noexcept nogil
    double recfreq_step_d(int adagrad, double theta, double g, double* accum, double eta, double eps) noexcept nogil

cdef enum:
    SOLVER_SGD = 0
    SOLVER_FA_SGD = 1
    SOLVER_CF_SGD = 2
    SOLVER_ADAGRAD = 3


cdef struct SolverConfig:
    int kind
    double learning_rate        # eta
    double frequency_exponent   # beta
    double counter_halflife     # h, in samples; <= 0 means the counter never forgets
    double epsilon              # Adagrad's epsilon


cdef struct RowFrequencyState:
    # One table's per-row frequency bookkeeping; unused pointers are NULL.
    const double* frequency     # fa-sgd: p_r = n_r / N
    double* counter             # cf-sgd: c_r
    long long* last_seen        # cf-sgd with a half-life: t of the last visit


cdef inline SolverConfig solver_config(int kind, double learning_rate, double frequency_exponent,
                                       double counter_halflife, double epsilon) noexcept nogil:
    """The SolverConfig a kernel builds from its scalar arguments."""
    cdef SolverConfig cfg
    cfg.kind = kind
    cfg.learning_rate = learning_rate
    cfg.frequency_exponent = frequency_exponent
    cfg.counter_halflife = counter_halflife
    cfg.epsilon = epsilon
    return cfg


cdef inline RowFrequencyState frequency_state(double[::1] frequency, double[::1] counter,
                                              long long[::1] last_seen) noexcept:
    """A table's frequency bookkeeping; arrays the solver does not use are empty -> NULL."""
    cdef RowFrequencyState state
    state.frequency = &frequency[0] if frequency.shape[0] > 0 else NULL
    state.counter = &counter[0] if counter.shape[0] > 0 else NULL
    state.last_seen = &last_seen[0] if last_seen.shape[0] > 0 else NULL
    return state


cdef inline double row_learning_rate(const SolverConfig* cfg,
                                     RowFrequencyState* state,
                                     Py_ssize_t row,
                                     long long t) noexcept nogil:
    """Step size eta_r(t) of `row` at sample t (1-based, over the model's life).

    sgd and adagrad: eta (Adagrad scales per coordinate in row_step).
    fa-sgd: eta * max(1, p_r * t) ** -beta.
    cf-sgd: increments the row's counter first, then eta * c_r ** -beta; with a
    half-life h the old count decays as c_r <- 1 + c_r * 2 ** (-(t - last) / h)
    (no decay when another thread already stamped a later t).
    """
    cdef double expected, count
    cdef long long elapsed
    if cfg.kind == SOLVER_FA_SGD:
        expected = state.frequency[row] * <double>t
        if expected <= 1.0:
            return cfg.learning_rate
        return cfg.learning_rate * pow(expected, -cfg.frequency_exponent)
    if cfg.kind == SOLVER_CF_SGD:
        count = state.counter[row]
        if cfg.counter_halflife > 0.0:
            # Under n_jobs > 1 each thread walks its own slice of t, so a row may
            # carry a later thread's stamp: a negative gap would "decay" the count
            # by 2**(+gap/h) up to infinity. Such a visit is treated as
            # simultaneous (no decay, the later stamp stays); one thread always
            # sees a positive gap, so n_jobs=1 is unchanged.
            elapsed = t - state.last_seen[row]
            if elapsed > 0:
                count = count * exp2(-<double>elapsed / cfg.counter_halflife)
                state.last_seen[row] = t
        count = count + 1.0
        state.counter[row] = count
        return cfg.learning_rate * pow(count, -cfg.frequency_exponent)
    return cfg.learning_rate


cdef inline floating _sqrt(floating x) noexcept nogil:
    # sqrtf keeps the float32 path in single precision (and vectorizable).
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void coordinate_step(const SolverConfig* cfg,
                                 floating* theta,
                                 floating g,
                                 floating* accum,
                                 floating eta) noexcept nogil:
    """theta <- theta - eta * g for one coordinate, or the Adagrad step when cfg.kind says so.

    Adagrad: G <- G + g * g; theta <- theta - eta * g / (sqrt(G) + eps), with
    `accum` holding G for this coordinate (never read by the other solvers,
    which may pass NULL). Model loops that fuse several rows' updates into one
    pass over the coordinates call it for each row at each coordinate.
    """
    cdef bint adagrad = cfg.kind == SOLVER_ADAGRAD
    if floating is float:
        theta[0] = recfreq_step_f(adagrad, theta[0], g, accum, eta, <float>cfg.epsilon)
    else:
        theta[0] = recfreq_step_d(adagrad, theta[0], g, accum, eta, cfg.epsilon)


cdef inline void row_step(const SolverConfig* cfg,
                          floating* theta,
                          const floating* grad,
                          floating* accum,
                          Py_ssize_t width,
                          double rate) noexcept nogil:
    """coordinate_step for every coordinate of a row (`width` entries): theta <- theta -
    rate * grad, or the Adagrad step with `accum` holding the row's G."""
    cdef Py_ssize_t f
    cdef floating eta = <floating>rate
    if cfg.kind == SOLVER_ADAGRAD:
        for f in range(width):
            coordinate_step(cfg, theta + f, grad[f], accum + f, eta)
    else:
        for f in range(width):
            coordinate_step(cfg, theta + f, grad[f], <floating*>NULL, eta)
