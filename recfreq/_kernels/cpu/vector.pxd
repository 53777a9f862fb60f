# Small vector helpers shared by the model loops.
#
# Without -ffast-math a compiler may not reorder a floating-point sum, so a
# plain dot-product loop stays scalar. `omp simd reduction` grants that
# permission for this one loop (the build passes -fopenmp-simd, which needs no
# OpenMP runtime). The result differs from a sequential sum only by rounding.

from cython cimport floating

cdef extern from *:
    """
    #include <stddef.h>
    static inline float recfreq_sdot(const float* a, const float* b, ptrdiff_t n) {
        float s = 0.0f;
        #pragma omp simd reduction(+:s)
        for (ptrdiff_t f = 0; f < n; ++f) s += a[f] * b[f];
        return s;
    }
    static inline double recfreq_ddot(const double* a, const double* b, ptrdiff_t n) {
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (ptrdiff_t f = 0; f < n; ++f) s += a[f] * b[f];
        return s;
    }
    #if defined(__GNUC__) || defined(__clang__)
    #define RECFREQ_PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
    #else
    #define RECFREQ_PREFETCH_W(p) ((void)(p))
    #endif
    /* Ask for every cache line of a row we will read and write soon. */
    static inline void recfreq_prefetch_row(const void* row, ptrdiff_t nbytes) {
        const char* c = (const char*)row;
        for (ptrdiff_t off = 0; off < nbytes; off += 64) RECFREQ_PREFETCH_W(c + off);
    }
    """
    void prefetch_row "recfreq_prefetch_row"(const void* row, Py_ssize_t nbytes) noexcept nogil
    float recfreq_sdot(const float* a, const float* b, Py_ssize_t n) noexcept nogil
    double recfreq_ddot(const double* a, const double* b, Py_ssize_t n) noexcept nogil


cdef inline floating dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return recfreq_sdot(a, b, n)
    else:
        return recfreq_ddot(a, b, n)
