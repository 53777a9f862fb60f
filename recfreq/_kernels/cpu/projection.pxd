# Embedding rows that are projected before use: p_r = x_r . W_1 . W_2 ... W_L.
#
# One mechanism serves two structures (docs/embeddings.md):
#   * factored / overparameterized tables (OverparamMF): every row has width m
#     and the same chain of dense layers m -> ... -> k;
#   * mixed-dimension tables (MDE): rows are grouped in frequency blocks, block
#     b has width d_b and one dense d_b x k projection; the block of width k
#     has no layer, so its rows train exactly like plain MF rows.
# A table's rows are stored flat (row r starts at row_offset[r]); row_group[r]
# names its chain; the dense layers of all chains are stored flat too.
#
# The model loop calls project_forward for each row a sample touches, takes
# the loss gradient with respect to the projected rows, then project_backward,
# which adds each layer's gradient to a per-thread accumulator and returns the
# gradient with respect to the raw row. Raw rows then take the shared per-row
# solver step; dense layers are stepped by the caller from the accumulators.
#
# Everything here trusts the layout built and checked in recfreq/_projection.py.

from cython cimport floating

from recfreq._kernels.cpu.dense cimport flush_dense
from recfreq._kernels.cpu.solvers cimport SolverConfig
from recfreq._kernels.cpu.vector cimport dot


cdef struct ProjectionLayout:
    const long long* row_offset     # start of row r in the flat row storage
    const int* row_group            # chain of row r
    const int* group_in_dim         # width of the raw rows of a group
    const int* group_n_layers       # dense layers in a group's chain (0: none)
    const int* group_first_layer    # index of the chain's first layer
    const long long* layer_offset   # start of a layer in the flat dense storage
    const int* layer_in             # rows of a layer matrix (row-major)
    const int* layer_out            # columns of a layer matrix


cdef inline ProjectionLayout projection_layout(const long long[::1] row_offset, const int[::1] row_group,
                                               const int[::1] group_in_dim, const int[::1] group_n_layers,
                                               const int[::1] group_first_layer,
                                               const long long[::1] layer_offset,
                                               const int[::1] layer_in, const int[::1] layer_out):
    """The layout of a ProjectedTable's index arrays, as raw pointers for nogil loops."""
    cdef ProjectionLayout lay
    lay.row_offset = &row_offset[0]
    lay.row_group = &row_group[0]
    lay.group_in_dim = &group_in_dim[0]
    lay.group_n_layers = &group_n_layers[0]
    lay.group_first_layer = &group_first_layer[0]
    # a table whose chains have no layer at all has empty layer arrays
    lay.layer_offset = &layer_offset[0] if layer_offset.shape[0] > 0 else NULL
    lay.layer_in = &layer_in[0] if layer_in.shape[0] > 0 else NULL
    lay.layer_out = &layer_out[0] if layer_out.shape[0] > 0 else NULL
    return lay


cdef inline floating* project_forward(const ProjectionLayout* lay, floating* rows,
                                      const floating* dense, Py_ssize_t r,
                                      floating* act) noexcept nogil:
    """Return the projected row of `r` (width k).

    The outputs of the chain's layers are written one after another into
    `act` (project_backward reads them); with no layer the raw row itself is
    returned.
    """
    cdef int g = lay.row_group[r]
    cdef int j, l, a, b, n_in, n_out
    cdef floating* x = rows + lay.row_offset[r]
    cdef floating* out = act
    cdef const floating* W
    cdef floating xa
    for j in range(lay.group_n_layers[g]):
        l = lay.group_first_layer[g] + j
        W = dense + lay.layer_offset[l]
        n_in = lay.layer_in[l]
        n_out = lay.layer_out[l]
        for b in range(n_out):
            out[b] = 0
        # out += x[a] * W[a, :]: contiguous rows of W, vectorizable axpys
        for a in range(n_in):
            xa = x[a]
            for b in range(n_out):
                out[b] = out[b] + xa * W[a * n_out + b]
        x = out
        out = out + n_out
    return x


cdef inline floating* project_backward(const ProjectionLayout* lay, floating* rows,
                                       const floating* dense, Py_ssize_t r,
                                       const floating* act, floating* grad,
                                       floating* work, floating* dense_grad) noexcept nogil:
    """Back-propagate `grad` (dL/dp, width k) through row `r`'s chain.

    Adds dL/dW of every layer to `dense_grad` (same layout as the dense
    storage) and returns dL/dx_r, the gradient with respect to the raw row,
    in `grad` itself (no layer) or in `work` (two halves of the widest layer
    input). Layers are read before anyone steps them, so every gradient of a
    sample sees the parameters as they were before the sample.
    """
    cdef int g = lay.row_group[r]
    cdef int n_layers = lay.group_n_layers[g]
    cdef int first = lay.group_first_layer[g]
    cdef int j, l, a, b, n_in, n_out, widest = 0
    cdef long long act_end = 0
    cdef const floating* x_in
    cdef const floating* W
    cdef floating* acc
    cdef floating* upstream = grad
    cdef floating* downstream
    cdef floating xa
    for j in range(n_layers):
        act_end += lay.layer_out[first + j]
        if lay.layer_in[first + j] > widest:
            widest = lay.layer_in[first + j]
    for j in range(n_layers - 1, -1, -1):
        l = first + j
        W = dense + lay.layer_offset[l]
        n_in = lay.layer_in[l]
        n_out = lay.layer_out[l]
        act_end -= n_out  # act_end now marks the end of layer j's input
        if j == 0:
            x_in = rows + lay.row_offset[r]
        else:
            x_in = act + act_end - n_in
        acc = dense_grad + lay.layer_offset[l]
        for a in range(n_in):
            xa = x_in[a]
            for b in range(n_out):
                acc[a * n_out + b] = acc[a * n_out + b] + xa * upstream[b]
        downstream = work if upstream != work else work + widest
        for a in range(n_in):
            downstream[a] = dot(&W[a * n_out], upstream, n_out)
        upstream = downstream
    return upstream


cdef inline void flush_projections(const SolverConfig* cfg, const ProjectionLayout* lay, int n_groups,
                                   floating* dense, floating* grad_sum, floating* accum, int* touched,
                                   double rate) noexcept nogil:
    """Step the layers of the chains touched since the last flush (see dense.pxd).

    Skipping an untouched layer is exact (its summed gradient is zero, so its
    SGD or Adagrad step is zero) and saves stepping every projection of a mixed
    table after every few samples.
    """
    cdef int g, j, l
    cdef long long offset
    for g in range(n_groups):
        if not touched[g]:
            continue
        for j in range(lay.group_n_layers[g]):
            l = lay.group_first_layer[g] + j
            offset = lay.layer_offset[l]
            flush_dense(cfg, dense + offset, grad_sum + offset, accum + offset if accum != NULL else NULL,
                        <Py_ssize_t>lay.layer_in[l] * lay.layer_out[l], rate)
        touched[g] = 0
