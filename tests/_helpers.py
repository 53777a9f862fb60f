"""Small data builders shared by the tests."""

import numpy as np


def tiny_ratings(n_users=12, n_items=9, n_ratings=80, seed=0):
    """Small explicit-rating data with unique (user, item) pairs and skewed counts."""
    rng = np.random.default_rng(seed)
    p_user = 1.0 / np.arange(1, n_users + 1)
    p_item = 1.0 / np.arange(1, n_items + 1) ** 0.7
    pairs = set()
    while len(pairs) < n_ratings:
        pairs.add((int(rng.choice(n_users, p=p_user / p_user.sum())),
                   int(rng.choice(n_items, p=p_item / p_item.sum()))))
    X = np.array(sorted(pairs), dtype=np.int64)
    rng.shuffle(X)
    y = np.clip(np.round(3.5 + 0.3 * X[:, 0] % 3 - 0.2 * (X[:, 1] % 4) + rng.normal(0, 0.7, len(X))), 1, 5)
    return X, y.astype(np.float64)


def planted_ratings(n_users=200, n_items=120, n_ratings=6000, rank=4, noise=0.3, seed=0):
    """Low-rank ratings with biases, for tests that need the model to learn something."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(n_users * n_items, size=n_ratings, replace=False)
    users, items = flat // n_items, flat % n_items
    P, Q = rng.normal(0, 0.5, (n_users, rank)), rng.normal(0, 0.5, (n_items, rank))
    bu, bi = rng.normal(0, 0.4, n_users), rng.normal(0, 0.4, n_items)
    y = 3.5 + bu[users] + bi[items] + np.einsum("ij,ij->i", P[users], Q[items]) + rng.normal(0, noise, n_ratings)
    return np.column_stack([users, items]).astype(np.int64), np.clip(y, 1, 5)
