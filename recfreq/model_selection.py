"""Splitting interaction data for the evaluation of recommenders.

Interaction data is ``X``: an array-like or a pandas DataFrame whose first
two columns are the user id and the item id (any hashable ids: ints or
strings; missing ids -- NaN, None, ``pandas.NA`` -- and complex ids are
refused, because a NaN id is not equal to itself and could never be found
again).  Further columns are carried along unchanged.  ``y`` (ratings or
labels) and ``timestamps`` are optional 1-D arrays aligned with the rows of
``X``.

Every function here is vectorised over users (sorting and grouping with
``argsort``/``lexsort``/``np.unique``), so splitting MovieLens-25M
(162k users, 25M rows) needs no Python loop over users.

Public names
------------
train_test_split
    Random, per-user stratified or global-time hold-out split.
leave_one_out_split
    The latest (or a random) interaction of every user goes to test.
sample_negatives
    Items a user never interacted with, drawn uniformly, seeded.
RatingKFold
    K-fold cross-validation splitter usable as ``cv=`` in scikit-learn.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterator, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

from ._typing import ArrayLike, RandomStateLike

__all__ = [
    "train_test_split",
    "leave_one_out_split",
    "sample_negatives",
    "RatingKFold",
]

_STRATEGIES = ("random", "user", "time")


# --------------------------------------------------------------------------
# Private helpers: reading ids, grouping
# --------------------------------------------------------------------------


def _tidy_ids(col):
    """Give an object column of ids a native dtype when it is homogeneous.

    Columns coming from Python lists arrive as ``object``; int or str ids
    stored natively sort and search much faster.  Mixed columns (ints and
    strings together) stay ``object`` because converting them would turn
    ``1`` into ``"1"`` and change the ids.
    """
    if col.dtype != object or col.size == 0:
        return col
    try:
        tidy = np.array(col.tolist())
    except (ValueError, TypeError):  # pragma: no cover - exotic objects
        return col
    if tidy.ndim != 1:
        return col
    if tidy.dtype.kind in "iub":
        return tidy
    if tidy.dtype.kind == "U" and all(isinstance(v, str) for v in col):
        return tidy
    if tidy.dtype.kind == "f" and not any(isinstance(v, (str, bytes)) for v in col):
        return tidy
    return col


def _missing_value(v):
    """True for a missing id: None, NaN, pandas.NA, NaT (anything not equal to itself)."""
    if v is None:
        return True
    try:
        return bool(v != v)
    except TypeError:  # pandas.NA: its truth value is ambiguous, and it is missing
        return True
    except ValueError:  # an array inside an object column: not a missing scalar
        return False


def _check_id_values(ids, name):
    """Refuse ids that cannot identify anything: missing, infinite or complex.

    NaN is the root of the trouble: it is not equal to itself, so a NaN id
    can be grouped (``np.unique`` collapses NaNs) but never looked up again,
    and ``sample_negatives`` would offer it as an item nobody interacted
    with.  None and ``pandas.NA`` are missing values in object columns.
    Complex ids are refused as the estimators refuse them.
    """
    kind = ids.dtype.kind
    if kind == "c":
        raise TypeError(
            f"{name} are complex numbers ({ids.dtype}); ids must be integers or strings."
        )
    if kind == "f":
        bad = ~np.isfinite(ids)
    elif kind in "mM":
        bad = np.isnat(ids)
    elif kind == "O":
        values = ids.tolist()
        if any(isinstance(v, (complex, np.complexfloating)) for v in values):
            raise TypeError(f"{name} contain complex numbers; ids must be integers or strings.")
        bad = np.fromiter((_missing_value(v) for v in values), dtype=bool, count=len(values))
        bad |= np.fromiter(
            (isinstance(v, (float, np.floating)) and not np.isfinite(v) for v in values),
            dtype=bool, count=len(values),
        )
    else:
        return ids
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{name} contain a missing or infinite value ({ids[row : row + 1].tolist()[0]!r} "
            f"at row {row}); drop or fill those rows first."
        )
    return ids


def _interaction_ids(X, name="X"):
    """Return the user-id and item-id columns of interaction data.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_columns >= 2)
        Interaction data; columns 0 and 1 are user id and item id.
    name : str
        Name used in error messages.

    Returns
    -------
    users, items : ndarray of shape (n_samples,)
        The id columns, in their own dtype (``object`` for mixed ids).
    """
    if X is None:
        raise TypeError(f"{name} must be array-like interaction data, got None.")
    if sp.issparse(X):
        raise TypeError(f"{name} must be a dense array or DataFrame, not a sparse matrix.")
    if hasattr(X, "iloc"):
        if X.ndim != 2 or X.shape[1] < 2:
            raise ValueError(
                f"{name} must have at least 2 columns (user id, item id); "
                f"got shape {X.shape}."
            )
        users = _tidy_ids(X.iloc[:, 0].to_numpy())
        items = _tidy_ids(X.iloc[:, 1].to_numpy())
    else:
        arr = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(
                f"{name} must be 2-D with at least 2 columns (user id, item id); "
                f"got an array of shape {arr.shape}."
            )
        users = _tidy_ids(arr[:, 0])
        items = _tidy_ids(arr[:, 1])
    if users.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one interaction is required.")
    users = _check_id_values(users, f"{name} user ids")
    items = _check_id_values(items, f"{name} item ids")
    return users, items


def _factorize(values):
    """Encode ids as contiguous codes.

    Returns
    -------
    codes : ndarray of int64
        ``uniques[codes] == values``.
    uniques : ndarray
        Distinct ids, sorted when the ids are mutually orderable, else in
        order of first appearance (e.g. ints mixed with strings).
    """
    values = np.asarray(values)
    try:
        uniques, codes = np.unique(values, return_inverse=True)
        return codes.reshape(-1).astype(np.int64, copy=False), uniques
    except TypeError:
        # Unorderable mixtures: a hash table is the only option left.
        table = {}
        codes = np.fromiter(
            (table.setdefault(v, len(table)) for v in values.tolist()),
            dtype=np.int64,
            count=values.shape[0],
        )
        uniques = np.empty(len(table), dtype=object)
        uniques[:] = list(table)
        return codes, uniques


def _lookup(uniques, values):
    """Code of every value in ``uniques`` (as made by `_factorize`), -1 if absent.

    ``uniques`` must not be empty (`_factorize` of a non-empty column never is).
    """
    values = np.asarray(values)
    if uniques.dtype != object:
        # Native uniques are sorted by np.unique: one vectorised binary search.
        try:
            pos = np.minimum(np.searchsorted(uniques, values), uniques.shape[0] - 1)
            found = uniques[pos] == values
            # NumPy 1.x answers an impossible comparison (ints against
            # strings) with one scalar False; NumPy 2 with an array.
            if isinstance(found, np.ndarray) and found.shape == values.shape:
                return np.where(found, pos, -1).astype(np.int64, copy=False)
        except (TypeError, ValueError):
            pass
    # Object uniques may be in first-appearance order (ids that cannot be
    # ordered, e.g. ints mixed with strings), where a binary search can miss
    # a present id without raising: a hash table is always right.
    table = {v: i for i, v in enumerate(uniques.tolist())}
    return np.fromiter(
        (table.get(v, -1) for v in values.tolist()),
        dtype=np.int64,
        count=values.shape[0],
    )


def _group_rank(codes, order):
    """Position of every row inside its group, given rows sorted by group.

    ``order`` must list the rows grouped by ``codes`` (rows of one group are
    consecutive).  Returns, in sorted order, 0 for the first row of each
    group, 1 for the second, ...; plus the group sizes.
    """
    counts = np.bincount(codes)
    starts = np.cumsum(counts) - counts
    sorted_codes = codes[order]
    return np.arange(codes.shape[0]) - starts[sorted_codes], counts


def _grouped_random_order(codes, rng):
    """Rows grouped by code, in uniformly random order inside each group."""
    perm = rng.permutation(codes.shape[0])
    return perm[np.argsort(codes[perm], kind="stable")]


def _n_samples(a, name):
    if hasattr(a, "shape") and len(a.shape) > 0:
        return a.shape[0]
    try:
        return len(a)
    except TypeError:
        raise TypeError(f"{name} must be array-like, got {type(a).__name__}.") from None


def _check_aligned(n, y, timestamps):
    """Validate y and timestamps lengths; return timestamps as an ndarray or None."""
    n_y = None if y is None else _n_samples(y, "y")
    if n_y is not None and n_y != n:
        raise ValueError(f"y has {n_y} rows but X has {n}.")
    if timestamps is None:
        return None
    ts = np.asarray(timestamps)
    if ts.ndim != 1:
        raise ValueError(f"timestamps must be 1-D, got shape {ts.shape}.")
    if ts.shape[0] != n:
        raise ValueError(f"timestamps has {ts.shape[0]} rows but X has {n}.")
    if ts.dtype.kind not in "iufmMO":
        # Strings sort lexicographically ("10" < "9") and complex numbers by
        # real part first: neither orders events in time.
        raise TypeError(
            f"timestamps must be numbers or datetime64, got dtype {ts.dtype}."
        )
    if ts.dtype.kind == "O" and any(
        isinstance(v, (str, bytes, complex, np.complexfloating)) for v in ts.tolist()
    ):
        raise TypeError("timestamps must be numbers or datetimes, not strings or complex numbers.")
    if ts.dtype.kind == "f" and np.isnan(ts).any():
        raise ValueError("timestamps contain NaN.")
    if ts.dtype.kind == "O" and any(_missing_value(v) for v in ts.tolist()):
        raise ValueError("timestamps contain a missing value (None, NaN, NA or NaT).")
    if ts.dtype.kind == "M" and np.isnat(ts).any():
        raise ValueError("timestamps contain NaT.")
    return ts


def _take_rows(a, index):
    """Rows ``index`` of an array, a list or a DataFrame / Series (kept as its own type)."""
    if hasattr(a, "iloc"):
        return a.iloc[index]
    if isinstance(a, np.ndarray):
        return a[index]
    return [a[i] for i in index]


def _split_outputs(test_mask, X, y, timestamps):
    """Index X, y and timestamps (the ones given) into train and test parts."""
    train_idx = np.flatnonzero(~test_mask)
    test_idx = np.flatnonzero(test_mask)
    out = []
    for a in (X, y, timestamps):
        if a is not None:
            out.append(_take_rows(a, train_idx))
            out.append(_take_rows(a, test_idx))
    return out


# --------------------------------------------------------------------------
# train_test_split
# --------------------------------------------------------------------------


def _check_test_size(test_size, n, strategy):
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(
        test_size, numbers.Real
    ):
        raise TypeError(
            f"test_size must be a float in (0, 1) or a positive int, got {test_size!r}."
        )
    if isinstance(test_size, numbers.Integral):
        test_size = int(test_size)
        if test_size < 1:
            raise ValueError(f"test_size={test_size} must be >= 1 when an int.")
        if strategy != "user" and test_size >= n:
            raise ValueError(
                f"test_size={test_size} must be smaller than the number of "
                f"interactions ({n}) so that the training set is not empty."
            )
        # A per-user count is capped at n_u - 1 < n anyway; capping here keeps
        # a huge int (2**70) from overflowing the int64 count array.
        return min(test_size, n)
    test_size = float(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size={test_size} must be in the open interval (0, 1).")
    return test_size


def _global_test_count(test_size, n):
    # Same rounding as sklearn.model_selection.train_test_split (ceil for test).
    if isinstance(test_size, int):
        return test_size
    n_test = int(np.ceil(test_size * n))
    if n_test >= n:
        raise ValueError(
            f"test_size={test_size} with {n} interactions leaves an empty training set."
        )
    return n_test


def _random_test_mask(n, test_size, shuffle, rng):
    n_test = _global_test_count(test_size, n)
    mask = np.zeros(n, dtype=bool)
    if shuffle:
        mask[rng.permutation(n)[:n_test]] = True
    else:
        mask[n - n_test :] = True
    return mask


def _time_test_mask(timestamps, test_size):
    n = timestamps.shape[0]
    n_test = _global_test_count(test_size, n)
    # Stable sort: equal timestamps keep input order, so the cut is reproducible.
    order = np.argsort(timestamps, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[n - n_test :]] = True
    return mask


def _user_test_counts(counts, test_size, rng):
    """Number of test interactions of every user.

    Float fractions are rounded stochastically (floor plus a Bernoulli draw
    on the remainder) so that the expected test fraction is exactly
    ``test_size`` even when most users have only a handful of rows, where
    plain rounding would bias the overall fraction.
    """
    if isinstance(test_size, int):
        n_test = np.full(counts.shape[0], test_size, dtype=np.int64)
    else:
        exact = test_size * counts
        n_test = np.floor(exact).astype(np.int64)
        n_test += rng.random_sample(counts.shape[0]) < (exact - n_test)
    # Every user keeps at least one training interaction.
    return np.minimum(n_test, np.maximum(counts - 1, 0))


def _user_test_mask(users, test_size, shuffle, rng):
    codes, _ = _factorize(users)
    n = codes.shape[0]
    if shuffle:
        order = _grouped_random_order(codes, rng)
        rank, counts = _group_rank(codes, order)
    else:
        # Rank from the end of each user's rows: the last rows (in input
        # order) go to test, which is "per-user latest" for time-sorted data.
        order = np.lexsort((-np.arange(n), codes))
        rank, counts = _group_rank(codes, order)
    n_test = _user_test_counts(counts, test_size, rng)
    mask = np.zeros(n, dtype=bool)
    mask[order] = rank < n_test[codes[order]]
    return mask


def train_test_split(
    X: ArrayLike,
    y: ArrayLike | None = None,
    timestamps: ArrayLike | None = None,
    *,
    test_size: float | int = 0.2,
    strategy: Literal["random", "user", "time"] = "random",
    shuffle: bool = True,
    random_state: RandomStateLike = None,
) -> list[Any]:
    """Split interactions into a training and a test set.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_columns >= 2)
        Interactions; column 0 is the user id, column 1 the item id, any
        further columns are carried along.
    y : array-like of shape (n_samples,), default=None
        Ratings or labels, split alongside ``X``.
    timestamps : array-like of shape (n_samples,), default=None
        Interaction times (numbers or ``datetime64``).  Required by
        ``strategy="time"``; split alongside ``X`` whenever given.
    test_size : float or int, default=0.2
        Float in (0, 1): fraction of interactions in the test set.  Int: for
        ``"random"`` and ``"time"`` the total number of test interactions;
        for ``"user"`` the number of test interactions *per user*
        (leave-``test_size``-out).
    strategy : {"random", "user", "time"}, default="random"
        ``"random"``: rows are drawn uniformly, exactly like
        :func:`sklearn.model_selection.train_test_split`.

        ``"user"``: stratified per user.  Every user with ``n_u >= 2``
        interactions keeps at least one in training and puts about
        ``test_size * n_u`` in test (see Notes); users with one interaction
        stay in training.

        ``"time"``: a global time cut; the latest ``test_size`` fraction of
        all interactions is the test set.  A global cut is used (rather than
        the latest interactions of every user) because it is the only
        temporal split in which no training interaction happens after a test
        interaction, so the model cannot learn from the future (Meng et al.
        2020).  The per-user "latest" protocol is :func:`leave_one_out_split`
        or ``strategy="user", shuffle=False`` on time-sorted rows.  Test users
        may be absent from training (cold start).
    shuffle : bool, default=True
        ``"random"``: if False the last rows of ``X`` form the test set.
        ``"user"``: if False the last rows of every user (in input order)
        are that user's test rows instead of random ones.  Ignored by
        ``"time"``.
    random_state : int, RandomState instance or None, default=None
        Seed for the row choice and for the stochastic rounding of the
        per-user test counts.

    Returns
    -------
    splitting : list
        ``[X_train, X_test]``, followed by ``y_train, y_test`` if ``y`` is
        given, followed by ``timestamps_train, timestamps_test`` if
        ``timestamps`` is given -- i.e. 2, 4 or 6 items, in the order
        ``X, y, timestamps``.  Each part has the type of its input
        (DataFrame rows are selected with ``.iloc``, lists stay lists).
        Rows keep their original relative order inside each part.

    Raises
    ------
    ValueError
        Empty or 1-column ``X``, missing (NaN/None) ids, misaligned
        ``y``/``timestamps``, NaN timestamps, ``test_size`` out of range, an empty train or test set, an unknown
        ``strategy``, or ``strategy="time"`` without ``timestamps``.

    Notes
    -----
    With ``strategy="user"`` and a float ``test_size`` = t, user u with
    ``n_u`` interactions gets

    .. math:: m_u = \\min(\\lfloor t n_u \\rfloor + B_u,\\; n_u - 1),
              \\quad B_u \\sim \\mathrm{Bernoulli}(t n_u - \\lfloor t n_u \\rfloor)

    test interactions, so ``E[m_u] = t n_u`` whenever the cap does not
    bind; deterministic rounding would give no test interaction at all to a
    user with 2 interactions and ``t = 0.2`` and bias the overall fraction on
    long-tailed data.  The rounding draws come from ``random_state`` even
    when ``shuffle=False``.

    References
    ----------
    Z. Meng, R. McCreadie, C. Macdonald, I. Ounis. "Exploring data splitting
    strategies for the evaluation of recommendation models." RecSys 2020.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 10], [0, 11], [1, 10], [1, 12], [1, 13]])
    >>> y = np.array([5., 3., 4., 2., 1.])
    >>> X_tr, X_te, y_tr, y_te = train_test_split(
    ...     X, y, test_size=0.4, random_state=0)
    >>> len(X_tr), len(X_te)
    (3, 2)
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}.")
    users, _ = _interaction_ids(X)
    n = users.shape[0]
    ts = _check_aligned(n, y, timestamps)
    test_size = _check_test_size(test_size, n, strategy)
    rng = check_random_state(random_state)

    if strategy == "random":
        mask = _random_test_mask(n, test_size, shuffle, rng)
    elif strategy == "time":
        if ts is None:
            raise ValueError('strategy="time" requires timestamps.')
        mask = _time_test_mask(ts, test_size)
    else:
        mask = _user_test_mask(users, test_size, shuffle, rng)
        if not mask.any():
            raise ValueError(
                'strategy="user" produced an empty test set: no user has 2 or '
                "more interactions, or test_size is too small for this data."
            )
    return _split_outputs(mask, X, y, timestamps)


