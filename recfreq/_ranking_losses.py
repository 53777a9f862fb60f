"""What the ranking losses need besides their kernels: positive items, expected steps, WARP's weights.

The factorization models train on implicit feedback with a ranking loss
(``loss="logistic" | "bpr" | "warp"``): every training interaction is a
positive, and the kernel samples negatives among the items the user has no
interaction with (``_kernels/cpu/negatives.pxd``). Which training rows are
positives is ``_validation.implicit_positives``; this module turns them into
what the kernels read: the users' sorted positive items, fa-sgd's expected
steps per row (negatives included) and WARP's rank weights.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["RANKING_LOSSES", "LOSS_CODES", "positive_csr", "expected_steps", "warp_weights"]

#: the ranking losses, as the estimators spell them
RANKING_LOSSES = ("logistic", "bpr", "warp")

#: the kernels' codes of the ranking losses (``LOSS_*`` in ``_kernels/cpu/mf.pyx``)
LOSS_CODES = {"logistic": 0, "bpr": 1, "warp": 2}


def positive_csr(interactions):
    """``indptr`` (int64) and ``indices`` (int32, sorted and unique per user) of a user x item matrix."""
    matrix = sp.csr_matrix(interactions)
    matrix.sum_duplicates()
    matrix.sort_indices()
    return (np.ascontiguousarray(matrix.indptr, dtype=np.int64),
            np.ascontiguousarray(matrix.indices, dtype=np.int32))


def expected_steps(user_positives, item_positives, indptr, indices, loss, n_negatives):
    """fa-sgd's expected steps of every user and item row per epoch, negatives included.

    Parameters
    ----------
    user_positives, item_positives : ndarray
        Positive training rows of each user and each item (duplicates count).
    indptr, indices : ndarray
        The users' sorted distinct positive items (:func:`positive_csr`): a
        user's negatives are drawn uniformly among the other items.
    loss : {"logistic", "bpr", "warp"}
    n_negatives : int
        Negatives per positive of the logistic loss (bpr and warp step one).

    Returns
    -------
    user_steps, item_steps : ndarray of float64
        A positive steps its user ``1 + n_negatives`` times under logistic
        (the positive and each negative) and once under bpr and warp (the
        pair), its item once, and each of its negatives lands on one of the
        user's non-positive items with equal chance. A user holding every
        item has no negative: its logistic positives step their user and item
        once, its pairwise positives nothing (its rows are spread evenly over
        the items it holds, which is exact without duplicate rows). Under warp a
        positive steps only when a sampled negative violates the margin; the
        count assumes one always does (an upper bound, exact early in training).
    """
    n_items = item_positives.shape[0]
    user_positives = np.asarray(user_positives, dtype=np.float64)
    held = np.diff(indptr).astype(np.float64)
    has_negative = held < n_items
    per_positive = float(n_negatives) if loss == "logistic" else 1.0
    negatives_of_user = np.where(has_negative, user_positives * per_positive, 0.0)
    if loss == "logistic":
        user_steps = user_positives + negatives_of_user
        positive_steps = np.asarray(item_positives, dtype=np.float64)
    else:
        user_steps = np.where(has_negative, user_positives, 0.0)
        without = np.where(has_negative, 0.0, user_positives / np.maximum(held, 1.0))
        positive_steps = item_positives - _item_sums(indptr, indices, n_items, without)
    # each negative of user u falls on one of its (n_items - held_u) other items
    share = np.zeros_like(held)
    share[has_negative] = negatives_of_user[has_negative] / (n_items - held[has_negative])
    negative_steps = share.sum() - _item_sums(indptr, indices, n_items, share)
    return user_steps, positive_steps + negative_steps


def _item_sums(indptr, indices, n_items, per_user):
    """``sum(per_user[u] for the users u holding item j)`` for every item j."""
    rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
    return np.bincount(indices, weights=per_user[rows], minlength=n_items)


def warp_weights(n_items):
    """WARP's rank weights ``L(r) = 1 + 1/2 + ... + 1/r`` for r = 0 .. n_items (``L(0) = 0``)."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n_items + 1, dtype=np.float64))])
