"""Parameter constraints and input checks shared by every estimator.

Everything a compiled kernel trusts is established here: ids are turned into
one clean 1-D array per column, ratings are finite floats of the model dtype,
lengths agree and nothing is empty. Kernels run with bounds checks off, so a
value that slips through here corrupts memory instead of raising.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning

from ._param_validation import Interval, StrOptions
from ._solvers import SOLVER_NAMES

__all__ = [
    "COMMON_PARAMETER_CONSTRAINTS",
    "MIXED_DIM_PARAMETER_CONSTRAINTS",
    "check_id_columns",
    "check_positive_integer",
    "check_ratings",
    "check_values_fit_dtype",
    "implicit_positives",
    "resolve_dtype",
]

_INT64_MIN, _INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max

#: Constraints of the parameters every iterative recommender shares, in the
#: format of scikit-learn's ``_parameter_constraints`` (checked at ``fit``).
COMMON_PARAMETER_CONSTRAINTS = {
    "solver": [StrOptions(set(SOLVER_NAMES))],
    "learning_rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
    "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    "frequency_exponent": [Interval(numbers.Real, 0, None, closed="left")],
    "counter_halflife": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "dtype": [StrOptions({"float32", "float64"}), type],
    "device": [StrOptions({"cpu", "cuda"})],
    "n_jobs": [numbers.Integral, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
}

#: Constraints of the mixed-dimension embedding parameters (docs/embeddings.md),
#: shared by the models that offer ``embedding_dims="mixed"``.
MIXED_DIM_PARAMETER_CONSTRAINTS = {
    "embedding_dims": [StrOptions({"uniform", "mixed"})],
    "mixed_dim_exponent": [Interval(numbers.Real, 0, None, closed="left")],
    "n_dim_blocks": [Interval(numbers.Integral, 1, None, closed="left")],
    "dense_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
}


def resolve_dtype(dtype):
    """Map the ``dtype`` parameter (``"float32"``, ``np.float64``, ...) to a NumPy dtype."""
    resolved = np.dtype(dtype)
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")
    return resolved


def as_id_array(ids):
    """``ids`` as an array without reinterpreting them.

    ``np.asarray([2**63, -5])`` gives float64 (no NumPy integer type holds
    both), which would turn exact ids into rounded floats; a list or tuple
    becomes an object array instead, each id kept as given, for the id
    checks to clean.
    """
    if isinstance(ids, np.ndarray) or hasattr(ids, "to_numpy"):
        return np.asarray(ids.to_numpy() if hasattr(ids, "to_numpy") else ids)
    array = np.asarray(ids)
    if isinstance(ids, (list, tuple)) and array.dtype.kind == "f" and array.ndim == 1:
        array = np.empty(len(ids), dtype=object)
        array[:] = list(ids)
    return array


def check_positive_integer(value, name):
    """``value`` as a Python int >= 1, or a ValueError naming ``name`` (booleans refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _as_2d(X):
    """Return (columns accessor, n_rows, n_columns) without copying DataFrames."""
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        return (lambda j: X.iloc[:, j].to_numpy()), X.shape[0], X.shape[1]
    if sp.issparse(X):
        raise TypeError(
            "A sparse matrix was passed, but this estimator expects a dense array or "
            "DataFrame whose first two columns are user ids and item ids."
        )
    array = np.asarray(X) if isinstance(X, np.ndarray) else _list_to_array(X)
    if array.dtype.kind == "c":
        raise ValueError("Complex data not supported: ids must be integers or strings.")
    if array.ndim != 2:
        raise ValueError(
            f"Expected 2D array-like of (user id, item id) rows, got {array.ndim}D array "
            "instead. Reshape your data, e.g. np.column_stack([users, items])."
        )
    return (lambda j: array[:, j]), array.shape[0], array.shape[1]


def _list_to_array(X):
    # np.asarray would turn [("a", 1)] into strings "a", "1" and hide a mix of
    # string and integer ids; object dtype keeps each value as it was given.
    try:
        array = np.asarray(X)
    except ValueError as exc:  # ragged rows
        raise ValueError(f"Could not read X as a 2D array: {exc}") from None
    if array.dtype.kind in "US":
        array = np.asarray(X, dtype=object)
    return array


def _clean_id_column(values, name):
    """One id column as a 1-D array of int64, str, or object (huge Python ints)."""
    values = np.asarray(values)
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    if values.dtype.kind == "i":
        return values.astype(np.int64, copy=False)
    if values.dtype.kind == "u":
        if values.size and values.max() > _INT64_MAX:
            return values.astype(object)
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise ValueError(f"{name} ids contain NaN or infinity.")
        if not (values == np.floor(values)).all():
            bad = values[values != np.floor(values)][0]
            raise ValueError(
                f"{name} ids must be integers or strings; got a non-integral float id "
                f"({bad!r}). Encode or round the ids before fitting."
            )
        if values.size and (values.min() < _INT64_MIN or values.max() >= 2.0**63):
            raise ValueError(f"{name} ids given as floats exceed the int64 range; pass them as integers or strings.")
        return values.astype(np.int64)
    if values.dtype.kind in "US":
        return values.astype(str)
    if values.dtype.kind == "O":
        return _clean_object_ids(values, name)
    raise TypeError(f"{name} ids of dtype {values.dtype} are not supported; use integers or strings.")


def _clean_object_ids(values, name):
    kinds = set()
    for v in values:
        if isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, (bool, np.bool_)) or isinstance(v, numbers.Integral):
            kinds.add("int")
        elif isinstance(v, numbers.Real):
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"{name} ids contain NaN or infinity (missing ids are not allowed).")
            if float(v) != int(v):
                raise ValueError(f"{name} ids must be integers or strings; got a non-integral float id ({v!r}).")
            kinds.add("int")
        elif v is None:
            raise ValueError(f"{name} ids contain None (missing ids are not allowed).")
        else:
            raise TypeError(f"{name} ids must be integers or strings; got a value of type {type(v).__name__}.")
        if len(kinds) > 1:
            raise TypeError(
                f"{name} ids mix strings and numbers; use one kind of id per column "
                "(e.g. convert every id with str())."
            )
    if kinds == {"str"}:
        return values.astype(str)
    ints = [int(v) for v in values]
    if all(_INT64_MIN <= v <= _INT64_MAX for v in ints):
        return np.asarray(ints, dtype=np.int64)
    return np.asarray(ints, dtype=object)  # beyond int64: still hashable, still ordered


