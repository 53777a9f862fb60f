# Small vector helpers shared by the model loops.
#
# Without -ffast-math a compiler may not reorder a floating-point sum, so a
# plain dot-product loop stays scalar. `omp simd reduction` grants that
# permission for this one loop (the build passes -fopenmp-simd, which needs no
# OpenMP runtime). The dot product instead writes its order of summation out
# (below): it differs from a sequential sum only by rounding, and is the same
# on every call.

from cython cimport floating

cdef extern from *:
    """
    #include <stddef.h>
    /* The dot product in LANES independent partial sums: two vector registers'
       worth (16 floats or 8 doubles where AVX is on, 8 or 4 on the SSE2
       baseline), coordinate f added to sum f % LANES, then the sums added
       pairwise. The order is written out here, so the compiler vectorizes the
       lanes without reassociating anything (no omp simd reduction, whose code
       spills and folds lane by lane); within a build variant it is the same on
       every call. Two independent sums also keep each multiply-add from
       waiting on the previous one. */
    #if defined(__GNUC__) || defined(__clang__)
    /* inlined even into a large loop body: a call spills the caller's registers */
    #define RECFREQ_ALWAYS_INLINE static inline __attribute__((always_inline))
    #else
    #define RECFREQ_ALWAYS_INLINE static inline
    #endif
    #define RECFREQ_DOT(NAME, T, LANES)                                                  \\
    RECFREQ_ALWAYS_INLINE T NAME(const T* restrict a, const T* restrict b, ptrdiff_t n) {       \\
        T acc[LANES];                                                                   \\
        T tail = 0;                                                                     \\
        ptrdiff_t f = 0;                                                                \\
        for (int j = 0; j < LANES; ++j) acc[j] = 0;                                     \\
        for (; f + LANES <= n; f += LANES)                                              \\
            for (int j = 0; j < LANES; ++j) acc[j] += a[f + j] * b[f + j];             \\
        if (f + LANES / 2 <= n) {                                                       \\
            for (int j = 0; j < LANES / 2; ++j) acc[j] += a[f + j] * b[f + j];         \\
            f += LANES / 2;                                                             \\
        }                                                                               \\
        if (f + LANES / 4 <= n) {                                                       \\
            for (int j = 0; j < LANES / 4; ++j) acc[j] += a[f + j] * b[f + j];         \\
            f += LANES / 4;                                                             \\
        }                                                                               \\
        for (; f < n; ++f) tail += a[f] * b[f];                                         \\
        for (int j = 0; j < LANES / 2; ++j) acc[j] += acc[j + LANES / 2];               \\
        for (int j = 0; j < LANES / 4; ++j) acc[j] += acc[j + LANES / 4];               \\
        for (int j = 0; j < LANES / 8; ++j) acc[j] += acc[j + LANES / 8];               \\
        if (LANES >= 16) acc[0] += acc[1];                                              \\
        return acc[0] + tail;                                                           \\
    }
    #if defined(__AVX__)
    RECFREQ_DOT(recfreq_sdot, float, 16)
    RECFREQ_DOT(recfreq_ddot, double, 8)
    #else
    RECFREQ_DOT(recfreq_sdot, float, 8)
    RECFREQ_DOT(recfreq_ddot, double, 4)
    #endif
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
    /* The same for two rows of one width, in one loop (one counter for both). */
    static inline void recfreq_prefetch_rows(const void* row1, const void* row2, ptrdiff_t nbytes) {
        const char* c1 = (const char*)row1;
        const char* c2 = (const char*)row2;
        for (ptrdiff_t off = 0; off < nbytes; off += 64) {
            RECFREQ_PREFETCH_W(c1 + off);
            RECFREQ_PREFETCH_W(c2 + off);
        }
    }
    """
    void prefetch_row "recfreq_prefetch_row"(const void* row, Py_ssize_t nbytes) noexcept nogil
    void prefetch_rows "recfreq_prefetch_rows"(const void* row1, const void* row2, Py_ssize_t nbytes) noexcept nogil
    float recfreq_sdot(const float* a, const float* b, Py_ssize_t n) noexcept nogil
    double recfreq_ddot(const double* a, const double* b, Py_ssize_t n) noexcept nogil


cdef inline floating dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return recfreq_sdot(a, b, n)
    else:
        return recfreq_ddot(a, b, n)
