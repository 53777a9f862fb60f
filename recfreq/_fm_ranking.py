"""How a factorization machine's design rows become what its ranking kernel reads.

Under a ranking loss a training row is a positive (user, item) interaction with
side columns. For a sampled negative item j the kernel keeps the row's
*context part* (the user id and every side column that does not describe the
item) and takes j's *item part* (its id and the columns named in
``item_columns``). This module splits the design rows into the two parts,
keeps one item part per item (the *item table*, which the model also uses to
score known items in ``recommend``), finds each row's user and item, and
counts fa-sgd's expected steps of every feature row.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["item_feature_rows", "split_parts", "id_positions", "item_table"]


def item_feature_rows(encoder, item_positions):
    """Boolean mask over the feature rows: the rows of the item id column and of ``item_positions``."""
    mask = np.zeros(encoder.n_features, dtype=bool)
    for position in (1, *item_positions):
        column = encoder.columns[position]
        if column.kind == "numeric":
            mask[column.row] = True
        else:
            mask[column.rows] = True
    return mask


def split_parts(design, item_rows):
    """(context part, item part) of every design row: the entries outside and inside ``item_rows``."""
    design = sp.csr_matrix(design)
    coo = design.tocoo()
    inside = item_rows[coo.col]
    parts = []
    for keep in (~inside, inside):
        part = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=design.shape)
        part.sort_indices()
        parts.append(part)
    return tuple(parts)


def id_positions(design, id_rows):
    """Each design row's id as a position in ``id_rows`` (the id column's feature row of each id).

    Every training row holds its id once (ids are never missing), so each row
    has exactly one entry among ``id_rows``.
    """
    design = sp.csr_matrix(design)
    position = np.full(design.shape[1], -1, dtype=np.int64)
    position[id_rows] = np.arange(id_rows.shape[0])
    sample = np.repeat(np.arange(design.shape[0]), np.diff(design.indptr))
    hit = position[design.indices] >= 0
    out = np.full(design.shape[0], -1, dtype=np.int64)
    out[sample[hit]] = position[design.indices[hit]]
    return out.astype(np.int32)


def _differs(a, b):
    """Rows of two CSR matrices of one shape that hold other values (beyond rounding)."""
    scale = 1.0 + np.asarray(abs(a).sum(axis=1)).ravel()
    return np.asarray(abs(a - b).sum(axis=1)).ravel() > 1e-6 * scale


def item_table(items, item_parts, n_items, previous=None, item_names=None):
    """The item part of every item: a CSR matrix with one row per item position.

    Rows of one item must carry the same item part (the columns in
    ``item_columns`` describe the item), and an item seen in an earlier call
    (a row of ``previous``) must keep the part it had there.
    """
    item_parts = sp.csr_matrix(item_parts)
    n_features = item_parts.shape[1]
    first = np.full(n_items, -1, dtype=np.int64)
    backwards = np.arange(items.shape[0])[::-1]
    first[items[backwards]] = backwards  # each item's first row in this batch
    present = np.flatnonzero(first >= 0)
    batch = item_parts[first[present]]

    def refuse(position, when):
        name = item_names[position] if item_names is not None else position
        raise ValueError(f"item_columns must describe the item: item {name!r} has other values in them {when}. "
                         "Name only columns that are a property of the item.")

    bad = _differs(batch[np.searchsorted(present, items)], item_parts)
    if bad.any():
        refuse(int(items[np.flatnonzero(bad)[0]]), "in different rows")
    if previous is None:
        previous = sp.csr_matrix((0, n_features), dtype=item_parts.dtype)
    previous = sp.csr_matrix(previous)
    previous.resize((previous.shape[0], n_features))  # new feature rows since: zero columns
    known = present[present < previous.shape[0]]
    if known.shape[0]:
        bad = _differs(previous[known], batch[np.searchsorted(present, known)])
        if bad.any():
            refuse(int(known[np.flatnonzero(bad)[0]]), "than when the model saw it before")
    # each item's row: the earlier table's, or this batch's first row of a new item
    stacked = sp.vstack([previous, batch, sp.csr_matrix((1, n_features), dtype=item_parts.dtype)]).tocsr()
    source = np.full(n_items, stacked.shape[0] - 1, dtype=np.int64)
    source[:previous.shape[0]] = np.arange(previous.shape[0])
    new = present >= previous.shape[0]
    source[present[new]] = previous.shape[0] + np.flatnonzero(new)
    table = stacked[source]
    table.sort_indices()
    return table
