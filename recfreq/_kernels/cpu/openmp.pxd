# OpenMP entry points with serial fallbacks, so every kernel compiles with and
# without OpenMP. Cython already guards its own prange pragmas with _OPENMP;
# this header covers the few runtime calls we make ourselves.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define RECFREQ_HAVE_OPENMP 1
    #else
    #define RECFREQ_HAVE_OPENMP 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_thread_num(void) { return 0; }
    static inline int omp_get_num_procs(void) { return 1; }
    #endif
    """
    const bint RECFREQ_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_procs() noexcept nogil


cdef enum:
    # Each thread counts the samples it ran in thread_work[thread * WORK_STRIDE]:
    # 8 int64 apart, so the counters of two threads never share a cache line.
    WORK_STRIDE = 8
