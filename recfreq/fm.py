"""Factorization machines (Rendle 2010) with side features and frequency-aware solvers."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _engine
from ._features import FeatureEncoder, as_cells
from ._param_validation import Interval, StrOptions
from ._projection import ProjectedTable
from ._solvers import Solver, TableState
from ._typing import ArrayLike, FeatureColumns, MatrixLike, RecommenderT
from ._validation import (
    as_target_vector,
    MIXED_DIM_PARAMETER_CONSTRAINTS,
    _clean_id_column,
    check_positive_integer,
    check_ratings,
    implicit_positives,
)
from . import _fm_ranking, _ranking_losses
from ._ranking import read_candidates, read_ids, seen_candidates, top_n
from .base import BaseRecommender, _max_row_norm, effective_n_threads

__all__ = ["FactorizationMachine", "FactorizationMachineClassifier"]

_TASKS = {"regression": 0, "classification": 1}


def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _is_classifier(estimator):
    if estimator._task != "classification":
        raise AttributeError("predict_proba and decision_function are only available with "
                             "task='classification' (for raw regression scores set clip_predictions=False).")
    return True


class _BaseFactorizationMachine(BaseRecommender):
    """Shared training, prediction and recommendation of the two FM estimators.

    Reuses :class:`~recfreq.base.BaseRecommender`'s parameter handling,
    runtime checks and divergence check; replaces its two-id-column data path
    with a CSR design matrix (see ``_train``).
    """

    _parameter_constraints = {
        **BaseRecommender._parameter_constraints,
        "n_factors": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left"), None],
        "alpha_bias": [Interval(numbers.Real, 0, None, closed="left"), None],
        "dense_learning_rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "init_std": [Interval(numbers.Real, 0, None, closed="left")],
        "categorical_features": [StrOptions({"auto"}), list, tuple],
        "multi_value_separator": [str, None],
        "multi_value_weight": [StrOptions({"mean", "one"})],
        "standardize": ["boolean"],
        **MIXED_DIM_PARAMETER_CONSTRAINTS,
    }

    # measured on ml-100k with side features (benchmarks/bench_fm.py --tune)
    _default_learning_rates = {"sgd": 0.01, "fa-sgd": 0.2, "cf-sgd": 0.2, "adagrad": 0.05}
    #: w0's step size when dense_learning_rate=None (Adagrad: its eta)
    _default_dense_learning_rates = {"sgd": 0.001, "fa-sgd": 0.001, "cf-sgd": 0.001, "adagrad": 0.01}
    #: the same with embedding_dims="mixed", where the rate also steps the block
    #: projections: every sample moves a projection through several of its rows,
    #: so it needs a far smaller step than w0 alone (measured on ml-100k with side
    #: features: benchmarks/bench_fm.py mixed --sweep-dense)
    _default_mixed_dense_learning_rates = {"sgd": 1e-4, "fa-sgd": 1e-4, "cf-sgd": 1e-4, "adagrad": 1e-4}

    _task = "regression"

    _structure_params = ("dtype", "n_factors", "embedding_dims")

    _private_fitted_state = BaseRecommender._private_fitted_state + ("_feature_encoder", "_offset", "_item_columns_at")

    def _state_blocks(self):
        if self._projected():  # raw-row and projection accumulators live in the ProjectedTable
            return {"bias": ()}
        return {"factors": (self._fitted_param("n_factors"),), "bias": ()}

    def _match_solver_state(self):
        adagrad = self._solver() == Solver.ADAGRAD
        self.feature_state_ = self.feature_state_.for_solver(self._solver(), self._state_blocks(), self._fitted_dtype,
                                                             self.counter_halflife is not None, self.t_)
        if (self.intercept_accum_.shape[0] == 1) != adagrad:
            self.intercept_accum_ = np.zeros(1 if adagrad else 0, dtype=self._fitted_dtype)
        if self._projected():
            self.feature_embedding_.match_solver(adagrad)

    #: The score bound of a factorization machine goes through the largest L1
    #: norm of a training row (multi-hot and standardized numeric columns make it
    #: several units) and is far looser than MatrixFactorization's: on
    #: MovieLens-100K with side features a healthy model (predictions in [1, 5])
    #: reached a bound of 407 (tests/test_fm.py::test_movielens_100k_quality_ids_only_and_with_side_features,
    #: before the pairwise part was halved). Divergence is still caught long before
    #: overflow, and predictions are clipped to the training range by default.
    _DIVERGENCE_SPREADS = 1e4

    def _target_range(self, data):
        _, targets = data
        if self._task != "regression" or self._ranking_loss() is not None:
            return None  # logits, ranking scores: only overflow counts
        return (float(np.min(targets)), float(np.max(targets))) if targets.shape[0] else (0.0, 0.0)

    def _bound_inputs(self, data):
        """L1 = the largest sum_j |x_j| of a training row (what the score bound needs of the data)."""
        (indptr, _, values), _ = data
        rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
        l1 = float(np.max(np.bincount(rows, weights=np.abs(values.astype(np.float64))), initial=0.0))
        # a sampled negative joins one row's context with another row's item part
        return 2 * l1 if self._ranking_loss() is not None else l1

    def _score_bound(self, l1):
        """|w0| + max|w_j| L1 + max ||v_j||^2 L1^2 / 2 over rows x with L1 = sum_j |x_j| (training data).

        The pairwise term is 1/2 (||sum_j v_j x_j||^2 - sum_j ||v_j||^2 x_j^2),
        and each of its two parts lies in [0, (max ||v_j|| L1)^2].
        """
        w = float(np.max(np.abs(self.feature_bias_), initial=0.0))
        v = _max_row_norm(self.feature_factors_)
        return abs(float(self.intercept_[0])) + w * l1 + 0.5 * (v * l1) ** 2

    def _projected(self):
        return hasattr(self, "feature_embedding_")

    def _dense_learning_rate(self):
        if self.dense_learning_rate is None and self._projected():
            return self._default_mixed_dense_learning_rates[self.solver]
        return super()._dense_learning_rate()

    def _parameter_arrays(self):
        arrays = [self.feature_factors_, self.feature_bias_, self.intercept_]
        if self._projected():
            arrays += [self.feature_embedding_.rows, self.feature_embedding_.dense]
        return arrays

    # --------------------------------------------------------------- sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = False
            tags.classifier_tags.poor_score = True
        if tags.regressor_tags is not None:
            tags.regressor_tags.poor_score = True
        return tags

    # --------------------------------------------------------------- helpers
    def _read_X(self, X, reset):
        if not reset:
            check_is_fitted(self)
        encoder = FeatureEncoder(estimator_name=type(self).__name__, dtype=self._dtype()) if reset \
            else self._feature_encoder
        if not reset and not sp.issparse(X) and hasattr(X, "shape") and len(X.shape) == 2:
            # n_features_in_ / feature_names_in_ consistency, checked before the columns are read
            validate_data(self, X, skip_check_array=True, reset=False)
        raw = encoder.read(X)
        if reset:
            validate_data(self, X, skip_check_array=True, reset=True)
        return raw

    def _check_targets(self, y, n_samples, dtype, first):
        if self._task == "regression":
            return check_ratings(y, n_samples, dtype)
        y = as_target_vector(y, n_samples, "labels")
        check_classification_targets(y)
        if first:
            classes = np.unique(y)
            if classes.shape[0] < 2:
                raise ValueError(f"The number of classes has to be greater than one; got {classes.shape[0]} class.")
            if classes.shape[0] > 2:
                raise ValueError(f"Only binary classification is supported: y has {classes.shape[0]} classes. "
                                 f"Wrap {type(self).__name__} in sklearn.multiclass.OneVsRestClassifier "
                                 "for more.")
            self.classes_ = classes
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y holds labels {np.unique(y[unknown])[:5].tolist()} not in classes_ "
                             f"{self.classes_.tolist()}.")
        return np.ascontiguousarray(y == self.classes_[1], dtype=dtype)

    def _design(self, X_csr):
        """The CSR arrays the kernels take, in the model dtype."""
        X_csr = X_csr.tocsr()
        return (np.ascontiguousarray(X_csr.indptr, dtype=np.int64),
                np.ascontiguousarray(X_csr.indices, dtype=np.int32),
                np.ascontiguousarray(X_csr.data, dtype=self._fitted_dtype))

    def _new_factors(self, n_rows, rng):
        return (rng.standard_normal((n_rows, self.n_factors)) * self.init_std).astype(self._fitted_dtype)

    # ------------------------------------------------- BaseRecommender hooks
    # --------------------------------------------------------- ranking losses
    def _ranking_loss(self):
        """The ranking loss of the model (its fitted value once fitted), or None for the task's loss."""
        return None

    #: alpha=None: the task's L2 (ratings and labels); FactorizationMachine has per-loss defaults
    _default_alpha = 0.1
    _default_ranking_alphas = {}

    def _alpha(self):
        """L2 of the factor rows (``alpha=None``: the default of the loss and solver)."""
        if self.alpha is not None:
            return float(self.alpha)
        loss = self._ranking_loss()
        return self._default_alpha if loss is None else self._default_ranking_alphas[loss][self.solver]

    def _alpha_bias(self):
        return self._alpha() if self.alpha_bias is None else float(self.alpha_bias)

    def _ranks_by_default(self):
        return self._ranking_loss() is not None

    def _item_positions(self):
        """Positions of the side columns that describe the item (``item_columns``)."""
        return tuple(getattr(self, "_item_columns_at", ()))

    def _context_positions(self):
        """Positions of the side columns that describe the user or the context (the others)."""
        if self._feature_encoder.sparse:
            return ()
        item = set(self._item_positions())
        return tuple(j for j in range(2, len(self._feature_encoder.columns)) if j not in item)

    def _read_ranking_data(self, X, y, reset, dtype):
        """Positive interactions of implicit feedback (rows with y > 0 or y >= positive_threshold; all without y)."""
        raw = self._read_X(X, reset=reset)
        loss = self._ranking_loss()
        if sp.issparse(raw):
            raise ValueError(f"loss={loss!r} samples negative items, which needs X's user and item id columns; "
                             f"{type(self).__name__} cannot rank a sparse design matrix.")
        if reset:
            self._item_columns_at = self._resolve_item_columns(raw.names)
        keep = implicit_positives(y, raw.n_rows, self.positive_threshold)
        if reset and not keep.any():
            raise ValueError(f"no positive row to learn from among {keep.shape[0]} sample(s): loss={loss!r} needs "
                             "interactions (rows with y > 0, or y >= positive_threshold).")
        return FeatureEncoder.take(raw, np.flatnonzero(keep)), np.ones(int(keep.sum()), dtype=dtype)

    def _resolve_item_columns(self, names):
        positions = []
        for key in self.item_columns or ():
            if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, (bool, np.bool_)) \
                    and key not in names:
                position = int(key)
            elif key in names:
                position = names.index(key)
            else:
                raise ValueError(f"item_columns names {key!r}, which is not a column of X (columns: {names}).")
            if not 2 <= position < len(names):
                raise ValueError(f"item_columns must name side columns (position 2 or later), got {key!r}: the "
                                 "item id column always belongs to the item, the user id column never.")
            positions.append(position)
        if len(set(positions)) != len(positions):
            raise ValueError(f"item_columns names a column twice: {list(self.item_columns)}.")
        return tuple(sorted(positions))

    def _read_training_data(self, X, y, reset, dtype):
        if self._ranking_loss() is not None:
            return self._read_ranking_data(X, y, reset, dtype)
        if y is None:
            hint = (" (or choose a ranking loss, loss='bpr', 'warp' or 'logistic', to train on implicit feedback)"
                    if "loss" in self.get_params(deep=False) else "")
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: pass the "
                             f"ratings or labels{hint}.")
        raw = self._read_X(X, reset=reset)
        classes = getattr(self, "_partial_fit_classes", None)
        if reset and classes is not None and self._task == "classification":
            self._check_targets(np.asarray(classes), len(classes), dtype, first=True)
            return raw, self._check_targets(y, raw.shape[0], dtype, first=False)
        return raw, self._check_targets(y, raw.shape[0], dtype, first=reset)

    @staticmethod
    def _take_rows(raw, index):
        return FeatureEncoder.take(raw, index)

    def _refresh_statistics(self, targets):
        """A warm-started fit keeps the intercept it learned and the rating range."""

    def _count_frequencies(self, data, reset):
        # rows count samples with x_j != 0: each non-zero entry is one (sample, row)
        (_, indices, _), targets = data
        if reset:
            self.feature_state_.counts[:] = 0
            self.feature_state_.n_samples = 0
        self.feature_state_.counts += np.bincount(indices, minlength=self.feature_state_.n_rows)
        self.feature_state_.n_samples += int(targets.shape[0])

    def _encode_validation(self, raw, targets):
        if self._ranking_loss() is not None:
            return raw, targets  # scored through recommend, which takes raw columns
        return self._design(self._feature_encoder.transform(raw)), targets

    def _n_epoch_samples(self, data):
        return data[1].shape[0]

    def _ranking_training(self, data, loss):
        """The :class:`~recfreq._engine.Training` of a ranking loss: context parts, the item table, positives."""
        (indptr, indices, values), targets = data
        encoder, dtype = self._feature_encoder, self._fitted_dtype
        design = sp.csr_matrix((values, indices, indptr), shape=(targets.shape[0], encoder.n_features))
        context, item_parts = _fm_ranking.split_parts(
            design, _fm_ranking.item_feature_rows(encoder, self._item_positions()))
        users = _fm_ranking.id_positions(design, encoder.columns[0].rows)
        items = _fm_ranking.id_positions(design, encoder.columns[1].rows)
        n_items = len(encoder.columns[1].encoder)
        self.item_parts_ = _fm_ranking.item_table(items, item_parts, n_items, getattr(self, "item_parts_", None),
                                                  encoder.columns[1].encoder.classes_).astype(dtype)
        positive_indptr, positive_indices = _ranking_losses.positive_csr(self.user_items_)
        arrays = _engine.fm_arrays(self.intercept_, self.intercept_accum_, self.feature_bias_, self.feature_state_,
                                   dtype, feature_factors=self.feature_factors_)
        arrays.update(item_indptr=np.ascontiguousarray(self.item_parts_.indptr, dtype=np.int64),
                      item_indices=np.ascontiguousarray(self.item_parts_.indices, dtype=np.int32),
                      item_data=np.ascontiguousarray(self.item_parts_.data, dtype=dtype),
                      positive_indptr=positive_indptr, positive_indices=positive_indices,
                      warp_weights=_ranking_losses.warp_weights(n_items))
        if self._solver() == Solver.FA_SGD:
            arrays["feature_frequency"] = self._ranking_frequencies(loss, positive_indptr, positive_indices, n_items)
        scalars = {**_engine.solver_config(self._solver(), self._learning_rate(), self.frequency_exponent,
                                           self.counter_halflife),
                   "dense_learning_rate": self._dense_learning_rate(), "alpha": self._alpha(),
                   "alpha_bias": self._alpha_bias(),
                   "n_factors": self.feature_factors_.shape[1], "ranking_loss": _ranking_losses.LOSS_CODES[loss],
                   "n_negatives": self.n_negatives, "max_sampled": self.max_sampled, "n_items": n_items,
                   # the negatives' key of this call (its epochs add their number)
                   "sample_seed": int(self._rng.randint(np.iinfo(np.int64).max, dtype=np.int64))}
        samples = {"ctx_indptr": np.ascontiguousarray(context.indptr, dtype=np.int64),
                   "ctx_indices": np.ascontiguousarray(context.indices, dtype=np.int32),
                   "ctx_data": np.ascontiguousarray(context.data, dtype=dtype), "user_index": users,
                   "item_index": items}
        return _engine.Training(kernel="fm_ranking_epoch", samples=samples, arrays=arrays, scalars=scalars,
                                n_samples=targets.shape[0])

    def _ranking_frequencies(self, loss, positive_indptr, positive_indices, n_items):
        """fa-sgd's p_r under a ranking loss: each feature row's expected steps per positive, negatives included
        (over the model's positives so far, as the counts are)."""
        encoder, state = self._feature_encoder, self.feature_state_
        user_positives = state.counts[encoder.columns[0].rows]
        item_positives = state.counts[encoder.columns[1].rows]
        user_steps, item_steps = _ranking_losses.expected_steps(user_positives, item_positives, positive_indptr,
                                                                positive_indices, loss, self.n_negatives)
        item_rows = _fm_ranking.item_feature_rows(encoder, self._item_positions())
        # a context row steps with every emitted sample of its positives: 1 + n_negatives times under
        # logistic, once per pair (a user holding every item, which has no negative, is counted as if it
        # had one, except in its own id row, which takes its user's exact steps)
        per_positive = 1.0 + self.n_negatives if loss == "logistic" else 1.0
        steps = np.where(item_rows, 0.0, state.counts.astype(np.float64) * per_positive)
        steps[encoder.columns[0].rows] = user_steps
        table = sp.csr_matrix(self.item_parts_, copy=True)
        table.data[:] = 1.0
        steps[:table.shape[1]] += np.asarray(table.T @ item_steps).ravel()
        return np.ascontiguousarray(steps / max(state.n_samples, 1))

    def _training(self, data):
        loss = self._ranking_loss()
        if loss is not None:
            return self._ranking_training(data, loss)
        # CSR rows are contiguous segments: the kernels read each sample's row
        # through the epoch's order, so nothing is gathered
        (indptr, indices, values), targets = data
        projected = self._projected()
        arrays = _engine.fm_arrays(self.intercept_, self.intercept_accum_, self.feature_bias_, self.feature_state_,
                                   self._fitted_dtype, feature_factors=None if projected else self.feature_factors_,
                                   table=self.feature_embedding_ if projected else None)
        scalars = {**_engine.solver_config(self._solver(), self._learning_rate(), self.frequency_exponent,
                                           self.counter_halflife),
                   "task": _TASKS[self._task], "dense_learning_rate": self._dense_learning_rate(),
                   "alpha": self._alpha(), "alpha_bias": self._alpha_bias()}
        if projected:
            table = self.feature_embedding_
            # per-sample buffers of the kernel: the activations of every non-zero of a row
            scalars.update(n_factors=table.n_factors, max_nnz=max(1, int(np.diff(indptr).max(initial=0))),
                           max_activation=table.max_activation, max_width=table.max_width,
                           dense_batch_size=self.dense_batch_size)
        else:
            scalars["n_factors"] = self.feature_factors_.shape[1]
        return _engine.Training(kernel="fm_projected_epoch" if projected else "fm_epoch",
                                samples={"indptr": indptr, "indices": indices, "data": values, "targets": targets},
                                arrays=arrays, scalars=scalars, n_samples=targets.shape[0])

    def _after_epoch(self, bound):
        if self._projected():  # predict, recommend and decision_function read plain rows
            self.feature_factors_ = bound.projected_factors("feature", self.feature_embedding_)

    def _validation_greater_is_better(self):
        return self._ranking_loss() is not None

    def _validation_score(self, validation):
        if self._ranking_loss() is not None:
            return "val_ndcg@10", self._ranking_score_raw(*validation)
        design, targets = validation
        pred = self._predict_design(design).astype(np.float64)
        if self._task == "regression":
            return "val_rmse", float(np.sqrt(np.mean((pred - targets) ** 2)))
        p = np.clip(pred, 1e-15, 1 - 1e-15)
        return "val_log_loss", float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))

    def _initialize(self, raw, targets, rng):
        """Fresh encoder, tables and solver state for ``fit`` or a first ``partial_fit``."""
        self._feature_encoder = FeatureEncoder(
            categorical_features=self.categorical_features, multi_value_separator=self.multi_value_separator,
            multi_value_weight=self.multi_value_weight, standardize=self.standardize,
            estimator_name=type(self).__name__, dtype=self._dtype())
        X_csr = self._feature_encoder.fit_transform(raw)
        self._fitted_dtype = self._dtype()
        n_features = self._feature_encoder.n_features
        self._set_offset(targets)
        self.intercept_ = np.array([self._offset], dtype=self._fitted_dtype)
        if self.embedding_dims == "mixed":
            # blocks by the number of samples in which each row is non-zero,
            # the frequency the solvers use (a numeric column is non-zero in
            # almost every sample, so it lands in the widest block)
            counts = np.bincount(X_csr.indices, minlength=n_features)
            self.feature_embedding_ = ProjectedTable.mixed(counts, self.n_factors, self.n_dim_blocks,
                                                           self.mixed_dim_exponent, rng, self.init_std,
                                                           self._fitted_dtype)
            self.feature_embedding_.allocate_accumulators(self._solver() == Solver.ADAGRAD)
            self.feature_factors_ = self.feature_embedding_.collapse()
        else:
            self.__dict__.pop("feature_embedding_", None)  # a refit after set_params(embedding_dims="uniform")
            self.feature_factors_ = self._new_factors(n_features, rng)
        self.feature_bias_ = np.zeros(n_features, dtype=self._fitted_dtype)
        self.feature_state_ = TableState.allocate(self._solver(), n_features, self._state_blocks(),
                                                  self._fitted_dtype, self.counter_halflife is not None)
        adagrad = self._solver() == Solver.ADAGRAD
        self.intercept_accum_ = np.zeros(1 if adagrad else 0, dtype=self._fitted_dtype)
        self.t_ = 0
        self.__dict__.pop("item_parts_", None)  # a fresh fit learns its items' parts anew
        self._after_encoding(raw, reset=True)
        return self._design(X_csr), targets

    def _set_offset(self, targets):
        if self._ranking_loss() is not None:
            self._offset = 0.0  # ranking scores: w0 starts at zero (only the logistic loss moves it)
        elif self._task == "regression":
            self.global_mean_ = float(np.mean(targets, dtype=np.float64))
            self.rating_range_ = (float(np.min(targets)), float(np.max(targets)))
            self._offset = self.global_mean_
        else:
            rate = float(np.clip(np.mean(targets, dtype=np.float64), 1e-6, 1 - 1e-6))
            self._offset = float(np.log(rate / (1 - rate)))

    def _encode_and_grow(self, raw, targets, rng):
        X_csr = self._feature_encoder.extend_transform(raw)
        n_features = self._feature_encoder.n_features
        extra = n_features - self.feature_bias_.shape[0]
        if extra > 0:
            if self._projected():  # new rows join the narrowest block, as in MatrixFactorization
                self.feature_embedding_.grow(n_features, rng)
                self.feature_factors_ = self.feature_embedding_.collapse()
            else:
                self.feature_factors_ = np.concatenate([self.feature_factors_, self._new_factors(extra, rng)])
            self.feature_bias_ = np.concatenate([self.feature_bias_, np.zeros(extra, dtype=self._fitted_dtype)])
            self.feature_state_.grow(n_features)
        self._after_encoding(raw, reset=False)
        return self._design(X_csr), targets

    def _after_encoding(self, raw, reset):
        encoder = self._feature_encoder
        factors = self.feature_embedding_.n_parameters if self._projected() else self.feature_factors_.size
        self.n_parameters_ = int(factors + self.feature_bias_.size + 1)
        self.feature_names_ = np.asarray(encoder.feature_names, dtype=object)
        if encoder.sparse:
            return
        user_enc, item_enc = encoder.columns[0].encoder, encoder.columns[1].encoder
        self.user_ids_, self.item_ids_ = user_enc.classes_, item_enc.classes_
        shape = (len(user_enc), len(item_enc))
        (_, u_vals), (_, i_vals) = raw.cols[0], raw.cols[1]
        u = user_enc.transform(_clean_id_column(u_vals, "user"))
        i = item_enc.transform(_clean_id_column(i_vals, "item"))
        batch = sp.csr_matrix((np.ones(u.shape[0], dtype=np.int8), (u, i)), shape=shape)
        if reset or not hasattr(self, "user_items_"):
            seen = batch
        else:
            old = self.user_items_.copy()
            old.resize(shape)
            seen = old + batch
        seen.data[:] = 1
        self.user_items_ = seen

    # ------------------------------------------------------------ public API
    def fit(self: RecommenderT, X: MatrixLike, y: ArrayLike | None = None) -> RecommenderT:
        """Fit the factorization machine.

        Parameters
        ----------
        X : array-like, DataFrame or scipy sparse matrix of shape (n_samples, n_columns)
            Columns 0 and 1: user and item ids; further columns: side features
            (categorical, multi-valued or numeric, see the class docstring).
            A sparse matrix is used as the design matrix itself.
        y : array-like of shape (n_samples,) or None
            Ratings (regression) or two class labels (classification),
            required. Under a ranking loss: None (every row is a positive
            interaction), 0/1 labels or counts (rows with ``y > 0``), or
            ratings with ``positive_threshold``.

        Returns
        -------
        self : object
        """
        return super().fit(X, y)

    def partial_fit(self: RecommenderT, X: MatrixLike, y: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> RecommenderT:
        """Run one more epoch over ``X``, keeping every solver state.

        The first call initialises the model; later calls add categories
        first seen in ``X`` as new feature rows, add ``X`` to the frequency
        counts, keep counters and accumulators and continue ``t_``.
        ``early_stopping`` and ``max_iter`` are ignored.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix
        y : array-like of shape (n_samples,) or None
            As in :meth:`fit`.
        classes : array-like of shape (2,), default=None
            Classification only: both labels, if the first batch may lack one.

        Returns
        -------
        self : object
        """
        self._partial_fit_classes = classes
        try:
            return super().partial_fit(X, y)
        finally:
            del self._partial_fit_classes

    @available_if(_is_classifier)
    def decision_function(self, X: MatrixLike) -> np.ndarray:
        """Raw FM score y_hat(x) of each row (log-odds for classification).

        Feature values unseen in fit contribute nothing.
        """
        raw = self._read_X(X, reset=False)
        return self._raw_scores(self._design(self._feature_encoder.transform(raw)))

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Predicted rating (clipped to the training range), or class label for classification.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_columns)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        raw = self._read_X(X, reset=False)
        pred = self._predict_design(self._design(self._feature_encoder.transform(raw)))
        if self._task == "classification":
            return self.classes_[(pred > 0.5).astype(np.intp)]
        return pred

    @available_if(_is_classifier)
    def predict_proba(self, X: MatrixLike) -> np.ndarray:
        """Class probabilities (classification only), shape (n_samples, 2)."""
        check_is_fitted(self)
        p = _sigmoid(self.decision_function(X))
        return np.column_stack([1 - p, p]).astype(self._fitted_dtype)

    def score(self, X: MatrixLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None) -> float:
        """R^2 (regression) or mean accuracy (classification); NDCG@10 for a model that ranks by default."""
        rating_score = ClassifierMixin.score if self._task == "classification" else RegressorMixin.score
        return self._rating_or_ranking_score(rating_score, X, y, sample_weight)

    def _raw_scores(self, design):
        indptr, indices, data = design
        arrays = dict(indptr=indptr, indices=indices, data=data, intercept=float(self.intercept_[0]),
                      feature_bias=self.feature_bias_, feature_factors=self.feature_factors_)
        backend = self._prediction_backend()
        if backend is not None:
            scores = _engine.device_call("fm_predict", backend, **arrays)
        else:
            scores = _engine.fm_predict(**arrays, n_threads=effective_n_threads(self.n_jobs))
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.shape[0]:
            # training bounds the scores of rows like the training rows; a row with
            # far larger feature values (or many more of them) can still overflow
            raise ValueError(
                f"The scores of {bad.shape[0]} row(s) (first: row {bad[0]}) overflow {self._fitted_dtype}: their "
                "feature values lie far outside the range the model was trained on. Rescale those columns, or "
                "fit with dtype='float64'."
            )
        return scores

    def _predict_design(self, design):
        scores = self._raw_scores(design)
        if self._ranking_loss() is not None:
            return scores  # ranking scores: only their order for a user means anything
        if self._task == "classification":
            return _sigmoid(scores)
        if self.clip_predictions:
            np.clip(scores, *self.rating_range_, out=scores)
        return scores

    # ------------------------------------------------------------ recommend
    def recommend(self, users: ArrayLike, n: int = 10, exclude_seen: bool = True, *,
                  items: ArrayLike | None = None, filter_items: ArrayLike | None = None,
                  user_features: FeatureColumns | None = None, item_features: FeatureColumns | None = None,
                  batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each user, scored with the users' and items' side features.

        Parameters
        ----------
        users : array-like of shape (n_users,)
            Raw user ids (unknown users get no user-id term).
        n : int, default=10
            Items per user; at most the number of candidates left after
            ``filter_items``.
        exclude_seen : bool, default=True
            Leave out items the user had in the training data (slots that
            cannot be filled hold seen items with score ``-inf``).
        items : array-like of shape (n_candidates,), default=None
            Candidate item ids (distinct, not empty); default every item
            seen in training. A candidate the model never saw is scored from
            its side features alone (no item-id term), as ``predict`` would.
        filter_items : array-like of shape (n_blocked,), default=None
            Blocklist: these item ids are never recommended (ids that are not
            candidates are ignored; removing every candidate is an error).
        user_features : DataFrame or dict, default=None
            Side columns describing each user, aligned with ``users``: a dict
            ``{column name or position: values}`` or a DataFrame whose
            columns are named as in fit. A multi-valued column may be given
            as a list of lists.
        item_features : DataFrame or dict, default=None
            Side columns describing each candidate item, aligned with ``items``
            (with the training items when ``items`` is None), before
            ``filter_items`` removes any. Side columns given in neither
            contribute nothing.
        batch_size : int, default=1024

        Returns
        -------
        items : ndarray of shape (n_users, min(n, n_candidates))
            Raw item ids, best first (equal scores in candidate order).
        scores : ndarray of shape (n_users, min(n, n_candidates))
            What ``predict`` gives for the pair (the rating, clipped like
            ``predict``), or the probability of the positive class
            (classification). Items are ranked by the raw score.

        Notes
        -----
        A user's columns and an item's columns hold different feature rows,
        so y_hat(u, i) = s(u) + s(i) - w0 + <V^T x_u, V^T x_i>, with s the FM
        score of one side alone: one matrix product per batch of users.
        """
        check_is_fitted(self)
        encoder = self._feature_encoder
        if encoder.sparse:
            raise ValueError("recommend needs user and item id columns; this model was fitted on a sparse "
                             "design matrix.")
        n = check_positive_integer(n, "n")
        batch_size = check_positive_integer(batch_size, "batch_size")
        name = type(self).__name__
        users = read_ids(users, "users", "user", name)
        item_ids, keep = read_candidates(items, filter_items, self.item_ids_, name)
        user_cols = {0: users, **self._side_columns(user_features, users.shape[0], "user_features")}
        item_cols = {1: item_ids, **self._side_columns(item_features, item_ids.shape[0], "item_features")}
        if set(user_cols) & set(item_cols):
            raise ValueError("A column cannot describe both users and items: "
                             f"{sorted(set(user_cols) & set(item_cols))}.")
        ranking = self._ranking_loss() is not None
        if ranking:
            missing = [encoder.columns[j].name for j in self._context_positions() if j not in user_cols]
            if missing:
                raise ValueError(f"{name} was trained with side columns {missing} that describe the user or the "
                                 "context, and ranks with them: pass them in user_features (one value per user).")
        if not keep.all():  # the blocked candidates and their side features
            item_cols = {j: values[keep] for j, values in item_cols.items()}
            item_ids = item_ids[keep]
        A_u = encoder.transform_columns(user_cols, users.shape[0])
        if ranking and item_features is None:
            A_i = self._item_parts_of(item_ids)
        else:
            A_i = encoder.transform_columns(item_cols, item_ids.shape[0])
        w0 = float(self.intercept_[0])
        s_u = self._raw_scores(self._design(A_u)).astype(np.float64)
        s_i = self._raw_scores(self._design(A_i)).astype(np.float64) - w0
        V = self.feature_factors_.astype(np.float64)
        P_u, P_i = np.asarray(A_u @ V), np.asarray(A_i @ V)
        item_encoder = self._id_encoder("item")
        user_rows = self._id_encoder("user").transform(users)
        seen = seen_candidates(self.user_items_, user_rows, item_encoder.transform(item_ids), len(item_encoder)) \
            if exclude_seen else None
        backend = self._prediction_backend()

        def score_batch(start, stop):
            if backend is None:
                return s_u[start:stop, None] + s_i[None, :] + P_u[start:stop] @ P_i.T
            # the scores of (u, i) as MF's, with the sides' own scores as biases
            dtype = self._fitted_dtype
            return _engine.device_call(
                "mf_score_items", backend, user_index=np.arange(stop - start, dtype=np.int32), global_mean=0.0,
                user_factors=np.ascontiguousarray(P_u[start:stop], dtype=dtype),
                item_factors=np.ascontiguousarray(P_i, dtype=dtype),
                user_bias=np.ascontiguousarray(s_u[start:stop], dtype=dtype),
                item_bias=np.ascontiguousarray(s_i, dtype=dtype)).astype(np.float64)

        columns, top_scores = top_n(score_batch, users.shape[0], min(n, item_ids.shape[0]), batch_size, seen)
        finite = np.isfinite(top_scores)  # excluded (seen) slots keep -inf
        if ranking:
            pass  # ranking scores, as predict gives them
        elif self._task == "classification":
            top_scores[finite] = _sigmoid(top_scores[finite])
        elif self.clip_predictions:
            top_scores[finite] = np.clip(top_scores[finite], *self.rating_range_)
        return item_ids[columns], top_scores.astype(self._fitted_dtype)

    def _item_parts_of(self, item_ids):
        """Design rows of known items from the item table (their id and ``item_columns`` as in training)."""
        rows = self._id_encoder("item").transform(_clean_id_column(item_ids, "item"))
        if (rows < 0).any():
            raise ValueError(f"items holds ids the model never saw ({item_ids[rows < 0][:5].tolist()}): score them "
                             "from their features by passing item_features (the columns in item_columns).")
        table = sp.csr_matrix(self.item_parts_, dtype=np.float64)
        table.resize((table.shape[0], self._feature_encoder.n_features))
        return table[rows]

    def _ranking_score(self, X, y=None):
        """NDCG@10 of ``recommend`` on held-out interactions, each user ranked with the context columns of
        its first held-out row (under a ranking loss; see :meth:`score`)."""
        if self._ranking_loss() is None:
            return super()._ranking_score(X, y)
        check_is_fitted(self)
        return self._ranking_score_raw(self._read_X(X, reset=False), y)

    def _ranking_score_raw(self, raw, y):
        from .metrics import ndcg_at_k

        relevant = self._relevant_rows(y, raw.n_rows)
        if not relevant.any():
            raise ValueError("no held-out row is relevant (check y and positive_threshold): NDCG is undefined.")
        users = _clean_id_column(raw.cols[0][1][relevant], "user")
        items = _clean_id_column(raw.cols[1][1][relevant], "item")
        user_ids, first, codes = np.unique(users, return_index=True, return_inverse=True)
        features = {j: raw.cols[j][1][relevant][first] for j in self._context_positions()}
        recommended, _ = self.recommend(user_ids, n=10, user_features=features or None)
        held_out = [set() for _ in user_ids]
        for code, item in zip(codes.ravel().tolist(), items.tolist()):
            held_out[code].add(item)
        return float(ndcg_at_k(held_out, recommended, k=10))

    def _side_columns(self, features, n_rows, name):
        if features is None:
            return {}
        encoder = self._feature_encoder
        if hasattr(features, "columns") and hasattr(features, "iloc"):
            items = [(c, features[c].to_numpy()) for c in features.columns]
        elif isinstance(features, dict):
            items = list(features.items())
        else:
            raise TypeError(f"{name} must be a DataFrame or a dict of column -> values, got "
                            f"{type(features).__name__}.")
        out = {}
        for key, values in items:
            position = encoder.position(key)
            if position < 2:
                raise ValueError(f"{name} cannot hold the id column {key!r}.")
            values = as_cells(values)
            if values.ndim != 1 or values.shape[0] != n_rows:
                raise ValueError(f"{name}[{key!r}] has shape {values.shape}, expected ({n_rows},): one value (or "
                                 "one list of values) per row.")
            out[position] = values
        return out

    # ------------------------------------------------------------ neighbours
    def _id_encoder(self, side):
        encoder = self._feature_encoder
        if encoder.sparse:
            raise ValueError(f"{type(self).__name__} was fitted on a sparse design matrix: it has no user or item "
                             "ids to look up.")
        return encoder.columns[0 if side == "user" else 1].encoder

    def _similarity_factors(self, side):
        # the factor rows of the id column's values; side features are not part of an id's vector
        return self.feature_factors_[self._feature_encoder.columns[0 if side == "user" else 1].rows]

    def _score_rows(self, X):
        return self._read_X(X, reset=False).shape[0]


class FactorizationMachine(RegressorMixin, _BaseFactorizationMachine):
    """Second-order factorization machine with side features, trained by a per-row solver.

    Predicts ``y_hat(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l``
    (Rendle 2010) in O(k nnz) per sample, where x is one row of the design
    matrix: one-hot user and item ids, one-hot or multi-hot categorical side
    features and real-valued numeric features. Trained one sample at a time
    in a nogil Cython loop, OpenMP threads updating rows lock-free. Every
    feature value is an embedding row with its own frequency, which is what
    the frequency-aware solvers use.

    Parameters
    ----------
    n_factors : int, default=64
        Width k of the factor rows v_j.
    solver : {"sgd", "fa-sgd", "cf-sgd", "adagrad"}, default="adagrad"
        Per-row update rule (DESIGN section 3; see Notes). ``adagrad`` is the
        default for the FM, unlike MF: on MovieLens-100K with side features
        it reached 0.898 test RMSE where ``fa-sgd``/``cf-sgd`` were at 0.906
        after 25 epochs and ``sgd`` at 0.917 (``benchmarks/bench_fm.py``).
        A sample holds ~10 feature rows, so a frequency-aware step of eta on
        each moves y_hat ~10x further than in MF; fa-sgd diverges above
        eta ~ 0.25 here, which caps how fast it can start.
    learning_rate : float or None, default=None
        eta of the feature rows; None: 0.01 (sgd), 0.2 (fa-sgd, cf-sgd),
        0.05 (adagrad), the best of a grid on MovieLens-100K with side
        features.
    dense_learning_rate : float or None, default=None
        Step size of the dense parameters: the global bias w0 and, with
        ``embedding_dims="mixed"``, the block projections (plain SGD under
        sgd/fa-sgd/cf-sgd, Adagrad's eta under adagrad). None: 0.001, or 0.01
        under adagrad; with ``embedding_dims="mixed"`` 1e-4 for every solver,
        the best of {1e-5, 1e-4, 1e-3} on MovieLens-100K with side features
        (``benchmarks/bench_fm.py mixed --sweep-dense``; the uniform defaults
        cost the mixed model 0.03 RMSE there). w0
        starts at the training mean, so it barely moves.
    alpha : float or None, default=None
        L2 regularization of the factor rows. None: 0.1 for the task's loss;
        under a ranking loss the best of {0.01, 0.03} on ml-100k's per-user
        split with side features for the loss and solver (0.01 for ``fa-sgd``
        and ``cf-sgd`` under ``logistic`` and ``bpr``, for ``sgd`` under
        ``logistic`` and for ``cf-sgd`` under ``warp``, 0.03 otherwise).
    alpha_bias : float or None, default=0.01
        L2 regularization of the linear weights w_j; None uses ``alpha``.
        Regularizing them as much as the factors cost 0.004 RMSE on ml-100k.
    task : {"regression", "classification"}, default="regression"
        Squared loss, or logistic loss on two classes (then ``predict``
        returns labels, ``predict_proba`` probabilities and ``score`` is the
        accuracy; :class:`FactorizationMachineClassifier` is the same model
        with scikit-learn's classifier tags).
    clip_predictions : bool, default=True
        Regression: clip predictions to the training target range.
    categorical_features : "auto" or list of int or str, default="auto"
        Side columns to one-hot encode even though they are numeric.
        "auto": string, boolean, pandas-category and list-valued columns are
        categorical, numeric columns are real-valued features.
    multi_value_separator : str or None, default=None
        Split string cells of categorical side columns at this separator
        (e.g. ``"|"`` for MovieLens genres). Cells that are lists, tuples,
        sets or arrays are multi-valued in any case.
    multi_value_weight : {"one", "mean"}, default="one"
        x of each value of a multi-valued cell: 1, or ``1/len(cell)`` (the
        cell sums to one). "one" was 0.003 RMSE better with MovieLens genres.
    standardize : bool, default=True
        Centre and scale numeric columns by the first fitted batch's mean and
        standard deviation.
    embedding_dims : {"uniform", "mixed"}, default="uniform"
        ``"mixed"``: mixed-dimension factor rows (Ginart et al. [4]_). All feature
        rows (ids, categories, numeric columns) are sorted by the number of
        training samples in which they are non-zero and cut into
        ``n_dim_blocks`` blocks of equal total count; block b gets width
        ``d_b = max(1, round(k (p_b / p_max) ** mixed_dim_exponent))`` (p_b the
        mean count of its rows) and a dense d_b x k projection P_b, so
        ``v_j = e_j P_b`` with e_j the trained raw row; the block of width k
        has none. A numeric column is non-zero in (almost) every sample and
        so lands in the widest block. The blocks are set once, by the data of
        the first ``fit``/``partial_fit``; rows first seen later join the
        narrowest block. After every epoch the projected rows are
        materialised in ``feature_factors_``, so prediction costs what the
        uniform model costs. The linear weights w_j stay scalars. Saves
        parameters, not time: each non-zero costs O(d_b k) instead of O(k).
    mixed_dim_exponent : float, default=0.3
        alpha of the width rule above (0 gives every block width k).
    n_dim_blocks : int, default=4
        Frequency blocks of a mixed table.
    dense_batch_size : int, default=8
        ``embedding_dims="mixed"``: the projections' gradients are summed per
        thread and applied every ``dense_batch_size`` samples (and at the end
        of each thread's share of an epoch), as in
        :class:`~recfreq.MatrixFactorization`. 1 applies them after every sample.
    max_iter : int, default=15
    tol, n_iter_no_change, early_stopping, validation_fraction
        As in :class:`~recfreq.MatrixFactorization`; the validation score is
        RMSE (regression) or log loss (classification).
    frequency_exponent : float, default=0.5
    counter_halflife : float or None, default=None
    init_std : float, default=0.02
        v_j start as N(0, init_std^2); w_j at 0, w0 at the training mean
        (regression) or the log-odds of the positive rate (classification).
        With ``embedding_dims="mixed"`` each projection starts semi-orthogonal
        and the raw rows are scaled so that every v_j starts with spread
        ``init_std`` (as in :class:`~recfreq.MatrixFactorization`).
    dtype : {"float32", "float64"}, default="float32"
    device : {"cpu", "cuda"}, default="cpu"
        ``"cuda"`` trains on an NVIDIA GPU through CuPy, every solver, uniform and
        mixed rows and every ``loss`` (one warp per sample, Rendle's identity per
        warp, rows updated lock-free; w0 and the rows in a large share of the
        samples stepped on per-block copies published every 64 samples, as each
        thread does under ``n_jobs > 1``; under a ranking loss one warp per
        positive, its negatives drawn in the kernel as the CPU draws them, w0 on
        a copy per warp). ``predict``, ``decision_function``, ``recommend``,
        ``similar_items`` and ``similar_users`` then score on the GPU when one
        is usable, on the CPU elsewhere; the
        fitted attributes are NumPy arrays either way. Without CuPy, an
        ImportError naming the install command; without a usable device, a
        RuntimeError.
    n_jobs : int or None, default=None
        OpenMP threads for training and prediction; None means 1 (bit-for-bit
        reproducible for a given ``random_state``), -1 all; at most the usable
        processors (a larger value warns and is capped). Several threads
        split each epoch into static chunks and update the feature rows
        lock-free (Hogwild), except w0 and the "hot" rows: those non-zero in
        at least 1/64 of the training samples counted so far, at most 256 (the
        most frequent). Side features make such rows (a numeric column is in
        every sample, a gender or genre in a large share), and every thread
        would write them all the time, bouncing their cache lines between the
        cores. So each thread steps private copies of the hot rows it touches
        (factors, linear weight, Adagrad accumulators, cf-sgd counter) and
        adds their change to the shared rows every 64 samples and at the end
        of its share of the epoch, as it does for w0; a hot row's updates
        reach the other threads up to 64 samples late. The threshold: a row
        in 1/64 of the samples is touched about once per publication, so its
        copy saves shared writes from there up; on MovieLens-100K with side
        features it selects the 42 side-feature rows (75 % of the non-zeros)
        and no id, and two threads took 0.176 s for 20 epochs at k=10 against
        0.304 s with every row Hogwild and 0.254 s with one thread (quiet
        2-core VM, ``benchmarks/bench_fm.py speed --compare-hogwild``).
        ``embedding_dims="mixed"`` keeps every row Hogwild.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    warm_start : bool, default=False

    Attributes
    ----------
    intercept_ : ndarray of shape (1,)
        w0.
    feature_bias_ : ndarray of shape (n_feature_rows,)
        Linear weights w_j.
    feature_factors_ : ndarray of shape (n_feature_rows, n_factors)
        Factor rows v_j (with ``embedding_dims="mixed"``: the projected rows
        e_j P_b, materialised after every epoch for prediction).
    feature_embedding_ : ProjectedTable
        Only with ``embedding_dims="mixed"``: the raw rows e_j of each width,
        their block (``row_group``), the projections (``layers(block)``) and
        their Adagrad accumulators, i.e. what is trained.
    feature_names_ : ndarray of str
        ``"column=value"`` (or the numeric column's name) of each row.
    feature_state_ : TableState
        Frequency counts, cf-sgd counters, Adagrad accumulators of the rows
        (with ``embedding_dims="mixed"`` only w_j's; those of e_j live in
        ``feature_embedding_``).
    global_mean_ : float
        Mean training target (regression); w0 starts there.
    rating_range_ : tuple of float
        (min, max) of the training targets, for clipping.
    classes_ : ndarray of shape (2,)
        Classification only.
    user_ids_, item_ids_ : ndarray
        Known ids (not with a sparse design matrix).
    user_items_ : scipy.sparse.csr_matrix
        Items each user had in training (``recommend(exclude_seen=True)``).
    loss_curve_, validation_scores_, n_iter_, t_
        As in :class:`~recfreq.MatrixFactorization`; the loss is the mean
        squared error or the mean log loss of each epoch.
    n_parameters_ : int
        Learned scalars: the factor rows (with ``embedding_dims="mixed"``, the
        raw rows and the projections), the w_j and w0.

    Notes
    -----
    Inputs. ``X`` is either a scipy sparse matrix (the design matrix itself)
    or a table whose columns 0 and 1 are user and item ids followed by side
    columns. Every distinct categorical value (ids included) is one row;
    a numeric column is one row with x = its (standardized) value; a
    multi-valued cell (list, or a separated string) gives x = 1 to each of
    its values (1/len with ``multi_value_weight="mean"``). Values unseen in fit contribute nothing
    at predict (an unknown user gets w0 plus the rest of the row's terms).

    Training. With ``d = dloss/dy_hat`` (``y_hat - y`` for the squared loss
    ``e^2/2``, ``sigmoid(y_hat) - y`` for the log loss) and
    ``s_f = sum_l v_lf x_l``, each non-zero feature j of a sample takes

        g_wj = d x_j + alpha_bias w_j,    g_vjf = d x_j (s_f - v_jf x_j) + alpha v_jf

    (parameters before the sample's update) and one per-row step of its
    solver, factors and linear weight sharing the row's frequency:
    ``fa-sgd`` scales eta by ``max(1, p_j t)^(-beta)`` with p_j the share of
    training samples in which x_j != 0; ``cf-sgd`` by ``c_j^(-beta)`` with c_j
    the row's visit counter; ``adagrad`` per coordinate. w0 is in every
    sample, so it takes dense steps (``dense_learning_rate``).

    Mixed dimensions. With ``v_j = e_j P_b`` the score and ``g_vj`` above are
    computed on the projected rows; ``g_ej = g_vj P_b^T + alpha e_j`` takes row
    j's solver step (the same rate as w_j), and ``e_j^T g_vj`` is summed into
    P_b's gradient, applied every ``dense_batch_size`` samples with
    ``dense_learning_rate`` (a frequency rule means nothing for a matrix that
    every sample of its block moves). Projections are not regularised.

    References
    ----------
    .. [1] S. Rendle, "Factorization machines", ICDM 2010.
    .. [2] S. Li et al., "Frequency-aware SGD for efficient embedding learning
       with provable benefits", ICLR 2022, arXiv:2110.04844.
    .. [3] J. Duchi, E. Hazan, Y. Singer, "Adaptive subgradient methods for
       online learning and stochastic optimization", JMLR 12, 2011.
    .. [4] A. Ginart, M. Naumov, D. Mudigere, J. Yang, J. Zou, "Mixed dimension
       embeddings with application to memory-efficient recommendation systems",
       arXiv:1909.11810, 2019.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfreq import FactorizationMachine
    >>> X = pd.DataFrame({"user": [1, 1, 2, 3], "item": [10, 11, 10, 12],
    ...                   "genres": [["a", "b"], ["b"], ["a", "b"], ["c"]], "year": [1990, 1995, 1990, 2001]})
    >>> model = FactorizationMachine(n_factors=4, max_iter=3, random_state=0).fit(X, [4, 3, 5, 2])
    >>> model.predict(X).shape
    (4,)
    """

    _parameter_constraints = {
        **_BaseFactorizationMachine._parameter_constraints,
        "task": [StrOptions(set(_TASKS))],
        "clip_predictions": ["boolean"],
        "loss": [StrOptions(set(_ranking_losses.RANKING_LOSSES)), None],
        "n_negatives": [Interval(numbers.Integral, 1, 1000, closed="both")],
        "max_sampled": [Interval(numbers.Integral, 1, 100_000, closed="both")],
        "positive_threshold": [Interval(numbers.Real, None, None, closed="neither"), None],
        "item_columns": [list, tuple, None],
    }

    #: learning_rate=None and alpha=None under a ranking loss: loss -> solver -> value, the best
    #: of a grid on ml-100k's per-user split with side features, chosen on a validation split of
    #: its training part (benchmarks/tune_ranking.py --model fm)
    _default_ranking_learning_rates = {
        "logistic": {"sgd": 0.01, "fa-sgd": 0.3, "cf-sgd": 0.3, "adagrad": 0.1},
        "bpr": {"sgd": 0.03, "fa-sgd": 0.3, "cf-sgd": 0.3, "adagrad": 0.1},
        "warp": {"sgd": 0.001, "fa-sgd": 0.03, "cf-sgd": 0.03, "adagrad": 0.05},
    }
    _default_ranking_alphas = {
        "logistic": {"sgd": 0.01, "fa-sgd": 0.01, "cf-sgd": 0.01, "adagrad": 0.03},
        "bpr": {"sgd": 0.03, "fa-sgd": 0.01, "cf-sgd": 0.01, "adagrad": 0.03},
        "warp": {"sgd": 0.03, "fa-sgd": 0.03, "cf-sgd": 0.01, "adagrad": 0.03},
    }

    def __init__(self, *, n_factors=64, solver="adagrad", learning_rate=None, dense_learning_rate=None,
                 alpha=None, alpha_bias=0.01, task="regression", loss=None, n_negatives=4, max_sampled=10,
                 positive_threshold=None, item_columns=None, clip_predictions=True,
                 categorical_features="auto", multi_value_separator=None, multi_value_weight="one",
                 standardize=True, embedding_dims="uniform", mixed_dim_exponent=0.3, n_dim_blocks=4,
                 dense_batch_size=8, max_iter=15, tol=None, n_iter_no_change=5, early_stopping=False,
                 validation_fraction=0.1, frequency_exponent=0.5, counter_halflife=None, init_std=0.02,
                 dtype="float32", device="cpu", n_jobs=None, random_state=None, verbose=0, warm_start=False):
        self.n_factors = n_factors
        self.solver = solver
        self.learning_rate = learning_rate
        self.dense_learning_rate = dense_learning_rate
        self.alpha = alpha
        self.alpha_bias = alpha_bias
        self.task = task
        self.loss = loss
        self.n_negatives = n_negatives
        self.max_sampled = max_sampled
        self.positive_threshold = positive_threshold
        self.item_columns = item_columns
        self.clip_predictions = clip_predictions
        self.categorical_features = categorical_features
        self.multi_value_separator = multi_value_separator
        self.multi_value_weight = multi_value_weight
        self.standardize = standardize
        self.embedding_dims = embedding_dims
        self.mixed_dim_exponent = mixed_dim_exponent
        self.n_dim_blocks = n_dim_blocks
        self.dense_batch_size = dense_batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.frequency_exponent = frequency_exponent
        self.counter_halflife = counter_halflife
        self.init_std = init_std
        self.dtype = dtype
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    _structure_params = ("dtype", "n_factors", "embedding_dims", "task", "loss", "item_columns")

    @property
    def _task(self):
        # a fitted model predicts for the task it was trained on, whatever set_params changed since
        return self._fitted_param("task")

    def _ranking_loss(self):
        return self._fitted_param("loss")

    def _validate_params(self):
        super()._validate_params()
        if self.loss is None:
            if self.item_columns:
                raise ValueError("item_columns only matters to a ranking loss (loss='logistic', 'bpr' or 'warp'): "
                                 "the task's own loss reads every column as given.")
            return
        if self.task != "regression":
            raise ValueError(f"loss={self.loss!r} ranks implicit feedback and cannot be combined with "
                             f"task={self.task!r} (which fits labels with the log loss): keep the default task.")
        if self.embedding_dims != "uniform":
            raise ValueError(f"loss={self.loss!r} trains uniform feature rows; embedding_dims="
                             f"{self.embedding_dims!r} is only available with the task's own loss.")

    def _learning_rate(self):
        loss = self._ranking_loss()
        if self.learning_rate is None and loss is not None:
            return self._default_ranking_learning_rates[loss][self.solver]
        return super()._learning_rate()

    def score(self, X: MatrixLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None) -> float:
        """R^2 (regression) or mean accuracy (classification); NDCG@10 for a model that ranks by default."""
        return _BaseFactorizationMachine.score(self, X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=False, poor_score=True)
            tags.regressor_tags = None
        if self.loss is not None:
            tags.target_tags.required = False  # implicit feedback: fit(X)
        return tags


class FactorizationMachineClassifier(ClassifierMixin, _BaseFactorizationMachine):
    """:class:`FactorizationMachine` with ``task="classification"``, as a scikit-learn classifier.

    Logistic loss on two classes (``classes_``; the second is the positive
    one): ``predict`` returns labels, ``predict_proba`` probabilities,
    ``decision_function`` the log-odds y_hat(x) and ``score`` the accuracy.
    The parameters are those of :class:`FactorizationMachine` without
    ``task`` and ``clip_predictions``; see it for the model, the inputs and
    the update rules.

    Examples
    --------
    >>> from recfreq import FactorizationMachineClassifier
    >>> X = [[1, 10], [1, 11], [2, 10], [3, 12]]
    >>> clf = FactorizationMachineClassifier(n_factors=4, max_iter=3, random_state=0).fit(X, [1, 0, 1, 0])
    >>> clf.predict_proba(X).shape
    (4, 2)
    """

    _task = "classification"

    def score(self, X: MatrixLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None) -> float:
        """Mean accuracy; NDCG@10 for a model that ranks by default."""
        return _BaseFactorizationMachine.score(self, X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # ClassifierMixin's tags come last: set ours after them
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        return tags

    def __init__(self, *, n_factors=64, solver="adagrad", learning_rate=None, dense_learning_rate=None,
                 alpha=0.1, alpha_bias=0.01, categorical_features="auto", multi_value_separator=None,
                 multi_value_weight="one", standardize=True, embedding_dims="uniform", mixed_dim_exponent=0.3,
                 n_dim_blocks=4, dense_batch_size=8, max_iter=15, tol=None, n_iter_no_change=5,
                 early_stopping=False, validation_fraction=0.1, frequency_exponent=0.5, counter_halflife=None,
                 init_std=0.02, dtype="float32", device="cpu", n_jobs=None, random_state=None, verbose=0,
                 warm_start=False):
        self.n_factors = n_factors
        self.solver = solver
        self.learning_rate = learning_rate
        self.dense_learning_rate = dense_learning_rate
        self.alpha = alpha
        self.alpha_bias = alpha_bias
        self.categorical_features = categorical_features
        self.multi_value_separator = multi_value_separator
        self.multi_value_weight = multi_value_weight
        self.standardize = standardize
        self.embedding_dims = embedding_dims
        self.mixed_dim_exponent = mixed_dim_exponent
        self.n_dim_blocks = n_dim_blocks
        self.dense_batch_size = dense_batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.frequency_exponent = frequency_exponent
        self.counter_halflife = counter_halflife
        self.init_std = init_std
        self.dtype = dtype
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