# --------------------------------------------------------------------------
# leave_one_out_split
# --------------------------------------------------------------------------


def leave_one_out_split(
    X: ArrayLike, y: ArrayLike | None = None, timestamps: ArrayLike | None = None,
    random_state: RandomStateLike = None,
) -> list[Any]:
    """Hold out one interaction per user: the latest one (NCF protocol).

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_columns >= 2)
        Interactions; column 0 user id, column 1 item id, further columns
        carried along.
    y : array-like of shape (n_samples,), default=None
        Ratings or labels, split alongside ``X``.
    timestamps : array-like of shape (n_samples,), default=None
        Interaction times.  When given, each user's latest interaction is
        held out; ties between equal timestamps go to the row that comes
        last in ``X`` (data logs are appended in time order, so the later
        row is the later event).  When None, one interaction per user is
        held out uniformly at random (seeded by ``random_state``).
    random_state : int, RandomState instance or None, default=None
        Seed for the random choice when ``timestamps`` is None.

    Returns
    -------
    splitting : list
        ``[X_train, X_test]``, then ``y_train, y_test`` if ``y`` is given,
        then ``timestamps_train, timestamps_test`` if ``timestamps`` is
        given (as :func:`train_test_split`).  The test set has exactly one
        row for every user with at least 2 interactions.

    Notes
    -----
    Users with a single interaction stay entirely in the training set:
    holding it out would leave the model nothing to learn about the user,
    and He et al. filter such users out beforehand.

    References
    ----------
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu, T.-S. Chua. "Neural
    Collaborative Filtering." WWW 2017.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 10], [0, 11], [1, 12]])
    >>> X_tr, X_te, t_tr, t_te = leave_one_out_split(X, timestamps=[2, 1, 5])
    >>> X_te.tolist()
    [[0, 10]]
    """
    users, _ = _interaction_ids(X)
    n = users.shape[0]
    ts = _check_aligned(n, y, timestamps)
    codes, _ = _factorize(users)
    if ts is None:
        order = _grouped_random_order(codes, check_random_state(random_state))
    else:
        # Primary key user, then time, then row position (the tie-break).
        order = np.lexsort((np.arange(n), ts, codes))
    rank, counts = _group_rank(codes, order)
    sorted_codes = codes[order]
    is_last = rank == counts[sorted_codes] - 1
    mask = np.zeros(n, dtype=bool)
    mask[order] = is_last & (counts[sorted_codes] >= 2)
    return _split_outputs(mask, X, y, timestamps)


