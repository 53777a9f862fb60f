# Small vector helpers shared by the model loops.
#
# Without -ffast-math a compiler may not reorder a floating-point sum, so a
# plain dot-product loop stays scalar. `omp simd reduction` grants that
# permission for this one loop (the build passes -fopenmp-simd, which needs no
# OpenMP runtime). The result differs from a sequential sum only by rounding,
# and is the same on every call within one build variant.

from cython cimport floating

cdef extern from *:
    """
    #include <stddef.h>
    /* Two halves summed in two independent chains (each a vector accumulator
       under omp simd): a single accumulator makes every fused multiply-add wait
       for the previous one, and the dot product is on each sample's critical path. */
    #define RECFREQ_DOT(NAME, T)                                                   \\
    static inline T NAME(const T* restrict a, const T* restrict b, ptrdiff_t n) {   \\
        const ptrdiff_t h = n / 2;                                                 \\
        const T* restrict a1 = a + h;                                              \\
        const T* restrict b1 = b + h;                                              \\
        T s0 = 0, s1 = 0;                                                          \\
        _Pragma("omp simd reduction(+:s0, s1)")                                    \\
        for (ptrdiff_t f = 0; f < h; ++f) {                                        \\
            s0 += a[f] * b[f];                                                     \\
            s1 += a1[f] * b1[f];                                                   \\
        }                                                                          \\
        if (n & 1) s0 += a[n - 1] * b[n - 1];                                      \\
        return s0 + s1;                                                            \\
    }
    RECFREQ_DOT(recfreq_sdot, float)
    RECFREQ_DOT(recfreq_ddot, double)
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
