"""Embedding tables whose rows are projected: p_r = x_r W_1 ... W_L.

The same structure holds the two row layouts of docs/embeddings.md (the kernel
side is ``_kernels/cpu/projection.pxd``):

* **factored** (``OverparamMF``): all rows have width m and share one chain of
  dense layers m -> ... -> k; after training the product collapses into a
  plain n x k table;
* **mixed** (``embedding_dims="mixed"``): rows sorted by training frequency are
  cut into blocks of equal total frequency; block b has width
  d_b = max(1, round(k (p_b / p_max) ** alpha)) and one d_b x k projection, and a
  block whose width is k has none (its rows are plain MF rows).

Rows are stored flat (row r at ``row_offset[r]``), so a mixed table really
holds only sum_r d_r numbers for its rows.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ProjectedTable"]


def _empty(dtype):
    return np.empty(0, dtype=dtype)


def _semi_orthogonal(n_in, n_out, rng):
    """A random n_in x n_out matrix with orthonormal rows (n_in <= n_out) or columns.

    Then W W^T = I (or W^T W = I): a step on a raw row x moves p = x W exactly
    as far as the same step on a plain row would (within W's range) instead of
    being stretched by the layer, so the row solvers' step sizes keep their
    meaning for projected rows.
    """
    tall = rng.standard_normal((max(n_in, n_out), min(n_in, n_out)))
    q, r = np.linalg.qr(tall)
    q *= np.sign(np.diag(r))  # a uniformly random orthonormal basis (Mezzadri 2007)
    return q.T if n_in <= n_out else q


@dataclass
class ProjectedTable:
    """One table (users or items) of projected rows; see the module docstring.

    Attributes
    ----------
    rows : ndarray of shape (sum of row widths,)
    row_offset : ndarray of int64, shape (n_rows,)
    row_group : ndarray of int32, shape (n_rows,)
    group_in_dim, group_n_layers, group_first_layer : ndarray of int32, shape (n_groups,)
    layer_offset : ndarray of int64; layer_in, layer_out : ndarray of int32, shape (n_layers,)
    dense : ndarray of shape (sum of layer sizes,)
        Every layer matrix, row-major (layer l is ``dense[layer_offset[l]:...]``
        reshaped to ``(layer_in[l], layer_out[l])``).
    n_factors : int
    group_row_std : ndarray of shape (n_groups,)
        Standard deviation of new raw rows of each group.
    rows_accum, dense_accum : ndarray
        Adagrad accumulators (empty for the other solvers).
    """

    rows: np.ndarray
    row_offset: np.ndarray
    row_group: np.ndarray
    group_in_dim: np.ndarray
    group_n_layers: np.ndarray
    group_first_layer: np.ndarray
    layer_offset: np.ndarray
    layer_in: np.ndarray
    layer_out: np.ndarray
    dense: np.ndarray
    n_factors: int
    group_row_std: np.ndarray
    new_row_group: int = 0
    rows_accum: np.ndarray = field(default=None)
    dense_accum: np.ndarray = field(default=None)

    # ---------------------------------------------------------------- build
    @classmethod
    def _build(cls, group_dims, row_group, n_factors, rng, init_std, dtype, new_row_group):
        """group_dims[g] = [d_in, hidden..., k] (just [k] for a chain without layers)."""
        dtype = np.dtype(dtype)
        group_in_dim = np.array([dims[0] for dims in group_dims], dtype=np.int32)
        group_n_layers = np.array([len(dims) - 1 for dims in group_dims], dtype=np.int32)
        group_first_layer = np.concatenate([[0], np.cumsum(group_n_layers)[:-1]]).astype(np.int32)
        layer_in = np.array([d for dims in group_dims for d in dims[:-1]], dtype=np.int32)
        layer_out = np.array([d for dims in group_dims for d in dims[1:]], dtype=np.int32)
        sizes = layer_in.astype(np.int64) * layer_out
        layer_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        dense = np.concatenate(
            [_semi_orthogonal(int(a), int(b), rng).ravel() for a, b in zip(layer_in, layer_out)] or [np.empty(0)]
        ).astype(dtype)
        # a semi-orthogonal d_in x d_out layer scales the per-coordinate variance
        # of what passes through by min(1, d_in / d_out); raw rows start wider by
        # the inverse, so every projected row starts with spread init_std
        gain = np.array([np.prod([min(1.0, a / b) for a, b in zip(dims[:-1], dims[1:])]) for dims in group_dims])
        table = cls(rows=_empty(dtype), row_offset=np.empty(0, np.int64), row_group=np.empty(0, np.int32),
                    group_in_dim=group_in_dim, group_n_layers=group_n_layers,
                    group_first_layer=group_first_layer, layer_offset=layer_offset, layer_in=layer_in,
                    layer_out=layer_out, dense=dense, n_factors=int(n_factors),
                    group_row_std=float(init_std) / np.sqrt(gain), new_row_group=int(new_row_group))
        table._append_rows(np.asarray(row_group, dtype=np.int32), rng)
        return table

    @classmethod
    def factored(cls, n_rows, inner_dims, n_factors, rng, init_std, dtype):
        """All rows of width ``inner_dims[0]``, one chain inner_dims... -> n_factors."""
        dims = [int(d) for d in inner_dims] + [int(n_factors)]
        return cls._build([dims], np.zeros(n_rows, dtype=np.int32), n_factors, rng, init_std, dtype, 0)

    @classmethod
    def mixed(cls, counts, n_factors, n_blocks, exponent, rng, init_std, dtype):
        """Mixed-dimension blocks from training counts (Ginart et al., 2019).

        Rows sorted by count (most frequent first) are cut into ``n_blocks``
        blocks of equal total count; block b gets width
        ``max(1, round(k * (p_b / p_max) ** exponent))`` with p_b the mean count of
        its rows. Rows added later (``partial_fit``) join the narrowest block.
        """
        counts = np.asarray(counts, dtype=np.float64)
        order = np.argsort(-counts, kind="stable")
        share = np.cumsum(counts[order]) / max(counts.sum(), 1.0)
        # the block of a row is set by the share of samples before it, so each
        # block holds about 1/n_blocks of the training samples
        block_sorted = np.minimum((np.concatenate([[0.0], share[:-1]]) * n_blocks).astype(np.int64), n_blocks - 1)
        used = np.unique(block_sorted)  # a very skewed table can leave a block empty
        block_sorted = np.searchsorted(used, block_sorted).astype(np.int32)
        block = np.empty_like(block_sorted)
        block[order] = block_sorted
        mean_count = np.array([counts[block == b].mean() for b in range(used.shape[0])])
        # no row seen at all (a design whose columns are all zero): nothing to size
        # the blocks by, so every block keeps the full width
        share = mean_count / mean_count.max() if mean_count.max() > 0 else np.ones_like(mean_count)
        widths = np.maximum(1, np.round(n_factors * share ** exponent)).astype(int)
        widths = np.minimum(widths, n_factors)
        group_dims = [[int(n_factors)] if d == n_factors else [int(d), int(n_factors)] for d in widths]
        return cls._build(group_dims, block, n_factors, rng, init_std, dtype, new_row_group=len(group_dims) - 1)

    # ---------------------------------------------------------------- rows
    @property
    def n_rows(self):
        return self.row_offset.shape[0]

    def row_width(self):
        return self.group_in_dim[self.row_group]

    def _append_rows(self, groups, rng):
        widths = self.group_in_dim[groups].astype(np.int64)
        start = self.rows.shape[0]
        offsets = start + np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        std = np.repeat(self.group_row_std[groups], widths)
        new_rows = (rng.standard_normal(int(widths.sum())) * std).astype(self.rows.dtype)
        self.rows = np.concatenate([self.rows, new_rows])
        self.row_offset = np.concatenate([self.row_offset, offsets])
        self.row_group = np.concatenate([self.row_group, groups])
        if self.rows_accum is not None and self.rows_accum.shape[0]:
            self.rows_accum = np.concatenate([self.rows_accum, np.zeros_like(new_rows)])

    def grow(self, n_rows, rng):
        """Append rows (ids first seen in ``partial_fit``) to ``new_row_group``."""
        extra = n_rows - self.n_rows
        if extra > 0:
            self._append_rows(np.full(extra, self.new_row_group, dtype=np.int32), rng)

    def group_rows(self, group):
        """(row indices, their raw vectors as an (n, d_in) array) of one group."""
        idx = np.flatnonzero(self.row_group == group)
        d = int(self.group_in_dim[group])
        return idx, self.rows[self.row_offset[idx][:, None] + np.arange(d)]

    def layers(self, group):
        """The dense matrices of a group's chain, as views into ``dense``."""
        first, count = int(self.group_first_layer[group]), int(self.group_n_layers[group])
        return [self.dense[self.layer_offset[l]:self.layer_offset[l] + self.layer_in[l] * self.layer_out[l]]
                .reshape(self.layer_in[l], self.layer_out[l]) for l in range(first, first + count)]

    def collapse(self):
        """The projected rows as a plain (n_rows, k) table (computed in float64)."""
        out = np.empty((self.n_rows, self.n_factors), dtype=self.rows.dtype)
        for g in range(self.group_in_dim.shape[0]):
            idx, x = self.group_rows(g)
            x = x.astype(np.float64)
            for W in self.layers(g):
                x = x @ W.astype(np.float64)
            out[idx] = x
        return out

    # --------------------------------------------------------- solver state
    def allocate_accumulators(self, adagrad):
        """Adagrad keeps one accumulator per raw-row and per dense coordinate."""
        self.rows_accum = np.zeros_like(self.rows) if adagrad else _empty(self.rows.dtype)
        self.dense_accum = np.zeros_like(self.dense) if adagrad else _empty(self.rows.dtype)

    def match_solver(self, adagrad):
        """Keep the Adagrad accumulators when they fit; allocate (zeros) or drop them otherwise."""
        has = (self.rows_accum is not None and self.rows_accum.shape == self.rows.shape
               and self.dense_accum is not None and self.dense_accum.shape == self.dense.shape)
        if has != bool(adagrad) or (not adagrad and (self.rows_accum is None or self.rows_accum.shape[0])):
            self.allocate_accumulators(adagrad)

    @property
    def n_parameters(self):
        return int(self.rows.shape[0] + self.dense.shape[0])

    @property
    def max_activation(self):
        """Largest sum of layer output widths of any chain (kernel buffer size)."""
        return max([int(self.layer_out[self.group_first_layer[g]:self.group_first_layer[g]
                                       + self.group_n_layers[g]].sum())
                    for g in range(self.group_in_dim.shape[0])] + [1])

    @property
    def max_width(self):
        """Widest raw row or layer input (kernel buffer size)."""
        return int(max([self.n_factors, *self.group_in_dim.tolist(), *self.layer_in.tolist()]))

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.rows, self.dense))

    def kernel_kwargs(self, prefix):
        """The arrays the kernels take for this table, named with ``prefix``.

        In the order of ``recfreq._engine.specs.projected_table``; the engine
        checks their layout (``recfreq._engine._checks.check_projected_table``).
        """
        return {
            f"{prefix}_rows": self.rows,
            f"{prefix}_row_offset": self.row_offset,
            f"{prefix}_row_group": self.row_group,
            f"{prefix}_group_in_dim": self.group_in_dim,
            f"{prefix}_group_n_layers": self.group_n_layers,
            f"{prefix}_group_first_layer": self.group_first_layer,
            f"{prefix}_layer_offset": self.layer_offset,
            f"{prefix}_layer_in": self.layer_in,
            f"{prefix}_layer_out": self.layer_out,
            f"{prefix}_dense": self.dense,
            f"{prefix}_rows_accum": self.rows_accum,
            f"{prefix}_dense_accum": self.dense_accum,
        }