# --------------------------------------------------------------------------
# sample_negatives
# --------------------------------------------------------------------------


def _check_positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    return int(value)


def _as_id_vector(values, name):
    if hasattr(values, "to_numpy"):  # pandas Series / Index
        values = values.to_numpy()
    # A list goes through object dtype, as the columns of X do: np.asarray
    # would turn [1, "a"] into the strings "1", "a" and change the ids.
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty.")
    return _check_id_values(_tidy_ids(arr), name)


def _positive_keys(interactions, user_uniques, item_uniques):
    """Sorted unique keys ``user_code * n_items + item_code`` of known pairs."""
    n_items = item_uniques.shape[0]
    keys = []
    for data, name in interactions:
        users, items = _interaction_ids(data, name)
        u = _lookup(user_uniques, users)
        i = _lookup(item_uniques, items)
        keep = (u >= 0) & (i >= 0)  # pairs outside the requested users/universe
        keys.append(u[keep] * n_items + i[keep])
    return np.unique(np.concatenate(keys))


def _distinct_ranks(m, k, rng):
    """For every row r, ``k`` distinct integers drawn uniformly from [0, m[r])."""
    n = m.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    # Rejecting duplicates wastes most draws once k is close to m; for
    # those rows a random permutation of the small range [0, m) is exact.
    dense = m < 2 * k
    if dense.any():
        md = m[dense]
        width = int(md.max())
        keys = rng.random_sample((md.shape[0], width))
        keys[np.arange(width) >= md[:, None]] = np.inf
        out[dense] = np.argsort(keys, axis=1)[:, :k]
    sparse = np.flatnonzero(~dense)
    if sparse.size:
        ms = m[sparse][:, None]
        draws = np.minimum((rng.random_sample((sparse.size, k)) * ms).astype(np.int64), ms - 1)
        active = np.arange(sparse.size)
        while active.size:
            block = draws[active]
            order = np.argsort(block, axis=1, kind="stable")
            srt = np.take_along_axis(block, order, axis=1)
            dup_sorted = np.zeros_like(block, dtype=bool)
            dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
            dup = np.empty_like(dup_sorted)
            np.put_along_axis(dup, order, dup_sorted, axis=1)
            rows, cols = np.nonzero(dup)
            if rows.size == 0:
                break
            mr = ms[active[rows], 0]
            block[rows, cols] = np.minimum(
                (rng.random_sample(rows.size) * mr).astype(np.int64), mr - 1
            )
            draws[active] = block
            active = active[np.unique(rows)]
        out[sparse] = draws
    return out


