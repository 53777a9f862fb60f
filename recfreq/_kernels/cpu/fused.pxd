# Fused row updates: the rows a sample moves, stepped in one pass over the
# coordinates, each coordinate's gradients taken from its values before the
# step (so the result is the same as taking every gradient first, then
# stepping each row). The step itself is the solvers' shared coordinate step
# (recfreq_step_* in solvers.pxd). Each loop is written once per solver
# family (Adagrad or not) with `#pragma omp simd`, which lets the compiler
# vectorize across coordinates: the rows are distinct (a user row and item
# rows, never the same item twice) and `restrict` says so.

from cython cimport floating

from recfreq._kernels.cpu.solvers cimport SolverConfig, SOLVER_ADAGRAD

cdef extern from *:
    """
    #include <stddef.h>
    #define RECFREQ_FUSED(T, STEP)                                                                        \\
    /* pointwise: e = dloss/dscore; p <- step(e q + a p), q <- step(e p + a q) */                        \\
    static inline void recfreq_point_step_##T(const int adagrad, T* restrict p, T* restrict q,            \\
            T* restrict acc_p, T* restrict acc_q, ptrdiff_t k, T e, T a, T eta_p, T eta_q, T eps) {        \\
        if (adagrad) {                                                                                  \\
            _Pragma("omp simd")                                                                         \\
            for (ptrdiff_t f = 0; f < k; ++f) {                                                         \\
                const T pf = p[f], qf = q[f];                                                           \\
                p[f] = STEP(1, pf, e * qf + a * pf, acc_p + f, eta_p, eps);                             \\
                q[f] = STEP(1, qf, e * pf + a * qf, acc_q + f, eta_q, eps);                             \\
            }                                                                                           \\
        } else {                                                                                        \\
            _Pragma("omp simd")                                                                         \\
            for (ptrdiff_t f = 0; f < k; ++f) {                                                         \\
                const T pf = p[f], qf = q[f];                                                           \\
                p[f] = STEP(0, pf, e * qf + a * pf, NULL, eta_p, eps);                                  \\
                q[f] = STEP(0, qf, e * pf + a * qf, NULL, eta_q, eps);                                  \\
            }                                                                                           \\
        }                                                                                               \\
    }                                                                                                   \\
    /* pairwise: g = -dloss/dx with x = s(u, i) - s(u, j); p <- step(-g (qi - qj) + a p),             \\
       qi <- step(-g p + a qi), qj <- step(g p + a qj) */                                               \\
    static inline void recfreq_pair_step_##T(const int adagrad, T* restrict p, T* restrict qi,            \\
            T* restrict qj, T* restrict acc_p, T* restrict acc_i, T* restrict acc_j, ptrdiff_t k,         \\
            T g, T a, T eta_p, T eta_i, T eta_j, T eps) {                                               \\
        if (adagrad) {                                                                                  \\
            _Pragma("omp simd")                                                                         \\
            for (ptrdiff_t f = 0; f < k; ++f) {                                                         \\
                const T pf = p[f], qf = qi[f], qg = qj[f];                                              \\
                p[f] = STEP(1, pf, -g * (qf - qg) + a * pf, acc_p + f, eta_p, eps);                     \\
                qi[f] = STEP(1, qf, -g * pf + a * qf, acc_i + f, eta_i, eps);                           \\
                qj[f] = STEP(1, qg, g * pf + a * qg, acc_j + f, eta_j, eps);                            \\
            }                                                                                           \\
        } else {                                                                                        \\
            _Pragma("omp simd")                                                                         \\
            for (ptrdiff_t f = 0; f < k; ++f) {                                                         \\
                const T pf = p[f], qf = qi[f], qg = qj[f];                                              \\
                p[f] = STEP(0, pf, -g * (qf - qg) + a * pf, NULL, eta_p, eps);                          \\
                qi[f] = STEP(0, qf, -g * pf + a * qf, NULL, eta_i, eps);                                \\
                qj[f] = STEP(0, qg, g * pf + a * qg, NULL, eta_j, eps);                                 \\
            }                                                                                           \\
        }                                                                                               \\
    }
    RECFREQ_FUSED(float, recfreq_step_f)
    RECFREQ_FUSED(double, recfreq_step_d)
    """
    void recfreq_point_step_float(int adagrad, float* p, float* q, float* acc_p, float* acc_q, Py_ssize_t k,
                                  float e, float a, float eta_p, float eta_q, float eps) noexcept nogil
    void recfreq_point_step_double(int adagrad, double* p, double* q, double* acc_p, double* acc_q, Py_ssize_t k,
                                   double e, double a, double eta_p, double eta_q, double eps) noexcept nogil
    void recfreq_pair_step_float(int adagrad, float* p, float* qi, float* qj, float* acc_p, float* acc_i,
                                 float* acc_j, Py_ssize_t k, float g, float a, float eta_p, float eta_i, float eta_j,
                                 float eps) noexcept nogil
    void recfreq_pair_step_double(int adagrad, double* p, double* qi, double* qj, double* acc_p, double* acc_i,
                                  double* acc_j, Py_ssize_t k, double g, double a, double eta_p, double eta_i,
                                  double eta_j, double eps) noexcept nogil


cdef inline void point_step(const SolverConfig* cfg, floating* p, floating* q, floating* acc_p, floating* acc_q,
                            Py_ssize_t k, floating e, floating a, floating eta_p, floating eta_q) noexcept nogil:
    """Step two rows p, q of a pointwise loss whose gradient in the score is ``e``
    (``g_p = e q + a p``, ``g_q = e p + a q``); ``acc_*``: their Adagrad accumulators (or NULL)."""
    cdef bint adagrad = cfg.kind == SOLVER_ADAGRAD
    if floating is float:
        recfreq_point_step_float(adagrad, p, q, acc_p, acc_q, k, e, a, eta_p, eta_q, <float>cfg.epsilon)
    else:
        recfreq_point_step_double(adagrad, p, q, acc_p, acc_q, k, e, a, eta_p, eta_q, cfg.epsilon)


cdef inline void pair_step(const SolverConfig* cfg, floating* p, floating* qi, floating* qj, floating* acc_p,
                           floating* acc_i, floating* acc_j, Py_ssize_t k, floating g, floating a, floating eta_p,
                           floating eta_i, floating eta_j) noexcept nogil:
    """Step the user row p and the item rows qi, qj of a pairwise loss in x = s(u, i) - s(u, j)
    whose gradient in x is ``-g`` (``g_p = -g (qi - qj) + a p``, ``g_qi = -g p + a qi``,
    ``g_qj = g p + a qj``); ``acc_*``: their Adagrad accumulators (or NULL)."""
    cdef bint adagrad = cfg.kind == SOLVER_ADAGRAD
    if floating is float:
        recfreq_pair_step_float(adagrad, p, qi, qj, acc_p, acc_i, acc_j, k, g, a, eta_p, eta_i, eta_j,
                                <float>cfg.epsilon)
    else:
        recfreq_pair_step_double(adagrad, p, qi, qj, acc_p, acc_i, acc_j, k, g, a, eta_p, eta_i, eta_j, cfg.epsilon)
