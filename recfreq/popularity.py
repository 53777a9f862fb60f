"""The popularity baseline: rank items by how often they were interacted with, optionally time-decayed."""

from __future__ import annotations

import datetime
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ._encoding import UNKNOWN, IdEncoder
from ._param_validation import Interval
from ._typing import ArrayLike
from ._validation import check_id_columns, implicit_positives
from .base import BaseRecommender, RecommenderMixin

__all__ = ["PopularityRecommender"]

_SECONDS = np.timedelta64(1, "s")


class PopularityRecommender(RecommenderMixin, BaseEstimator):
    """Recommend the most interacted-with items, optionally with older interactions decayed.

    The score of item i is the number of positive training interactions
    with it, or with ``half_life`` h their time-decayed sum
    ``sum_rows 2 ** (-(t_ref - t) / h)`` (t a row's timestamp, t_ref the
    latest timestamp seen). Every user gets the same list (minus the items
    the user already had, with ``exclude_seen``): the non-personal baseline
    every ranking model must beat, fitted, ranked, scored and cross-validated
    like the other estimators.

    Parameters
    ----------
    half_life : float, datetime.timedelta or None, default=None
        Time for an interaction's weight to halve, in the units of the
        ``timestamps`` passed to ``fit`` (seconds for datetime64 timestamps,
        which also accept a ``datetime.timedelta``/``pandas.Timedelta`` or
        ``numpy.timedelta64`` here). None: no decay, the score is the count
        of positive interactions and timestamps are not needed.
    positive_threshold : float or None, default=None
        If given, ``y`` holds ratings and rows with ``y >= positive_threshold``
        are the positives that count. If None, ``y`` must hold 0/1 labels
        (0: an explicit negative, which counts for nothing) or be omitted
        (every row is a positive). As in :class:`~recfreq.NeuralCF`.

    Attributes
    ----------
    item_popularity_ : ndarray of shape (n_items,)
        The score of each known item (row i is ``item_ids_[i]``): the count
        of positive interactions, or their decayed sum at ``reference_time_``.
    item_counts_ : ndarray of shape (n_items,)
        Positive interactions per item, never decayed.
    reference_time_ : float or None
        The latest timestamp seen (in seconds for datetime64 timestamps): the
        time at which an interaction weighs 1. None without ``half_life``.
    user_ids_, item_ids_ : ndarray
        Raw ids of the users and items seen in training (items only seen in
        explicit negatives included, with score 0).
    user_items_ : scipy.sparse.csr_matrix
        Every training row (positives and explicit negatives), left out by
        ``recommend(exclude_seen=True)``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame with string column names.

    Notes
    -----
    Why timestamps are an argument of ``fit`` and ``half_life`` a parameter:
    ``half_life`` is a setting to tune (it belongs in ``get_params``, so
    ``GridSearchCV`` can search it, with ``None`` for no decay), while a
    timestamp is per-row data, like scikit-learn's ``sample_weight``:
    ``X`` keeps the (user, item) columns every recfreq estimator reads, as
    :func:`recfreq.model_selection.train_test_split` and
    :func:`recfreq.datasets.load_movielens` keep timestamps apart from ``X``,
    and ``GridSearchCV.fit(X, timestamps=t)`` or ``cross_val_score(...,
    params={"timestamps": t})`` hand every fold its own rows' timestamps.
    Timestamps passed without ``half_life`` are checked and not used.

    Decay is exact across calls: ``partial_fit`` with newer timestamps
    multiplies the scores so far by ``2 ** (-(new t_ref - old t_ref) / h)``
    before adding its own rows, which gives the scores one ``fit`` on all the
    rows would give.

    ``predict(X)`` returns the score of each row's item (0 for items never
    seen); ``score(X, y)`` is NDCG@10 of ``recommend`` on held-out
    interactions (see :meth:`score`). There is no ``similar_items`` or
    ``similar_users``: the model has no factor vectors to compare.

    Examples
    --------
    >>> import numpy as np
    >>> from recfreq import PopularityRecommender
    >>> X = np.array([[0, 10], [1, 10], [1, 11], [2, 12], [2, 10]])
    >>> model = PopularityRecommender().fit(X)
    >>> model.recommend([0, 99], n=2)[0].tolist()
    [[11, 12], [10, 11]]
    >>> decayed = PopularityRecommender(half_life=1.0).fit(X, timestamps=[0, 0, 5, 6, 1])
    >>> decayed.recommend([99], n=3)[0].tolist()
    [[12, 11, 10]]
    """

    _parameter_constraints = {
        # durations first: np.timedelta64 is also a NumPy integer, which the interval cannot compare
        "half_life": [datetime.timedelta, np.timedelta64, Interval(numbers.Real, 0, None, closed="neither"), None],
        "positive_threshold": [numbers.Real, None],
    }

    #: no factor vectors: no similar_items / similar_users
    _has_factors = False

    #: popularity scores are float64 counts or decayed sums
    _fitted_dtype = np.dtype(np.float64)

    def __init__(self, *, half_life=None, positive_threshold=None):
        self.half_life = half_life
        self.positive_threshold = positive_threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # implicit feedback: y is optional
        return tags

    # ------------------------------------------------------------ training
    def fit(self, X: ArrayLike, y: ArrayLike | None = None, timestamps: ArrayLike | None = None
            ) -> PopularityRecommender:
        """Count the positive interactions of every item.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            Column 0: user ids, column 1: item ids (integers or strings);
            further columns are ignored with a warning.
        y : array-like of shape (n_samples,) or None
            None: every row is a positive. Otherwise 0/1 labels, or ratings
            binarised by ``positive_threshold``.
        timestamps : array-like of shape (n_samples,), default=None
            When each row happened: numbers (any unit, that of ``half_life``)
            or datetime64 values. Needed with ``half_life``, unused without.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError, TypeError
            Invalid parameters or data; the estimator is left as it was.
        """
        return self._update(X, y, timestamps, first=True)

    def partial_fit(self, X: ArrayLike, y: ArrayLike | None = None, timestamps: ArrayLike | None = None
                    ) -> PopularityRecommender:
        """Add a batch of interactions to the counts (the first call fits).

        New users and items join the model; with ``half_life`` the scores so
        far are decayed to the batch's latest timestamp first, so the result
        equals one ``fit`` on every row. ``half_life`` and the kind of the
        timestamps (numbers or datetimes) must stay those of the first call.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
        y : array-like of shape (n_samples,) or None
        timestamps : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._update(X, y, timestamps, first=not hasattr(self, "item_popularity_"))

    def _update(self, X, y, timestamps, first):
        saved = dict(vars(self))
        try:
            self._validate_params()
            if not first:
                self._check_continuation()
            users, items = self._check_ids(X, reset=False) if not first else \
                check_id_columns(X, estimator_name=type(self).__name__)[0]
            n_rows = users.shape[0]
            positive = implicit_positives(y, n_rows, self.positive_threshold)
            times, time_kind = self._read_timestamps(timestamps, n_rows)
            if first:
                self._user_encoder, self._item_encoder = IdEncoder(), IdEncoder()
                user_rows = self._user_encoder.fit_transform(users)
                item_rows = self._item_encoder.fit_transform(items)
            else:
                user_rows = self._user_encoder.extend_transform(users)
                item_rows = self._item_encoder.extend_transform(items)
            n_users, n_items = len(self._user_encoder), len(self._item_encoder)
            counts = np.bincount(item_rows[positive], minlength=n_items).astype(np.int64)
            popularity, reference = counts.astype(np.float64), None
            if self.half_life is not None:
                h = self._half_life_in(time_kind)
                reference = float(np.max(times))
                old_reference = None if first else self.reference_time_
                if old_reference is not None and old_reference > reference:
                    reference = old_reference
                popularity = np.bincount(item_rows[positive], minlength=n_items,
                                         weights=np.exp2((times[positive] - reference) / h))
                if not first:
                    decay = np.exp2((self.reference_time_ - reference) / h)
                    popularity[:self.item_popularity_.shape[0]] += self.item_popularity_ * decay
            if not first:
                counts[:self.item_counts_.shape[0]] += self.item_counts_
                if self.half_life is None:
                    popularity = counts.astype(np.float64)
            seen = sp.csr_matrix((n_users, n_items), dtype=np.int8) if first else self.user_items_
            self.user_items_ = BaseRecommender._merge_rows(seen, user_rows, item_rows, (n_users, n_items))
            self.item_popularity_ = popularity
            self.item_counts_ = counts
            self.reference_time_ = reference
            self.user_ids_, self.item_ids_ = self._user_encoder.classes_, self._item_encoder.classes_
            if first:
                self._fitted_time = (self.half_life, time_kind)
                validate_data(self, X, skip_check_array=True, reset=True)
        except BaseException:
            # a failed call leaves the model as it was (fitted attributes are
            # replaced, never written in place, so the saved references suffice)
            vars(self).clear()
            vars(self).update(saved)
            raise
        return self

    def _check_continuation(self):
        half_life, _ = self._fitted_time
        same = half_life is None and self.half_life is None or (
            half_life is not None and self.half_life is not None and half_life == self.half_life)
        if not same:
            raise ValueError(f"partial_fit continues a model fitted with half_life={half_life!r}, but half_life is "
                             f"now {self.half_life!r}: its scores were decayed with the old half-life. Set it back, "
                             "or call fit to count again.")

    def _read_timestamps(self, timestamps, n_rows):
        """(float64 times or None, "datetime" | "numeric" | None), checked."""
        if timestamps is None:
            if self.half_life is not None:
                raise ValueError(f"half_life={self.half_life!r} decays each interaction by its age: pass "
                                 "timestamps=... (one per row of X) to fit, or set half_life=None to count "
                                 "interactions without decay.")
            return None, None
        t = np.asarray(timestamps.to_numpy() if hasattr(timestamps, "to_numpy") else timestamps)
        if t.ndim != 1 or t.shape[0] != n_rows:
            raise ValueError(f"timestamps must be 1-D with one entry per row of X ({n_rows} rows), got shape "
                             f"{t.shape}.")
        if t.dtype.kind == "O":  # Python datetimes, pandas Timestamps, or numbers
            try:
                t = t.astype(np.float64)
            except (TypeError, ValueError):
                try:
                    t = t.astype("datetime64[ns]")
                except (TypeError, ValueError):
                    raise TypeError("timestamps must be numbers or datetime64 values.") from None
        if t.dtype.kind == "M":
            if np.isnat(t).any():
                raise ValueError("timestamps contain NaT (a missing time); every row needs its timestamp.")
            times, kind = (t - np.datetime64(0, "s")) / _SECONDS, "datetime"
        elif t.dtype.kind in "biuf":
            times, kind = t.astype(np.float64), "numeric"
        else:
            raise TypeError(f"timestamps must be numbers or datetime64 values, got dtype {t.dtype}.")
        if not np.isfinite(times).all():
            raise ValueError("timestamps contain NaN or infinity; every row needs a finite timestamp.")
        fitted_kind = getattr(self, "_fitted_time", (None, None))[1]
        if self.half_life is not None and fitted_kind is not None and kind != fitted_kind:
            raise TypeError(f"timestamps are {kind} values, but the model was fitted with {fitted_kind} ones.")
        return times, kind

    def _half_life_in(self, time_kind):
        """``half_life`` in the units of the timestamps (seconds for datetimes)."""
        h = self.half_life
        if isinstance(h, (datetime.timedelta, np.timedelta64)):
            if time_kind != "datetime":
                raise ValueError(f"half_life={h!r} is a duration, which only datetime64 timestamps can be compared "
                                 "with; give half_life as a number in the units of the timestamps.")
            seconds = (h.total_seconds() if isinstance(h, datetime.timedelta)
                       else float(np.timedelta64(h, "ns") / np.timedelta64(1, "ns")) / 1e9)
            if not seconds > 0:
                raise ValueError(f"half_life must be a positive duration, got {h!r}.")
            return seconds
        return float(h)

    # ---------------------------------------------------------- prediction
    def predict(self, X: ArrayLike) -> np.ndarray:
        """The popularity score of each row's item (0 for an item never seen in training).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            (user, item) rows; the user does not change the score.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self)
        users, items = self._check_ids(X, reset=False)
        return self._predict_rows(self._user_encoder.transform(users), self._item_encoder.transform(items))

    def _predict_rows(self, user_rows, item_rows):
        return np.where(item_rows != UNKNOWN, self.item_popularity_[np.maximum(item_rows, 0)], 0.0)

    def _score_items(self, user_rows, item_rows=None):
        popularity = self.item_popularity_ if item_rows is None else self.item_popularity_[item_rows]
        return np.broadcast_to(popularity, (user_rows.shape[0], popularity.shape[0]))

    def _ranks_by_default(self):
        return True

    def score(self, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """NDCG@10 of :meth:`recommend` on held-out interactions (the default score of a ranking model).

        Each user of ``X`` is recommended 10 items (``exclude_seen=True``);
        the user's held-out positives (every row without ``y``, else the rows
        ``y`` marks as positives, read as ``fit`` reads it) are the relevant
        items, and the score is the mean NDCG@10 over the users with at least
        one, as :class:`recfreq.metrics.RankingScorer` computes it. So
        ``GridSearchCV`` without ``scoring=`` picks the ``half_life`` whose
        lists rank the held-out interactions best.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
        y : array-like of shape (n_samples,) or None

        Returns
        -------
        score : float
            In [0, 1]; greater is better.
        """
        return self._ranking_score(X, y)