def sample_negatives(
    X: ArrayLike, users: ArrayLike | None = None, n_negatives: int = 99,
    random_state: RandomStateLike = None, items: ArrayLike | None = None,
    exclude: ArrayLike | None = None,
) -> np.ndarray:
    """Sample items each user never interacted with.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_columns >= 2)
        Known interactions (column 0 user id, column 1 item id); their items
        are never returned for their user.
    users : array-like of shape (n_users,), default=None
        Users to sample for, one output row per entry; repeated users get
        independent draws (e.g. pass the test set's user column to get
        negatives for every test positive).  Default: the distinct users of
        ``X``, sorted (in order of first appearance if the ids cannot be
        ordered, e.g. ints mixed with strings).
    n_negatives : int, default=99
        Distinct negatives per row (99 is the NCF evaluation protocol).
    random_state : int, RandomState instance or None, default=None
        Seed.
    items : array-like, default=None
        The item universe to draw from; default the distinct items of ``X``.
        Duplicates are ignored.
    exclude : array-like or DataFrame, default=None
        More interactions (same layout as ``X``, e.g. the test positives)
        whose items are also never returned for their user.

    Returns
    -------
    negatives : ndarray of shape (n_users, n_negatives)
        Item ids in the dtype of the item universe.  Each row holds distinct
        items, none of which the user has in ``X`` or ``exclude``.

    Raises
    ------
    ValueError
        If a user has fewer than ``n_negatives`` candidate items,
        ``n_negatives`` exceeds the item universe, or for empty or malformed
        inputs, including missing (NaN/None) ids in ``X``, ``users`` or
        ``items``.
    TypeError
        ``n_negatives`` not an int, or complex ids.

    Notes
    -----
    Sampling is exact and vectorised.  With P_u the sorted universe codes
    p_0 < p_1 < ... of user u's positives, the r-th (0-based) non-positive
    item is

    .. math:: c_u(r) = r + \\#\\{i : p_i - i \\le r\\},

    because ``p_i - i`` (the number of non-positives below ``p_i``) is
    non-decreasing.  All ``p_i - i`` live in one sorted key array
    ``user * n_items + (p_i - i)``, so one ``np.searchsorted`` maps a whole
    matrix of uniform ranks ``r in [0, n_items - |P_u|)`` to items.  This
    never produces a positive by construction -- unlike rejection against the
    positives, whose acceptance rate collapses for dense users -- and only
    duplicate ranks within a row are rejected and redrawn (rows whose
    candidate count is below ``2 * n_negatives`` use an exact random
    permutation instead).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [0, 1], [1, 2]])
    >>> neg = sample_negatives(X, n_negatives=1, random_state=0)
    >>> neg.tolist()
    [[2], [1]]
    """
    x_users, x_items = _interaction_ids(X)
    n_negatives = _check_positive_int(n_negatives, "n_negatives")
    rng = check_random_state(random_state)

    item_uniques = _factorize(x_items if items is None else _as_id_vector(items, "items"))[1]
    if users is None:
        user_uniques = _factorize(x_users)[1]
        row_codes = np.arange(user_uniques.shape[0])
    else:
        row_codes, user_uniques = _factorize(_as_id_vector(users, "users"))

    n_items = item_uniques.shape[0]
    if n_negatives > n_items:
        raise ValueError(
            f"n_negatives={n_negatives} exceeds the {n_items} items of the universe: "
            "no user can have that many distinct negatives."
        )
    sources = [(X, "X")] + ([] if exclude is None else [(exclude, "exclude")])
    keys = _positive_keys(sources, user_uniques, item_uniques)

    key_users = keys // n_items
    n_pos = np.bincount(key_users, minlength=user_uniques.shape[0])
    n_candidates = n_items - n_pos
    short = np.flatnonzero(n_candidates[row_codes] < n_negatives)
    if short.size:
        u = row_codes[short[0]]
        user = user_uniques[u : u + 1].tolist()[0]  # plain Python id for the message
        raise ValueError(
            f"user {user!r} has only {n_candidates[u]} candidate items "
            f"(universe of {n_items}, {n_pos[u]} positives) but "
            f"n_negatives={n_negatives}; {short.size} requested row(s) are short."
        )

    # adjusted[j] = user * n_items + (p_j - position of p_j within its user):
    # globally sorted, so one searchsorted counts positives below each rank.
    starts = np.searchsorted(key_users, np.arange(user_uniques.shape[0]))
    within = np.arange(keys.shape[0]) - starts[key_users]
    adjusted = keys - within

    ranks = _distinct_ranks(n_candidates[row_codes], n_negatives, rng)
    query = row_codes[:, None] * n_items + ranks
    n_below = np.searchsorted(adjusted, query, side="right") - starts[row_codes][:, None]
    return item_uniques[ranks + n_below]


