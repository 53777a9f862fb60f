"""The estimator skeleton every recommender in recfreq is built on.

:class:`RecommenderMixin` is what every estimator shares as a recommender:
top-N ``recommend`` with candidate sets and blocklists, ``similar_items`` and
``similar_users`` in factor space, the ranking score of the ranking models,
id reading, parameter validation and versioned pickles.
:class:`BaseRecommender` adds what is the same for every trained model:
raw id <-> row encoding, the Python epoch loop (host-side shuffling, loss
history, divergence check, early stopping, progress bar),
``partial_fit``/``warm_start`` bookkeeping and ``predict`` with the cold-start
fallback. A model subclass supplies its parameter tables and one engine call
per epoch.
"""

from __future__ import annotations

import copy
import numbers
import warnings
from abc import abstractmethod
from collections import namedtuple
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._encoding import IdEncoder, UNKNOWN
from . import _engine
from ._version import __version__
from .exceptions import InconsistentVersionWarning
from ._solvers import Solver, TableState
from ._param_validation import validate_parameters
from ._ranking import cosine_top_n, read_candidates, read_ids, seen_candidates, top_n
from ._typing import ArrayLike, RecommenderT
from ._validation import (COMMON_PARAMETER_CONSTRAINTS, check_id_columns, check_positive_integer, check_ratings,
                          implicit_positives, resolve_dtype)

__all__ = ["BaseRecommender", "RecommenderMixin", "TrainingData"]

#: What one epoch of a rating model iterates over: row indices and ratings,
#: already validated and encoded.
TrainingData = namedtuple("TrainingData", ["user_index", "item_index", "ratings"])


#: resolved against OpenMP and the CPU affinity by the CPU engine (kept importable here)
effective_n_threads = _engine.effective_n_threads
usable_cpus = _engine.usable_cpus


def _max_row_norm(table):
    """Largest Euclidean norm of a row of ``table`` (2-D), as a float; 0 for no rows.

    The squares are summed in the table's own dtype (for float32 tables four
    times faster than casting to float64, and this runs after every epoch):
    a relative error of about n_factors * 6e-8, nothing next to the
    divergence limits. A float32 sum that overflows is redone in float64, so
    only a model whose rows really are that long reads as infinite.
    """
    if table.shape[0] == 0 or table.shape[1] == 0:
        return 0.0
    largest = float(np.max(np.einsum("ij,ij->i", table, table)))
    if not np.isfinite(largest):
        largest = float(np.max(np.einsum("ij,ij->i", table, table, dtype=np.float64)))
    return float(np.sqrt(largest))


def _bias_bound(model):
    """|mu| + max |b_u| + max |b_i| of a rating model."""
    return (abs(model.global_mean_) + float(np.max(np.abs(model.user_bias_), initial=0.0))
            + float(np.max(np.abs(model.item_bias_), initial=0.0)))


def _ndim(X):
    # np.ndim would go through __array_function__, which array-likes may refuse
    if hasattr(X, "iloc") or sp.issparse(X):
        return 2
    try:
        return np.asarray(X).ndim
    except ValueError:  # ragged rows: check_id_columns reports it
        return 2


_SIMILAR_DOC = """{Side}s whose factor vectors are closest in cosine similarity.

        Parameters
        ----------
        {side}s : array-like of shape (n_queries,)
            Raw {side} ids; each must be known.
        n : int, default=10
            Neighbours per {side} (the {side} itself excluded; at most the
            number of other known {side}s).

        Returns
        -------
        neighbours : ndarray of shape (n_queries, n)
            Raw {side} ids, most similar first (equal similarities in sorted
            id order).
        similarities : ndarray of shape (n_queries, n)
            Their cosine similarities (0 against a zero vector).

        Raises
        ------
        KeyError
            If a {side} id was not seen in training (it has no factors).
        """


def _check_has_factors(estimator):
    """``available_if`` check of ``similar_items``/``similar_users``: only models with factor rows have them."""
    if not estimator._has_factors:
        raise AttributeError(
            f"{type(estimator).__name__} has no factor vectors, so it has no similar_items or similar_users "
            "(cosine similarity in factor space); use a factor model such as MatrixFactorization."
        )
    return True


