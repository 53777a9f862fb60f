// The plain factor table of a projected table (factored or mixed rows), on the
// GPU: out[r] = x_r W_1 ... W_L for every row, as ProjectedTable.collapse
// computes it on the CPU (recfreq/_projection.py): in double precision, rounded
// to the table's type at the end. OverparamMF and the mixed-dimension models
// run it after every epoch of a GPU fit (prediction, recommend and the
// divergence check read the plain tables), so the trained rows and layers are
// multiplied where they live.
//
// One warp per row, lane l computing outputs l, l + 32, ... of each layer.
// Scratch (scratch.cuh): max_activation doubles per warp.
#include "portability.cuh"
#include "scratch.cuh"
#include "projection.cuh"

template <typename T>
__global__ void project_rows(const T* __restrict__ rows,
                             const long long* __restrict__ row_offset,
                             const int* __restrict__ row_group,
                             const int* __restrict__ group_n_layers,
                             const int* __restrict__ group_first_layer,
                             const long long* __restrict__ layer_offset,
                             const int* __restrict__ layer_in,
                             const int* __restrict__ layer_out,
                             const T* __restrict__ dense,
                             long long n_rows,
                             int n_factors,
                             int max_activation,
                             T* out,
                             double* scratch,
                             long long scratch_per_block) {
    const int lane = lane_id();
    const int warp = static_cast<int>(threadIdx.x / 32u);
    const int warps = static_cast<int>(blockDim.x / 32u);
    Scratch arena = block_scratch(scratch, scratch_per_block);
    double* act = scratch_take<double>(arena, static_cast<long long>(warps) * max_activation) +
                  static_cast<long long>(warp) * max_activation;
    scratch_check(arena);
    const long long k = n_factors;
    const long long stride = static_cast<long long>(gridDim.x) * warps;
    for (long long r = static_cast<long long>(blockIdx.x) * warps + warp; r < n_rows; r += stride) {
        const int g = row_group[r];
        const int n_layers = group_n_layers[g];
        const T* x = rows + row_offset[r];
        if (n_layers == 0) {
            for (long long f = lane; f < k; f += 32) {
                out[r * k + f] = x[f];
            }
            continue;
        }
        const double* in = nullptr;  // the previous layer's output (none before the first)
        double* next = act;
        for (int j = 0; j < n_layers; ++j) {
            const int l = group_first_layer[g] + j;
            const T* W = dense + layer_offset[l];
            const int n_in = layer_in[l];
            const int n_out = layer_out[l];
            for (int b = lane; b < n_out; b += 32) {
                double sum = 0.0;
                for (int a = 0; a < n_in; ++a) {
                    const double xa = in == nullptr ? static_cast<double>(x[a]) : in[a];
                    sum += xa * static_cast<double>(W[static_cast<long long>(a) * n_out + b]);
                }
                if (j == n_layers - 1) {
                    out[r * k + b] = static_cast<T>(sum);
                } else {
                    next[b] = sum;
                }
            }
            __syncwarp();  // the next layer reads every lane's outputs
            in = next;
            next += n_out;
        }
    }
}
