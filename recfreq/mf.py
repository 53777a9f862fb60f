"""Biased matrix factorization: r_hat = mu + b_u + b_i + p_u . q_i."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import RegressorMixin

from . import _engine
from ._param_validation import Interval, StrOptions
from ._encoding import UNKNOWN
from . import _ranking_losses
from ._projection import ProjectedTable
from ._solvers import Solver
from ._typing import ArrayLike, RecommenderT
from ._validation import MIXED_DIM_PARAMETER_CONSTRAINTS, implicit_positives
from .base import BaseRecommender, _bias_bound, _max_row_norm, effective_n_threads

__all__ = ["MatrixFactorization"]


class MatrixFactorization(RegressorMixin, BaseRecommender):
    """Biased matrix factorization trained by a per-row solver in a nogil loop.

    Predicts ``r_hat(u, i) = mu + b_u + b_i + p_u . q_i`` and minimises the
    squared error with L2 penalties, one sample at a time (Funk's SVD, as in
    Surprise's ``SVD``), with OpenMP threads updating rows lock-free.

    Parameters
    ----------
    n_factors : int, default=100
        Width k of the user and item factor rows.
    loss : {"squared", "logistic", "bpr", "warp"}, default="squared"
        ``"squared"``: explicit ratings, squared error (``fit(X, y)``). The
        others rank, trained on implicit feedback (``fit(X)``, ``y``
        optional: see ``positive_threshold``), every interaction a positive
        and negatives sampled in each epoch among the items the user has no
        interaction with (see Notes): ``"logistic"`` is pointwise, each
        positive followed by ``n_negatives`` negatives (Rendle et al. [6]_);
        ``"bpr"`` is pairwise, one negative per positive (Rendle et al. [7]_);
        ``"warp"`` draws negatives until one ranks within the margin and
        weights the step by the rank this suggests (Weston et al. [8]_), as
        LightFM's default. With a ranking loss ``predict`` returns ranking
        scores (only their order for a user matters), ``score`` is the nDCG@10
        of ``recommend`` on held-out interactions, and ``recommend`` gives
        top-N lists that beat a popularity list; see the user guide for when
        to use which.
    n_negatives : int, default=4
        ``loss="logistic"``: sampled negatives per positive and epoch.
    max_sampled : int, default=10
        ``loss="warp"``: negatives drawn at most per positive while looking
        for one that violates the margin (LightFM's ``max_sampled``).
    positive_threshold : float or None, default=None
        Ranking losses with ``y`` given: rows with ``y >= positive_threshold``
        are the positives (for ratings, e.g. 4 on a 1-5 scale). None: rows
        with ``y > 0`` are (0/1 labels or interaction counts). The other
        rows are left out of training; they are not used as negatives.
    solver : {"sgd", "fa-sgd", "cf-sgd", "adagrad"}, default="fa-sgd"
        Per-row update rule (see Notes). ``fa-sgd`` is the default: at the
        default settings its held-out RMSE was within 0.003 of the best of the
        four solvers on both ml-100k (0.920) and ml-1m (0.849), with one
        number of state per row where Adagrad keeps n_factors + 1
        (``benchmarks/check_defaults.py``; per-epoch curves in
        ``benchmarks/README.md``).
    learning_rate : float or None, default=None
        Step size eta. None means the solver's default: 0.01 for ``sgd``, 0.5
        for ``fa-sgd`` and ``cf-sgd``, 0.05 for ``adagrad`` (the best of a
        grid on ml-1m; the good step differs by an order of magnitude between
        solvers). The ranking losses have defaults of their own (see the
        user guide's ranking section for the measurement).
    alpha : float or None, default=None
        L2 regularization of the factor rows (Surprise's ``reg_all``). None:
        0.07 for ``loss="squared"``, chosen on ml-100k, where Surprise's 0.02
        overfits at k=100 (on ml-1m 0.05 is slightly better,
        ``benchmarks/check_defaults.py``); under a ranking loss the best of
        {0.01, 0.03, 0.1} on ml-100k's per-user split for the loss and solver
        (``benchmarks/tune_ranking.py``): 0.01 for the SGD family under
        ``logistic`` and ``bpr`` and for ``warp`` with ``sgd``, 0.03 for
        ``adagrad`` under ``logistic`` and ``bpr``, 0.1 otherwise.
    alpha_bias : float or None, default=None
        L2 regularization of the biases; None uses the factors' ``alpha``.
    max_iter : int, default=20
        Epochs.
    tol : float or None, default=None
        Stop once the training loss (or, with ``early_stopping``, the
        validation RMSE) has not improved by more than ``tol`` for ``n_iter_no_change``
        epochs; None runs exactly ``max_iter`` epochs.
    n_iter_no_change : int, default=5
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop on their RMSE
        (recorded in ``validation_scores_``).
    validation_fraction : float, default=0.1
    frequency_exponent : float, default=0.5
        beta of ``fa-sgd`` and ``cf-sgd``.
    counter_halflife : float or None, default=None
        Half-life of the ``cf-sgd`` counters in samples (for drifting data).
    init_std : float or None, default=None
        Factors start as N(0, init_std^2); biases start at zero. None: 0.1 for
        ``loss="squared"`` and 0.01 for the ranking losses, whose lists on
        ml-100k's per-user split are better from small factors (WARP gains
        about a tenth of its validation nDCG@10, ``benchmarks/tune_ranking.py``). With
        ``embedding_dims="mixed"`` the raw rows start as N(0, init_std^2) and each
        projection as N(0, 1/d_b), so projected rows have the same spread.
    embedding_dims : {"uniform", "mixed"}, default="uniform"
        ``"mixed"``: mixed-dimension embeddings (Ginart et al. [5]_). Rows sorted
        by training frequency are cut into ``n_dim_blocks`` blocks of equal total
        frequency; block b gets width ``d_b = max(1, round(k (p_b / p_max) **
        mixed_dim_exponent))`` (p_b the mean frequency of its rows) and a dense
        d_b x k projection; the block of width k has none. Rows first seen in
        ``partial_fit`` join the narrowest block. ``n_parameters_`` counts the
        real parameters; after every epoch the projected rows are materialised
        in ``user_factors_``/``item_factors_`` for prediction.
    mixed_dim_exponent : float, default=0.3
        alpha of the width rule above (0 gives every block width k).
    n_dim_blocks : int, default=4
        Frequency blocks of a mixed table.
    dense_learning_rate : float or None, default=None
        Step of the dense projections, which are in every sample: plain SGD
        under ``sgd``, ``fa-sgd`` and ``cf-sgd`` (a frequency rule means nothing
        for them), per-coordinate Adagrad under ``adagrad``. None: 1e-4 for
        ``sgd`` and ``adagrad``, 1e-5 for ``fa-sgd`` and ``cf-sgd``: every sample of
        a block moves its shared projection, so its step must be far smaller
        than a row's.
    dense_batch_size : int, default=8
        The projections' gradients are summed per thread and applied every
        ``dense_batch_size`` samples (and at the end of each thread's share of
        an epoch): a dense matrix written by every sample would otherwise bounce
        between cores. 1 applies them after every sample.
    dtype : {"float32", "float64"}, default="float32"
    device : {"cpu", "cuda"}, default="cpu"
        ``"cuda"`` trains on an NVIDIA GPU through CuPy, every solver, both
        ``embedding_dims`` and every ``loss`` (one warp per sample, or per
        positive with its negatives drawn in the kernel as the CPU draws them;
        rows updated lock-free; the projections of mixed tables summed per
        block of warps, and the projected rows multiplied out on the device
        after every epoch). ``predict``, ``recommend``, ``similar_items`` and
        ``similar_users`` then score on the GPU when one is
        usable, on the CPU elsewhere; the fitted attributes are NumPy arrays
        either way. Without CuPy, an ImportError naming the install command;
        without a usable device, a RuntimeError.
    n_jobs : int or None, default=None
        OpenMP threads for training and prediction; None means 1 (bit-for-bit
        reproducible for a given ``random_state``), -1 all.
        At most the usable processors: a larger value warns and is capped.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors and the sample order.
    verbose : int, default=0
        Progress bar with the loss per epoch.
    warm_start : bool, default=False
        Continue from the previous fit's parameters and solver state.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_factors)
    item_factors_ : ndarray of shape (n_items, n_factors)
    user_bias_ : ndarray of shape (n_users,)
    item_bias_ : ndarray of shape (n_items,)
    global_mean_ : float
    user_ids_, item_ids_ : ndarray
        Raw id of each table row.
    loss_curve_ : list of float
        Mean squared training error per epoch (each sample measured just
        before its own update).
    validation_scores_ : list of float
        Validation RMSE per epoch (``early_stopping=True``).
    n_iter_ : int
    t_ : int
        Samples processed over the model's life.
    n_parameters_ : int
        Learned scalars: (n_users + n_items) * (n_factors + 1).
    user_embedding_, item_embedding_ : ProjectedTable
        Only with ``embedding_dims="mixed"``: the raw rows of each width and
        the projections (``layers(block)``), i.e. what is trained.
    user_state_, item_state_ : TableState
        Solver state (frequency counts, cf-sgd counters, Adagrad accumulators).
    user_items_ : scipy.sparse.csr_matrix
        Items each user rated in training (``recommend(exclude_seen=True)``);
        with a ranking loss, the positives (also the items never sampled as
        the user's negatives).

    Notes
    -----
    For a sample (u, i, r) with error ``e = r - r_hat``, the gradients are
    ``g_p = -e q_i + alpha p_u``, ``g_q = -e p_u + alpha q_i``,
    ``g_bu = -e + alpha_bias b_u`` and ``g_bi = -e + alpha_bias b_i``, all taken
    before the sample's update. Each row r (the user's factors and bias share
    row u's frequency, likewise for the item) then takes its solver's step,
    with t the number of samples processed so far:

    * ``sgd``: ``theta <- theta - eta g``
    * ``fa-sgd``: ``theta <- theta - eta max(1, p_r t)^(-beta) g``, p_r the share
      of training samples containing row r [2]_
    * ``cf-sgd``: ``theta <- theta - eta c_r^(-beta) g``, c_r the row's visit
      count, incremented before the step (decaying with ``counter_halflife``) [2]_
    * ``adagrad``: ``G <- G + g^2``, ``theta <- theta - eta g / (sqrt(G) + eps)``
      per coordinate [3]_

    The step sizes of ``fa-sgd`` and ``cf-sgd`` start at ``learning_rate`` for
    a row's first visits and are not normalised by the gradient as Adagrad's
    are, so their default (0.5) assumes ratings on a scale of a few units
    (MovieLens' 1-5 stars). For targets on a much larger scale, divide
    ``learning_rate`` by roughly the target's standard deviation, rescale the
    targets, or use ``adagrad``; a step that is too large ends in a
    ``FloatingPointError`` that says so.

    Unknown ids at ``predict``: mu, plus b_u if the user is known, plus b_i if
    the item is known, plus the dot product only if both are.

    Ranking losses (``mu`` = 0, ``s(u, j) = b_u + b_j + p_u . q_j``; each
    positive (u, i) of the epoch is one step of the clock t, whatever number
    of negatives it draws):

    * ``logistic``: the positive (label 1) and ``n_negatives`` negatives j
      (label 0) each take a pointwise step on ``softplus(s) - y s``, with
      ``e = sigmoid(s(u, j)) - y``: ``g_p = e q_j + alpha p_u``,
      ``g_q = e p_u + alpha q_j``, ``g_bu = e + alpha_bias b_u``,
      ``g_bj = e + alpha_bias b_j``;
    * ``bpr``: one negative j, ``x = s(u, i) - s(u, j)``, loss
      ``softplus(-x)``; with ``g = sigmoid(-x)``: ``g_p = -g (q_i - q_j) +
      alpha p_u``, ``g_qi = -g p_u + alpha q_i``, ``g_qj = g p_u + alpha q_j``,
      ``g_bi = -g + alpha_bias b_i``, ``g_bj = g + alpha_bias b_j`` (b_u
      cancels and never moves);
    * ``warp``: negatives are drawn until ``s(u, j) > s(u, i) - 1``, at most
      ``max_sampled``; after N draws the rank of i is estimated as
      ``r = floor((n_items - n_pos(u)) / N)`` and the loss is
      ``L(r) (1 - x)`` with ``L(r) = 1 + 1/2 + ... + 1/r``: the bpr step
      with ``g = L(r)``. No violation, no step.

    Negatives are never one of the user's training positives. A row's
    cf-sgd counter counts every step it takes, negatives included; fa-sgd's
    p_r is the row's expected number of steps per positive, taken from the
    sampling distribution (uniform over the user's non-positive items; warp
    counted as if every positive found a violator). The negatives come from
    the counter-based generator NeuralCF uses, keyed on (one seed per call,
    the epoch, the positive's own index, the negative's number): the same for
    any ``n_jobs``.

    References
    ----------
    .. [1] Y. Koren, R. Bell, C. Volinsky, "Matrix factorization techniques for
       recommender systems", IEEE Computer 42(8), 2009.
    .. [2] S. Li, S. Choudhary, Y. Wei, J. Yuan, B. Bhushanam, T. Zhao, G. Lan,
       "Frequency-aware SGD for efficient embedding learning with provable
       benefits", ICLR 2022, arXiv:2110.04844.
    .. [3] J. Duchi, E. Hazan, Y. Singer, "Adaptive subgradient methods for
       online learning and stochastic optimization", JMLR 12, 2011.
    .. [4] B. Recht, C. Re, S. Wright, F. Niu, "Hogwild!: a lock-free approach to
       parallelizing stochastic gradient descent", NeurIPS 2011.
    .. [5] A. Ginart, M. Naumov, D. Mudigere, J. Yang, J. Zou, "Mixed dimension
       embeddings with application to memory-efficient recommendation systems",
       arXiv:1909.11810, 2019.
    .. [6] S. Rendle, W. Krichene, L. Zhang, J. Anderson, "Neural collaborative
       filtering vs. matrix factorization revisited", RecSys 2020.
    .. [7] S. Rendle, C. Freudenthaler, Z. Gantner, L. Schmidt-Thieme, "BPR:
       Bayesian personalized ranking from implicit feedback", UAI 2009.
    .. [8] J. Weston, S. Bengio, N. Usunier, "WSABIE: scaling up to large
       vocabulary image annotation", IJCAI 2011.

    Examples
    --------
    >>> from recfreq import MatrixFactorization
    >>> from recfreq.datasets import load_movielens
    >>> X, y = load_movielens("100k", return_X_y=True)
    >>> model = MatrixFactorization(n_factors=20, max_iter=5, random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)

    A ranking model on the same interactions (implicit feedback, no ratings):

    >>> ranker = MatrixFactorization(loss="bpr", n_factors=20, max_iter=5, random_state=0).fit(X)
    >>> ranker.recommend([1, 2], n=3)[0].shape
    (2, 3)
    """

    _parameter_constraints = {
        **BaseRecommender._parameter_constraints,
        "n_factors": [Interval(numbers.Integral, 1, None, closed="left")],
        "loss": [StrOptions({"squared", *_ranking_losses.RANKING_LOSSES})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_negatives": [Interval(numbers.Integral, 1, 1000, closed="both")],
        "max_sampled": [Interval(numbers.Integral, 1, 100_000, closed="both")],
        "positive_threshold": [Interval(numbers.Real, None, None, closed="neither"), None],
        "alpha_bias": [Interval(numbers.Real, 0, None, closed="left"), None],
        "init_std": [Interval(numbers.Real, 0, None, closed="left"), None],
        **MIXED_DIM_PARAMETER_CONSTRAINTS,
        "dense_learning_rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    # measured with benchmarks/check_defaults.py and benchmarks/study_solvers.py
    _structure_params = ("dtype", "n_factors", "embedding_dims", "loss")

    _default_learning_rates = {"sgd": 0.01, "fa-sgd": 0.5, "cf-sgd": 0.5, "adagrad": 0.05}
    #: learning_rate=None under a ranking loss: loss -> solver -> eta
    # the best of a grid on ml-100k's per-user split, chosen on a validation split of its
    # training part (benchmarks/tune_ranking.py); warp's rank weights (up to ~8) scale its
    # steps, so its rates are ten times smaller
    _default_ranking_learning_rates = {
        "logistic": {"sgd": 0.03, "fa-sgd": 1.0, "cf-sgd": 1.0, "adagrad": 0.1},
        "bpr": {"sgd": 0.03, "fa-sgd": 1.0, "cf-sgd": 1.0, "adagrad": 0.1},
        "warp": {"sgd": 0.003, "fa-sgd": 0.03, "cf-sgd": 0.03, "adagrad": 0.03},
    }
    #: alpha=None under a ranking loss: the best L2 of the same grid (with init_std=0.01)
    _default_ranking_alphas = {
        "logistic": {"sgd": 0.01, "fa-sgd": 0.01, "cf-sgd": 0.01, "adagrad": 0.03},
        "bpr": {"sgd": 0.01, "fa-sgd": 0.01, "cf-sgd": 0.01, "adagrad": 0.03},
        "warp": {"sgd": 0.01, "fa-sgd": 0.1, "cf-sgd": 0.1, "adagrad": 0.1},
    }
    _default_squared_alpha = 0.07
    _default_init_stds = {"squared": 0.1, "ranking": 0.01}
    # steps of the dense projections of mixed tables, from a sweep over
    # {1e-6, 1e-5, 3e-5, 1e-4} on ml-100k 80/20 at the defaults: each is within
    # 0.001 RMSE of its solver's best (benchmarks/check_defaults.py --dense)
    _default_dense_learning_rates = {"sgd": 1e-4, "fa-sgd": 1e-5, "cf-sgd": 1e-5, "adagrad": 1e-4}

    def __init__(self, *, n_factors=100, loss="squared", n_negatives=4, max_sampled=10, positive_threshold=None,
                 solver="fa-sgd", learning_rate=None, alpha=None, alpha_bias=None,
                 max_iter=20, tol=None, n_iter_no_change=5, early_stopping=False, validation_fraction=0.1,
                 frequency_exponent=0.5, counter_halflife=None, init_std=None, embedding_dims="uniform",
                 mixed_dim_exponent=0.3, n_dim_blocks=4, dense_learning_rate=None, dense_batch_size=8,
                 dtype="float32", device="cpu", n_jobs=None, random_state=None, verbose=0,
                 warm_start=False):
        self.n_factors = n_factors
        self.loss = loss
        self.n_negatives = n_negatives
        self.max_sampled = max_sampled
        self.positive_threshold = positive_threshold
        self.solver = solver
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.alpha_bias = alpha_bias
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.frequency_exponent = frequency_exponent
        self.counter_halflife = counter_halflife
        self.init_std = init_std
        self.embedding_dims = embedding_dims
        self.mixed_dim_exponent = mixed_dim_exponent
        self.n_dim_blocks = n_dim_blocks
        self.dense_learning_rate = dense_learning_rate
        self.dense_batch_size = dense_batch_size
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
        if self._ranking_loss() is not None:
            tags.target_tags.required = False  # implicit feedback: fit(X)
        return tags

    # ------------------------------------------------------------- ranking
    def _ranking_loss(self):
        """The ranking loss a call trains with (its fitted value once fitted), or None for ratings."""
        loss = self._fitted_param("loss")
        return loss if loss in _ranking_losses.RANKING_LOSSES else None

    def _validate_params(self):
        super()._validate_params()
        if self._ranking_loss() is not None and self.embedding_dims != "uniform":
            raise ValueError(f"loss={self.loss!r} trains uniform factor tables; embedding_dims="
                             f"{self.embedding_dims!r} is only available with loss='squared'.")

    def fit(self: RecommenderT, X: ArrayLike, y: ArrayLike | None = None) -> RecommenderT:
        """Fit on ratings, or on implicit interactions under a ranking loss.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            Column 0: user ids, column 1: item ids (integers or strings).
        y : array-like of shape (n_samples,) or None
            Ratings (``loss="squared"``, required). Under a ranking loss:
            None (every row is a positive interaction), 0/1 labels or counts
            (rows with ``y > 0`` are positives), or ratings with
            ``positive_threshold``.

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
        return super().fit(X, y)

    def partial_fit(self: RecommenderT, X: ArrayLike, y: ArrayLike | None = None) -> RecommenderT:
        """Run one more epoch over ``X``, keeping every solver state (see :meth:`fit` for ``y``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
        y : array-like of shape (n_samples,) or None

        Returns
        -------
        self : object
        """
        return super().partial_fit(X, y)

    def _read_training_data(self, X, y, reset, dtype):
        loss = self._ranking_loss()
        if loss is None:
            if y is None:
                hint = (", or choose a ranking loss (loss='bpr', 'warp' or 'logistic') to train on implicit feedback"
                        if "loss" in self.get_params(deep=False) else "")
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: it "
                                 f"fits ratings with the squared loss; pass them as y{hint}.")
            return super()._read_training_data(X, y, reset, dtype)
        users, items = self._check_ids(X, reset=reset)
        keep = implicit_positives(y, users.shape[0], self.positive_threshold)
        if reset and not keep.any():
            raise ValueError(f"no positive row to learn from among {keep.shape[0]} sample(s): loss={loss!r} needs "
                             "interactions (rows with y > 0, or y >= positive_threshold).")
        return (users[keep], items[keep]), np.ones(int(keep.sum()), dtype=dtype)

    def _refresh_statistics(self, targets):
        if self._ranking_loss() is not None:
            self.global_mean_ = 0.0  # ranking scores need no offset (b_u absorbs one per user)
            return
        super()._refresh_statistics(targets)

    def _target_range(self, data):
        # ranking scores are not ratings: only an overflowing score means divergence
        return None if self._ranking_loss() is not None else super()._target_range(data)

    def _alpha(self):
        """L2 of the factor rows (``alpha=None``: the loss's default)."""
        if self.alpha is not None:
            return float(self.alpha)
        loss = self._ranking_loss()
        if loss is None:
            return self._default_squared_alpha
        return self._default_ranking_alphas[loss][self.solver]

    def _init_std(self):
        """Spread of the initial factors (``init_std=None``: the loss's default)."""
        if self.init_std is not None:
            return float(self.init_std)
        return self._default_init_stds["ranking" if self._ranking_loss() is not None else "squared"]

    def _alpha_bias(self):
        return self._alpha() if self.alpha_bias is None else float(self.alpha_bias)

    def _learning_rate(self):
        loss = self._ranking_loss()
        if self.learning_rate is None and loss is not None:
            return self._default_ranking_learning_rates[loss][self.solver]
        return super()._learning_rate()

    def _encode_validation(self, raw, targets):
        if self._ranking_loss() is not None:
            return raw  # scored through recommend, which takes raw ids
        return super()._encode_validation(raw, targets)

    def _validation_score(self, validation):
        if self._ranking_loss() is None:
            return super()._validation_score(validation)
        return "val_ndcg@10", self._ranking_score(np.column_stack(validation).astype(object, copy=False), None)

    def _validation_greater_is_better(self):
        return self._ranking_loss() is not None

    def _ranks_by_default(self):
        return self._ranking_loss() is not None

    # ---------------------------------------------------------------- tables
    def _new_factors(self, n_rows, rng):
        return (rng.standard_normal((n_rows, self.n_factors)) * self._init_std()).astype(self._fitted_dtype)

    def _build_projected_tables(self, n_users, n_items, rng, data):
        """(user, item) :class:`ProjectedTable` for projected rows, or None for plain rows."""
        if self.embedding_dims != "mixed":
            return None
        return tuple(
            ProjectedTable.mixed(np.bincount(index, minlength=n_rows), self.n_factors, self.n_dim_blocks,
                                 self.mixed_dim_exponent, rng, self._init_std(), self._fitted_dtype)
            for index, n_rows in ((data.user_index, n_users), (data.item_index, n_items))
        )

    def _projected(self):
        return hasattr(self, "user_embedding_")

    def _allocate_parameters(self, n_users, n_items, rng, data):
        tables = self._build_projected_tables(n_users, n_items, rng, data)
        if tables is None:
            # a refit after set_params(embedding_dims="uniform") must not train the old tables
            self.__dict__.pop("user_embedding_", None)
            self.__dict__.pop("item_embedding_", None)
            self.user_factors_ = self._new_factors(n_users, rng)
            self.item_factors_ = self._new_factors(n_items, rng)
        else:
            self.user_embedding_, self.item_embedding_ = tables
            for table in tables:
                table.allocate_accumulators(self._solver() == Solver.ADAGRAD)
            self._collapse()
        self.user_bias_ = np.zeros(n_users, dtype=self._fitted_dtype)
        self.item_bias_ = np.zeros(n_items, dtype=self._fitted_dtype)
        self._count_parameters()

    def _grow_parameters(self, n_users, n_items, rng):
        def grow_bias(bias, n_rows):
            return np.concatenate([bias, np.zeros(n_rows - bias.shape[0], dtype=bias.dtype)])

        if self._projected():
            self.user_embedding_.grow(n_users, rng)
            self.item_embedding_.grow(n_items, rng)
            self._collapse()
        else:
            self.user_factors_ = np.concatenate(
                [self.user_factors_, self._new_factors(n_users - self.user_factors_.shape[0], rng)])
            self.item_factors_ = np.concatenate(
                [self.item_factors_, self._new_factors(n_items - self.item_factors_.shape[0], rng)])
        self.user_bias_ = grow_bias(self.user_bias_, n_users)
        self.item_bias_ = grow_bias(self.item_bias_, n_items)
        self._count_parameters()

    def _collapse(self):
        """Projected rows -> the plain factor tables that predict and recommend use."""
        self.user_factors_ = self.user_embedding_.collapse()
        self.item_factors_ = self.item_embedding_.collapse()

    def _count_parameters(self):
        n_rows = self.user_bias_.shape[0] + self.item_bias_.shape[0]
        if self._projected():
            self.n_parameters_ = self.user_embedding_.n_parameters + self.item_embedding_.n_parameters + n_rows
        else:
            self.n_parameters_ = n_rows * (self.user_factors_.shape[1] + 1)

    def _state_blocks(self):
        if self._projected():  # row and layer accumulators live in the ProjectedTable
            return {"bias": ()}, {"bias": ()}
        blocks = {"factors": (self._fitted_param("n_factors"),), "bias": ()}
        return blocks, blocks

    def _match_solver_state(self):
        super()._match_solver_state()
        if self._projected():
            for table in (self.user_embedding_, self.item_embedding_):
                table.match_solver(self._solver() == Solver.ADAGRAD)

    def _score_bound(self, bound_inputs):
        return _bias_bound(self) + _max_row_norm(self.user_factors_) * _max_row_norm(self.item_factors_)

    def _parameter_arrays(self):
        arrays = [self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_]
        if self._projected():
            arrays += [self.user_embedding_.rows, self.user_embedding_.dense,
                       self.item_embedding_.rows, self.item_embedding_.dense]
        return arrays

    # ---------------------------------------------------------------- kernels
    def _ranking_training(self, data, loss):
        """The :class:`~recfreq._engine.Training` of a ranking loss (uniform tables)."""
        dtype, k = self._fitted_dtype, self.user_factors_.shape[1]
        indptr, indices = _ranking_losses.positive_csr(self.user_items_)
        arrays = {"user_factors": self.user_factors_, "item_factors": self.item_factors_,
                  "user_bias": self.user_bias_, "item_bias": self.item_bias_, "positive_indptr": indptr,
                  "positive_indices": indices, "warp_weights": _ranking_losses.warp_weights(self.item_bias_.shape[0])}
        for prefix, state in (("user", self.user_state_), ("item", self.item_state_)):
            arrays.update(_engine.solver_arrays(prefix, state, {"factors": (f"{prefix}_factors_accum", k),
                                                                "bias": (f"{prefix}_bias_accum", None)}, dtype))
        if self._solver() == Solver.FA_SGD:
            # p_r: the row's expected steps per positive, its sampled negatives included
            steps = _ranking_losses.expected_steps(self.user_state_.counts, self.item_state_.counts, indptr, indices, loss,
                                            self.n_negatives)
            n_positives = max(self.user_state_.n_samples, 1)
            arrays["user_frequency"], arrays["item_frequency"] = (steps[0] / n_positives, steps[1] / n_positives)
        scalars = {**_engine.solver_config(self._solver(), self._learning_rate(), self.frequency_exponent,
                                           self.counter_halflife),
                   "global_mean": self.global_mean_, "alpha": self._alpha(), "alpha_bias": self._alpha_bias(),
                   "n_factors": k, "ranking_loss": _ranking_losses.LOSS_CODES[loss], "n_negatives": self.n_negatives,
                   "max_sampled": self.max_sampled, "n_items": self.item_bias_.shape[0],
                   # the negatives' key of this call (its epochs add their number)
                   "sample_seed": int(self._rng.randint(np.iinfo(np.int64).max, dtype=np.int64))}
        samples = {"user_index": data.user_index, "item_index": data.item_index}
        return _engine.Training(kernel="mf_ranking_epoch", samples=samples, arrays=arrays, scalars=scalars)

    def _training(self, data):
        loss = self._ranking_loss()
        if loss is not None:
            return self._ranking_training(data, loss)
        dtype = self._fitted_dtype
        samples = {"user_index": data.user_index, "item_index": data.item_index, "ratings": data.ratings}
        scalars = {**_engine.solver_config(self._solver(), self._learning_rate(), self.frequency_exponent,
                                           self.counter_halflife),
                   "global_mean": self.global_mean_, "alpha": self._alpha(), "alpha_bias": self._alpha_bias()}
        arrays = {"user_bias": self.user_bias_, "item_bias": self.item_bias_}
        if self._projected():
            tables = (self.user_embedding_, self.item_embedding_)
            for prefix, table, state in (("user", tables[0], self.user_state_), ("item", tables[1], self.item_state_)):
                arrays.update(_engine.projected_arrays(prefix, table, state, dtype))
            scalars.update(n_factors=tables[0].n_factors, dense_learning_rate=self._dense_learning_rate(),
                           dense_batch_size=self.dense_batch_size,
                           max_activation=max(table.max_activation for table in tables),
                           max_width=max(table.max_width for table in tables))
            return _engine.Training(kernel="mf_projected_epoch", samples=samples, arrays=arrays, scalars=scalars)
        k = self.user_factors_.shape[1]
        arrays.update(user_factors=self.user_factors_, item_factors=self.item_factors_)
        for prefix, state in (("user", self.user_state_), ("item", self.item_state_)):
            arrays.update(_engine.solver_arrays(prefix, state, {"factors": (f"{prefix}_factors_accum", k),
                                                                "bias": (f"{prefix}_bias_accum", None)}, dtype))
        return _engine.Training(kernel="mf_epoch", samples=samples, arrays=arrays, scalars={**scalars, "n_factors": k})

    def _after_epoch(self, bound):
        if self._projected():  # predict, recommend and the divergence check read the plain tables
            self.user_factors_ = bound.projected_factors("user", self.user_embedding_)
            self.item_factors_ = bound.projected_factors("item", self.item_embedding_)

    def _predict_rows(self, user_rows, item_rows):
        arrays = dict(user_index=np.ascontiguousarray(user_rows, dtype=np.int32),
                      item_index=np.ascontiguousarray(item_rows, dtype=np.int32),
                      global_mean=self.global_mean_, user_factors=self.user_factors_,
                      item_factors=self.item_factors_, user_bias=self.user_bias_, item_bias=self.item_bias_)
        backend = self._prediction_backend()
        if backend is not None:
            return _engine.device_call("mf_predict", backend, **arrays)
        return _engine.mf_predict(**arrays, n_threads=effective_n_threads(self.n_jobs))

    def _score_items(self, user_rows, item_rows=None):
        item_factors = self.item_factors_ if item_rows is None else self.item_factors_[item_rows]
        item_bias = self.item_bias_ if item_rows is None else self.item_bias_[item_rows]
        backend = self._prediction_backend()
        if backend is not None:
            return _engine.device_call("mf_score_items", backend,
                                       user_index=np.ascontiguousarray(user_rows, dtype=np.int32),
                                       global_mean=self.global_mean_, user_factors=self.user_factors_,
                                       item_factors=np.ascontiguousarray(item_factors),
                                       user_bias=self.user_bias_, item_bias=np.ascontiguousarray(item_bias))
        known = user_rows != UNKNOWN
        rows = np.maximum(user_rows, 0)
        scores = self.user_factors_[rows] @ item_factors.T
        scores[~known] = 0  # unknown users: no personal term
        scores += item_bias[None, :] + self.global_mean_
        scores += np.where(known, self.user_bias_[rows], 0)[:, None]
        return scores

    def _similarity_factors(self, side):
        return self.user_factors_ if side == "user" else self.item_factors_

    def score(self, X: ArrayLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None) -> float:
        """R^2 of ``predict`` on ratings ``(X, y)``, or under a ranking loss the NDCG@10 of ``recommend``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            Held-out (user, item) rows.
        y : array-like of shape (n_samples,) or None
            True ratings (``loss="squared"``, required). Under a ranking loss
            the held-out items of each user that count as positives (every
            row without ``y``; rows with ``y > 0``, or ``y >=
            positive_threshold``) are the relevant ones, and the score is the
            mean NDCG@10 of the user's top 10 unseen items.
        sample_weight : array-like of shape (n_samples,), default=None
            ``loss="squared"`` only.

        Returns
        -------
        score : float
        """
        return self._rating_or_ranking_score(RegressorMixin.score, X, y, sample_weight)
