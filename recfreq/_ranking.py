"""Top-n selection, candidate sets and cosine neighbours: what every ``recommend`` shares.

The estimators differ only in how they score a block of (user, candidate)
pairs; reading the id lists, excluding seen items and picking the best ``n``
of every row happen here, once. Ties are broken by candidate order (for the
model's own catalogue: by row, i.e. sorted raw id), so a ranking never depends
on how ``argpartition`` happened to split equal scores.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._encoding import UNKNOWN, IdEncoder
from ._validation import as_id_array, check_id_columns

__all__ = ["read_ids", "read_candidates", "seen_candidates", "top_n", "cosine_top_n"]


def read_ids(values, name, what, estimator_name, allow_empty=False):
    """``values`` as one clean 1-D array of raw ids (a scalar is one id).

    Raises a ValueError naming ``name`` for a wrong shape, and the id checks'
    errors (NaN, fractions, mixed kinds, ...) for bad values. An empty list is
    refused unless ``allow_empty``.
    """
    ids = as_id_array(values)
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of {what} ids, got shape {ids.shape}.")
    if ids.shape[0] == 0 and allow_empty:
        return ids
    (clean,), _ = check_id_columns(ids.reshape(-1, 1), estimator_name=estimator_name, n_required=1,
                                   names=(what,))
    return clean


def read_candidates(items, filter_items, catalogue, estimator_name):
    """(candidate ids, keep mask) of a ``recommend`` call.

    ``items`` (a candidate set; None: ``catalogue``, the model's known items)
    must be a non-empty list of distinct ids. ``filter_items`` is a blocklist:
    ids in it are removed from the candidates (ids that are not candidates are
    ignored, an empty blocklist removes nothing); removing every candidate is
    an error, since nothing would be left to rank.
    """
    if items is None:
        candidates = catalogue
    else:
        if as_id_array(items).shape == (0,):
            raise ValueError("items is empty: there is nothing to recommend from; pass at least one "
                             "candidate item id, or items=None for every known item.")
        candidates = read_ids(items, "items", "item", estimator_name)
        if np.unique(candidates).shape[0] != candidates.shape[0]:
            raise ValueError("items holds duplicate item ids; pass each candidate once (a candidate listed "
                             "twice would be recommended twice).")
    keep = np.ones(candidates.shape[0], dtype=bool)
    if filter_items is None:
        return candidates, keep
    blocked = read_ids(filter_items, "filter_items", "item", estimator_name, allow_empty=True)
    if blocked.shape[0]:
        # the encoder numbers ids in sorted order, not in candidate order: compare rows
        encoder = IdEncoder()
        candidate_rows = encoder.fit_transform(candidates)
        try:
            blocked_rows = encoder.transform(blocked)
        except TypeError as exc:
            raise TypeError(f"filter_items: {exc}") from None
        keep &= ~np.isin(candidate_rows, blocked_rows[blocked_rows != UNKNOWN])
    if not keep.any():
        raise ValueError(f"filter_items removes all {candidates.shape[0]} candidate items: nothing is left to "
                         "recommend.")
    return candidates, keep


def seen_candidates(user_items, user_rows, candidate_rows, n_item_rows):
    """CSR (len(user_rows), len(candidate_rows)): 1 where the user had the candidate in training.

    ``user_items`` holds the training rows (users x item rows); unknown users
    (``UNKNOWN``) saw nothing and unknown candidates were seen by nobody.
    """
    n_users, n_candidates = user_rows.shape[0], candidate_rows.shape[0]
    position = np.full(n_item_rows, -1, dtype=np.int64)
    known_items = np.flatnonzero(candidate_rows != UNKNOWN)
    position[candidate_rows[known_items]] = known_items
    known_users = np.flatnonzero(user_rows != UNKNOWN)
    sub = user_items[user_rows[known_users]]
    cols = position[sub.indices]
    rows = known_users[np.repeat(np.arange(known_users.shape[0]), np.diff(sub.indptr))]
    hit = cols >= 0
    return sp.csr_matrix((np.ones(int(hit.sum()), dtype=np.int8), (rows[hit], cols[hit])),
                         shape=(n_users, n_candidates))


def _select(scores, n):
    """Columns of the ``n`` best scores of every row, best first; ties by column order."""
    n_rows, n_cols = scores.shape
    if n >= n_cols:
        return np.argsort(-scores, axis=1, kind="stable")
    neg = -scores
    # the n-th best score of each row; everything strictly better is in, then
    # the first columns among those equal to it, until the row has n
    kth = np.partition(neg, n - 1, axis=1)[:, n - 1:n]
    better = neg < kth
    tied = neg == kth
    need = n - better.sum(axis=1, keepdims=True)
    chosen = better | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= need))
    cols = np.nonzero(chosen)[1].reshape(n_rows, n)  # ascending column order within each row
    order = np.argsort(np.take_along_axis(neg, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def top_n(score_batch, n_rows, n, batch_size, seen=None, dtype=np.float64):
    """The best ``n`` columns of every row of a score matrix computed in batches of rows.

    Parameters
    ----------
    score_batch : callable
        ``score_batch(start, stop)`` returns the (stop - start, n_columns)
        scores of those rows as a fresh array (it is written to).
    n_rows, n, batch_size : int
        ``n`` is at most the number of columns.
    seen : scipy.sparse.csr_matrix or None
        (n_rows, n_columns): entries set to ``-inf`` before selection (the
        items a user saw fill a row only when fewer than ``n`` others remain).
    dtype : numpy dtype
        Of the returned scores.

    Returns
    -------
    columns : ndarray of int64, shape (n_rows, n)
    scores : ndarray of shape (n_rows, n), best first
    """
    columns = np.empty((n_rows, n), dtype=np.int64)
    best = np.empty((n_rows, n), dtype=dtype)
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        scores = score_batch(start, stop)
        if seen is not None:
            sub = seen[start:stop]
            scores[np.repeat(np.arange(stop - start), np.diff(sub.indptr)), sub.indices] = -np.inf
        cols = _select(scores, n)
        columns[start:stop] = cols
        best[start:stop] = np.take_along_axis(scores, cols, axis=1)
    return columns, best


def cosine_top_n(table, query_rows, n, batch_size=1024, similarities=None):
    """The ``n`` rows of ``table`` most cosine-similar to each query row, the query itself excluded.

    A row of zeros has similarity 0 with everything. ``n`` is capped at
    ``table.shape[0] - 1``. ``similarities``: ``fn(unit, rows) -> unit[rows] @
    unit.T`` computed elsewhere (on the device), or None for NumPy.

    Returns
    -------
    rows : ndarray of int64, shape (n_queries, n)
    similarities : ndarray of shape (n_queries, n), in the table's dtype
    """
    norms = np.linalg.norm(table, axis=1)
    unit = table / np.where(norms > 0, norms, 1)[:, None]
    n = min(int(n), table.shape[0] - 1)

    def score_batch(start, stop):
        rows = query_rows[start:stop]
        sims = unit[rows] @ unit.T if similarities is None else similarities(unit, rows)
        sims[np.arange(stop - start), query_rows[start:stop]] = -np.inf  # never your own neighbour
        return sims

    if n <= 0:
        empty = np.empty((query_rows.shape[0], 0))
        return empty.astype(np.int64), empty.astype(table.dtype)
    return top_n(score_batch, query_rows.shape[0], n, batch_size, dtype=table.dtype)
