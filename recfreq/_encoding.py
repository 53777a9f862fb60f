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


class IdEncoder:
    """Raw id <-> row index, in order of first appearance; growable.

    Rows are numbered in the order ids are first added, so growing the encoder
    (``partial_fit`` with new users) never moves an existing row.

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

    def __len__(self):
        return 0 if self.classes_ is None else self.classes_.shape[0]

    def fit_transform(self, ids):
        """Reset to the ids in ``ids`` and return their row indices (int32)."""
        self.classes_ = None
        return self.extend_transform(ids)

    def extend_transform(self, ids):
        """Add ids not seen yet (as new rows) and return the row of every id."""
        ids = np.asarray(ids)
        uniq, first = np.unique(ids, return_index=True)
        if self.classes_ is None:
            self._kind = _id_kind(ids)
            new = uniq[np.argsort(first, kind="stable")]
            self._set_classes(new)
        else:
            rows = self.transform(uniq)
            unseen = rows == UNKNOWN
            if unseen.any():
                new = uniq[unseen][np.argsort(first[unseen], kind="stable")]
                self._set_classes(np.concatenate([self.classes_, new]))
        return self.transform(ids)

    def _set_classes(self, classes):
        if classes.shape[0] > _MAX_ROWS:
            raise ValueError(f"Too many distinct ids ({classes.shape[0]}); at most {_MAX_ROWS} are supported.")
        self.classes_ = classes
        order = np.argsort(classes, kind="stable")
        self._sorted_ids = classes[order]
        self._sorted_rows = order.astype(np.int32)

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
        pos = np.searchsorted(self._sorted_ids, ids)
        np.minimum(pos, self._sorted_ids.shape[0] - 1, out=pos)
        found = self._sorted_ids[pos] == ids
        return np.where(found, self._sorted_rows[pos], UNKNOWN).astype(np.int32, copy=False)

    def inverse_transform(self, rows):
        """Raw ids of the given row indices."""
        return self.classes_[np.asarray(rows)]
