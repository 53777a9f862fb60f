// Embedding rows that are projected before use, p_r = x_r W_1 ... W_L, computed
// by one warp: the mirror of ../cpu/projection.pxd (factored tables of
// OverparamMF, mixed-dimension tables of MF and FM).
//
// A table's rows are stored flat (row r starts at row_offset[r]), row_group[r]
// names its chain of dense layers, and the layers of every chain are stored
// flat too. The model kernel calls warp_project_forward for each row a sample
// touches, takes the loss gradient with respect to the projected row, then
// warp_project_backward, which adds each layer's gradient to the block's sum
// (dense.cuh) and returns the gradient with respect to the raw row. Raw rows
// then take the shared per-row solver step; the block steps the layers.
//
// Lane l computes outputs l, l + 32, ... of a layer, each summed over the
// layer's inputs in order, as the CPU loop sums them; the warp synchronizes
// between layers. Everything here trusts the layout built and checked in
// recfreq/_projection.py and recfreq/_engine/_checks.py.
#pragma once

#include "portability.cuh"

struct ProjectionLayout {
    const long long* row_offset;    // start of row r in the flat row storage
    const int* row_group;           // chain of row r
    const int* group_in_dim;        // width of the raw rows of a group
    const int* group_n_layers;      // dense layers in a group's chain (0: none)
    const int* group_first_layer;   // index of the chain's first layer
    const long long* layer_offset;  // start of a layer in the flat dense storage
    const int* layer_in;            // rows of a layer matrix (row-major)
    const int* layer_out;           // columns of a layer matrix
};

__device__ __forceinline__ ProjectionLayout projection_layout(const long long* row_offset, const int* row_group,
                                                              const int* group_in_dim, const int* group_n_layers,
                                                              const int* group_first_layer,
                                                              const long long* layer_offset, const int* layer_in,
                                                              const int* layer_out) {
    ProjectionLayout lay;
    lay.row_offset = row_offset;
    lay.row_group = row_group;
    lay.group_in_dim = group_in_dim;
    lay.group_n_layers = group_n_layers;
    lay.group_first_layer = group_first_layer;
    lay.layer_offset = layer_offset;
    lay.layer_in = layer_in;
    lay.layer_out = layer_out;
    return lay;
}

// Dense layers in row r's chain (0: the raw row is the projected row).
__device__ __forceinline__ int projected_layers(const ProjectionLayout& lay, long long r) {
    return lay.group_n_layers[lay.row_group[r]];
}

// Width of row r's raw row.
__device__ __forceinline__ int projected_in_dim(const ProjectionLayout& lay, long long r) {
    return lay.group_in_dim[lay.row_group[r]];
}

// Where warp_project_forward leaves row r's projected row: its raw row when its
// chain has no layer, else the last layer's output in `act`.
template <typename T>
__device__ __forceinline__ T* projected_row(const ProjectionLayout& lay, T* rows, T* act, long long r) {
    const int g = lay.row_group[r];
    const int n_layers = lay.group_n_layers[g];
    if (n_layers == 0) {
        return rows + lay.row_offset[r];
    }
    long long before_last = 0;
    for (int j = 0; j < n_layers - 1; ++j) {
        before_last += lay.layer_out[lay.group_first_layer[g] + j];
    }
    return act + before_last;
}

// The projected row of r (width k), by the calling warp. The outputs of the
// chain's layers are written one after another into `act` (the backward pass
// reads them); with no layer the raw row itself is returned.
template <typename T>
__device__ __forceinline__ T* warp_project_forward(const ProjectionLayout& lay, T* rows, const T* dense,
                                                   long long r, T* act) {
    const int g = lay.row_group[r];
    const int lane = lane_id();
    T* x = rows + lay.row_offset[r];
    T* out = act;
    for (int j = 0; j < lay.group_n_layers[g]; ++j) {
        const int l = lay.group_first_layer[g] + j;
        const T* W = dense + lay.layer_offset[l];
        const int n_in = lay.layer_in[l];
        const int n_out = lay.layer_out[l];
        for (int b = lane; b < n_out; b += 32) {
            T sum = T(0);
            for (int a = 0; a < n_in; ++a) {
                sum = sum + x[a] * W[static_cast<long long>(a) * n_out + b];
            }
            out[b] = sum;
        }
        __syncwarp();  // the next layer reads every lane's outputs
        x = out;
        out = out + n_out;
    }
    return x;
}

// Back-propagate `grad` (dL/dp, width k, written by the whole warp) through row
// r's chain, by the calling warp. Adds dL/dW of every layer to `dense_grad`
// (the block's sum, laid out like the dense storage; atomics, since the block's
// warps add to it together) and returns dL/dx_r, the gradient with respect to
// the raw row: `grad` itself (no layer) or a half of `work` (2 x the widest
// layer input). Layers and the raw row are only read, so every gradient of a
// sample sees the parameters as they were before the sample.
template <typename T>
__device__ __forceinline__ T* warp_project_backward(const ProjectionLayout& lay, const T* rows, const T* dense,
                                                    long long r, const T* act, T* grad, T* work, T* dense_grad) {
    const int g = lay.row_group[r];
    const int n_layers = lay.group_n_layers[g];
    const int first = lay.group_first_layer[g];
    const int lane = lane_id();
    int widest = 0;
    long long act_end = 0;
    for (int j = 0; j < n_layers; ++j) {
        act_end += lay.layer_out[first + j];
        if (lay.layer_in[first + j] > widest) {
            widest = lay.layer_in[first + j];
        }
    }
    T* upstream = grad;
    for (int j = n_layers - 1; j >= 0; --j) {
        const int l = first + j;
        const T* W = dense + lay.layer_offset[l];
        const int n_in = lay.layer_in[l];
        const int n_out = lay.layer_out[l];
        act_end -= n_out;  // act_end now marks the end of layer j's input
        const T* x_in = j == 0 ? rows + lay.row_offset[r] : act + act_end - n_in;
        T* acc = dense_grad + lay.layer_offset[l];
        const long long size = static_cast<long long>(n_in) * n_out;
        for (long long c = lane; c < size; c += 32) {
            const long long a = c / n_out;
            atomicAdd(acc + c, x_in[a] * upstream[c - a * n_out]);
        }
        T* downstream = upstream != work ? work : work + widest;
        for (int a = lane; a < n_in; a += 32) {
            const T* w = W + static_cast<long long>(a) * n_out;
            T sum = T(0);
            for (int b = 0; b < n_out; ++b) {
                sum = sum + w[b] * upstream[b];
            }
            downstream[a] = sum;
        }
        __syncwarp();  // the next layer (or the caller) reads every lane's outputs
        upstream = downstream;
    }
    return upstream;
}
