"""Which x86-64 micro-architecture levels this CPU (and its operating system) supports.

Compiled for the portable baseline only: it decides which build variant of the
kernel modules may be imported (``recfreq/_engine/simd.py``), so it must itself
run anywhere.
"""

cdef extern from *:
    """
    #if (defined(__x86_64__) || defined(__amd64__)) && (defined(__GNUC__) || defined(__clang__))
    #define RECFREQ_X86_64 1
    /* __builtin_cpu_supports checks the CPUID bits and, for AVX and AVX-512,
       that the operating system saves the wide registers (XGETBV). */
    static int recfreq_cpu_level(void) {
        int v3, v4;
        __builtin_cpu_init();
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
        /* the ISA levels as the compiler's -march=x86-64-v3/-v4 define them */
        v3 = __builtin_cpu_supports("x86-64-v3") != 0;
        v4 = __builtin_cpu_supports("x86-64-v4") != 0;
    #else
        v3 = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
             && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
        v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
             && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
             && __builtin_cpu_supports("avx512vl");
    #endif
        return v4 ? 4 : (v3 ? 3 : 1);
    }
    #else
    #define RECFREQ_X86_64 0
    static int recfreq_cpu_level(void) { return 1; }
    #endif
    """
    const bint RECFREQ_X86_64
    int recfreq_cpu_level() noexcept nogil


def x86_64_level():
    """The highest x86-64 level this CPU runs: 4 (AVX-512), 3 (AVX2 + FMA), or 1
    (the baseline, and every CPU that is not x86-64 or a compiler without the probe)."""
    return int(recfreq_cpu_level())


def is_x86_64():
    """Whether this build targets x86-64 (where the SIMD variants exist)."""
    return bool(RECFREQ_X86_64)
