"""Rating and ranking metrics, and scikit-learn scorers for recommenders.

Rating metrics
--------------
rmse, mae
    Errors of predicted ratings.

Ranking metrics
---------------
precision_at_k, recall_at_k, ndcg_at_k, hit_rate_at_k, mean_reciprocal_rank
    ``metric(relevant, recommended, k)``.  ``recommended`` is a 2-D
    array-like (n_users, n_columns) of item ids, best first, or the
    ``(item_ids, scores)`` tuple returned by an estimator's ``recommend``
    (its first element is used).  ``relevant`` has one entry per user: a
    collection of relevant item ids, or a single id (the leave-one-out
    case).  Each metric returns the mean over users that have at least one
    relevant item (``average=False`` gives the per-user values, NaN for
    users without relevant items).

Scorers
-------
scikit-learn's ``GridSearchCV(scoring="...")`` only resolves its own names,
so pass a scorer object instead::

    GridSearchCV(est, grid, scoring=recfreq.metrics.get_scorer("ndcg@10"))
    GridSearchCV(est, grid, scoring=recfreq.metrics.neg_rmse_scorer)

``get_scorer`` knows the names in ``SCORERS``:

=================  ========================================================
``"neg_rmse"``     ``-rmse(y, estimator.predict(X))``
``"neg_mae"``      ``-mae(y, estimator.predict(X))``
``"hit_rate@K"``   hit rate at K of ``estimator.recommend`` (any K >= 1)
``"ndcg@K"``       nDCG at K
``"precision@K"``  precision at K
``"recall@K"``     recall at K
``"mrr"``          mean reciprocal rank within the top 10 (``"mrr@K"``: K)
=================  ========================================================

Any other name is passed on to :func:`sklearn.metrics.get_scorer`; for
instance scikit-learn's own ``scoring="neg_root_mean_squared_error"`` works
directly with the rating estimators because they are regressors.
"""

from __future__ import annotations

import numbers
import re
from typing import Any, Callable, Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import make_scorer

from .model_selection import _check_id_values, _factorize, _interaction_ids, _lookup, _tidy_ids

RankingMetric = Literal["hit_rate", "ndcg", "precision", "recall", "mrr"]

__all__ = [
    "rmse",
    "mae",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "mean_reciprocal_rank",
    "RankingScorer",
    "make_ranking_scorer",
    "get_scorer",
    "SCORERS",
    "neg_rmse_scorer",
    "neg_mae_scorer",
]


# --------------------------------------------------------------------------
# Rating metrics
# --------------------------------------------------------------------------


