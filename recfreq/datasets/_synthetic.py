"""Synthetic ratings with a planted low-rank model and power-law frequencies."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._typing import RandomStateLike

__all__ = ["make_synthetic_ratings"]

# Above this many (user, item) cells the exact top-k sampler would need too
# much memory, so pairs are drawn with replacement and deduplicated instead.
_DENSE_CELLS = 8_000_000


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(name, value, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not np.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value}")
    return float(value)


def _zipf_weights(n, skew, rng):
    """Probabilities proportional to rank**-skew, ranks assigned at random."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -skew
    weights /= weights.sum()
    # A random permutation so that popularity is not tied to the id.
    return weights[rng.permutation(n)]


def _sample_pairs(p_user, p_item, n_ratings, rng):
    """Distinct (user, item) pairs, successively sampled with P ~ p_user * p_item.

    Both branches draw from the same distribution (weighted sampling without
    replacement); they differ in cost only.
    """
    n_users, n_items = len(p_user), len(p_item)
    if n_users * n_items <= _DENSE_CELLS:
        # Efraimidis-Spirakis via Gumbel keys: the n_ratings largest keys
        # log(w) + Gumbel are a weighted sample without replacement, exact
        # even when almost every cell is taken.
        with np.errstate(divide="ignore"):
            keys = np.log(np.outer(p_user, p_item)).ravel()
        keys += rng.gumbel(size=keys.size)
        cells = np.argpartition(-keys, n_ratings - 1)[:n_ratings]
        cells = cells[np.argsort(-keys[cells], kind="stable")]
        return cells // n_items, cells % n_items
    # Sparse regime: draw with replacement and keep the first occurrence of
    # each pair, which is sequential sampling without replacement.
    cells = np.empty(0, dtype=np.int64)
    yield_rate = 0.8  # guess of the share of fresh pairs in a draw; then measured
    for _ in range(100):
        need = n_ratings - cells.size
        # Each round deduplicates everything drawn so far (a sort), so size the
        # draw from the measured share of fresh pairs to finish in few rounds.
        draw = int(need / yield_rate * 1.1) + 64
        new = (rng.choice(n_users, size=draw, p=p_user).astype(np.int64) * n_items
               + rng.choice(n_items, size=draw, p=p_item))
        before = cells.size
        cells = np.concatenate([cells, new])
        _, first = np.unique(cells, return_index=True)
        cells = cells[np.sort(first)]
        yield_rate = max((cells.size - before) / draw, 0.01)
        if cells.size >= n_ratings:
            cells = cells[:n_ratings]
            return cells // n_items, cells % n_items
    raise ValueError(
        f"could not draw {n_ratings} distinct (user, item) pairs with this skew; lower "
        "user_skew/item_skew or n_ratings, or raise n_users/n_items."
    )


