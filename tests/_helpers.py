"""Small data builders shared by the tests."""

import numpy as np
from sklearn.base import clone

from recfreq._solvers import SOLVER_NAMES


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


def assert_grid_applied_every_solver_and_refit_the_best(grid, estimator, X, y, fixed=None):
    """What a grid search over ``solver`` must show beyond running.

    ``best_params_["solver"] in SOLVER_NAMES`` holds whatever the estimator
    does; instead: every setting reaches the model (the solvers, all else
    equal, score differently) and ``best_estimator_`` is the model that the
    best parameters give when fitted directly.
    """
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    fixed = fixed or {"learning_rate": None}
    by_solver = {p["solver"]: s for p, s in zip(grid.cv_results_["params"], scores)
                 if all(p[k] == v for k, v in fixed.items())}
    assert sorted(by_solver) == sorted(SOLVER_NAMES)
    assert len({round(float(s), 12) for s in by_solver.values()}) == len(SOLVER_NAMES), by_solver
    best = clone(estimator).set_params(**grid.best_params_).fit(X, y)
    predict = getattr(best, "decision_function", best.predict)
    np.testing.assert_array_equal(getattr(grid.best_estimator_, predict.__name__)(X), predict(X))