def _as_real_vector(values, name):
    """``values`` as float64, refusing complex and non-numeric input by name.

    ``np.asarray(..., dtype=float64)`` would silently drop the imaginary part
    of a complex array (with only a warning) and fail on strings with a
    message that does not say which argument was wrong.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "c" or (
        arr.dtype.kind == "O"
        and any(isinstance(v, (complex, np.complexfloating)) for v in arr.reshape(-1).tolist())
    ):
        raise TypeError(f"{name} contains complex numbers; ratings must be real.")
    if arr.dtype.kind in "USV" or (arr.dtype.kind == "O" and any(
        isinstance(v, (str, bytes)) for v in arr.reshape(-1).tolist()
    )):
        raise TypeError(f"{name} must hold numbers, got {arr.dtype} values such as strings.")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold numbers: {exc}") from None


def _check_ratings(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = _as_real_vector(y_true, "y_true")
    y_pred = _as_real_vector(y_pred, "y_pred")
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D, got shapes {y_true.shape} and {y_pred.shape}."
        )
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred have different lengths: {y_true.shape[0]} != {y_pred.shape[0]}."
        )
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty.")
    if not np.isfinite(y_true).all():
        raise ValueError("y_true contains NaN or infinity.")
    if not np.isfinite(y_pred).all():
        raise ValueError("y_pred contains NaN or infinity.")
    return y_true, y_pred


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True ratings.
    y_pred : array-like of shape (n_samples,)
        Predicted ratings.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Empty or misaligned inputs, or NaN/infinite values.
    TypeError
        Complex or non-numeric values.

    Notes
    -----
    .. math:: \\mathrm{RMSE} = \\sqrt{\\frac{1}{n}\\sum_{j=1}^n (y_j - \\hat y_j)^2}

    Examples
    --------
    >>> rmse([1, 2, 3], [1, 2, 5])
    1.1547005383792515
    """
    y_true, y_pred = _check_ratings(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True ratings.
    y_pred : array-like of shape (n_samples,)
        Predicted ratings.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Empty or misaligned inputs, or NaN/infinite values.
    TypeError
        Complex or non-numeric values.

    Notes
    -----
    .. math:: \\mathrm{MAE} = \\frac{1}{n}\\sum_{j=1}^n |y_j - \\hat y_j|

    Examples
    --------
    >>> mae([1, 2, 3], [1, 2, 5])
    0.6666666666666666
    """
    y_true, y_pred = _check_ratings(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


# --------------------------------------------------------------------------
# Ranking metrics: shared machinery
# --------------------------------------------------------------------------


def _check_k(k, name="k"):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {k!r}.")
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}.")
    return int(k)


def _as_recommendations(recommended):
    """The 2-D item-id matrix of ``recommended`` (accepting ``(ids, scores)``)."""
    if (
        isinstance(recommended, tuple)
        and len(recommended) == 2
        and np.ndim(recommended[0]) == 2
    ):
        recommended = recommended[0]
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(
            "recommended must be 2-D (n_users, n_items) item ids, best first, "
            f"got shape {rec.shape}."
        )
    if rec.shape[0] == 0:
        raise ValueError("recommended is empty: no users to evaluate.")
    if rec.shape[1] == 0:
        raise ValueError("recommended has no columns: there is no recommendation to evaluate.")
    # A NaN id never equals itself: it would be scored as a silent miss.
    _check_id_values(rec.reshape(-1), "recommended item ids")
    return rec


def _is_collection(value):
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return hasattr(value, "__iter__")


def _flatten_relevant(relevant, n_users):
    """(user row, item id) pairs of ``relevant``, one entry per user row."""
    if hasattr(relevant, "to_numpy"):  # pandas Series
        relevant = relevant.to_numpy()
    if isinstance(relevant, np.ndarray) and relevant.dtype != object and relevant.ndim in (1, 2):
        if relevant.shape[0] != n_users:
            raise ValueError(
                f"relevant has {relevant.shape[0]} entries but recommended has {n_users} rows."
            )
        width = 1 if relevant.ndim == 1 else relevant.shape[1]
        return np.repeat(np.arange(n_users), width), _check_relevant(relevant.reshape(-1))
    try:
        n_rel = len(relevant)
    except TypeError:
        raise TypeError("relevant must be a sequence with one entry per user.") from None
    if n_rel != n_users:
        raise ValueError(f"relevant has {n_rel} entries but recommended has {n_users} rows.")
    # Variable-length sets need one pass in Python; it is O(total relevant).
    lengths = np.empty(n_users, dtype=np.int64)
    flat = []
    for u, entry in enumerate(relevant):
        if _is_collection(entry):
            entry = list(entry)
            lengths[u] = len(entry)
            flat.extend(entry)
        else:
            lengths[u] = 1
            flat.append(entry)
    items = np.empty(len(flat), dtype=object)
    items[:] = flat
    return np.repeat(np.arange(n_users), lengths), _check_relevant(_tidy_ids(items))


def _check_relevant(items):
    try:
        return _check_id_values(items, "relevant item ids")
    except ValueError as exc:
        # NaN is sometimes used to mean "no held-out item"; say what works instead.
        raise ValueError(
            f"{exc} A user without relevant items takes an empty list, not NaN or None."
        ) from None


def _hit_matrix(rel_user, rel_item, rec, n_cols):
    """Binary relevance of the first ``n_cols`` recommendations of every user.

    Returns
    -------
    hits : ndarray of bool, shape (n_users, min(n_cols, rec.shape[1]))
        ``hits[u, j]`` is True when the j-th recommendation of user u is
        relevant and has not been recommended earlier in the same row
        (a duplicated item counts once, so recall and nDCG stay <= 1).
    n_relevant : ndarray of int, shape (n_users,)
        Number of distinct relevant items of every user.
    """
    n_users = rec.shape[0]
    top = rec[:, :n_cols]
    # Items are encoded once so membership is a test on integer keys
    # user * n_codes + code, done for all users at once by np.isin.
    rec_codes, uniques = _factorize(top.reshape(-1))
    n_codes = max(uniques.shape[0], 1)
    rec_keys = np.repeat(np.arange(n_users), top.shape[1]) * n_codes + rec_codes
    rel_codes = _lookup(uniques, rel_item)
    known = rel_codes >= 0
    rel_keys = rel_user[known] * n_codes + rel_codes[known]
    hits = np.isin(rec_keys, rel_keys)
    first = np.zeros(rec_keys.shape[0], dtype=bool)
    first[np.unique(rec_keys, return_index=True)[1]] = True
    hits &= first

    # Distinct relevant items per user, including ones never recommended.
    if rel_item.shape[0]:
        item_codes, item_uniques = _factorize(rel_item)
        pair = np.unique(rel_user * max(item_uniques.shape[0], 1) + item_codes)
        n_relevant = np.bincount(pair // max(item_uniques.shape[0], 1), minlength=n_users)
    else:
        n_relevant = np.zeros(n_users, dtype=np.int64)
    return hits.reshape(top.shape), n_relevant


def _discounts(n):
    return 1.0 / np.log2(np.arange(2, n + 2))


def _per_user(metric, hits, n_relevant, k):
    """Per-user metric values from a hit matrix (users without relevant items: NaN)."""
    # Users without relevant items divide 0 by 0 (NaN, masked below); no
    # metric divides a positive number by zero.
    with np.errstate(invalid="ignore"):
        if metric == "precision":
            values = hits.sum(axis=1) / k
        elif metric == "recall":
            values = hits.sum(axis=1) / n_relevant
        elif metric == "hit_rate":
            values = hits.any(axis=1).astype(np.float64)
        elif metric == "ndcg":
            dcg = hits @ _discounts(hits.shape[1])
            ideal = np.concatenate([[0.0], np.cumsum(_discounts(k))])
            values = dcg / ideal[np.minimum(n_relevant, k)]
        elif metric == "mrr":
            first = np.argmax(hits, axis=1)
            values = np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)
        else:  # pragma: no cover - guarded by callers
            raise ValueError(f"unknown ranking metric {metric!r}")
    return np.where(n_relevant > 0, values, np.nan)


def _ranking_metric(metric, relevant, recommended, k, average, full_list=False):
    rec = _as_recommendations(recommended)
    if full_list:
        k = rec.shape[1]
    else:
        k = _check_k(k)
        if rec.shape[1] < k:
            raise ValueError(
                f"recommended has {rec.shape[1]} columns, fewer than k={k}."
            )
    rel_user, rel_item = _flatten_relevant(relevant, rec.shape[0])
    hits, n_relevant = _hit_matrix(rel_user, rel_item, rec, k)
    values = _per_user(metric, hits, n_relevant, k)
    if not average:
        return values
    if not (n_relevant > 0).any():
        raise ValueError("no user has a relevant item: the metric is undefined.")
    return float(np.nanmean(values))


_RANKING_PARAMS = """
    Parameters
    ----------
    relevant : sequence of length n_users
        Relevant items of every user: a collection of item ids (list, set,
        array) or a single item id (the leave-one-out case).  A 1-D array of
        ids means one relevant item per user.
    recommended : array-like of shape (n_users, n_columns) or tuple
        Recommended item ids per user, best first.  The ``(item_ids,
        scores)`` tuple returned by an estimator's ``recommend`` is accepted;
        its first element is used.
"""

_RANKING_RETURNS = """
    average : bool, default=True
        If False, return the per-user values instead of their mean.

    Returns
    -------
    float or ndarray of shape (n_users,)
        Mean over the users with at least one relevant item; per-user values
        (NaN for users without relevant items) if ``average=False``.

    Raises
    ------
    ValueError
        ``k < 1``, fewer than ``k`` recommendation columns, ``relevant`` and
        ``recommended`` of different lengths, missing (NaN, None) or
        infinite ids in either, or no user with a relevant item.
    TypeError
        ``k`` not an int, or complex ids.
"""


def precision_at_k(
    relevant: ArrayLike | Sequence[Any], recommended: ArrayLike | tuple[ArrayLike, ArrayLike],
    k: int = 10, *, average: bool = True,
) -> float | np.ndarray:
    return _ranking_metric("precision", relevant, recommended, k, average)


def recall_at_k(
    relevant: ArrayLike | Sequence[Any], recommended: ArrayLike | tuple[ArrayLike, ArrayLike],
    k: int = 10, *, average: bool = True,
) -> float | np.ndarray:
    return _ranking_metric("recall", relevant, recommended, k, average)


def hit_rate_at_k(
    relevant: ArrayLike | Sequence[Any], recommended: ArrayLike | tuple[ArrayLike, ArrayLike],
    k: int = 10, *, average: bool = True,
) -> float | np.ndarray:
    return _ranking_metric("hit_rate", relevant, recommended, k, average)


def ndcg_at_k(
    relevant: ArrayLike | Sequence[Any], recommended: ArrayLike | tuple[ArrayLike, ArrayLike],
    k: int = 10, *, average: bool = True,
) -> float | np.ndarray:
    return _ranking_metric("ndcg", relevant, recommended, k, average)


def mean_reciprocal_rank(
    relevant: ArrayLike | Sequence[Any], recommended: ArrayLike | tuple[ArrayLike, ArrayLike],
    k: int | None = None, *, average: bool = True,
) -> float | np.ndarray:
    if k is None:
        return _ranking_metric("mrr", relevant, recommended, None, average, full_list=True)
    return _ranking_metric("mrr", relevant, recommended, k, average)


_K_DOC = """    k : int, default=10
        Cut-off: only the first ``k`` recommendations count.
"""

precision_at_k.__doc__ = (
    """Precision at k: the fraction of the top-k recommendations that are relevant.
"""
    + _RANKING_PARAMS
    + _K_DOC
    + _RANKING_RETURNS
    + """
    Notes
    -----
    With :math:`R_u` the relevant set of user u and :math:`L_u^k` its top-k
    recommendations (a repeated item counts once),

    .. math:: \\mathrm{P@k}(u) = \\frac{|L_u^k \\cap R_u|}{k}

    The denominator is always k, also when :math:`|R_u| < k`.

    Examples
    --------
    >>> precision_at_k([{1, 2}], [[1, 3, 2, 4]], k=2)
    0.5
"""
)

recall_at_k.__doc__ = (
    """Recall at k: the fraction of the relevant items found in the top k.
"""
    + _RANKING_PARAMS
    + _K_DOC
    + _RANKING_RETURNS
    + """
    Notes
    -----
    .. math:: \\mathrm{R@k}(u) = \\frac{|L_u^k \\cap R_u|}{|R_u|}

    The denominator is :math:`|R_u|` (not :math:`\\min(k, |R_u|)`), so a
    user with more than k relevant items cannot reach 1.

    Examples
    --------
    >>> recall_at_k([{1, 2, 5}], [[1, 3, 2, 4]], k=3)
    0.6666666666666666
"""
)

hit_rate_at_k.__doc__ = (
    """Hit rate at k: the fraction of users with a relevant item in their top k.
"""
    + _RANKING_PARAMS
    + _K_DOC
    + _RANKING_RETURNS
    + """
    Notes
    -----
    .. math:: \\mathrm{HR@k}(u) = \\mathbb{1}[\\,|L_u^k \\cap R_u| > 0\\,]

    With one held-out item per user (leave-one-out) this is the HR@k of
    He et al. (2017).

    References
    ----------
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu, T.-S. Chua. "Neural
    Collaborative Filtering." WWW 2017.

    Examples
    --------
    >>> hit_rate_at_k([3, 9], [[1, 3], [4, 5]], k=2)
    0.5
"""
)

ndcg_at_k.__doc__ = (
    """Normalised discounted cumulative gain at k, binary relevance.
"""
    + _RANKING_PARAMS
    + _K_DOC
    + _RANKING_RETURNS
    + """
    Notes
    -----
    With :math:`h_j = 1` when the j-th recommendation (1-based) is relevant
    (a repeated item counts once),

    .. math::

        \\mathrm{DCG@k}(u) = \\sum_{j=1}^{k} \\frac{h_j}{\\log_2(j + 1)}, \\qquad
        \\mathrm{IDCG@k}(u) = \\sum_{j=1}^{\\min(k, |R_u|)} \\frac{1}{\\log_2(j + 1)},

    and :math:`\\mathrm{nDCG@k}(u) = \\mathrm{DCG@k}(u) / \\mathrm{IDCG@k}(u)`,
    which lies in [0, 1] and equals 1 when all top positions are relevant.

    References
    ----------
    K. Järvelin, J. Kekäläinen. "Cumulated gain-based evaluation of IR
    techniques." ACM TOIS 20(4), 2002.

    Examples
    --------
    >>> round(ndcg_at_k([{3}], [[1, 3, 4]], k=3), 6)
    0.63093
"""
)

mean_reciprocal_rank.__doc__ = (
    """Mean reciprocal rank of the first relevant recommendation.
"""
    + _RANKING_PARAMS
    + """    k : int or None, default=None
        Cut-off: a first hit below position k scores 0.  None uses the whole
        list given.
"""
    + _RANKING_RETURNS
    + """
    Notes
    -----
    With :math:`j_u` the 1-based position of the first relevant item among
    the first k recommendations,

    .. math:: \\mathrm{RR}(u) = 1 / j_u  \\quad(0 \\text{ if there is none}),

    and MRR is the mean of RR over users.

    References
    ----------
    E. M. Voorhees. "The TREC-8 question answering track report." TREC 1999.

    Examples
    --------
    >>> mean_reciprocal_rank([2, 7], [[1, 2, 3], [7, 8, 9]])
    0.75
"""
)


# --------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------

_RANKING_METRICS = ("hit_rate", "ndcg", "precision", "recall", "mrr")

neg_rmse_scorer = make_scorer(rmse, greater_is_better=False)
neg_rmse_scorer.__doc__ = "Scorer: ``-rmse(y, estimator.predict(X))`` (greater is better)."
neg_mae_scorer = make_scorer(mae, greater_is_better=False)
neg_mae_scorer.__doc__ = "Scorer: ``-mae(y, estimator.predict(X))`` (greater is better)."


class RankingScorer:
    """Scikit-learn scorer for a ranking metric of ``estimator.recommend``.

    Call it as ``scorer(estimator, X, y)``; the held-out ``(X, y)`` defines
    the relevant items of every user, the estimator recommends ``k`` items
    to each of those users, and the metric is averaged over them.

    Parameters
    ----------
    metric : {"hit_rate", "ndcg", "precision", "recall", "mrr"}
        The ranking metric (see :func:`hit_rate_at_k` and friends).
    k : int, default=10
        Number of recommendations requested and metric cut-off.
    threshold : float or None, default=None
        A held-out row is relevant when ``y >= threshold`` (inclusive: with
        ``threshold=4`` a rating of exactly 4 is relevant).  None: every
        held-out row is relevant when ``y`` is None, else rows with
        ``y > 0`` (so 0/1 implicit labels work as is and every rated item
        counts for explicit ratings).  Use e.g. ``threshold=4`` to count only
        liked items on a 1-5 scale.
    exclude_seen : bool, default=True
        Passed to ``recommend``; True removes training items from the
        recommendations, which is what a held-out evaluation needs.

    Notes
    -----
    The estimator must provide ``recommend(users, n=k, exclude_seen=...)``
    returning ``(item_ids, scores)`` with ``item_ids`` of shape
    ``(n_users, k)`` in the raw id type (fewer than k columns count as
    misses).  Users whose held-out rows contain no relevant item are not
    scored.  Greater is better for every ranking metric, so the score is
    returned unchanged.
    """

    def __init__(self, metric, k=10, threshold=None, exclude_seen=True):
        if metric not in _RANKING_METRICS:
            raise ValueError(f"metric must be one of {_RANKING_METRICS}, got {metric!r}.")
        if threshold is not None and (
            isinstance(threshold, (bool, np.bool_))
            or not isinstance(threshold, numbers.Real)
            or np.isnan(threshold)
        ):
            raise ValueError(f"threshold must be None or a real number, got {threshold!r}.")
        self.metric = metric
        self.k = _check_k(k)
        self.threshold = threshold
        self.exclude_seen = exclude_seen

    def _relevant_rows(self, y, n):
        if y is None:
            return np.ones(n, dtype=bool)
        y = _as_real_vector(y, "y")
        if y.shape != (n,):
            raise ValueError(f"y has shape {y.shape} but X has {n} rows.")
        if np.isnan(y).any():
            # NaN compares False with every threshold: its row would silently
            # count as not relevant.
            raise ValueError("y contains NaN: every held-out row needs a rating or label.")
        if self.threshold is None:
            return y > 0
        return y >= self.threshold

    def __call__(self, estimator: Any, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """Score ``estimator`` on held-out interactions ``(X, y)``."""
        if not hasattr(estimator, "recommend"):
            raise TypeError(
                f"{type(estimator).__name__} has no recommend method; ranking "
                "scorers need recommend(users, n, exclude_seen)."
            )
        users, items = _interaction_ids(X)
        keep = self._relevant_rows(y, users.shape[0])
        if not keep.any():
            raise ValueError(
                "no held-out row is relevant (check threshold): the metric is undefined."
            )
        user_codes, user_ids = _factorize(users[keep])
        result = estimator.recommend(user_ids, n=self.k, exclude_seen=self.exclude_seen)
        rec = _as_recommendations(result)  # (ids, scores) or the ids alone
        if rec.shape[0] != user_ids.shape[0]:
            raise ValueError(
                f"recommend returned {rec.shape[0]} rows for {user_ids.shape[0]} users."
            )
        hits, n_relevant = _hit_matrix(user_codes, items[keep], rec, self.k)
        return float(np.nanmean(_per_user(self.metric, hits, n_relevant, self.k)))

    def __repr__(self):
        return (
            f"RankingScorer(metric={self.metric!r}, k={self.k}, "
            f"threshold={self.threshold!r}, exclude_seen={self.exclude_seen!r})"
        )


def make_ranking_scorer(
    metric: RankingMetric, k: int = 10, *, threshold: float | None = None,
    exclude_seen: bool = True,
) -> RankingScorer:
    """Build a :class:`RankingScorer` (see it for the parameters).

    Examples
    --------
    >>> make_ranking_scorer("ndcg", k=5, threshold=4)
    RankingScorer(metric='ndcg', k=5, threshold=4, exclude_seen=True)
    """
    return RankingScorer(metric, k=k, threshold=threshold, exclude_seen=exclude_seen)


SCORERS = (
    "neg_rmse",
    "neg_mae",
    "hit_rate@10",
    "ndcg@10",
    "precision@10",
    "recall@10",
    "mrr",
)
"""Scorer names understood by :func:`get_scorer` (``@10`` may be any ``@K``)."""

_RANKING_NAME = re.compile(r"^(hit_rate|ndcg|precision|recall|mrr)@(\d+)$")


def get_scorer(name: str | Callable[..., float]) -> Callable[..., float]:
    """Return a scorer ``(estimator, X, y) -> float`` (greater is better) by name.

    Parameters
    ----------
    name : str or callable
        One of :data:`SCORERS` (``"neg_rmse"``, ``"neg_mae"``,
        ``"hit_rate@K"``, ``"ndcg@K"``, ``"precision@K"``, ``"recall@K"``,
        ``"mrr"`` or ``"mrr@K"`` for any K >= 1; ``"mrr"`` means
        ``"mrr@10"``), or any name known to
        :func:`sklearn.metrics.get_scorer`.  A callable is returned as is.

    Returns
    -------
    callable
        Ranking scorers are :class:`RankingScorer` instances with the
        default threshold; build others with :func:`make_ranking_scorer`.

    Raises
    ------
    ValueError
        Unknown name, or ``@0``.

    Examples
    --------
    >>> get_scorer("ndcg@5")
    RankingScorer(metric='ndcg', k=5, threshold=None, exclude_seen=True)
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"scorer name must be a str, got {type(name).__name__}.")
    if name == "neg_rmse":
        return neg_rmse_scorer
    if name == "neg_mae":
        return neg_mae_scorer
    if name == "mrr":
        return RankingScorer("mrr", k=10)
    match = _RANKING_NAME.match(name)
    if match:
        return RankingScorer(match.group(1), k=int(match.group(2)))
    try:
        return _sklearn_get_scorer(name)
    except ValueError:
        raise ValueError(
            f"unknown scorer {name!r}: use one of {SCORERS} (any @K) or a "
            "scikit-learn scorer name."
        ) from None