def make_synthetic_ratings(n_users: int = 1000, n_items: int = 500, n_ratings: int = 20_000,
                           n_factors: int = 8, *, user_skew: float = 1.0, item_skew: float = 1.0,
                           noise: float = 0.5, rating_range: tuple[float, float] = (1, 5),
                           global_mean: float | None = None, bias_scale: float = 0.5,
                           factor_scale: float = 1.0, integer: bool = False, shuffle: bool = True,
                           return_truth: bool = False, random_state: RandomStateLike = None,
                           ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, Bunch]:
    """Generate explicit ratings from a planted biased low-rank model.

    Each rating is

    .. math:: r_{ui} = \\mu + b_u + b_i + p_u^\\top q_i + \\varepsilon,
              \\quad \\varepsilon \\sim \\mathcal{N}(0, \\text{noise}^2),

    clipped to ``rating_range`` (and rounded if ``integer=True``). Which
    (user, item) pairs are rated follows power-law (Zipf-like) frequencies:
    user ``u`` is drawn with probability proportional to ``rank(u)**-user_skew``
    and items likewise, ranks being a random permutation of the ids, so a few
    users and items hold most ratings, as in real data. Every pair occurs at
    most once.

    Parameters
    ----------
    n_users, n_items : int, default=1000, 500
        Size of the id spaces; ids are ``0 .. n_users - 1`` and
        ``0 .. n_items - 1``.
    n_ratings : int, default=20000
        Number of ratings; at most ``n_users * n_items``.
    n_factors : int, default=8
        Rank of the planted interaction term.
    user_skew, item_skew : float, default=1.0
        Zipf exponents of the user and item frequencies; 0 gives uniform.
    noise : float, default=0.5
        Standard deviation of the Gaussian noise, in rating units.
    rating_range : tuple of (float, float), default=(1, 5)
        Lowest and highest rating; ratings are clipped to it.
    global_mean : float, default=None
        The planted mean before clipping; default ``low + 0.6 * (high - low)``
        (3.4 on 1-5, close to MovieLens's 3.5).
    bias_scale, factor_scale : float, default=0.5, 1.0
        Standard deviations of the user/item biases and of the dot product
        ``p_u . q_i``, in units of ``(high - low) / 4``.
    integer : bool, default=False
        Round ratings to whole numbers (after clipping).
    shuffle : bool, default=True
        Return the ratings in random order. If False, they are sorted by user
        then item.
    return_truth : bool, default=False
        Also return the planted model.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_ratings, 2), int64
        User id and item id.
    y : ndarray of shape (n_ratings,), float64
        The ratings.
    truth : sklearn.utils.Bunch
        Only if ``return_truth=True``: ``global_mean``, ``user_bias``
        (n_users,), ``item_bias`` (n_items,), ``user_factors``
        (n_users, n_factors), ``item_factors`` (n_items, n_factors),
        ``y_true`` (noise-free, unclipped ratings of the rows of ``X``),
        ``user_probabilities`` and ``item_probabilities`` (the sampling
        weights).

    Notes
    -----
    Not every id need appear: with skewed frequencies the least popular
    users and items may get no rating (the truth still has a row for them).
    Estimators that encode ids should therefore be tested for unknown ids,
    and ``len(np.unique(X[:, 0]))`` may be below ``n_users``.

    Pair sampling is weighted sampling without replacement: exact top-k of
    Gumbel-perturbed log weights when ``n_users * n_items`` is at most 8
    million, rejection of repeats otherwise. About one second for a million
    ratings.

    References
    ----------
    .. [1] Y. Koren, R. Bell and C. Volinsky, "Matrix Factorization Techniques
       for Recommender Systems", IEEE Computer 42(8), 2009.
    .. [2] P. S. Efraimidis and P. G. Spirakis, "Weighted random sampling with
       a reservoir", Information Processing Letters 97(5), 2006.

    Examples
    --------
    >>> from recfreq.datasets import make_synthetic_ratings
    >>> X, y = make_synthetic_ratings(n_users=100, n_items=50, n_ratings=1000,
    ...                               random_state=0)
    >>> X.shape, y.shape
    ((1000, 2), (1000,))
    >>> bool(y.min() >= 1 and y.max() <= 5)
    True
    """
    n_users = _check_int("n_users", n_users, 1)
    n_items = _check_int("n_items", n_items, 1)
    n_ratings = _check_int("n_ratings", n_ratings, 0)
    n_factors = _check_int("n_factors", n_factors, 0)
    user_skew = _check_float("user_skew", user_skew)
    item_skew = _check_float("item_skew", item_skew)
    noise = _check_float("noise", noise)
    bias_scale = _check_float("bias_scale", bias_scale)
    factor_scale = _check_float("factor_scale", factor_scale)
    if n_ratings > n_users * n_items:
        raise ValueError(
            f"n_ratings={n_ratings} exceeds n_users * n_items = {n_users * n_items}, the "
            "number of distinct (user, item) pairs."
        )
    try:
        low, high = (float(v) for v in rating_range)
    except (TypeError, ValueError):
        raise TypeError(
            f"rating_range must be a pair of numbers (low, high), got {rating_range!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"rating_range must satisfy low < high, got {rating_range!r}")
    scale = (high - low) / 4.0
    if global_mean is None:
        global_mean = low + 0.6 * (high - low)
    else:
        global_mean = float(_check_float("global_mean", global_mean, -np.inf))
    rng = check_random_state(random_state)

    p_user = _zipf_weights(n_users, user_skew, rng)
    p_item = _zipf_weights(n_items, item_skew, rng)
    user_bias = rng.normal(0.0, bias_scale * scale, n_users)
    item_bias = rng.normal(0.0, bias_scale * scale, n_items)
    # A dot product of two N(0, s^2) vectors of length k has variance k s^4,
    # so s^2 = std / sqrt(k) gives it standard deviation factor_scale*scale.
    s = np.sqrt(factor_scale * scale / np.sqrt(max(n_factors, 1)))
    user_factors = rng.normal(0.0, s, (n_users, n_factors))
    item_factors = rng.normal(0.0, s, (n_items, n_factors))

    if n_ratings:
        users, items = _sample_pairs(p_user, p_item, n_ratings, rng)
    else:
        users = items = np.empty(0, dtype=np.int64)
    if shuffle:
        order = rng.permutation(n_ratings)
    else:
        order = np.lexsort((items, users))
    users, items = users[order].astype(np.int64), items[order].astype(np.int64)

    y_true = (global_mean + user_bias[users] + item_bias[items]
              + np.einsum("ij,ij->i", user_factors[users], item_factors[items]))
    y = np.clip(y_true + rng.normal(0.0, noise, n_ratings), low, high)
    if integer:
        y = np.clip(np.rint(y), np.ceil(low), np.floor(high))
    X = np.column_stack([users, items])
    if not return_truth:
        return X, y
    truth = Bunch(global_mean=global_mean, user_bias=user_bias, item_bias=item_bias,
                  user_factors=user_factors, item_factors=item_factors, y_true=y_true,
                  user_probabilities=p_user, item_probabilities=p_item)
    return X, y, truth