def check_id_columns(X, *, estimator_name, n_required=2, names=("user", "item")):
    """Validate ``X`` and return its first ``n_required`` columns as clean id arrays.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_columns)
        Column 0 holds user ids and column 1 item ids. Further columns are
        ignored with a warning (models without side features).
    estimator_name : str
        Used in messages.

    Returns
    -------
    columns : list of ndarray
        One 1-D array per id column: int64, str, or object for integers
        beyond int64.
    n_columns : int
        Number of columns of ``X``.

    Raises
    ------
    ValueError
        Wrong number of dimensions or columns, no rows, NaN/inf or non-integral
        float ids.
    TypeError
        Sparse input, mixed string/number ids, unsupported id types.
    """
    column, n_rows, n_columns = _as_2d(X)
    if n_columns < n_required:
        raise ValueError(
            f"Found array with {n_columns} feature(s) (shape=({n_rows}, {n_columns})) while a minimum "
            f"of {n_required} is required by {estimator_name}: the first columns of X must hold "
            f"the {' and '.join(names)} ids."
        )
    if n_rows == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape=({n_rows}, {n_columns})) while a minimum of 1 is required by {estimator_name}.")
    if n_columns > n_required:
        warnings.warn(
            f"{estimator_name} uses only the first {n_required} columns of X "
            f"({', '.join(names)} ids); the other {n_columns - n_required} are ignored.",
            UserWarning,
            stacklevel=3,
        )
    return [_clean_id_column(column(j), names[j]) for j in range(n_required)], n_columns


def as_target_vector(y, n_samples, what):
    """``y`` as a 1-D ndarray of ``n_samples`` entries (``what``: "ratings", "labels", ...).

    The checks every target shares: present, dense, 1-D (a column vector is
    ravelled with scikit-learn's DataConversionWarning), one entry per row of X.
    """
    if y is None:
        raise ValueError(f"This estimator requires y to be passed, but the target y is None (y holds the {what}).")
    if sp.issparse(y):
        raise TypeError(f"y must be a dense 1-D array of {what}, not a sparse matrix.")
    y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one entry per row of X, the {what}); got shape {y.shape}.")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has {n_samples} rows, y has {y.shape[0]}."
        )
    return y


def check_values_fit_dtype(values, dtype, what):
    """Raise if finite float64 ``values`` lie outside the range of ``dtype``."""
    limit = np.finfo(dtype).max
    if values.size and np.max(np.abs(values)) > limit:
        worst = values[np.argmax(np.abs(values))]
        raise ValueError(
            f"{what} holds {worst:.4g}, beyond the range of {np.dtype(dtype).name} (about {limit:.3g}); "
            "rescale it or use dtype='float64'."
        )


def _real_target(y, n_samples, what):
    """``y`` as a 1-D array of real numbers (its own numeric dtype); complex or non-numeric values refused."""
    y = as_target_vector(y, n_samples, what)
    if y.dtype.kind == "c" or (y.dtype.kind == "O" and any(isinstance(v, complex) for v in y.tolist())):
        raise ValueError(f"Complex data not supported: {what} must be real numbers.")
    if y.dtype.kind not in "biuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"y must hold numeric {what}; got dtype {y.dtype}.") from None
    return y


def check_ratings(y, n_samples, dtype):
    """Validate the target: 1-D, finite, real, numeric, ``n_samples`` long, representable in ``dtype``."""
    y = _real_target(y, n_samples, "ratings")
    as_double = y.astype(np.float64, copy=False)
    if not np.isfinite(as_double).all():
        raise ValueError("Input y contains NaN or infinity; every rating must be a finite number.")
    check_values_fit_dtype(as_double, dtype, "y")
    return np.ascontiguousarray(y.astype(dtype, copy=False))


def implicit_positives(y, n_samples, positive_threshold):
    """Which rows of implicit-feedback data are positive interactions (a boolean mask).

    ``y`` None: every row. With ``positive_threshold``: rows whose ``y`` is at
    least the threshold. Otherwise rows with ``y > 0``: 0/1 labels (0 an
    explicit negative) and booleans work as they are, and every rated row of
    explicit ratings counts (as :class:`recfreq.metrics.RankingScorer` reads
    ``y`` without a threshold).
    """
    if y is None:
        return np.ones(n_samples, dtype=bool)
    y = _real_target(y, n_samples, "0/1 labels or ratings").astype(np.float64)
    if not np.isfinite(y).all():
        raise ValueError("Input y contains NaN or infinity.")
    return y >= positive_threshold if positive_threshold is not None else y > 0
