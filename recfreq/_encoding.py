"""Map raw user/item ids (any hashable of one kind) to contiguous row indices.

Raw ids can be huge (10**12), sparse, strings or Python ints beyond int64;
tables are indexed by contiguous int32 rows, so every id goes through here
before any compiled code sees it. Unknown ids map to -1, which the estimators
turn into their documented cold-start fallback.
"""

import numpy as np

__all__ = ["IdEncoder", "UNKNOWN"]

#: Index given to ids the encoder has not seen.
UNKNOWN = -1

# Tables are indexed with int32 in the kernels.
_MAX_ROWS = np.iinfo(np.int32).max


def _id_kind(ids):
    """'numeric' or 'string': ids of different kinds never compare equal."""
    if ids.dtype.kind in "iub":
        return "numeric"
    if ids.dtype.kind in "US":
        return "string"
    # object arrays were already checked to hold one kind (see _validation)
    if ids.shape[0] and isinstance(ids[0], str):
        return "string"
    return "numeric"


def _compact_integers(ids):
    """int64 ids whose range is small enough for a dense lookup table."""
    if ids.dtype != np.int64 or ids.shape[0] == 0:
        return False
    span = int(ids.max()) - int(ids.min()) + 1
    return span <= 4 * ids.shape[0] + 1024


class IdEncoder:
    """Raw id <-> row index; growable.

    The ids of the first fit get rows in sorted id order; ids added later
    (``partial_fit`` with new users) are appended, in sorted order among
    themselves, so growing never moves an existing row. Integer ids spanning a
    compact range (at most a few times the number of ids, as database keys
    usually do) are looked up in a dense table, O(n); others by binary search.

    Attributes
    ----------
    classes_ : ndarray
        Raw id of each row (row ``r`` holds ``classes_[r]``).
    """

    def __init__(self):
        self.classes_ = None
        self._sorted_ids = None
        self._sorted_rows = None
        self._kind = None
        self._lookup = None  # dense row table for compact integer ids
        self._lookup_start = 0

    def __len__(self):
        return 0 if self.classes_ is None else self.classes_.shape[0]

    def fit_transform(self, ids):
        """Reset to the ids in ``ids`` and return their row indices (int32)."""
        self.classes_ = None
        return self.extend_transform(ids)

    def extend_transform(self, ids):
        """Add ids not seen yet (as new rows) and return the row of every id."""
        ids = np.asarray(ids)
        if self.classes_ is None:
            self._kind = _id_kind(ids)
            if _compact_integers(ids):
                # one pass instead of a sort: mark which ids occur
                start = int(ids.min())
                present = np.zeros(int(ids.max()) - start + 1, dtype=bool)
                present[ids - start] = True
                self._set_classes(np.flatnonzero(present).astype(ids.dtype) + start)
            else:
                self._set_classes(np.unique(ids))
        else:
            uniq = np.unique(ids)
            unseen = self.transform(uniq) == UNKNOWN
            if unseen.any():
                self._set_classes(np.concatenate([self.classes_, uniq[unseen]]))
        return self.transform(ids)

    def _set_classes(self, classes):
        if classes.shape[0] > _MAX_ROWS:
            raise ValueError(f"Too many distinct ids ({classes.shape[0]}); at most {_MAX_ROWS} are supported.")
        self.classes_ = classes
        order = np.argsort(classes, kind="stable")
        self._sorted_ids = classes[order]
        self._sorted_rows = order.astype(np.int32)
        self._lookup = None
        if classes.dtype == np.int64 and _compact_integers(classes):
            self._lookup_start = int(classes.min())
            self._lookup = np.full(int(classes.max()) - self._lookup_start + 1, UNKNOWN, dtype=np.int32)
            self._lookup[classes - self._lookup_start] = np.arange(classes.shape[0], dtype=np.int32)

    def transform(self, ids):
        """Row index of each id (int32), ``UNKNOWN`` (-1) for ids not seen in fit.

        Raises
        ------
        TypeError
            If the ids are strings and the encoder holds numbers, or the reverse.
        """
        ids = np.asarray(ids)
        if self.classes_ is None:
            raise RuntimeError("IdEncoder is not fitted.")
        if ids.shape[0] == 0:
            return np.empty(0, dtype=np.int32)
        kind = _id_kind(ids)
        if kind != self._kind:
            raise TypeError(
                f"These ids are {kind} but the model was fitted on {self._kind} ids; "
                "pass ids of the same kind as in fit."
            )
        if self._lookup is not None and ids.dtype == np.int64:
            offset = ids - self._lookup_start
            inside = (offset >= 0) & (offset < self._lookup.shape[0])
            return np.where(inside, self._lookup[np.where(inside, offset, 0)], UNKNOWN).astype(np.int32, copy=False)
        pos = np.searchsorted(self._sorted_ids, ids)
        np.minimum(pos, self._sorted_ids.shape[0] - 1, out=pos)
        found = self._sorted_ids[pos] == ids
        return np.where(found, self._sorted_rows[pos], UNKNOWN).astype(np.int32, copy=False)

    def inverse_transform(self, rows):
        """Raw ids of the given row indices."""
        return self.classes_[np.asarray(rows)]
