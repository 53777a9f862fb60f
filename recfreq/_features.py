"""Side-feature encoding of the factorization machine: raw columns -> CSR design rows.

Every distinct value of a categorical column (the user id and item id columns
included) becomes one feature row of the model, as does every numeric column.
Rows are numbered in order of first appearance over the model's life, so
``partial_fit`` appends rows for new categories without moving old ones (each
row keeps its parameters and solver state). Values unseen in fit map to no
row: at predict they contribute nothing.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from ._encoding import IdEncoder, UNKNOWN
from ._validation import _as_2d, _clean_id_column

__all__ = ["FeatureEncoder", "as_cells", "is_missing"]

_MULTI_TYPES = (list, tuple, set, frozenset, np.ndarray)


def is_missing(value):
    """None, NaN and pandas' NA are missing categorical values (no feature row)."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def as_cells(values):
    """One column given by the user as a 1-D array of its cells, multi-valued cells kept whole.

    ``np.asarray`` would turn a list of lists into a 2-D array (equal lengths)
    or fail on it ("inhomogeneous shape"); a DataFrame column of lists is
    already an object array of cells.
    """
    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "to_numpy"):
        return values.to_numpy()
    if not isinstance(values, (list, tuple)):
        return np.asarray(values)
    if any(isinstance(v, _MULTI_TYPES) for v in values):
        cells = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            cells[i] = v
        return cells
    return np.asarray(values)


def _clean_categories(values):
    """Non-missing category values as one hashable-sortable 1-D array."""
    values = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if values.dtype.kind in "biuU":
        return values.astype(np.int64) if values.dtype.kind in "biu" else values.astype(str)
    if values.dtype.kind == "f":
        if (values == np.floor(values)).all():
            return values.astype(np.int64)
        return values.astype(str)
    kinds = {"str" if isinstance(v, str) else "int" if isinstance(v, (numbers.Integral, np.bool_))
             else "other" for v in values}
    if kinds == {"int"}:
        return np.asarray([int(v) for v in values], dtype=np.int64)
    if kinds <= {"str"}:
        return values.astype(str)
    # mixed kinds (or integral floats next to strings): compare as text
    return np.asarray([str(v) for v in values], dtype=str)


