// The solver codes arrive as #defines generated from recfreq._solvers.Solver.
#include "portability.cuh"

__global__ void solver_codes(int* out) {
    if (threadIdx.x == 0) {
        out[0] = SOLVER_SGD;
        out[1] = SOLVER_FA_SGD;
        out[2] = SOLVER_CF_SGD;
        out[3] = SOLVER_ADAGRAD;
    }
}
