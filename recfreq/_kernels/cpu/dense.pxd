# Dense parameters (projections, MLP layers) seen by every sample: each thread
# sums their gradients in a private buffer and applies the sum every few
# samples, so a matrix written by every sample does not bounce between cores.

from cython cimport floating

from recfreq._kernels.cpu.solvers cimport SolverConfig, row_step


cdef inline void flush_dense(const SolverConfig* cfg, floating* dense, floating* grad_sum,
                             floating* accum, Py_ssize_t size, double rate) noexcept nogil:
    """Step the dense parameters with the gradient summed since the last flush, then clear it.

    Under sgd, fa-sgd and cf-sgd this is a plain SGD step (a frequency rule means
    nothing for parameters in every sample); under adagrad, Adagrad per coordinate.
    """
    cdef Py_ssize_t j
    if size == 0:
        return
    row_step(cfg, dense, grad_sum, accum, size, rate)
    for j in range(size):
        grad_sum[j] = 0