class _Column:
    """How one raw column becomes feature rows."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind  # "id", "categorical", "multi" or "numeric"
        self.encoder = IdEncoder() if kind != "numeric" else None
        self.rows = np.empty(0, dtype=np.int32)  # local category -> global row
        self.row = -1  # numeric: its global row
        self.mean, self.scale = 0.0, 1.0


class FeatureEncoder:
    """Turn ``X`` into the CSR design matrix of a factorization machine.

    Parameters
    ----------
    categorical_features : "auto" or list of int or str
        Columns (after the two id columns) to treat as categorical even when
        numeric; "auto" treats string, boolean, pandas-category and
        list-valued columns as categorical and numeric columns as real-valued.
    multi_value_separator : str or None
        If set, string cells of categorical side columns are split at it
        (``"Action|Comedy"``); cells that are lists, tuples, sets or arrays
        are always multi-valued.
    multi_value_weight : {"one", "mean"}
        x of each value of a multi-valued cell: 1 or 1/len(cell).
    standardize : bool
        Numeric columns are centred and scaled by the mean and standard
        deviation of the first fitted batch.
    dtype : numpy dtype
        The model's dtype: numeric values (after standardizing) beyond its
        range are refused, since the kernels would turn them into infinity.
    """

    def __init__(self, *, categorical_features="auto", multi_value_separator=None,
                 multi_value_weight="one", standardize=True, estimator_name="FactorizationMachine",
                 dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self.categorical_features = categorical_features
        self.multi_value_separator = multi_value_separator
        self.multi_value_weight = multi_value_weight
        self.standardize = standardize
        self.estimator_name = estimator_name
        self.sparse = None
        self.n_features = 0
        self.columns = []
        self.feature_names = []

    # ------------------------------------------------------------- raw input
    def read(self, X):
        """Split ``X`` into a list of raw 1-D column arrays (or return it as CSR)."""
        if sp.issparse(X):
            X = sp.csr_matrix(X)
            if X.shape[0] == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                                 f"required by {self.estimator_name}.")
            if X.shape[1] == 0:
                raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                                 f"required by {self.estimator_name}.")
            if X.dtype.kind == "c":
                raise ValueError("Complex data not supported: a sparse design matrix must be real.")
            if X.dtype.kind not in "biuf":
                raise TypeError(f"A sparse design matrix must be numeric, got dtype {X.dtype}.")
            if not np.isfinite(X.data).all():
                raise ValueError("Input X contains NaN or infinity.")
            return X
        column, n_rows, n_columns = _as_2d(X)
        if n_columns < 2:
            raise ValueError(
                f"Found array with {n_columns} feature(s) (shape=({n_rows}, {n_columns})) while a minimum "
                f"of 2 is required by {self.estimator_name}: the first columns of X must hold the user "
                "and item ids (or pass a scipy sparse design matrix)."
            )
        if n_rows == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape=({n_rows}, {n_columns})) while a minimum "
                             f"of 1 is required by {self.estimator_name}.")
        names = list(X.columns) if hasattr(X, "columns") else list(range(n_columns))
        cols = []
        for j in range(n_columns):
            values = column(j)
            if hasattr(X, "columns") and str(getattr(X.iloc[:, j], "dtype", "")) == "category":
                values = np.asarray(X.iloc[:, j].astype(object).to_numpy(), dtype=object)
                values.flags.writeable = True
                cols.append(("category", values))
            else:
                values = np.asarray(values)
                if values.dtype.kind == "c" or (values.dtype.kind == "O" and any(
                        isinstance(v, (complex, np.complexfloating)) for v in values.tolist())):
                    what = ("the user ids", "the item ids")[j] if j < 2 else "a side feature"
                    raise ValueError(f"Complex data not supported: column {names[j]!r} ({what}) holds complex "
                                     "numbers.")
                cols.append((None, values))
        return _RawColumns(cols, n_rows, names)

    @staticmethod
    def take(raw, rows):
        """The given sample rows of what :meth:`read` returned."""
        if sp.issparse(raw):
            return raw[rows]
        return _RawColumns([(hint, values[rows]) for hint, values in raw.cols], len(rows), raw.names)

    # ---------------------------------------------------------------- fitting
    def _kind(self, j, hint, values, name):
        if j < 2:
            return "id"
        forced = self.categorical_features != "auto" and (
            j in self.categorical_features or name in self.categorical_features)
        if values.dtype.kind in "iuf" and not forced:
            return "numeric"
        if values.dtype.kind in "iuf":
            return "categorical"
        if values.dtype.kind in "bUS" or hint == "category":
            if self._splits(values):
                return "multi"
            return "categorical"
        present = [v for v in values if not is_missing(v)]
        if any(isinstance(v, _MULTI_TYPES) for v in present) or self._splits(values):
            return "multi"
        if not forced and present and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                                          for v in present) and len(present) == len(values):
            return "numeric"
        return "categorical"

    def _splits(self, values):
        sep = self.multi_value_separator
        return sep is not None and any(isinstance(v, str) and sep in v for v in values.tolist())

    def fit_transform(self, raw):
        """Learn the columns and categories of ``raw``; return its design matrix."""
        if sp.issparse(raw):
            self.sparse = True
            self.n_features = raw.shape[1]
            self.feature_names = [f"x{j}" for j in range(self.n_features)]
            return self.transform(raw)
        self.sparse = False
        self.names = raw.names
        self.columns = []
        self.n_features = 0
        self.feature_names = []
        for j, (hint, values) in enumerate(raw.cols):
            column = _Column(raw.names[j], self._kind(j, hint, values, raw.names[j]))
            column.label = ("user", "item")[j] if j < 2 else str(column.name)
            if column.kind == "numeric":
                x = self._numeric(values, column.name)
                if self.standardize:
                    # scaled by the largest |x| first: np.std of values near 1e200
                    # would square them into infinity
                    peak = float(np.max(np.abs(x))) or 1.0
                    column.mean = float(np.mean(x / peak)) * peak
                    std = float(np.std(x / peak)) * peak
                    column.scale = std if std > 0 else 1.0
                column.row = self._new_rows([str(column.name)])[0]
            self.columns.append(column)
        return self.extend_transform(raw)

    def _new_rows(self, names):
        rows = np.arange(self.n_features, self.n_features + len(names), dtype=np.int32)
        self.n_features += len(names)
        self.feature_names.extend(names)
        if self.n_features > np.iinfo(np.int32).max:
            raise ValueError("Too many distinct feature values for int32 row indices.")
        return rows

    def extend_transform(self, raw):
        """Add categories first seen in ``raw`` as new rows; return its design matrix."""
        return self._transform(raw, grow=True)

    def transform(self, raw):
        """Design matrix of ``raw``; unseen categories contribute nothing."""
        return self._transform(raw, grow=False)

    def _transform(self, raw, grow):
        if self.sparse:
            if not sp.issparse(raw):
                raise TypeError(f"{self.estimator_name} was fitted on a sparse design matrix; "
                                "pass one with the same columns.")
            if raw.shape[1] != self.n_features:
                raise ValueError(f"X has {raw.shape[1]} features, but {self.estimator_name} is expecting "
                                 f"{self.n_features} features as input.")
            X = sp.csr_matrix(raw, dtype=np.float64, copy=True)
            X.sum_duplicates()
            X.eliminate_zeros()
            limit = np.finfo(self.dtype).max
            if X.data.shape[0] and np.max(np.abs(X.data)) > limit:
                column = X.indices[np.argmax(np.abs(X.data))]
                raise ValueError(f"Column {column} of the design matrix holds values beyond the range of "
                                 f"{self.dtype.name} (about {limit:.3g}); rescale it or use dtype='float64'.")
            return X
        if sp.issparse(raw):
            raise TypeError(f"{self.estimator_name} was fitted on columns of ids and side features, "
                            "not on a sparse design matrix.")
        if len(raw.cols) != len(self.columns):
            raise ValueError(f"X has {len(raw.cols)} columns, but {self.estimator_name} was fitted with "
                             f"{len(self.columns)}.")
        return self.transform_columns(dict(enumerate(v for _, v in raw.cols)), raw.n_rows, grow=grow)

    def transform_columns(self, values_by_position, n_rows, grow=False):
        """Design matrix of only some columns (``{position: values}``); others contribute nothing."""
        samples, rows, data = [], [], []
        for j, values in values_by_position.items():
            column = self.columns[j]
            values = as_cells(values)
            if values.shape != (n_rows,):
                raise ValueError(f"Column {column.name!r} has shape {values.shape}, expected ({n_rows},).")
            s, r, x = self._encode(column, values, grow)
            samples.append(s)
            rows.append(r)
            data.append(x)
        if samples:
            samples, rows, data = np.concatenate(samples), np.concatenate(rows), np.concatenate(data)
        else:
            samples, rows, data = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32),
                                   np.empty(0, dtype=np.float64))
        X = sp.csr_matrix((data, (samples, rows)), shape=(n_rows, self.n_features))
        X.sum_duplicates()
        X.eliminate_zeros()
        return X

    def _numeric(self, values, name):
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Column {name!r} was read as numeric but holds non-numeric values.") from None
        if not np.isfinite(x).all():
            raise ValueError(f"Input X contains NaN or infinity in numeric column {name!r}.")
        return x

    def _lookup(self, column, categories, grow):
        try:
            return self._lookup_rows(column, categories, grow)
        except TypeError as exc:  # strings where numbers were fitted, or the reverse
            raise TypeError(f"Column {column.name!r}: {exc}") from None

    def _lookup_rows(self, column, categories, grow):
        if grow:
            local = column.encoder.extend_transform(categories) if len(column.encoder) else \
                column.encoder.fit_transform(categories)
            n_new = len(column.encoder) - column.rows.shape[0]
            if n_new:
                new = column.encoder.classes_[column.rows.shape[0]:]
                column.rows = np.concatenate(
                    [column.rows, self._new_rows([f"{column.label}={v}" for v in new])])
        elif len(column.encoder) == 0:
            return np.full(categories.shape[0], UNKNOWN, dtype=np.int32)
        else:
            local = column.encoder.transform(categories)
        return np.where(local >= 0, column.rows[np.maximum(local, 0)], UNKNOWN).astype(np.int32)

    def _encode(self, column, values, grow):
        n = values.shape[0]
        if column.kind == "numeric":
            x = (self._numeric(values, column.name) - column.mean) / column.scale
            limit = np.finfo(self.dtype).max
            if n and not np.max(np.abs(x)) <= limit:
                raise ValueError(
                    f"Numeric column {column.name!r} holds values that are beyond the range of {self.dtype.name} "
                    f"(about {limit:.3g}) as the model sees them{' after standardizing' if self.standardize else ''}; "
                    "rescale the column or use dtype='float64'.")
            return np.arange(n, dtype=np.int64), np.full(n, column.row, dtype=np.int32), x
        if column.kind == "id":
            categories = _clean_id_column(values, column.label)
            samples, weights = np.arange(n, dtype=np.int64), np.ones(n)
        elif column.kind == "categorical":
            keep = np.array([not is_missing(v) for v in values.tolist()], dtype=bool) \
                if values.dtype.kind == "O" else np.ones(n, dtype=bool)
            samples = np.flatnonzero(keep).astype(np.int64)
            categories = _clean_categories(values[keep])
            weights = np.ones(samples.shape[0])
        else:
            samples, cats, weights = [], [], []
            sep = self.multi_value_separator
            for s, cell in enumerate(values.tolist()):
                if is_missing(cell):
                    continue
                if isinstance(cell, str) and sep is not None:
                    cell = cell.split(sep) if cell else []
                elif not isinstance(cell, _MULTI_TYPES):
                    cell = [cell]
                cell = [v for v in (cell.tolist() if isinstance(cell, np.ndarray) else cell) if not is_missing(v)]
                if not cell:
                    continue
                weight = 1.0 / len(cell) if self.multi_value_weight == "mean" else 1.0
                samples.extend([s] * len(cell))
                cats.extend(cell)
                weights.extend([weight] * len(cell))
            samples = np.asarray(samples, dtype=np.int64)
            weights = np.asarray(weights, dtype=np.float64)
            categories = _clean_categories(np.asarray(cats, dtype=object)) if cats else np.empty(0, dtype=str)
        if categories.shape[0] == 0:
            return samples, np.empty(0, dtype=np.int32), weights
        rows = self._lookup(column, categories, grow)
        known = rows != UNKNOWN
        return samples[known], rows[known], weights[known]

    def position(self, key):
        """Column position of a column name (or position) given by the user."""
        if key in self.names:
            return self.names.index(key)
        if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool) \
                and 0 <= key < len(self.columns):
            return int(key)
        raise KeyError(f"Unknown column {key!r}; the model was fitted with columns {self.names}.")


class _RawColumns:
    """Raw columns of ``X``: a list of (dtype hint, 1-D array), their count of rows and names."""

    def __init__(self, cols, n_rows, names):
        self.cols = cols
        self.n_rows = n_rows
        self.names = names

    @property
    def shape(self):
        return (self.n_rows, len(self.cols))
