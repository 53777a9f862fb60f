"""Defaults of MatrixFactorization's ranking losses: a grid per loss x solver, chosen on validation.

ml-100k, the per-user split of the user guide (``train_test_split(strategy="user", test_size=0.2,
random_state=0)``); a validation split is cut from the training part the same way (random_state=1),
so the test users' held-out items never choose anything. For every loss x solver the grid runs
learning_rate x alpha, k=64, and scores the validation nDCG@10 after 5, 10, 20, 30 and 40 epochs
(``partial_fit`` epochs); the best (learning_rate, alpha, epochs) is refitted on the whole training
part and scored on the test part. A popularity list is the reference.

    PYTHONPATH=. python benchmarks/tune_ranking.py            # -> results/ranking_tune.json
"""
import itertools
import json
import time

import numpy as np

from _common import RESULTS, machine_info, save_json

GRID = {
    "sgd": [0.003, 0.01, 0.03, 0.1],
    "fa-sgd": [0.03, 0.1, 0.3, 1.0],
    "cf-sgd": [0.03, 0.1, 0.3, 1.0],
    "adagrad": [0.01, 0.03, 0.1, 0.3],
}
ALPHAS = [0.001, 0.01, 0.03, 0.1]
CHECKPOINTS = (5, 10, 20, 30, 40)


def popularity_ndcg(X_train, X_test):
    from recfreq.metrics import ndcg_at_k

    counts = np.bincount(X_train[:, 1], minlength=X_train[:, 1].max() + 1).astype(float)
    users = np.unique(X_test[:, 0])
    lists = []
    for u in users:
        scores = counts.copy()
        scores[X_train[X_train[:, 0] == u, 1]] = -np.inf
        lists.append(np.argsort(-scores, kind="stable")[:10])
    relevant = [set(X_test[X_test[:, 0] == u, 1]) for u in users]
    return float(ndcg_at_k(relevant, np.array(lists), k=10))


def curve(params, X_fit, X_eval):
    """Validation nDCG@10 after each checkpoint epoch (None once diverged)."""
    from recfreq import MatrixFactorization

    model = MatrixFactorization(**params)
    out = {}
    try:
        for epoch in range(1, CHECKPOINTS[-1] + 1):
            model.partial_fit(X_fit)
            if epoch in CHECKPOINTS:
                out[epoch] = float(model.score(X_eval))
    except FloatingPointError:
        pass
    return out


def main():
    from recfreq import MatrixFactorization
    from recfreq.datasets import load_movielens
    from recfreq.model_selection import train_test_split

    X, y = load_movielens("100k", return_X_y=True)
    X_train, X_test, _, _ = train_test_split(X, y, strategy="user", test_size=0.2, random_state=0)
    X_fit, X_val = train_test_split(X_train, strategy="user", test_size=0.2, random_state=1)
    out = {"machine": machine_info(), "k": 64, "popularity_test_ndcg": popularity_ndcg(X_train, X_test),
           "popularity_validation_ndcg": popularity_ndcg(X_fit, X_val), "runs": {}}
    print("popularity: test nDCG@10", round(out["popularity_test_ndcg"], 4), flush=True)
    for loss, solver in itertools.product(("logistic", "bpr", "warp"), GRID):
        best = None
        for lr, alpha in itertools.product(GRID[solver], ALPHAS):
            params = dict(loss=loss, solver=solver, learning_rate=lr, alpha=alpha, n_factors=64, random_state=0)
            scores = curve(params, X_fit, X_val)
            for epochs, score in scores.items():
                if best is None or score > best[0]:
                    best = (score, lr, alpha, epochs)
        score, lr, alpha, epochs = best
        start = time.perf_counter()
        model = MatrixFactorization(loss=loss, solver=solver, learning_rate=lr, alpha=alpha, n_factors=64,
                                    max_iter=epochs, random_state=0).fit(X_train)
        seconds = time.perf_counter() - start
        test = float(model.score(X_test))
        out["runs"][f"{loss}/{solver}"] = {"learning_rate": lr, "alpha": alpha, "epochs": epochs,
                                           "validation_ndcg": score, "test_ndcg": test, "fit_s": seconds}
        print(f"{loss:8s} {solver:8s} lr={lr:<6g} alpha={alpha:<6g} epochs={epochs:<3d} "
              f"val {score:.4f} test {test:.4f} ({test / out['popularity_test_ndcg']:.2f}x popularity)", flush=True)
        save_json(RESULTS / "ranking_tune.json", out)


if __name__ == "__main__":
    main()
