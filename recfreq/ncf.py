"""Neural Collaborative Filtering (He et al., WWW 2017): GMF, MLP and NeuMF on implicit feedback."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from . import _engine
from ._encoding import UNKNOWN
from ._param_validation import Interval, StrOptions
from ._solvers import Solver
from ._typing import ArrayLike, RecommenderT
from ._validation import as_target_vector
from .base import BaseRecommender, _max_row_norm

__all__ = ["NeuralCF"]

_MODELS = ("gmf", "mlp", "neumf")


def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _log_loss(logits, labels):
    """Mean binary cross-entropy from logits (softplus(z) - y z, computed stably)."""
    z = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - np.asarray(labels, dtype=np.float64) * z))


def _sorted_csr(matrix):
    """indptr (int64) and indices (int32, sorted per row) of a CSR matrix."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    return (np.ascontiguousarray(matrix.indptr, dtype=np.int64),
            np.ascontiguousarray(matrix.indices, dtype=np.int32))


class NeuralCF(ClassifierMixin, BaseRecommender):
    """Neural collaborative filtering (GMF, MLP or NeuMF) trained with sampled negatives.

    He et al.'s models [1]_ for implicit feedback: ``X`` holds (user, item)
    interactions; every interaction is a positive and, in each epoch, is
    followed by ``n_negatives`` items the user never interacted with (drawn
    anew every epoch, inside the compiled loop), all with logistic loss. The
    whole epoch -- sampling, forward and backward pass, updates -- runs in one
    nogil Cython kernel; embedding rows take the per-row step of the chosen
    solver, the dense layers plain SGD or Adagrad (see Notes).

    Parameters
    ----------
    model : {"neumf", "gmf", "mlp"}, default="neumf"
        ``"gmf"``: generalized matrix factorization, ``logit = h . (p_u * q_i) + h0``.
        ``"mlp"``: a ReLU tower over the concatenated embeddings.
        ``"neumf"``: both, their last layers concatenated before ``h``.
    n_factors : int, default=8
        Width k of the GMF embeddings (the GMF part's predictive factors).
    mlp_embedding_dim : int or None, default=None
        Width of each MLP embedding. He et al.'s code convention is followed:
        ``hidden_layers[0]`` is the width of the concatenated user and item MLP
        embeddings, so the width is ``hidden_layers[0] // 2``; None derives it
        and a value that disagrees raises a ValueError.
    hidden_layers : tuple of int, default=(64, 32, 16, 8)
        ``hidden_layers[0]`` (even): the concatenated embedding width; the
        tower's Dense+ReLU layers are ``hidden_layers[1:]`` (64-32-16-8:
        embeddings of 32 per side, layers 64->32->16->8). The MLP's predictive
        factors are ``hidden_layers[-1]``.
    n_negatives : int, default=4
        Sampled negatives per positive and epoch (the paper's default).
    dropout : float in [0, 1), default=0.0
        Inverted dropout on the MLP tower during training: before each
        Dense+ReLU layer of the tower reads its input (the concatenated MLP
        embeddings z_0 and the hidden activations z_1, ..., z_{L-1}), every
        entry is zeroed with probability ``dropout`` and the survivors are
        multiplied by ``1 / (1 - dropout)``, with a fresh mask per emitted
        sample (the placement of ``nn.Dropout`` in PyTorch NCF). The tower's
        last layer z_L, the GMF part and the output layer are never masked.
        Prediction and ``recommend`` never drop (inference is deterministic),
        and ``loss_curve_`` is the loss of the masked network being trained.
        Only used when there is a tower: ignored for ``model="gmf"`` (and
        with ``pretrain=True`` it applies to the MLP stage and NeuMF, not the
        GMF stage) and when ``hidden_layers`` has a single entry. ``0``
        draws no random numbers and trains exactly as without the option.
    solver : {"sgd", "fa-sgd", "cf-sgd", "adagrad"}, default="adagrad"
        Per-row rule of the embedding rows (DESIGN section 3). Dense parameters
        take plain SGD under sgd/fa-sgd/cf-sgd and per-coordinate Adagrad under
        adagrad.
    learning_rate : float or None, default=None
        Step of the embedding rows; None: the solver's default, 0.1 for
        ``adagrad``, 0.05 for ``sgd``, 1.0 for ``fa-sgd``, 0.5 for ``cf-sgd``
        (best of a grid on ml-100k leave-one-out, ``benchmarks/bench_ncf.py
        tune``).
    dense_learning_rate : float or None, default=None
        Step of the tower and output layer; None: 0.03 for ``adagrad``, 0.003
        for ``sgd``, 0.001 for ``fa-sgd`` and ``cf-sgd`` (same grid).
    alpha : float, default=0.0
        L2 on the embedding rows, added per sample to each row's gradient (as
        in MatrixFactorization). The dense layers have no L2 (He et al. use
        none by default either).
    max_iter : int, default=20
        Epochs.
    tol, n_iter_no_change, early_stopping, validation_fraction
        As in MatrixFactorization. With ``early_stopping`` the held-out rows
        plus ``n_negatives`` negatives per held-out positive (drawn once) are
        scored by their mean log loss (``validation_scores_``).
    pretrain : bool or (NeuralCF, NeuralCF), default=False
        NeuMF only. ``True``: first fit a GMF and an MLP model with the same
        settings (``max_iter`` epochs each, the MLP with this ``dropout``).
        A pair ``(gmf, mlp)`` of unfitted or fitted ``NeuralCF`` estimators
        with ``model="gmf"`` and ``model="mlp"``: clones of them are fitted
        on the same ``X, y`` with their own settings (solver, learning rates,
        ``alpha``, ``n_negatives``, ``max_iter``, ...), as He et al. tune and
        train each part on its own; their ``n_factors``, ``hidden_layers``
        and ``dtype`` must match this model's, and a clone whose
        ``random_state`` is None gets one drawn from this estimator's. Either
        way NeuMF copies their embeddings and tower and starts its output
        layer at ``h = [a h_gmf ; (1 - a) h_mlp]``,
        ``h0 = a h0_gmf + (1 - a) h0_mlp`` with ``a = pretrain_weight``
        (He et al. section 3.4.1), then trains ``max_iter`` epochs with this
        estimator's solver from fresh solver state (the paper switches to
        plain SGD). The fitted parts are kept as ``pretrained_gmf_`` and
        ``pretrained_mlp_``.
    pretrain_weight : float, default=0.5
        The paper's alpha of the concatenation above.
    positive_threshold : float or None, default=None
        If given, ``y`` holds ratings and rows with ``y >= positive_threshold``
        are positives, the others explicit negatives. If None, ``y`` must hold
        0/1 labels (or be omitted: every row is a positive).
    init_std : float, default=0.01
        Embeddings start as N(0, init_std^2), as in He et al.'s code. The tower
        starts Glorot-uniform (their Keras default), the output layer
        LeCun-uniform (their code), all biases at zero.
    frequency_exponent, counter_halflife
        beta and half-life of ``fa-sgd``/``cf-sgd``.
    dense_batch_size : int, default=128
        Dense gradients are summed per thread and applied every
        ``dense_batch_size`` emitted samples of that thread (the sum, not the
        mean, is stepped) and at the end of the thread's share of an epoch.
        With two threads this is He et al.'s mini-batch of 256 for the dense
        layers (embedding rows still move after every sample); 128 and 32
        gave the same HR@10 on ml-100k, and fewer flushes keep two threads
        from fighting over the dense parameters' cache lines.
    dtype : {"float32", "float64"}, default="float32"
    device : {"cpu", "cuda"}, default="cpu"
        ``"cuda"`` trains on an NVIDIA GPU through CuPy, every model and solver,
        dropout included (one warp per training row; the dense gradients summed
        per block of warps and applied every ``dense_batch_size`` samples of the
        block). The negatives and dropout masks are exactly the CPU's (the same
        counter-based draws). ``predict``, ``predict_proba``,
        ``decision_function``, ``recommend``, ``similar_items`` and
        ``similar_users`` then score on the GPU when one is usable, on the CPU
        elsewhere; the fitted attributes are NumPy arrays
        either way. Without CuPy, an ImportError naming the install command;
        without a usable device, a RuntimeError.
    n_jobs : int or None, default=None
        OpenMP threads (Hogwild); None means 1, bit-for-bit reproducible.
        At most the usable processors: a larger value warns and is capped.
        Every ``n_jobs`` draws the same negatives and dropout masks (see
        Notes); only the interleaving of the updates differs.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, the row order and the key of the negatives and
        dropout masks (one seed per ``fit``/``partial_fit`` call).
    verbose : int, default=0
    warm_start : bool, default=False

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]`` (no ``y``, or 0/1 labels); for any other two labels in
        ``y`` their sorted pair, the second being the positive class.
    user_gmf_factors_, item_gmf_factors_ : ndarray of shape (n_rows, n_factors)
        GMF embeddings (width 0 for ``model="mlp"``).
    user_mlp_factors_, item_mlp_factors_ : ndarray of shape (n_rows, mlp_dim)
        MLP embeddings (width 0 for ``model="gmf"``).
    dense_parameters_ : ndarray
        Tower and output layer in one flat vector: W_1, b_1, ..., W_L, b_L, h, h0.
        ``coefs_``, ``intercepts_``, ``output_weights_`` and ``output_bias_``
        are views of it.
    positive_items_ : scipy.sparse.csr_matrix
        Training positives per user (never sampled as a negative).
    user_items_ : scipy.sparse.csr_matrix
        Every training row (positives and explicit negatives; excluded by
        ``recommend(exclude_seen=True)``).
    loss_curve_ : list of float
        Mean log loss per epoch over the emitted samples (negatives included),
        each measured before its own update.
    t_ : int
        Emitted samples (positives, explicit and sampled negatives) over the
        model's life.
    n_parameters_ : int
    user_state_, item_state_ : TableState
        ``counts``: emitted samples per user; training rows per item.
    pretrained_gmf_, pretrained_mlp_ : NeuralCF
        With ``pretrain``: the fitted GMF and MLP the network started from.
    pretrain_loss_curves_ : dict
        With ``pretrain``: ``{"gmf": loss_curve_, "mlp": loss_curve_}`` of those two.

    Notes
    -----
    Network, for user u and item i (``*`` elementwise)::

        g     = p_u * q_i                                 GMF, width n_factors
        z_0   = [m_u ; n_i],  z_l = relu(z_{l-1} W_l + b_l)   MLP tower
        logit = [g ; z_L] . h + h0,   P(y=1) = sigmoid(logit)

    and the loss is the binary cross-entropy ``softplus(logit) - y logit``.

    Epoch: the rows are visited in a keyed random order. Each positive row emits itself and then
    ``n_negatives`` samples (u, j, 0) with j uniform over the known items,
    redrawn while (u, j) is a training positive (binary search in the user's
    sorted positives; a user holding nearly all items falls back, after 32
    rejected draws, to an exact draw among the non-positives; only a user with
    every item gets an arbitrary item). An explicit negative row emits only
    itself. The s-th emitted sample of the epoch is step ``t = t_ + s + 1``.
    Each sample's gradient is taken before its update; the user's and item's
    embedding rows (GMF and MLP blocks of one row share one frequency, i.e.
    one rate and one cf-sgd counter, with separate Adagrad accumulators) take
    the per-row step with gradient ``dloss/dtheta + alpha theta``.

    Random numbers: the negatives and dropout masks come from a
    counter-based generator (Philox-4x32-10 [6]_), each draw a function of
    (one seed per call drawn from ``random_state``, the epoch, the row's own
    index in the training data, a stream: for emitted sample s of a row,
    stream 2 s picks negative s and stream 2 s + 1 draws the sample's
    masks). The first tries of a row's negatives share the row's stream 0,
    four to a Philox call, and the masks are read from xoroshiro128++ seeded
    by their stream's first Philox block. No draw depends on the thread that
    makes it, so any ``n_jobs`` (and the GPU) samples the same negatives and
    masks.

    Dropout [5]_: with ``dropout`` = rho > 0 (``mlp`` and ``neumf``), layer l
    of the tower computes ``z_l = relu((r_l * z_{l-1}) W_l + b_l)`` in
    training, with ``r_l`` a fresh vector of independent entries, 0 with
    probability rho and ``1 / (1 - rho)`` otherwise, drawn per emitted sample
    inside the compiled loop from the sample's own stream (so the negative
    sampler's draws do not change with ``dropout``); the backward pass uses
    the same ``r_l``, so the gradients are
    those of the masked network. Inference uses the unmasked network (the
    expectation of the masked one's layer inputs). He et al. [1]_ train
    without dropout; PyTorch reimplementations of NCF put it here.

    ``fa-sgd`` frequencies count the expected samples, negatives included:
    with N_pos positive rows, N_neg explicit negatives and
    N = N_pos (1 + n_negatives) + N_neg emitted samples per epoch,
    ``p_u = (pos_u (1 + n_negatives) + neg_u) / N`` and
    ``p_i = (rows_i + n_negatives N_pos / n_items) / N``.

    Unknown ids at prediction: an unknown user (item) gets zero user (item)
    embeddings, so its score uses the known side and the network's biases
    only; never NaN, never an exception.

    References
    ----------
    .. [1] X. He, L. Liao, H. Zhang, L. Nie, X. Hu, T.-S. Chua, "Neural
       collaborative filtering", WWW 2017.
    .. [2] S. Li et al., "Frequency-aware SGD for efficient embedding learning
       with provable benefits", ICLR 2022, arXiv:2110.04844.
    .. [3] J. Duchi, E. Hazan, Y. Singer, "Adaptive subgradient methods",
       JMLR 12, 2011.
    .. [4] X. Glorot, Y. Bengio, "Understanding the difficulty of training deep
       feedforward neural networks", AISTATS 2010.
    .. [5] N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever,
       R. Salakhutdinov, "Dropout: a simple way to prevent neural networks
       from overfitting", JMLR 15, 2014.
    .. [6] J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel
       random numbers: as easy as 1, 2, 3", SC 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from recfreq import NeuralCF
    >>> X = np.array([[0, 0], [0, 1], [1, 1], [1, 2], [2, 0], [2, 2]])
    >>> model = NeuralCF(model="gmf", n_factors=4, max_iter=3, random_state=0).fit(X)
    >>> model.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseRecommender._parameter_constraints,
        "model": [StrOptions(set(_MODELS))],
        "n_factors": [Interval(numbers.Integral, 1, None, closed="left")],
        "mlp_embedding_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "hidden_layers": [list, tuple],
        # beyond a thousand negatives per positive an epoch is mostly sampling
        "n_negatives": [Interval(numbers.Integral, 0, 1000, closed="both")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "dense_learning_rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "dense_batch_size": [Interval(numbers.Integral, 1, np.iinfo(np.int32).max, closed="both")],
        "pretrain": ["boolean", tuple],
        "pretrain_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "positive_threshold": [numbers.Real, None],
        "init_std": [Interval(numbers.Real, 0, None, closed="left")],
    }

    # best of a grid per solver for NeuMF k=8, tower 32-16-8, 15 epochs on ml-100k
    # leave-one-out (benchmarks/bench_ncf.py tune; the spread within a solver's
    # top configurations, about 0.02 HR@10, is the noise of 943 test users)
    _default_learning_rates = {"sgd": 0.05, "fa-sgd": 1.0, "cf-sgd": 0.5, "adagrad": 0.1}
    _structure_params = ("dtype", "model", "n_factors", "mlp_embedding_dim", "hidden_layers")
    _default_dense_learning_rates = {"sgd": 0.003, "fa-sgd": 0.001, "cf-sgd": 0.001, "adagrad": 0.03}

    def __init__(self, *, model="neumf", n_factors=8, mlp_embedding_dim=None, hidden_layers=(64, 32, 16, 8),
                 n_negatives=4, dropout=0.0, solver="adagrad", learning_rate=None, dense_learning_rate=None,
                 alpha=0.0, max_iter=20, tol=None, n_iter_no_change=5, early_stopping=False, validation_fraction=0.1,
                 pretrain=False, pretrain_weight=0.5, positive_threshold=None, init_std=0.01,
                 frequency_exponent=0.5, counter_halflife=None, dense_batch_size=128, dtype="float32",
                 device="cpu", n_jobs=None, random_state=None, verbose=0, warm_start=False):
        self.model = model
        self.n_factors = n_factors
        self.mlp_embedding_dim = mlp_embedding_dim
        self.hidden_layers = hidden_layers
        self.n_negatives = n_negatives
        self.dropout = dropout
        self.solver = solver
        self.learning_rate = learning_rate
        self.dense_learning_rate = dense_learning_rate
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.pretrain = pretrain
        self.pretrain_weight = pretrain_weight
        self.positive_threshold = positive_threshold
        self.init_std = init_std
        self.frequency_exponent = frequency_exponent
        self.counter_halflife = counter_halflife
        self.dense_batch_size = dense_batch_size
        self.dtype = dtype
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # ClassifierMixin's tags come last: set ours after them
        tags.classifier_tags.multi_class = False
        # ids are labels, not features: the generic "learns a classification
        # of random data" checks cannot apply
        tags.classifier_tags.poor_score = True
        tags.target_tags.required = False  # implicit feedback: y is optional
        return tags

    # ------------------------------------------------------------- network
    def _network(self):
        """(k, d, layer_sizes) of the fitted network (of the parameters before fitting)."""
        return self._network_of(**{name: self._fitted_param(name)
                                   for name in ("model", "n_factors", "mlp_embedding_dim", "hidden_layers")})

    @staticmethod
    def _network_of(model, n_factors, mlp_embedding_dim, hidden_layers):
        """(k, d, layer_sizes): GMF width, MLP embedding width, tower sizes (validated)."""
        layers = hidden_layers
        if (not isinstance(layers, (list, tuple)) or len(layers) == 0
                or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) and w >= 1
                           for w in layers)):
            raise ValueError(f"hidden_layers must be a non-empty tuple of positive integers, got {layers!r}.")
        if len(layers) > 33:
            raise ValueError(f"hidden_layers may hold at most 33 entries (32 tower layers), got {len(layers)}.")
        if layers[0] % 2:
            raise ValueError(f"hidden_layers[0]={layers[0]} must be even: it is the width of the concatenated "
                             "user and item MLP embeddings.")
        d = layers[0] // 2
        if mlp_embedding_dim is not None and mlp_embedding_dim != d:
            raise ValueError(f"mlp_embedding_dim={mlp_embedding_dim} disagrees with hidden_layers[0]="
                             f"{layers[0]} (= 2 x the MLP embedding width); leave it None or set "
                             f"hidden_layers[0] = {2 * mlp_embedding_dim}.")
        k = n_factors if model in ("gmf", "neumf") else 0
        if model == "gmf":
            return k, 0, np.zeros(0, dtype=np.int32)
        return k, d, np.asarray(layers, dtype=np.int32)

    def _dense_layout(self):
        """[(W offset, in, out, b offset)], h offset, h0 offset, size of the flat dense vector."""
        k, d, sizes = self._network()
        layout, off = [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layout.append((off, int(n_in), int(n_out), off + int(n_in) * int(n_out)))
            off += int(n_in) * int(n_out) + int(n_out)
        h_size = k + (int(sizes[-1]) if d else 0)
        return layout, off, off + h_size, off + h_size + 1

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Tower weight matrices W_l (in x out), views of ``dense_parameters_``."""
        check_is_fitted(self)
        layout, _, _, _ = self._dense_layout()
        return [self.dense_parameters_[w:b].reshape(n_in, n_out) for w, n_in, n_out, b in layout]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Tower biases b_l, views of ``dense_parameters_``."""
        check_is_fitted(self)
        layout, _, _, _ = self._dense_layout()
        return [self.dense_parameters_[b:b + n_out] for _, _, n_out, b in layout]

    @property
    def output_weights_(self) -> np.ndarray:
        """h: [GMF part ; MLP part] of the output layer."""
        check_is_fitted(self)
        _, h, h0, _ = self._dense_layout()
        return self.dense_parameters_[h:h0]

    @property
    def output_bias_(self) -> float:
        """h0."""
        check_is_fitted(self)
        _, _, h0, _ = self._dense_layout()
        return float(self.dense_parameters_[h0])

    def _init_dense(self, rng):
        k, d, sizes = self._network()
        layout, h, h0, size = self._dense_layout()
        dense = np.zeros(size, dtype=np.float64)
        for w, n_in, n_out, _ in layout:
            limit = np.sqrt(6.0 / (n_in + n_out))  # Glorot uniform
            dense[w:w + n_in * n_out] = rng.uniform(-limit, limit, n_in * n_out)
        limit = np.sqrt(3.0 / (h0 - h))  # LeCun uniform
        dense[h:h0] = rng.uniform(-limit, limit, h0 - h)
        return dense.astype(self._fitted_dtype)

    def _new_rows(self, n_rows, width, rng):
        return (rng.standard_normal((n_rows, width)) * self.init_std).astype(self._fitted_dtype)

    # ----------------------------------------------------------- base hooks
    def _allocate_parameters(self, n_users, n_items, rng, data):
        k, d, _ = self._network()
        self.user_gmf_factors_ = self._new_rows(n_users, k, rng)
        self.item_gmf_factors_ = self._new_rows(n_items, k, rng)
        self.user_mlp_factors_ = self._new_rows(n_users, d, rng)
        self.item_mlp_factors_ = self._new_rows(n_items, d, rng)
        self.dense_parameters_ = self._init_dense(rng)
        self.dense_accumulator_ = (np.zeros_like(self.dense_parameters_) if self._solver() == Solver.ADAGRAD
                                   else np.zeros(0, dtype=self._fitted_dtype))
        self._count_parameters()

    def _grow_parameters(self, n_users, n_items, rng):
        k, d, _ = self._network()

        def grow(table, n_rows, width):
            return np.concatenate([table, self._new_rows(n_rows - table.shape[0], width, rng)])

        self.user_gmf_factors_ = grow(self.user_gmf_factors_, n_users, k)
        self.item_gmf_factors_ = grow(self.item_gmf_factors_, n_items, k)
        self.user_mlp_factors_ = grow(self.user_mlp_factors_, n_users, d)
        self.item_mlp_factors_ = grow(self.item_mlp_factors_, n_items, d)
        self._count_parameters()

    def _count_parameters(self):
        self.n_parameters_ = int(sum(a.size for a in self._parameter_arrays()))

    def _state_blocks(self):
        k, d, _ = self._network()
        blocks = {}
        if k:
            blocks["gmf"] = (k,)
        if d:
            blocks["mlp"] = (d,)
        return blocks, blocks

    def _parameter_arrays(self):
        return [self.user_gmf_factors_, self.item_gmf_factors_, self.user_mlp_factors_,
                self.item_mlp_factors_, self.dense_parameters_]

    def _match_solver_state(self):
        super()._match_solver_state()
        adagrad = self._solver() == Solver.ADAGRAD
        if (self.dense_accumulator_.shape[0] > 0) != adagrad:
            self.dense_accumulator_ = (np.zeros_like(self.dense_parameters_) if adagrad
                                       else np.zeros(0, dtype=self._fitted_dtype))

    def _target_range(self, data):
        return None  # logits: only overflow counts

    def _score_bound(self, bound_inputs):
        """|h0| + |h_gmf|_inf max||p|| max||q|| + ||h_mlp|| * (bound on the tower's output norm).

        The tower's input is [p_mlp ; q_mlp] (norm at most the root of the two
        largest squared row norms); a ReLU layer maps a vector of norm r to
        one of norm at most ||W||_F r + ||b||.
        """
        k, d, _ = self._network()
        h = self.output_weights_.astype(np.float64)
        bound = abs(self.output_bias_)
        if k:
            bound += float(np.max(np.abs(h[:k]))) * _max_row_norm(self.user_gmf_factors_) \
                * _max_row_norm(self.item_gmf_factors_)
        if d:
            r = float(np.hypot(_max_row_norm(self.user_mlp_factors_), _max_row_norm(self.item_mlp_factors_)))
            for W, b in zip(self.coefs_, self.intercepts_):
                r = float(np.linalg.norm(W.astype(np.float64))) * r + float(np.linalg.norm(b.astype(np.float64)))
            bound += float(np.linalg.norm(h[k:])) * r
        return bound

    # ------------------------------------------------------------- targets
    def _check_labels(self, y, n_samples, dtype, first=True):
        """0/1 labels (1: interaction) from ``y``; None means every row is a positive.

        ``y`` of 0/1 values (bool, int or float; all ones is plain implicit
        feedback) gives ``classes_ = [0, 1]``. Any other two labels are
        accepted as scikit-learn classifiers accept them: ``classes_`` is
        their sorted pair and the second one is the positive. With
        ``positive_threshold``, ``y`` holds ratings.
        """
        if first:
            self.classes_ = np.array([0, 1])
        if y is None:
            return np.ones(n_samples, dtype=dtype)
        y = as_target_vector(y, n_samples, "0/1 labels or ratings")
        if self.positive_threshold is not None:
            if y.dtype.kind not in "biuf":
                raise ValueError(f"positive_threshold={self.positive_threshold} binarises numeric ratings; "
                                 f"y has dtype {y.dtype}.")
            y = y.astype(np.float64)
            if not np.isfinite(y).all():
                raise ValueError("Input y contains NaN or infinity.")
            return (y >= self.positive_threshold).astype(dtype)
        if y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all():
            if not first and not np.array_equal(self.classes_, [0, 1]):
                raise ValueError(f"y holds 0/1 labels but classes_ is {self.classes_.tolist()}.")
            return y.astype(dtype)
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValueError(f"{exc} {type(self).__name__} needs binary y (1 = interaction, 0 = explicit "
                             "negative); for ratings set positive_threshold (rows with y >= threshold are "
                             "positives).") from None
        if first:
            classes = np.unique(y)
            if classes.shape[0] > 2:
                raise ValueError(f"Only binary classification is supported. The type of the target is "
                                 f"multiclass ({classes.shape[0]} classes): {type(self).__name__} needs binary y "
                                 "(1 = interaction, 0 = explicit negative); for ratings set positive_threshold.")
            if classes.shape[0] < 2:
                raise ValueError(f"y holds one class ({classes[0]!r}) that is not 0/1: {type(self).__name__} "
                                 "cannot tell positives from negatives. Pass y=None for implicit feedback.")
            self.classes_ = classes
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y holds labels {np.unique(y[unknown])[:5].tolist()} not in classes_ "
                             f"{self.classes_.tolist()}.")
        return (y == self.classes_[1]).astype(dtype)

    def _read_training_data(self, X, y, reset, dtype):
        if y is not None and self.positive_threshold is None and not sp.issparse(y):
            # a multiclass target is refused before the ids are read (scikit-learn's contract)
            y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
            if y_arr.ndim == 1 and type_of_target(y_arr) == "multiclass":
                raise ValueError(f"Only binary classification is supported. The type of the target is multiclass "
                                 f"({np.unique(y_arr).shape[0]} classes): {type(self).__name__} needs binary y "
                                 "(1 = interaction, 0 = explicit negative); for ratings set positive_threshold.")
        users, items = self._check_ids(X, reset=reset)
        labels = self._check_labels(y, users.shape[0], dtype, first=reset)
        if reset and labels.shape[0] and not (labels > 0.5).any():
            raise ValueError("y holds one class and no positive row: NeuralCF needs interactions to learn from.")
        return (users, items), labels

    # ---------------------------------------------------------------- fit
    def _current_network(self):
        """(k, d, layer_sizes) the current parameters describe (validated)."""
        return self._network_of(self.model, self.n_factors, self.mlp_embedding_dim, self.hidden_layers)

    def _check_runtime(self):
        super()._check_runtime()
        self._current_network()  # hidden_layers / mlp_embedding_dim consistency
        if self.pretrain is not False and self.model != "neumf":
            raise ValueError(f"pretrain initialises NeuMF from GMF and MLP; model={self.model!r} has "
                             "nothing to pretrain.")
        if isinstance(self.pretrain, tuple):
            self._check_pretrain_pair()

    def _check_pretrain_pair(self):
        """The (gmf, mlp) pair must build exactly the parts of this NeuMF."""
        pair = self.pretrain
        if len(pair) != 2 or not all(isinstance(est, NeuralCF) for est in pair):
            raise TypeError("pretrain must be True, False or a pair (gmf, mlp) of NeuralCF estimators, got "
                            f"{pair!r}.")
        gmf, mlp = pair
        if gmf.model != "gmf" or mlp.model != "mlp":
            raise ValueError(f"pretrain=(gmf, mlp) needs model='gmf' then model='mlp', got {gmf.model!r} and "
                             f"{mlp.model!r}.")
        k, _, sizes = self._current_network()
        mlp_sizes = mlp._current_network()[2]
        if gmf.n_factors != k:
            raise ValueError(f"pretrain: the GMF part has n_factors={gmf.n_factors}, this NeuMF has {k}.")
        if not np.array_equal(mlp_sizes, sizes):
            raise ValueError(f"pretrain: the MLP part has hidden_layers={tuple(mlp.hidden_layers)}, this NeuMF has "
                             f"{tuple(self.hidden_layers)}.")
        for est in pair:
            if est.dtype != self.dtype:
                raise ValueError(f"pretrain: the {est.model.upper()} part has dtype={est.dtype!r}, this NeuMF has "
                                 f"{self.dtype!r}.")

    def fit(self: RecommenderT, X: ArrayLike, y: ArrayLike | None = None) -> RecommenderT:
        """Fit on interactions ``X`` (and optional 0/1 labels or ratings ``y``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            Column 0: user ids, column 1: item ids.
        y : array-like of shape (n_samples,) or None
            None: every row is a positive. Otherwise 0/1 labels (0 = explicit
            negative), or ratings binarised by ``positive_threshold``.

        Returns
        -------
        self : object
        """
        return super().fit(X, y)

    def partial_fit(self: RecommenderT, X: ArrayLike, y: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> RecommenderT:
        """One more epoch over ``X``, keeping every solver state (new ids become new rows).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
        y : array-like of shape (n_samples,) or None
        classes : ignored
            Accepted for scikit-learn's incremental API; the classes are always [0, 1].

        Returns
        -------
        self : object
        """
        return super().partial_fit(X, y)

    # BaseRecommender's training hooks: NeuralCF has no global mean, tracks
    # positives apart from every seen row, and emits sampled negatives.
    def _reset_seen(self, n_users, n_items):
        super()._reset_seen(n_users, n_items)
        self.positive_items_ = sp.csr_matrix((n_users, n_items), dtype=np.int8)

    def _record_seen(self, data):
        """Add the batch to ``user_items_`` (every row) and ``positive_items_`` (label 1)."""
        super()._record_seen(data)
        positive = data.ratings > 0.5
        self.positive_items_ = self._merge_rows(self.positive_items_, data.user_index[positive],
                                                data.item_index[positive], self.user_items_.shape)
        return data

    def _after_initialize(self, raw, labels, rng):
        if self.pretrain:
            self._pretrain(*raw, labels, rng)

    def _refresh_statistics(self, labels):
        """NeuralCF has no global mean (or other target statistic) to keep."""

    def _count_frequencies(self, data, reset):
        if reset:
            for state in (self.user_state_, self.item_state_):
                state.counts[:] = 0
                state.n_samples = 0
            self.n_training_positives_ = 0
        self._add_counts(data)

    def _encode_validation(self, raw, labels):
        return self._validation_set(*raw, labels, self._rng)

    def _validation_score(self, validation):
        users, items, labels = validation
        return "val_log_loss", _log_loss(self._predict_rows(users, items), labels)

    def _add_counts(self, data):
        """Emitted samples per user and rows per item (see the fa-sgd frequencies in Notes)."""
        emitted = np.where(data.ratings > 0.5, 1 + self.n_negatives, 1)
        self.user_state_.counts += np.bincount(data.user_index, weights=emitted,
                                               minlength=self.user_state_.n_rows).astype(np.int64)
        n_emitted = int(emitted.sum())
        self.user_state_.n_samples += n_emitted
        self.item_state_.add_counts(data.item_index)
        self.item_state_.n_samples += n_emitted - data.item_index.shape[0]
        self.n_training_positives_ += int((data.ratings > 0.5).sum())

    def _frequencies(self):
        """fa-sgd shares p_u, p_i of the emitted samples, or empty arrays for other solvers."""
        if self._solver() != Solver.FA_SGD:
            empty = np.zeros(0, dtype=np.float64)
            return empty, empty
        n = max(self.user_state_.n_samples, 1)
        n_items = self.item_state_.n_rows
        p_user = self.user_state_.counts / n
        p_item = (self.item_state_.counts + self.n_negatives * self.n_training_positives_ / n_items) / n
        return np.ascontiguousarray(p_user), np.ascontiguousarray(p_item)

    def _pretrain(self, users, items, labels, rng):
        """He et al.'s NeuMF initialisation from a trained GMF and a trained MLP."""
        X = np.empty((users.shape[0], 2), dtype=object if users.dtype == object or items.dtype == object
                     else np.result_type(users.dtype, items.dtype))
        X[:, 0], X[:, 1] = users, items
        if isinstance(self.pretrain, tuple):
            # the user's own settings for each part; clone so the given estimators stay untouched
            stages = [clone(est) for est in self.pretrain]
        else:
            params = {**self.get_params(), "pretrain": False, "warm_start": False, "early_stopping": False,
                      "verbose": 0, "random_state": None}
            stages = [type(self)(**{**params, "model": model}) for model in ("gmf", "mlp")]
        parts = {}
        for est in stages:
            if est.random_state is None:
                est.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
            parts[est.model] = est.fit(X, labels)
        gmf, mlp = parts["gmf"], parts["mlp"]
        if not (np.array_equal(gmf.user_ids_, self.user_ids_) and np.array_equal(gmf.item_ids_, self.item_ids_)):
            raise RuntimeError("internal error: pretrained models encode ids differently")
        a = float(self.pretrain_weight)
        self.user_gmf_factors_[:] = gmf.user_gmf_factors_
        self.item_gmf_factors_[:] = gmf.item_gmf_factors_
        self.user_mlp_factors_[:] = mlp.user_mlp_factors_
        self.item_mlp_factors_[:] = mlp.item_mlp_factors_
        layout, h, h0, _ = self._dense_layout()
        _, mlp_h, mlp_h0, _ = mlp._dense_layout()
        self.dense_parameters_[:h] = mlp.dense_parameters_[:mlp_h]       # the tower
        k = self.n_factors
        self.dense_parameters_[h:h + k] = a * gmf.output_weights_
        self.dense_parameters_[h + k:h0] = (1 - a) * mlp.output_weights_
        self.dense_parameters_[h0] = a * gmf.output_bias_ + (1 - a) * mlp.output_bias_
        self.pretrain_loss_curves_ = {"gmf": list(gmf.loss_curve_), "mlp": list(mlp.loss_curve_)}
        self.pretrained_gmf_, self.pretrained_mlp_ = gmf, mlp

    def _validation_set(self, users, items, labels, rng):
        """Held-out rows plus n_negatives non-positive items per held-out positive (drawn once)."""
        u = self._user_encoder.transform(users)
        i = self._item_encoder.transform(items)
        n_items = len(self._item_encoder)
        pos = (labels > 0.5) & (u != UNKNOWN) & (i != UNKNOWN)
        train_u, train_i = self.positive_items_.nonzero()
        known = np.unique(np.concatenate([u[pos].astype(np.int64) * n_items + i[pos],
                                          train_u.astype(np.int64) * n_items + train_i]))
        neg_users = np.repeat(u[labels > 0.5], self.n_negatives).astype(np.int64)
        neg_items = rng.randint(n_items, size=neg_users.shape[0])
        bad = np.isin(neg_users * n_items + neg_items, known)
        for _ in range(50):  # redraw the few that hit a positive
            if not bad.any():
                break
            neg_items[bad] = rng.randint(n_items, size=int(bad.sum()))
            bad[bad] = np.isin(neg_users[bad] * n_items + neg_items[bad], known)
        return (np.concatenate([u, neg_users]).astype(np.int32), np.concatenate([i, neg_items]).astype(np.int32),
                np.concatenate([labels, np.zeros(neg_users.shape[0], dtype=labels.dtype)]))

    # ------------------------------------------------------------ training
    def _n_epoch_samples(self, data):
        # each positive row emits itself and n_negatives sampled negatives
        return int(np.where(data.ratings > 0.5, 1 + self.n_negatives, 1).sum())

    def _training(self, data):
        """The call's :class:`recfreq._engine.Training`: one ``ncf_epoch`` per epoch.

        Every epoch visits the rows in the keyed order of the call and the CPU
        binding derives each row's step offset from the gathered labels. The
        random draws (negatives, dropout masks) are keyed on one seed per call,
        drawn here from the model's RandomState, the epoch, and each row's own
        index in ``data``: the same draws for any ``n_jobs`` (and device).
        """
        k, d, sizes = self._network()
        dtype = self._fitted_dtype
        indptr, indices = _sorted_csr(self.positive_items_)
        p_user, p_item = self._frequencies()
        arrays = {"layer_sizes": sizes, "user_gmf": self.user_gmf_factors_, "item_gmf": self.item_gmf_factors_,
                  "user_mlp": self.user_mlp_factors_, "item_mlp": self.item_mlp_factors_,
                  "dense": self.dense_parameters_, "positive_indptr": indptr, "positive_indices": indices,
                  "negatives": np.zeros((0, self.n_negatives), dtype=np.int32),
                  "user_frequency": p_user, "item_frequency": p_item,
                  "user_counter": self.user_state_.counter, "item_counter": self.item_state_.counter,
                  "user_last_seen": self.user_state_.last_seen, "item_last_seen": self.item_state_.last_seen,
                  "dense_accum": self.dense_accumulator_}
        for prefix, state in (("user", self.user_state_), ("item", self.item_state_)):
            for block in ("gmf", "mlp"):
                arrays[f"{prefix}_{block}_accum"] = state.accumulator(block, dtype).reshape(-1)
        scalars = {**_engine.solver_config(self._solver(), self._learning_rate(), self.frequency_exponent,
                                           self.counter_halflife),
                   "n_factors": k, "mlp_dim": d, "n_items": self.item_state_.n_rows,
                   "n_negatives": self.n_negatives, "dense_learning_rate": self._dense_learning_rate(),
                   "alpha": self.alpha, "dense_batch_size": self.dense_batch_size,
                   "dropout": float(self.dropout) if d else 0.0,  # GMF has no tower to drop from
                   # the key of this call's random draws (with the epoch and each row's index)
                   "sample_seed": int(self._rng.randint(np.iinfo(np.int64).max, dtype=np.int64))}
        return _engine.Training(
            kernel="ncf_epoch",
            samples={"user_index": data.user_index, "item_index": data.item_index, "labels": data.ratings},
            arrays=arrays, scalars=scalars)

    # ---------------------------------------------------------- prediction
    def _gather(self, table, rows):
        out = table[np.maximum(rows, 0)]
        out[rows == UNKNOWN] = 0  # unknown id: zero embedding
        return out

    def _tower(self, z):
        for W, b in zip(self.coefs_, self.intercepts_):
            z = np.maximum(z @ W + b, 0)
        return z

    def _device_network(self):
        """The network's arrays as the device prediction kernels take them."""
        k, d, sizes = self._network()
        return dict(n_factors=k, mlp_dim=d, layer_sizes=sizes, user_gmf=self.user_gmf_factors_,
                    item_gmf=self.item_gmf_factors_, user_mlp=self.user_mlp_factors_,
                    item_mlp=self.item_mlp_factors_, dense=self.dense_parameters_)

    def _predict_rows(self, user_rows, item_rows):
        """Logits for encoded rows; -1 (unknown) gets zero embeddings on that side."""
        backend = self._prediction_backend()
        if backend is not None:
            return _engine.device_call("ncf_predict", backend, user_index=np.ascontiguousarray(user_rows, np.int32),
                                       item_index=np.ascontiguousarray(item_rows, np.int32), **self._device_network())
        k, d, _ = self._network()
        h = self.output_weights_
        logit = np.full(user_rows.shape[0], self.output_bias_, dtype=self._fitted_dtype)
        if k:
            logit += (self._gather(self.user_gmf_factors_, user_rows)
                      * self._gather(self.item_gmf_factors_, item_rows)) @ h[:k]
        if d:
            z = np.hstack([self._gather(self.user_mlp_factors_, user_rows),
                           self._gather(self.item_mlp_factors_, item_rows)])
            logit += self._tower(z) @ h[k:]
        return logit

    def _score_items(self, user_rows, item_rows=None):
        """Logits of the known items ``item_rows`` (None: every item) for each encoded user, vectorized.

        The first tower layer is split into its user and item halves, so each
        item's half is computed once per call; the rest of the tower runs on
        (users x items) blocks of bounded size.
        """
        item_gmf = self.item_gmf_factors_ if item_rows is None else self.item_gmf_factors_[item_rows]
        item_mlp = self.item_mlp_factors_ if item_rows is None else self.item_mlp_factors_[item_rows]
        backend = self._prediction_backend()
        if backend is not None:  # the candidates' rows as the item tables
            network = {**self._device_network(), "item_gmf": np.ascontiguousarray(item_gmf),
                       "item_mlp": np.ascontiguousarray(item_mlp)}
            return _engine.device_call("ncf_score_items", backend,
                                       user_index=np.ascontiguousarray(user_rows, np.int32), **network)
        k, d, _ = self._network()
        h = self.output_weights_
        n_items = item_gmf.shape[0]
        scores = np.full((user_rows.shape[0], n_items), self.output_bias_, dtype=self._fitted_dtype)
        if k:
            scores += (self._gather(self.user_gmf_factors_, user_rows) * h[:k]) @ item_gmf.T
        if d:
            um = self._gather(self.user_mlp_factors_, user_rows)
            coefs, intercepts = self.coefs_, self.intercepts_
            if not coefs:  # no tower: the concatenated embeddings are the MLP vector
                scores += (um @ h[k:k + d])[:, None] + (item_mlp @ h[k + d:])[None, :]
                return scores
            W1, b1 = coefs[0], intercepts[0]
            item_half = item_mlp @ W1[d:] + b1          # (n_items, h1)
            user_half = um @ W1[:d]                                    # (n_users, h1)
            chunk = max(1, (1 << 22) // max(1, n_items * W1.shape[1]))
            for start in range(0, user_rows.shape[0], chunk):
                z = np.maximum(user_half[start:start + chunk, None, :] + item_half[None, :, :], 0)
                z = z.reshape(-1, W1.shape[1])
                for W, b in zip(coefs[1:], intercepts[1:]):
                    z = np.maximum(z @ W + b, 0)
                scores[start:start + chunk] += (z @ h[k:]).reshape(-1, n_items)
        return scores

    def _encoded(self, X):
        check_is_fitted(self)
        users, items = self._check_ids(X, reset=False)
        return self._user_encoder.transform(users), self._item_encoder.transform(items)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Logits of (user, item) rows (unknown ids: zero embeddings on that side).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)

        Returns
        -------
        logits : ndarray of shape (n_samples,)
        """
        return self._predict_rows(*self._encoded(X))

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """[P(y=0), P(y=1)] for (user, item) rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        p = _sigmoid(self.decision_function(X)).astype(self._fitted_dtype)
        return np.column_stack([1 - p, p])

    def predict(self, X: ArrayLike) -> np.ndarray:
        """1 where P(y=1) >= 0.5, else 0.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        logits = self.decision_function(X)  # checks that the model is fitted
        return self.classes_[(logits >= 0).astype(np.intp)]

    def recommend(self, users: ArrayLike, n: int = 10, exclude_seen: bool = True, *,
                  items: ArrayLike | None = None, filter_items: ArrayLike | None = None,
                  batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items per user by logit, best first (see BaseRecommender.recommend).

        Unknown users are ranked with zero user embeddings, and unknown
        candidates in ``items`` are scored with zero item embeddings, as
        ``decision_function`` scores them. ``exclude_seen`` leaves out every
        item of the user's training rows (positives and explicit negatives).
        The scores are logits.
        """
        return super().recommend(users, n=n, exclude_seen=exclude_seen, items=items, filter_items=filter_items,
                                 batch_size=batch_size)

    def _similarity_factors(self, side):
        # every embedding the model has for the id: GMF, MLP or both side by side
        if side == "user":
            return np.hstack([self.user_gmf_factors_, self.user_mlp_factors_])
        return np.hstack([self.item_gmf_factors_, self.item_mlp_factors_])

    def _ranks_by_default(self):
        return True

    def _relevant_rows(self, y, n_samples):
        # the held-out positives, read exactly as fit reads y (labels, or ratings with positive_threshold)
        return self._check_labels(y, n_samples, np.float64, first=False) > 0.5

    def score(self, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """NDCG@10 of :meth:`recommend` on held-out interactions: the default score of a ranking model.

        Each user of ``X`` is recommended 10 items (``exclude_seen=True``),
        and the user's held-out positives (every row of ``X`` without ``y``;
        otherwise the rows whose ``y`` is a positive, read as ``fit`` reads it)
        are the relevant items. The score is the mean NDCG@10 over the users
        with at least one, as :class:`recfreq.metrics.RankingScorer` computes
        it (``get_scorer("ndcg@10")``). So ``GridSearchCV`` and
        ``cross_val_score`` without ``scoring=`` rank the candidates by the
        quality of their top-10 lists; pass ``scoring=`` for another metric.
        (Accuracy, scikit-learn's default for classifiers, means little for
        implicit feedback, where every held-out row is usually a positive.)

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, >= 2)
            Held-out (user, item) rows.
        y : array-like of shape (n_samples,) or None
            None: every row is a positive. Otherwise 0/1 labels, or ratings
            binarised by ``positive_threshold``.

        Returns
        -------
        score : float
            In [0, 1]; greater is better.

        Raises
        ------
        ValueError
            If no held-out row is a positive (the metric is undefined).
        """
        return self._ranking_score(X, y)
