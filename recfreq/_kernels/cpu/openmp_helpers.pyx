"""Report how the extensions were built and resolve ``n_jobs`` to a thread count."""

from recfreq._kernels.cpu.openmp cimport (
    RECFREQ_HAVE_OPENMP, omp_get_max_threads, omp_get_num_procs)
from recfreq._kernels.cpu.solvers cimport (
    SOLVER_SGD, SOLVER_FA_SGD, SOLVER_CF_SGD, SOLVER_ADAGRAD)


def openmp_enabled():
    """Return True when the extensions were compiled with OpenMP."""
    return bool(RECFREQ_HAVE_OPENMP)


def openmp_max_threads():
    """Threads an OpenMP parallel region may use (1 without OpenMP).

    Honours ``OMP_NUM_THREADS`` and the CPU affinity mask of the process.
    """
    return int(omp_get_max_threads())


def openmp_num_procs():
    """Processors OpenMP sees (1 without OpenMP)."""
    return int(omp_get_num_procs())


def solver_codes():
    """The integer code of each solver in ``solvers.pxd``.

    The Python enum :class:`recfreq._solvers.Solver` is tested against this, so
    the Python side and the compiled side cannot drift apart.
    """
    return {
        "sgd": int(SOLVER_SGD),
        "fa-sgd": int(SOLVER_FA_SGD),
        "cf-sgd": int(SOLVER_CF_SGD),
        "adagrad": int(SOLVER_ADAGRAD),
    }
