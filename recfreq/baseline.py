"""Biases-only baseline: r_hat = mu + b_u + b_i."""

import numpy as np
from sklearn.base import RegressorMixin

from . import _engine
from .base import BaseRecommender, _bias_bound
from ._encoding import UNKNOWN

__all__ = ["BaselinePredictor"]


class BaselinePredictor(RegressorMixin, BaseRecommender):
    """Global mean plus user and item biases, fitted by a per-row solver.

    The prediction is ``r_hat(u, i) = mu + b_u + b_i``, with ``mu`` the mean
    training rating (not learned) and the biases trained on the squared error
    with L2 penalty ``alpha``, one sample at a time, in a compiled nogil loop.
    This is Surprise's ``BaselineOnly`` with SGD, and the floor every
    factor model must beat. All four solvers of recfreq are available.

    Parameters
    ----------
    solver : {"sgd", "fa-sgd", "cf-sgd", "adagrad"}, default="sgd"
        Per-row update rule (see Notes).
    learning_rate : float or None, default=None
        Step size eta. None means the solver's default: 0.005 for ``sgd``
        (Surprise's default), 0.5 for ``fa-sgd`` and ``cf-sgd`` and 0.05 for
        ``adagrad``.
    alpha : float, default=0.02
        L2 regularization of the biases.
    max_iter : int, default=20
        Epochs (passes over the training data).
    tol : float or None, default=None
        With a value, training stops once the training loss (or, with
        ``early_stopping``, the validation RMSE) has not improved by more
        than ``tol`` for ``n_iter_no_change`` consecutive epochs. None runs
        exactly ``max_iter`` epochs, as Surprise's ``n_epochs`` does.
    n_iter_no_change : int, default=5
        Patience of the stopping rule above.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, record their RMSE after
        every epoch in ``validation_scores_`` and stop on it (with ``tol=None``,
        when it stops improving at all).
    validation_fraction : float, default=0.1
        Share of rows held out when ``early_stopping=True``.
    frequency_exponent : float, default=0.5
        beta of ``fa-sgd`` and ``cf-sgd``.
    counter_halflife : float or None, default=None
        Half-life of the ``cf-sgd`` counters, in samples; None never forgets.
    dtype : {"float32", "float64"}, default="float32"
        Dtype of the parameters and predictions.
    device : {"cpu", "cuda"}, default="cpu"
        ``"cuda"`` trains on an NVIDIA GPU through CuPy, every solver (one thread
        per sample, updates lock-free); ``predict`` runs on the CPU and the fitted
        attributes are NumPy arrays. Without CuPy, an ImportError naming the
        install command; without a usable device, a RuntimeError.
    n_jobs : int or None, default=None
        OpenMP threads; None means 1 (bit-for-bit reproducible), -1 all.
        At most the usable processors: a larger value warns and is capped.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample order (and the validation split).
    verbose : int, default=0
        Show a progress bar with the loss per epoch.
    warm_start : bool, default=False
        Continue from the previous fit's biases and solver state.

    Attributes
    ----------
    global_mean_ : float
        Mean training rating, mu.
    user_bias_, item_bias_ : ndarray of shape (n_users,), (n_items,)
    user_ids_, item_ids_ : ndarray
        Raw id of each row of the tables.
    loss_curve_ : list of float
        Mean squared training error of each epoch, each sample measured just
        before its own update.
    validation_scores_ : list of float
        Validation RMSE after each epoch (``early_stopping=True`` only).
    n_iter_ : int
        Epochs run.
    t_ : int
        Training samples processed over the model's life (the solvers' t).
    n_parameters_ : int
        Number of learned scalars.
    user_items_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Which items each user rated in training (for ``exclude_seen``).
    n_features_in_ : int
        Columns of ``X`` seen in ``fit``.

    Notes
    -----
    For a sample (u, i, r) with error ``e = r - r_hat``, the bias gradients are
    ``g_u = -e + alpha * b_u`` and ``g_i = -e + alpha * b_i``, and each bias takes
    the step of its solver:

    * ``sgd``: ``b <- b - eta * g``
    * ``fa-sgd``: ``b <- b - eta * max(1, p_r * t) ** -beta * g`` with ``p_r``
      the share of training samples that contain the row
    * ``cf-sgd``: ``b <- b - eta * c_r ** -beta * g`` with ``c_r`` the row's
      visit counter, incremented before the step
    * ``adagrad``: ``G <- G + g**2``, ``b <- b - eta * g / (sqrt(G) + eps)``

    References
    ----------
    .. [1] Y. Koren, "Factor in the neighbors: scalable and accurate
       collaborative filtering", ACM TKDD 4(1), 2010 (the baseline estimates).
    .. [2] S. Li et al., "Frequency-aware SGD for efficient embedding learning
       with provable benefits", ICLR 2022, arXiv:2110.04844.

    Examples
    --------
    >>> from recfreq import BaselinePredictor
    >>> from recfreq.datasets import make_synthetic_ratings
    >>> X, y = make_synthetic_ratings(n_users=50, n_items=40, n_ratings=500, random_state=0)
    >>> model = BaselinePredictor(random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _default_learning_rates = {"sgd": 0.005, "fa-sgd": 0.5, "cf-sgd": 0.5, "adagrad": 0.05}

    #: biases only: no factor space, so no similar_items/similar_users
    _has_factors = False

    def __init__(self, *, solver="sgd", learning_rate=None, alpha=0.02, max_iter=20, tol=None,
                 n_iter_no_change=5, early_stopping=False, validation_fraction=0.1,
                 frequency_exponent=0.5, counter_halflife=None, dtype="float32", device="cpu",
                 n_jobs=None, random_state=None, verbose=0, warm_start=False):
        self.solver = solver
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.frequency_exponent = frequency_exponent
        self.counter_halflife = counter_halflife
        self.dtype = dtype
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # ids are labels, not features: the generic "learns a regression on
        # random continuous data" check cannot apply
        tags.regressor_tags.poor_score = True
        return tags

    def _allocate_parameters(self, n_users, n_items, rng, data):
        self.user_bias_ = np.zeros(n_users, dtype=self._fitted_dtype)
        self.item_bias_ = np.zeros(n_items, dtype=self._fitted_dtype)
        self.n_parameters_ = n_users + n_items

    def _grow_parameters(self, n_users, n_items, rng):
        self.user_bias_ = np.concatenate([self.user_bias_, np.zeros(n_users - self.user_bias_.shape[0],
                                                                    dtype=self.user_bias_.dtype)])
        self.item_bias_ = np.concatenate([self.item_bias_, np.zeros(n_items - self.item_bias_.shape[0],
                                                                    dtype=self.item_bias_.dtype)])
        self.n_parameters_ = n_users + n_items

    def _state_blocks(self):
        return {"bias": ()}, {"bias": ()}

    def _parameter_arrays(self):
        return [self.user_bias_, self.item_bias_]

    def _score_bound(self, bound_inputs):
        return _bias_bound(self)

    def _training(self, data):
        dtype = self._fitted_dtype
        return _engine.Training(
            kernel="baseline_epoch",
            samples={"user_index": data.user_index, "item_index": data.item_index, "ratings": data.ratings},
            arrays={"user_bias": self.user_bias_, "item_bias": self.item_bias_,
                    **_engine.solver_arrays("user", self.user_state_, {"bias": ("user_bias_accum", None)}, dtype),
                    **_engine.solver_arrays("item", self.item_state_, {"bias": ("item_bias_accum", None)}, dtype)},
            scalars={**_engine.solver_config(self._solver(), self._learning_rate(), self.frequency_exponent,
                                             self.counter_halflife),
                     "global_mean": self.global_mean_, "alpha": self.alpha},
        )

    def _predict_rows(self, user_rows, item_rows):
        pred = np.full(user_rows.shape[0], self.global_mean_, dtype=self._fitted_dtype)
        known_user, known_item = user_rows != UNKNOWN, item_rows != UNKNOWN
        pred[known_user] += self.user_bias_[user_rows[known_user]]
        pred[known_item] += self.item_bias_[item_rows[known_item]]
        return pred

    def _score_items(self, user_rows, item_rows=None):
        user_part = np.where(user_rows != UNKNOWN, self.user_bias_[np.maximum(user_rows, 0)], 0)
        item_bias = self.item_bias_ if item_rows is None else self.item_bias_[item_rows]
        return (self.global_mean_ + user_part[:, None]) + item_bias[None, :]
