"""Overparameterized matrix factorization: P = U A, trained factored, served collapsed."""

from __future__ import annotations

import copy
import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._param_validation import Interval
from ._projection import ProjectedTable
from ._solvers import TableState
from .mf import MatrixFactorization

__all__ = ["OverparamMF"]


class OverparamMF(MatrixFactorization):
    """Matrix factorization whose factor tables are products of matrices.

    The prediction is MatrixFactorization's, ``r_hat = mu + b_u + b_i + p_u .
    q_i``, but each table is trained as a product: ``P = U A_1 ... A_{L-1}``
    with ``U`` of shape (n_users, inner_dim), hidden layers of shape
    (inner_dim, inner_dim) and a last layer (inner_dim, n_factors); items
    likewise. Overparameterizing a linear model this way changes the SGD
    dynamics (an implicit, adaptive preconditioner) and can reach a given error
    in fewer epochs [1]_, and multi-layer embeddings have been reported to help
    small widths and rare rows [2]_. After every epoch the product is collapsed
    into plain ``user_factors_``/``item_factors_``, so prediction, ``recommend``
    and memory at inference are exactly MatrixFactorization's, and
    :meth:`to_matrix_factorization` returns an equivalent fitted
    ``MatrixFactorization``.

    Parameters
    ----------
    n_factors : int, default=32
        Width k of the collapsed factor rows.
    inner_dim : int, default=64
        Width m of the raw rows and hidden layers; may exceed ``n_factors``
        (that is the overparameterized regime).
    n_layers : int, default=2
        Linear factors per table (2: U A; 3: U A_1 A_2; ...).
    max_iter : int, default=10
        Epochs. The factored model reaches plain SGD's quality in about half
        the epochs and then overfits (on ml-1m at k=32 its test RMSE was best
        around epoch 10 and worse than MF+sgd's by epoch 20; ``alpha``
        penalises only the raw rows), so the default is 10; consider
        ``early_stopping=True``.
    solver, learning_rate, alpha, alpha_bias, tol, n_iter_no_change, \
early_stopping, validation_fraction, frequency_exponent, counter_halflife, \
init_std, dtype, device, n_jobs, random_state, verbose, warm_start
        As for :class:`MatrixFactorization`. The raw rows ``U``, ``V`` take the
        solver's per-row step (``alpha`` regularizes them); the default solver
        is ``sgd``, the setting of the acceleration result [1]_.
    dense_learning_rate : float or None, default=None
        Step of the layers ``A``, which are in every sample: plain SGD under
        ``sgd``, ``fa-sgd`` and ``cf-sgd``, per-coordinate Adagrad under
        ``adagrad``. None: 3e-4 for ``sgd`` (best of 3e-4, 1e-3 and 3e-3 on
        ml-1m), 1e-5 for ``fa-sgd`` and ``cf-sgd``, 1e-4 for ``adagrad`` (on
        ml-100k).
    dense_batch_size : int, default=8
        The layers' gradients are summed per thread and applied every
        ``dense_batch_size`` samples and at the end of each thread's share of an
        epoch (1: after every sample).

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of shape (n_rows, n_factors)
        The collapsed products (what ``predict`` uses).
    user_embedding_layers_, item_embedding_layers_ : list of ndarray
        The trained factors ``[U, A_1, ..., A_{L-1}]`` (views).
    user_embedding_, item_embedding_ : ProjectedTable
        The same, as the structure the kernel trains.
    n_parameters_ : int
        Trained scalars: raw rows, layers and biases.
    (other attributes as for MatrixFactorization)

    Notes
    -----
    Initialisation: each layer is a random semi-orthogonal matrix (orthonormal
    rows or columns, whichever fits its shape) and the raw rows are
    N(0, init_std^2) scaled up by sqrt(n_factors / inner_dim) when inner_dim <
    n_factors, so the initial product has the spread ``init_std`` of plain MF
    rows. A naive product of N(0, sigma^2) matrices would start with spread
    sigma^2 sqrt(m) instead.

    For a sample with error e, the gradient of the loss with respect to the
    collapsed row, -e q_i, is back-propagated through the layers: each layer
    accumulates x^T g, and the raw row gets g A^T ... (plus ``alpha`` times
    itself) and takes the solver's per-row step.

    References
    ----------
    .. [1] J. Chen, J. Chen, "Accelerating matrix factorization by
       overparameterization", DeLTA 2020.
    .. [2] Y. Deng et al., "MLET: multi-layer embedding training",
       arXiv:2309.15881, 2023.

    Examples
    --------
    >>> from recfreq import OverparamMF
    >>> from recfreq.datasets import load_movielens
    >>> X, y = load_movielens("100k", return_X_y=True)
    >>> model = OverparamMF(n_factors=8, inner_dim=16, max_iter=3, random_state=0).fit(X, y)
    >>> model.to_matrix_factorization().predict(X[:2]).round(3) == model.predict(X[:2]).round(3)
    array([ True,  True])
    """

    _parameter_constraints = {
        **{k: v for k, v in MatrixFactorization._parameter_constraints.items()
           if k not in ("embedding_dims", "mixed_dim_exponent", "n_dim_blocks", "loss", "n_negatives",
                        "max_sampled", "positive_threshold")},
        "inner_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 2, None, closed="left")],
    }

    _structure_params = ("dtype", "n_factors", "inner_dim", "n_layers")

    def _ranking_loss(self):
        return None  # squared loss on ratings only (its factored tables have no ranking kernel)

    # sgd: best of {3e-4, 1e-3, 3e-3} on ml-1m over 20 epochs (benchmarks/study_embeddings.py,
    # part 1); the others: best of {1e-5, 1e-4, 1e-3} on ml-100k after 8 epochs
    # (benchmarks/check_defaults.py --dense)
    _default_dense_learning_rates = {"sgd": 3e-4, "fa-sgd": 1e-5, "cf-sgd": 1e-5, "adagrad": 1e-4}

    def __init__(self, *, n_factors=32, inner_dim=64, n_layers=2, solver="sgd", learning_rate=None,
                 alpha=0.07, alpha_bias=None, max_iter=10, tol=None, n_iter_no_change=5,
                 early_stopping=False, validation_fraction=0.1, frequency_exponent=0.5,
                 counter_halflife=None, init_std=0.1, dense_learning_rate=None, dense_batch_size=8,
                 dtype="float32", device="cpu", n_jobs=None, random_state=None, verbose=0,
                 warm_start=False):
        self.n_factors = n_factors
        self.inner_dim = inner_dim
        self.n_layers = n_layers
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
        self.dense_learning_rate = dense_learning_rate
        self.dense_batch_size = dense_batch_size
        self.dtype = dtype
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _build_projected_tables(self, n_users, n_items, rng, data):
        inner = [self.inner_dim] * (self.n_layers - 1)
        return (ProjectedTable.factored(n_users, inner, self.n_factors, rng, self._init_std(), self._fitted_dtype),
                ProjectedTable.factored(n_items, inner, self.n_factors, rng, self._init_std(), self._fitted_dtype))

    @staticmethod
    def _layers_of(table):
        return [table.rows.reshape(table.n_rows, int(table.group_in_dim[0])), *table.layers(0)]

    @property
    def user_embedding_layers_(self) -> list[np.ndarray]:
        """[U, A_1, ..., A_{L-1}] of the user table (views of the trained arrays)."""
        check_is_fitted(self)
        return self._layers_of(self.user_embedding_)

    @property
    def item_embedding_layers_(self) -> list[np.ndarray]:
        """[V, B_1, ..., B_{L-1}] of the item table (views of the trained arrays)."""
        check_is_fitted(self)
        return self._layers_of(self.item_embedding_)

    def to_matrix_factorization(self) -> MatrixFactorization:
        """An equivalent fitted :class:`MatrixFactorization` (the collapsed model).

        Predictions, ``recommend`` and ``similar_items`` are identical. Its
        solver state keeps the frequency counts, counters and bias
        accumulators; Adagrad accumulators of the factor rows start at zero,
        because the collapsed rows were never trained directly.

        Returns
        -------
        model : MatrixFactorization
        """
        check_is_fitted(self)
        mf_params = MatrixFactorization._get_param_names()
        k = self._fitted_param("n_factors")
        params = {key: v for key, v in self.get_params().items() if key in mf_params}
        # the fitted shape, whatever set_params changed since
        params.update(n_factors=k, dtype=self._fitted_dtype.name, embedding_dims="uniform")
        model = MatrixFactorization(**params)
        skip = {"user_embedding_", "item_embedding_", "user_state_", "item_state_", "_fitted_structure"}
        for name in self._fitted_attribute_names():
            if name in skip:
                continue
            value = getattr(self, name)
            setattr(model, name, value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value))
        model._record_structure()
        for name in ("user_state_", "item_state_"):
            mine = getattr(self, name)
            state = TableState.allocate(mine.solver, mine.n_rows, {"factors": (k,), "bias": ()},
                                        self._fitted_dtype, track_last_seen=mine.last_seen.shape[0] > 0)
            state.counts = mine.counts.copy()
            state.n_samples = mine.n_samples
            state.counter = mine.counter.copy()
            state.last_seen = mine.last_seen.copy()
            if "bias" in mine.accumulators:
                state.accumulators["bias"] = mine.accumulators["bias"].copy()
            setattr(model, name, state)
        model._count_parameters()
        return model