# --------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------


class RatingKFold(BaseCrossValidator):
    """K-fold cross-validation over interactions, stratified per user.

    Usable as ``cv=`` in :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` and friends.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=True
        Shuffle users and each user's interactions before assigning folds.
        If False the assignment depends only on the row order of ``X`` and
        ``random_state`` is ignored.
    random_state : int, RandomState instance or None, default=None
        Seed used when ``shuffle=True``.
    stratify : {"user", None}, default="user"
        ``"user"``: every user's interactions are dealt round-robin over the
        folds, so a user with ``n_u >= n_splits`` interactions appears in
        every test fold, and a user with ``n_u >= 2`` interactions appears in
        every training fold.  ``None``: plain row-wise K-fold, the same folds as
        :class:`~sklearn.model_selection.KFold` with equal ``shuffle`` and
        ``random_state``.

    Notes
    -----
    With ``stratify="user"``, rows are ordered by (user in random order,
    row in random order) and row number ``j`` of that ordering goes to fold
    ``j mod n_splits``.  Fold sizes therefore differ by at most one, and any
    user has at most :math:`\\lceil n_u / K \\rceil < n_u` interactions in
    one test fold when :math:`n_u \\ge 2`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 1], [0, 2], [0, 3], [1, 1], [1, 2], [1, 3]])
    >>> cv = RatingKFold(n_splits=3, random_state=0)
    >>> [len(test) for _, test in cv.split(X)]
    [2, 2, 2]
    """

    def __init__(self, n_splits=5, *, shuffle=True, random_state=None, stratify="user"):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state
        self.stratify = stratify

    def get_n_splits(self, X: ArrayLike | None = None, y: ArrayLike | None = None,
                     groups: object = None) -> int:
        """Return the number of splitting iterations, ``n_splits``."""
        return self.n_splits

    def _check_params(self):
        n_splits = self.n_splits
        if isinstance(n_splits, (bool, np.bool_)) or not isinstance(n_splits, numbers.Integral):
            raise TypeError(f"n_splits must be an int, got {n_splits!r}.")
        if n_splits < 2:
            raise ValueError(f"n_splits must be at least 2, got {n_splits}.")
        if self.stratify not in ("user", None):
            raise ValueError(f'stratify must be "user" or None, got {self.stratify!r}.')

    def split(self, X: ArrayLike, y: ArrayLike | None = None,
              groups: object = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate train and test row indices.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns >= 2)
            Interactions; column 0 user id, column 1 item id.
        y : array-like of shape (n_samples,), default=None
            Ignored apart from its length.
        groups : None
            Ignored; present for API compatibility.

        Yields
        ------
        train : ndarray
            Training row indices of the fold.
        test : ndarray
            Test row indices of the fold.
        """
        self._check_params()
        users, _ = _interaction_ids(X)
        n = users.shape[0]
        _check_aligned(n, y, None)
        if self.n_splits > n:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number "
                f"of interactions ({n})."
            )
        yield from super().split(X, y, groups)

    def _fold_of_rows(self, X):
        users, _ = _interaction_ids(X)
        n = users.shape[0]
        rng = check_random_state(self.random_state) if self.shuffle else None
        if self.stratify is None:
            # Same permutation and block sizes as sklearn's KFold.
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            sizes = np.full(self.n_splits, n // self.n_splits)
            sizes[: n % self.n_splits] += 1
            fold = np.empty(n, dtype=np.int64)
            fold[order] = np.repeat(np.arange(self.n_splits), sizes)
            return fold
        codes, uniques = _factorize(users)
        if self.shuffle:
            user_key = rng.permutation(uniques.shape[0])[codes]
            row_key = rng.permutation(n)
        else:
            user_key, row_key = codes, np.arange(n)
        order = np.lexsort((row_key, user_key))
        fold = np.empty(n, dtype=np.int64)
        fold[order] = np.arange(n) % self.n_splits
        return fold

    def _iter_test_indices(self, X=None, y=None, groups=None):
        fold = self._fold_of_rows(X)
        for k in range(self.n_splits):
            yield np.flatnonzero(fold == k)