class RecommenderMixin:
    """What every recfreq estimator shares as a recommender (not for direct use).

    Top-N recommendation (:meth:`recommend`, with a candidate set and a
    blocklist), neighbours in factor space (:meth:`similar_items`,
    :meth:`similar_users`), the ranking score of the ranking models, id
    reading and parameter validation, pickles that record the recfreq
    version, and the scikit-learn tags of id input. Put it first among the
    bases, before :class:`sklearn.base.BaseEstimator`.

    A subclass provides ``_id_encoder(side)`` (an
    :class:`~recfreq._encoding.IdEncoder` per side; by default the fitted
    ``_user_encoder``/``_item_encoder``), ``_score_items(user_rows,
    item_rows=None)``, ``_predict_rows(user_rows, item_rows)``, ``user_items_``
    (the training rows, for ``exclude_seen``) and, if ``_has_factors``,
    ``_similarity_factors(side)``. A model that ranks by default (its
    ``score`` is a ranking metric) returns True from ``_ranks_by_default``.
    """

    #: Whether the model has factor rows (``similar_items``/``similar_users`` exist).
    _has_factors = True

    # --------------------------------------------------------------- sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # ids may be strings
        # ids are category labels, not measurements; scikit-learn's common
        # checks then feed integer-valued X instead of continuous noise
        tags.input_tags.categorical = True
        return tags

    # ------------------------------------------------------------ pickling
    def __getstate__(self):
        state = super().__getstate__()
        return {**state, "_recfreq_version": __version__}

    def __setstate__(self, state):
        # like scikit-learn's own estimators: warn when another version pickled the model
        state = dict(state)
        original = state.pop("_recfreq_version", "unknown")
        if original != __version__:
            warnings.warn(InconsistentVersionWarning(estimator_name=type(self).__name__,
                                                     current_version=__version__, original_version=original))
        super().__setstate__(state)

    def _validate_params(self):
        """Check every parameter against ``_parameter_constraints`` (at the start of each training call)."""
        validate_parameters(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)

    def _check_ids(self, X, reset):
        if not reset and _ndim(X) == 2:
            # n_features_in_ / feature_names_in_ consistency, as scikit-learn
            # estimators check it, before the id columns are read
            validate_data(self, X, skip_check_array=True, reset=False)
        (users, items), _ = check_id_columns(X, estimator_name=type(self).__name__)
        if reset:
            validate_data(self, X, skip_check_array=True, reset=True)
        return users, items

    # ----------------------------------------------------------------- hooks
    def _id_encoder(self, side):
        """The fitted :class:`~recfreq._encoding.IdEncoder` of ``side`` ("user" or "item")."""
        return self._user_encoder if side == "user" else self._item_encoder

    def _similarity_factors(self, side):
        """(n_rows, width) vectors whose cosine similarity defines ``similar_items``/``similar_users``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _similarity_factors")

    def _ranks_by_default(self):
        """Whether ``score`` is the ranking score (:meth:`_ranking_score`) rather than R^2 or accuracy.

        False for the rating models; ranking models (and models trained with a
        ranking loss) return True.
        """
        return False

    def _score_rows(self, X):
        """Validate held-out ``X`` as ``predict`` would; return its number of rows."""
        users, _ = self._check_ids(X, reset=False)
        return users.shape[0]

    def _relevant_rows(self, y, n_samples):
        """Which held-out rows are relevant to the ranking score (positives, as in training)."""
        return implicit_positives(y, n_samples, getattr(self, "positive_threshold", None))

    # ------------------------------------------------------------ recommend
    def recommend(self, users: ArrayLike, n: int = 10, exclude_seen: bool = True, *,
                  items: ArrayLike | None = None, filter_items: ArrayLike | None = None,
                  batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each user, best first.

        Parameters
        ----------
        users : array-like of shape (n_users,)
            Raw user ids (a scalar is one user). Unknown users are ranked by
            the model's non-personal score (the cold-start fallback of
            ``predict``).
        n : int, default=10
            Items per user; at most the number of candidates left after
            ``filter_items``.
        exclude_seen : bool, default=True
            Leave out the items the user had in the training data. A user
            left with fewer than ``n`` other candidates gets seen items in the
            remaining slots, with score ``-inf``.
        items : array-like of shape (n_candidates,), default=None
            Candidate set: rank only these item ids (distinct; not empty).
            None: every item seen in training. A candidate the model never
            saw is scored as ``predict`` scores it (the cold-start fallback:
            no item term).
        filter_items : array-like of shape (n_blocked,), default=None
            Blocklist: these item ids are never recommended, not even as
            filler. Ids that are not candidates are ignored, and an empty
            list blocks nothing; a blocklist that removes every candidate is
            an error.
        batch_size : int, default=1024
            Users scored at once (bounds the (batch, n_candidates) score
            matrix).

        Returns
        -------
        items : ndarray of shape (n_users, min(n, n_candidates))
            Raw item ids, best first; equal scores keep candidate order
            (the model's items in sorted id order when ``items`` is None).
        scores : ndarray of shape (n_users, min(n, n_candidates))
            What ``predict`` gives for each (user, item) pair, in the
            model's dtype.

        Raises
        ------
        ValueError
            ``n`` or ``batch_size`` not a positive integer, ids that are
            not 1-D, missing or empty, duplicate candidates, or a blocklist
            that removes every candidate.
        TypeError
            Ids of another kind than in fit (strings for numbers or the
            reverse).
        """
        check_is_fitted(self)
        n = check_positive_integer(n, "n")
        batch_size = check_positive_integer(batch_size, "batch_size")
        name = type(self).__name__
        user_ids = read_ids(users, "users", "user", name)
        item_encoder = self._id_encoder("item")
        candidates, keep = read_candidates(items, filter_items, item_encoder.classes_, name)
        user_rows = self._id_encoder("user").transform(user_ids)
        if items is None and keep.all():
            item_rows = None  # the whole catalogue: each model's fastest path
            candidate_rows = np.arange(candidates.shape[0], dtype=np.int32)
        else:
            candidates = candidates[keep]
            item_rows = candidate_rows = item_encoder.transform(candidates)
        seen = seen_candidates(self.user_items_, user_rows, candidate_rows, len(item_encoder)) \
            if exclude_seen else None
        columns, scores = top_n(lambda start, stop: self._candidate_scores(user_rows[start:stop], item_rows),
                                user_rows.shape[0], min(n, candidates.shape[0]), batch_size, seen,
                                self._fitted_dtype)
        return candidates[columns], scores

    def _candidate_scores(self, user_rows, item_rows):
        """(users, candidates) scores, a fresh array in the model dtype; ``item_rows`` None: every item.

        Known candidates go through the model's vectorized ``_score_items``;
        unknown ones (``UNKNOWN``) through ``_predict_rows``, i.e. exactly the
        cold-start fallback of ``predict``.
        """
        if item_rows is None:
            return np.array(self._score_items(user_rows), dtype=self._fitted_dtype, copy=True)
        scores = np.empty((user_rows.shape[0], item_rows.shape[0]), dtype=self._fitted_dtype)
        known = item_rows != UNKNOWN
        if known.any():
            scores[:, known] = self._score_items(user_rows, item_rows[known])
        if not known.all():
            n_unknown = int((~known).sum())
            cold = self._predict_rows(np.repeat(user_rows, n_unknown).astype(np.int32),
                                      np.full(user_rows.shape[0] * n_unknown, UNKNOWN, dtype=np.int32))
            scores[:, ~known] = np.asarray(cold).reshape(user_rows.shape[0], n_unknown)
        return scores

    # ------------------------------------------------------------ neighbours
    def similar_items(self, items: ArrayLike, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return self._similar("item", items, n)

    def similar_users(self, users: ArrayLike, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return self._similar("user", users, n)

    # one docstring for both, then hidden on models without factors (hasattr is False there)
    similar_items.__doc__ = _SIMILAR_DOC.format(side="item", Side="Item")
    similar_users.__doc__ = _SIMILAR_DOC.format(side="user", Side="User")
    similar_items = available_if(_check_has_factors)(similar_items)
    similar_users = available_if(_check_has_factors)(similar_users)

    def _similar(self, side, ids, n):
        check_is_fitted(self)
        n = check_positive_integer(n, "n")
        query = read_ids(ids, f"{side}s", side, type(self).__name__)
        encoder = self._id_encoder(side)
        rows = encoder.transform(query)
        if (rows == UNKNOWN).any():
            raise KeyError(f"Unknown {side} id(s): {query[rows == UNKNOWN][:5].tolist()}; similar_{side}s needs "
                           f"{side}s seen in training.")
        columns, sims = cosine_top_n(self._similarity_factors(side), rows, n,
                                     similarities=self._device_similarities())
        return encoder.classes_[columns], sims

    def _device_similarities(self):
        """``unit[rows] @ unit.T`` on the device (``device="cuda"`` with a usable GPU), or None for NumPy:
        the scores of ``mf_score_items`` with the unit rows on both sides and no biases."""
        backend = self._prediction_backend()
        if backend is None:
            return None

        def similarities(unit, rows):
            unit = np.ascontiguousarray(unit)
            zeros = np.zeros(unit.shape[0], dtype=unit.dtype)
            return _engine.device_call("mf_score_items", backend, user_index=np.ascontiguousarray(rows, np.int32),
                                       global_mean=0.0, user_factors=unit, item_factors=unit, user_bias=zeros,
                                       item_bias=zeros)
        return similarities

    # ------------------------------------------------------------- scoring
    def _ranking_score(self, X, y=None):
        """NDCG@10 of ``recommend(exclude_seen=True)`` on held-out interactions ``(X, y)``.

        The relevant items of a user are its held-out rows that count as
        positives (``_relevant_rows``: every row without ``y``); users without
        one are not scored. Computed by
        :class:`recfreq.metrics.RankingScorer`.
        """
        from .metrics import RankingScorer  # metrics imports the splitters, which need nothing from here

        check_is_fitted(self)
        relevant = self._relevant_rows(y, self._score_rows(X))
        return RankingScorer("ndcg", k=10, threshold=0.5)(self, X, relevant.astype(np.float64))

    def _rating_or_ranking_score(self, rating_score, X, y, sample_weight):
        """``score`` of a model that may rank by default: the ranking score, or ``rating_score`` (R^2, accuracy)."""
        if self._ranks_by_default():
            if sample_weight is not None:
                raise ValueError(f"{type(self).__name__} scores by NDCG@10, which takes no sample_weight.")
            return self._ranking_score(X, y)
        if y is None:
            raise ValueError(f"{type(self).__name__}.score needs the true targets y.")
        return rating_score(self, X, y, sample_weight=sample_weight)


class BaseRecommender(RecommenderMixin, BaseEstimator):
    """Base class of the rating models (not for direct use).

    Subclasses define ``_default_learning_rates``, ``_training`` (what a call
    trains: an :class:`recfreq._engine.Training`, bound to the device once per
    call), ``_parameter_arrays`` and ``_score_bound``. Models on (user, item,
    rating) rows also define ``_allocate_parameters``, ``_grow_parameters``,
    ``_state_blocks``, ``_predict_rows`` and ``_score_items``; models on other
    data override the training hooks (``_read_training_data`` ...
    ``_n_epoch_samples``) instead.

    Notes
    -----
    Training follows one pattern for every model: each epoch, the samples are
    shuffled on the host (gathered into a new order, so the kernel reads them
    sequentially instead of jumping through an index) and one compiled kernel
    runs the whole epoch without the GIL. Sample ``i`` of the epoch is step
    ``t = t_ + i + 1`` of the model's life, where ``t_`` carries over
    ``partial_fit`` and ``warm_start``.
    """

    _parameter_constraints = dict(COMMON_PARAMETER_CONSTRAINTS)

    #: solver name -> learning rate used when ``learning_rate=None``
    _default_learning_rates = {}

    #: private attributes set by fitting (removed with the fitted state)
    _private_fitted_state = ("_user_encoder", "_item_encoder", "_rng", "_fitted_dtype", "_fitted_structure",
                             "_samples_per_thread")

    # ------------------------------------------------------------------ hooks
    def _allocate_parameters(self, n_users, n_items, rng, data):
        """Create the parameter tables (fitted attributes) for a fresh fit.

        ``data`` is the encoded training data (row frequencies are known).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement _allocate_parameters")

    def _grow_parameters(self, n_users, n_items, rng):
        """Append freshly initialised rows for ids first seen in ``partial_fit``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _grow_parameters")

    def _state_blocks(self):
        """Per-row parameter blocks of the user and item tables: two dicts of name -> shape."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _state_blocks")

    def _predict_rows(self, user_rows, item_rows):
        """Predictions for encoded rows; -1 marks an unknown user or item."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _predict_rows")

    def _score_items(self, user_rows, item_rows=None):
        """Scores of the known items ``item_rows`` (None: every item) for each encoded user row.

        Returns (n_users, n_items); ``user_rows`` may hold ``UNKNOWN``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement _score_items")

    @abstractmethod
    def _parameter_arrays(self):
        """The learned arrays (checked for NaN/inf after every epoch)."""

    # --------------------------------------------------------------- sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------ public API
    def fit(self: RecommenderT, X: ArrayLike, y: ArrayLike) -> RecommenderT:
        """Fit the model on (user, item) rows ``X`` and ratings ``y``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            Column 0: user ids, column 1: item ids (integers or strings).
        y : array-like of shape (n_samples,)
            Ratings.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError, TypeError
            Invalid parameters or data; the estimator is left as it was.
        FloatingPointError
            Training diverged; the estimator is left as it was before the call.
        """
        # a fresh fit builds new arrays and never writes into the old ones, so
        # references are a complete snapshot; a warm start trains in place
        deep = self.warm_start is True and self._is_trained()
        with self._unchanged_on_error(deep=deep):
            self._validate_params()
            self._check_runtime()
            warm = self.warm_start and self._is_trained()
            if warm:
                self._check_continuation("fit with warm_start=True")
            else:
                self._record_structure()
            dtype = self._fitted_dtype if warm else self._dtype()
            raw, targets = self._read_training_data(X, y, reset=not warm, dtype=dtype)
            rng = check_random_state(self.random_state)

            validation = None
            if self.early_stopping:
                n = targets.shape[0]
                n_val = max(1, int(round(self.validation_fraction * n)))
                if n_val >= n:
                    raise ValueError(
                        f"validation_fraction={self.validation_fraction} leaves no training data "
                        f"out of {n} samples."
                    )
                is_val = np.zeros(n, dtype=bool)
                is_val[rng.choice(n, n_val, replace=False)] = True
                # kept raw: encoded after the training rows, so an id absent from
                # training is unknown, exactly as at predict time
                validation = (self._take_rows(raw, np.flatnonzero(is_val)), targets[is_val])
                raw, targets = self._take_rows(raw, np.flatnonzero(~is_val)), targets[~is_val]

            self._rng = rng
            if warm:
                self._match_solver_state()
                data = self._encode_and_grow(raw, targets, rng)
                self._refresh_statistics(targets)
            else:
                data = self._initialize(raw, targets, rng)
                self._after_initialize(raw, targets, rng)
            # frequencies are those of this fit's training data (warm_start included)
            self._count_frequencies(data, reset=True)
            if validation is not None:
                validation = self._encode_validation(*validation)
            self.loss_curve_ = []
            self.validation_scores_ = []
            self.n_iter_ = 0
            self._train(data, self.max_iter, validation, stop_early=True)
        return self

    def partial_fit(self: RecommenderT, X: ArrayLike, y: ArrayLike) -> RecommenderT:
        """Run one more epoch over ``X``, keeping every solver state.

        The first call initialises the model (ids, tables, global mean).
        Later calls add users and items first seen in ``X`` as new rows,
        add ``X`` to the frequency counts (``fa-sgd``), keep counters and
        accumulators, and continue the step count ``t_``. ``global_mean_``
        stays the mean of the first batch. ``early_stopping`` and ``max_iter``
        are ignored, as in :class:`sklearn.linear_model.SGDRegressor`.

        Parameters may change between calls (``learning_rate``, ``alpha``,
        ``solver``, ...), except those that shape the model (``n_factors``,
        ``dtype``, ...), which need a new ``fit``. A new ``solver`` starts its
        own state fresh (Adagrad accumulators and ``cf-sgd`` counters at zero;
        the parameters carry over).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : object

        Raises
        ------
        ValueError, TypeError
            Invalid parameters or data; the estimator is left as it was.
        FloatingPointError
            The epoch diverged; parameters and solver state are restored to
            what they were before the call.
        """
        with self._unchanged_on_error():
            self._validate_params()
            self._check_runtime()
            first = not self._is_trained()
            if first:
                self._record_structure()
            else:
                self._check_continuation("partial_fit")
            dtype = self._dtype() if first else self._fitted_dtype
            raw, targets = self._read_training_data(X, y, reset=first, dtype=dtype)
            if first:
                rng = check_random_state(self.random_state)
                data = self._initialize(raw, targets, rng)
                self._rng = rng
                self.loss_curve_ = []
                self.validation_scores_ = []
                self.n_iter_ = 0
            else:
                self._match_solver_state()
                data = self._encode_and_grow(raw, targets, self._rng)
            self._count_frequencies(data, reset=first)
            self._train(data, 1, None, stop_early=False)
        return self

    # ------------------------------------------------- state across calls
    #: Parameters that fix the shape of the fitted model. Prediction reads
    #: their fitted values (``_fitted_param``), and ``partial_fit`` or a warm
    #: start refuses to continue once one of them changed.
    _structure_params = ("dtype",)

    def _is_trained(self):
        return hasattr(self, "t_")

    def _record_structure(self):
        """Remember the structural parameters of a fresh fit."""
        self._fitted_structure = {name: copy.deepcopy(getattr(self, name)) for name in self._structure_params}
        self._fitted_structure["dtype"] = self._dtype()

    def _fitted_param(self, name):
        """A structural parameter as the model was fitted (its current value before fitting)."""
        structure = getattr(self, "_fitted_structure", None)
        if structure is not None and name in structure:
            return structure[name]
        return getattr(self, name)

    def _check_continuation(self, call):
        """Refuse to continue training a model whose structure the parameters no longer describe."""
        changed = []
        for name, fitted in self._fitted_structure.items():
            current = self._dtype() if name == "dtype" else getattr(self, name)
            same = np.array_equal(np.asarray(current, dtype=object), np.asarray(fitted, dtype=object)) \
                if isinstance(current, (tuple, list, np.ndarray)) else current == fitted
            if not same:
                changed.append(f"{name}={current!r} (fitted with {fitted!r})")
        if changed:
            raise ValueError(
                f"{call} continues the fitted {type(self).__name__}, but {', '.join(changed)} changed the "
                "model's shape since it was fitted. Set the parameter back, or call fit with "
                "warm_start=False to train a new model."
            )

    def _match_solver_state(self):
        """Make the solver state fit the current ``solver`` and ``counter_halflife``.

        Counts carry over; the arrays a new solver needs start fresh (see
        :meth:`~recfreq._solvers.TableState.for_solver`). Models with more
        solver state than the user and item tables extend this.
        """
        user_blocks, item_blocks = self._state_blocks()
        self.user_state_ = self.user_state_.for_solver(self._solver(), user_blocks, self._fitted_dtype,
                                                       self.counter_halflife is not None, self.t_)
        self.item_state_ = self.item_state_.for_solver(self._solver(), item_blocks, self._fitted_dtype,
                                                       self.counter_halflife is not None, self.t_)

    def _fitted_attribute_names(self):
        return [name for name in vars(self)
                if (name.endswith("_") and not name.startswith("__")) or name in self._private_fitted_state]

    @contextmanager
    def _unchanged_on_error(self, deep=True):
        """Restore every fitted attribute if the block raises (divergence included).

        A copy of the model is small next to the data it is trained on, and it
        makes "a failed call changes nothing" hold for every path, including
        errors raised halfway through growing tables or counting frequencies.
        ``deep=False`` keeps references only, for calls that replace the
        fitted attributes instead of updating them in place.
        """
        keep = copy.deepcopy if deep else (lambda value: value)
        saved = {name: keep(getattr(self, name)) for name in self._fitted_attribute_names()}
        try:
            yield
        except BaseException:
            for name in self._fitted_attribute_names():
                delattr(self, name)
            for name, value in saved.items():
                setattr(self, name, value)
            raise

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict ratings for (user, item) rows.

        Unknown ids never raise: the prediction falls back to the global mean
        plus the bias of whichever of the user and the item is known (the
        factor term needs both), as Surprise does.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            In the model's ``dtype``.
        """
        check_is_fitted(self)
        users, items = self._check_ids(X, reset=False)
        return self._predict_rows(self._user_encoder.transform(users), self._item_encoder.transform(items))

    # --------------------------------------------------------------- helpers
    def _check_runtime(self):
        """Settings that can only be judged on this machine, checked before any allocation."""
        effective_n_threads(self.n_jobs)
        _engine.check_device(self.device, type(self).__name__, self._supports_cuda())

    def _supports_cuda(self):
        """Whether the model with its current settings has CUDA kernels (see ``_training``); every one has."""
        return True

    def _prediction_backend(self):
        """The device backend predictions run on (``device="cuda"`` with a usable GPU), or None for the CPU."""
        return _engine.prediction_backend(self.device)

    def _dtype(self):
        return resolve_dtype(self.dtype)

    def _solver(self):
        return Solver.from_name(self.solver)

    def _learning_rate(self):
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return self._default_learning_rates[self.solver]

    def _dense_learning_rate(self):
        """Step of the dense parameters (models that have them define
        ``dense_learning_rate`` and ``_default_dense_learning_rates``)."""
        if self.dense_learning_rate is not None:
            return float(self.dense_learning_rate)
        return self._default_dense_learning_rates[self.solver]

    # ------------------------------------------------------- training hooks
    # fit/partial_fit/_train are a template over these; a model whose data is
    # not (user, item, rating) rows (the factorization machine's design
    # matrix, say) overrides them instead of copying the loop.
    def _read_training_data(self, X, y, reset, dtype):
        """Validate ``X`` and ``y``; return (raw rows, targets of ``dtype``)."""
        users, items = self._check_ids(X, reset=reset)
        return (users, items), check_ratings(y, users.shape[0], dtype)

    @staticmethod
    def _take_rows(raw, index):
        """The rows ``index`` of raw training data (the early-stopping split)."""
        return tuple(column[index] for column in raw)

    def _initialize(self, raw, targets, rng):
        """Fresh encoders, tables and solver state for ``fit`` or a first ``partial_fit``."""
        users, items = raw
        self._user_encoder, self._item_encoder = IdEncoder(), IdEncoder()
        user_index = self._user_encoder.fit_transform(users)
        item_index = self._item_encoder.fit_transform(items)
        self._fitted_dtype = self._dtype()
        self._refresh_statistics(targets)
        data = TrainingData(user_index, item_index, targets)
        self._initialize_tables(rng, data)
        return self._record_seen(data)

    def _initialize_tables(self, rng, data):
        """Tables, solver state, ``t_`` and ids of a fresh model whose encoders are fitted.

        ``data``: the encoded training data (:meth:`_allocate_parameters` may
        read its row frequencies). Shared by :meth:`_initialize` and the
        distributed fit (:mod:`recfreq.dask`), which encodes on its workers.
        """
        n_users, n_items = len(self._user_encoder), len(self._item_encoder)
        self._allocate_parameters(n_users, n_items, rng, data)
        user_blocks, item_blocks = self._state_blocks()
        track = self.counter_halflife is not None
        self.user_state_ = TableState.allocate(self._solver(), n_users, user_blocks, self._fitted_dtype, track)
        self.item_state_ = TableState.allocate(self._solver(), n_items, item_blocks, self._fitted_dtype, track)
        self.t_ = 0
        self._reset_seen(n_users, n_items)
        self._sync_ids()

    def _encode_and_grow(self, raw, targets, rng):
        """Encode a new batch, adding unseen ids as new rows of every table."""
        users, items = raw
        user_index = self._user_encoder.extend_transform(users)
        item_index = self._item_encoder.extend_transform(items)
        self._grow_tables(rng)
        return self._record_seen(TrainingData(user_index, item_index, targets.astype(self._fitted_dtype, copy=False)))

    def _grow_tables(self, rng):
        """Give every table and solver state a row per id the encoders hold (new rows start fresh)."""
        n_users, n_items = len(self._user_encoder), len(self._item_encoder)
        if n_users > self.user_state_.n_rows or n_items > self.item_state_.n_rows:
            self._grow_parameters(n_users, n_items, rng)
            self.user_state_.grow(n_users)
            self.item_state_.grow(n_items)
        self._sync_ids()

    def _after_initialize(self, raw, targets, rng):
        """A fresh ``fit``'s extra initialisation (not ``partial_fit``'s); nothing by default."""

    def _refresh_statistics(self, targets):
        """Statistics a warm-started ``fit`` recomputes from its new data."""
        self.global_mean_ = float(np.mean(targets, dtype=np.float64))

    def _count_frequencies(self, data, reset):
        """Add the batch's rows to the frequency counts (after clearing them if ``reset``)."""
        for state, index in ((self.user_state_, data.user_index), (self.item_state_, data.item_index)):
            if reset:
                state.counts[:] = 0
                state.n_samples = 0
            state.add_counts(index)

    def _encode_validation(self, raw, targets):
        """Held-out rows in the form ``_validation_score`` takes."""
        users, items = raw
        return self._user_encoder.transform(users), self._item_encoder.transform(items), targets

    def _validation_greater_is_better(self):
        """Whether the value of :meth:`_validation_score` grows as the model improves (default: an error)."""
        return False

    def _validation_score(self, validation):
        """(name, value) of the held-out score early stopping watches; lower is better unless
        :meth:`_validation_greater_is_better` says otherwise."""
        users, items, targets = validation
        pred = self._predict_rows(users, items).astype(np.float64)
        return "val_rmse", float(np.sqrt(np.mean((pred - targets) ** 2)))

    def _sync_ids(self):
        self.user_ids_ = self._user_encoder.classes_
        self.item_ids_ = self._item_encoder.classes_

    def _reset_seen(self, n_users, n_items):
        """Empty interaction bookkeeping for a fresh fit."""
        self.user_items_ = sp.csr_matrix((n_users, n_items), dtype=np.int8)

    @staticmethod
    def _merge_rows(matrix, user_index, item_index, shape):
        """``matrix`` (grown to ``shape``) with ones added at the given (user, item) rows."""
        batch = sp.csr_matrix((np.ones(user_index.shape[0], dtype=np.int8), (user_index, item_index)), shape=shape)
        if matrix.shape != shape:
            matrix = matrix.copy()
            matrix.resize(shape)
        merged = (matrix + batch).tocsr()
        merged.data[:] = 1
        merged.sort_indices()
        return merged

    def _record_seen(self, data):
        """Add a batch's (user, item) rows to ``user_items_`` (``recommend(exclude_seen=True)``)."""
        shape = (len(self._user_encoder), len(self._item_encoder))
        self.user_items_ = self._merge_rows(self.user_items_, data.user_index, data.item_index, shape)
        return data

    @abstractmethod
    def _training(self, data):
        """The :class:`recfreq._engine.Training` of a call: the kernel, its samples, arrays and scalars."""

    def _after_epoch(self, bound):
        """Derive what prediction reads from the trained arrays, after each epoch of a bound call.

        Runs after the trained arrays were written back and before the
        divergence check and the validation score read the model. Nothing by
        default; models that train projected rows materialise their plain
        factor tables here, through the binding (``bound.projected_factors``:
        on the device where the rows were trained).
        """

    def _bound_epochs(self, training, n_threads, n_epochs):
        """Epoch losses of a call bound to the device once (see :func:`recfreq._engine.bind`).

        The trained arrays are written back to the NumPy attributes after every
        epoch (a no-op on the CPU), then :meth:`_after_epoch` runs, both before
        the divergence check and the validation score read them; the arrays are
        also written back when the call ends.
        """
        bound = _engine.bind(self.device, training, n_threads)
        # one order key per call: epoch e of the call visits the samples in the
        # order epoch_permutation(n, order_seed, e), on every device
        order_seed = int(self._rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        try:
            for epoch in range(n_epochs):
                loss = bound.run_epoch(t_start=self.t_, order_seed=order_seed, epoch=epoch,
                                       next_epoch=epoch + 1 if epoch + 1 < n_epochs else None)
                bound.write_back()
                self._after_epoch(bound)
                yield loss
        finally:
            bound.close()

    def _train(self, data, n_epochs, validation, stop_early):
        """The Python epoch loop: one kernel call per epoch, then the bookkeeping."""
        n_threads = _engine.effective_n_threads(self.n_jobs, warn=True)
        n_samples = self._n_epoch_samples(data)
        limit = self._score_limit(data)
        bound_inputs = self._bound_inputs(data)
        epochs = self._bound_epochs(self._training(data), n_threads, n_epochs)
        self._epoch_loop(epochs, n_samples, n_epochs, limit, bound_inputs, validation, stop_early)

    def _epoch_loop(self, epochs, n_samples, n_epochs, limit, bound_inputs, validation, stop_early):
        """The bookkeeping after each epoch of ``epochs`` (a generator of epoch losses, closed at the end).

        ``t_``, ``n_iter_``, ``loss_curve_``, the divergence check, the validation
        score, early stopping and the progress bar. An epoch trained somewhere
        else (:mod:`recfreq.dask`) yields a loss that also carries
        ``parameters_finite`` and ``score_bound`` (see :meth:`_check_divergence`).
        """
        from tqdm.auto import tqdm

        tol = self.tol if (self.tol is not None or not self.early_stopping) else 0.0
        best, no_improvement = np.inf, 0
        progress = tqdm(total=n_epochs, desc=type(self).__name__, unit="epoch",
                        disable=not self.verbose, leave=bool(self.verbose))
        try:
            for epoch, total_loss in enumerate(epochs):
                # which threads did the work (see _engine.EpochLoss): kept for diagnostics and tests
                self._samples_per_thread = getattr(total_loss, "samples_per_thread", None)
                self.t_ += n_samples
                self.n_iter_ += 1
                loss = total_loss / n_samples
                self._check_divergence(loss, epoch, bound_inputs, limit)
                self.loss_curve_.append(loss)
                postfix = {"loss": f"{loss:.4f}"}
                current = loss
                if validation is not None:
                    name, score = self._validation_score(validation)
                    self.validation_scores_.append(score)
                    postfix[name] = f"{score:.4f}"
                    # early stopping minimises: a score that grows when the model improves is negated
                    current = -score if self._validation_greater_is_better() else score
                progress.set_postfix(postfix)
                progress.update(1)
                if stop_early and tol is not None:
                    no_improvement = 0 if current < best - tol else no_improvement + 1
                    best = min(best, current)
                    if no_improvement >= self.n_iter_no_change:
                        break
        finally:
            epochs.close()
            progress.close()

    def _n_epoch_samples(self, data):
        """Steps one epoch advances ``t_`` by (the samples the kernel visits)."""
        return data.ratings.shape[0]

    #: A regression model some of whose predictions could lie further than this
    #: many spreads of the training targets from their mean has diverged: a
    #: least-squares fit moves its predictions away from the mean by at most a
    #: few spreads, and the bound below is tight within a small factor.
    _DIVERGENCE_SPREADS = 100.0

    def _target_range(self, data):
        """(lowest, highest) training target of the call for regression models, None for classifiers."""
        targets = data.ratings
        return (float(np.min(targets)), float(np.max(targets))) if targets.shape[0] else (0.0, 0.0)

    def _bound_inputs(self, data):
        """What :meth:`_score_bound` needs to know of the training data (computed once per call)."""
        return None

    @abstractmethod
    def _score_bound(self, bound_inputs):
        """An upper bound on |raw score| over every (user, item) pair, known or not.

        Cheap (one pass over the parameters) and computed in float64, from
        the largest row norms, so that "the bound is finite and below the
        dtype's range" means no prediction can overflow.
        """

    def _score_limit(self, data):
        """(limit, why): the largest raw score bound a healthy model may have.

        Any model: below half the dtype's range, so no prediction can overflow.
        A regression model: within ``_DIVERGENCE_SPREADS`` spreads of the targets
        (hi - lo, at least 1 and at least 1e-3 of the largest |target|) of the
        mean it predicts around, i.e. |score| <= |mean| + 100 spreads.
        """
        return self._score_limit_for(self._target_range(data))

    def _score_limit_for(self, target_range):
        """:meth:`_score_limit` from the (lowest, highest) training target (None for classifiers)."""
        limit = float(np.finfo(self._fitted_dtype).max) / 2
        why = f"could overflow {self._fitted_dtype}"
        if target_range is not None:
            lo, hi = target_range
            spread = max(hi - lo, 1.0, 1e-3 * max(abs(lo), abs(hi)))
            allowed = abs(self.global_mean_) + self._DIVERGENCE_SPREADS * spread
            if allowed < limit:
                limit = allowed
                why = (f"could lie {self._DIVERGENCE_SPREADS:g} spreads of the training targets (here "
                       f"{lo:.4g} to {hi:.4g}) from their mean")
        return limit, why

    def _check_divergence(self, loss, epoch, bound_inputs, limit):
        """Raise FloatingPointError if the epoch left a model a user should not get.

        A loss that carries ``parameters_finite`` and ``score_bound`` comes
        from an epoch whose parameters are not in this process (distributed
        training computes both where the parameters are); the estimator's own
        arrays are read otherwise.
        """
        reason = None
        finite = getattr(loss, "parameters_finite", None)
        if finite is None:
            finite = all(np.isfinite(a).all() for a in self._parameter_arrays())
        if not np.isfinite(loss) or not finite:
            reason = "NaN or infinity in the training loss or the parameters"
        else:
            bound = getattr(loss, "score_bound", None)
            if bound is None:
                bound = self._score_bound(bound_inputs)
            if not bound <= limit[0]:  # NaN fails too
                reason = f"its predictions {limit[1]} (bound {bound:.3g})"
        if reason is None:
            return
        lr = self._learning_rate()
        raise FloatingPointError(
            f"{type(self).__name__} diverged in epoch {epoch + 1}: {reason}, with solver={self.solver!r} "
            f"and learning_rate={lr:g}. Lower learning_rate (or raise alpha, or rescale the targets); the "
            "estimator was left as it was before this call."
        )
