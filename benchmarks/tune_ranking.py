"""Defaults of the ranking losses (MatrixFactorization; FactorizationMachine with side features): a grid
per loss x solver, chosen on validation.

ml-100k, the per-user split of the user guide (``train_test_split(strategy="user", test_size=0.2,
random_state=0)``); a validation split is cut from the training part the same way (random_state=1),
so the test users' held-out items never choose anything. For every loss x solver the grid runs
learning_rate x alpha, k=64, and scores the validation nDCG@10 after 5, 10, 20, 30, 40 and 50 epochs
(``partial_fit`` epochs); the best (learning_rate, alpha, epochs) is refitted on the whole training
part and scored on the test part. A popularity list is the reference.

    PYTHONPATH=. python benchmarks/tune_ranking.py            # -> results/ranking_tune.json
    PYTHONPATH=. python benchmarks/tune_ranking.py --model fm # -> results/ranking_tune_fm.json
    (--resume keeps the rows already in the JSON and runs the others)

The factorization machine gets the side columns of ``bench_fm.py`` (age bucket, gender, occupation;
genres, which ``item_columns`` names as the item's) and its own grid (FactorizationMachine's
default ``init_std=0.02``; ``warp`` takes learning rates ten times smaller, as its rank weights
scale its steps, except with ``adagrad``, whose steps do not grow with the gradient).
"""
import itertools
import json
import time

import numpy as np

from _common import RESULTS, load_json, machine_info, save_json

GRID = {
    "sgd": [0.003, 0.01, 0.03, 0.1],
    "fa-sgd": [0.03, 0.1, 0.3, 1.0],
    "cf-sgd": [0.03, 0.1, 0.3, 1.0],
    "adagrad": [0.01, 0.03, 0.1, 0.3],
}
ALPHAS = [0.01, 0.03, 0.1]
CHECKPOINTS = (5, 10, 20, 30, 40, 50)
FM_GRID = {"sgd": [0.01, 0.03, 0.1], "fa-sgd": [0.03, 0.1, 0.3], "cf-sgd": [0.03, 0.1, 0.3],
           "adagrad": [0.02, 0.05, 0.1]}
FM_ALPHAS = [0.01, 0.03]
FM_CHECKPOINTS = (5, 10, 20, 30)
SIDE = ["user", "item", "age", "gender", "occupation", "genres"]


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


def curve(params, X_fit, X_eval, estimator=None, checkpoints=CHECKPOINTS):
    """Validation nDCG@10 after each checkpoint epoch (None once diverged)."""
    from recfreq import MatrixFactorization

    model = (estimator or MatrixFactorization)(**params)
    out = {}
    try:
        for epoch in range(1, checkpoints[-1] + 1):
            model.partial_fit(X_fit)
            if epoch in checkpoints:
                out[epoch] = float(model.score(X_eval))
    except FloatingPointError:
        pass
    return out


def side_frames(X_parts):
    """DataFrames of (user, item) rows with bench_fm.py's side columns."""
    import pandas as pd
    from bench_fm import AGE_BINS
    from recfreq.datasets import load_movielens

    b = load_movielens("100k")
    users = pd.DataFrame(b.users).set_index("user_id")
    movies = pd.DataFrame(b.movies).set_index("item_id")
    users["age_bucket"] = pd.cut(users["age"], AGE_BINS, right=False).astype(str)
    movies["genre_list"] = [g.split("|") if g else [] for g in movies["genres"]]
    frames = []
    for ids in X_parts:
        f = pd.DataFrame({"user": ids[:, 0], "item": ids[:, 1]})
        u, m = users.loc[f["user"]], movies.loc[f["item"]]
        f["age"], f["gender"], f["occupation"] = (u["age_bucket"].to_numpy(), u["gender"].to_numpy(),
                                                  u["occupation"].to_numpy())
        f["genres"] = list(m["genre_list"])
        frames.append(f)
    return frames


def tune_fm(X_train, X_test, X_fit, X_val, out):
    from recfreq import FactorizationMachine

    train, test, fit, val = side_frames([X_train, X_test, X_fit, X_val])
    for loss, solver in itertools.product(("logistic", "bpr", "warp"), FM_GRID):
        if f"{loss}/{solver}" in out["runs"]:
            continue  # --resume: kept from an earlier run
        best = None
        # warp's rank weights (up to ~8) scale its steps: a ten times smaller grid, except for
        # adagrad, whose steps do not grow with the gradient's scale
        rates = [lr / 10 for lr in FM_GRID[solver]] if loss == "warp" and solver != "adagrad" else FM_GRID[solver]
        for lr, alpha in itertools.product(rates, FM_ALPHAS):
            params = dict(loss=loss, solver=solver, learning_rate=lr, alpha=alpha, n_factors=64, random_state=0,
                          item_columns=["genres"])
            for epochs, score in curve(params, fit[SIDE], val[SIDE], FactorizationMachine, FM_CHECKPOINTS).items():
                if best is None or score > best[0]:
                    best = (score, lr, alpha, epochs)
        score, lr, alpha, epochs = best
        start = time.perf_counter()
        model = FactorizationMachine(loss=loss, solver=solver, learning_rate=lr, alpha=alpha, n_factors=64,
                                     max_iter=epochs, random_state=0, item_columns=["genres"]).fit(train[SIDE])
        seconds = time.perf_counter() - start
        test_score = float(model.score(test[SIDE]))
        out["runs"][f"{loss}/{solver}"] = {"learning_rate": lr, "alpha": alpha, "epochs": epochs,
                                           "validation_ndcg": score, "test_ndcg": test_score, "fit_s": seconds}
        print(f"FM {loss:8s} {solver:8s} lr={lr:<6g} alpha={alpha:<6g} epochs={epochs:<3d} val {score:.4f} "
              f"test {test_score:.4f} ({test_score / out['popularity_test_ndcg']:.2f}x popularity)", flush=True)
        save_json(RESULTS / "ranking_tune_fm.json", out)


def main():
    import argparse

    from recfreq import MatrixFactorization
    from recfreq.datasets import load_movielens
    from recfreq.model_selection import train_test_split

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["mf", "fm"], default="mf")
    parser.add_argument("--resume", action="store_true", help="keep the loss x solver rows already in the JSON")
    parser.add_argument("--init-std", type=float, default=0.01, help="MatrixFactorization's init_std")
    args = parser.parse_args()
    X, y = load_movielens("100k", return_X_y=True)
    X_train, X_test, _, _ = train_test_split(X, y, strategy="user", test_size=0.2, random_state=0)
    X_fit, X_val = train_test_split(X_train, strategy="user", test_size=0.2, random_state=1)
    out = {"machine": machine_info(), "k": 64, "init_std": args.init_std if args.model == "mf" else None,
           "popularity_test_ndcg": popularity_ndcg(X_train, X_test),
           "popularity_validation_ndcg": popularity_ndcg(X_fit, X_val), "runs": {}}
    print("popularity: test nDCG@10", round(out["popularity_test_ndcg"], 4), flush=True)
    if args.resume:
        out["runs"] = load_json(RESULTS / f"ranking_tune{'_fm' if args.model == 'fm' else ''}.json",
                                {"runs": {}})["runs"]
    if args.model == "fm":
        tune_fm(X_train, X_test, X_fit, X_val, out)
        return
    for loss, solver in itertools.product(("logistic", "bpr", "warp"), GRID):
        if f"{loss}/{solver}" in out["runs"]:
            continue  # --resume: kept from an earlier run
        best = None
        for lr, alpha in itertools.product(GRID[solver], ALPHAS):
            params = dict(loss=loss, solver=solver, learning_rate=lr, alpha=alpha, n_factors=64, random_state=0,
                          init_std=args.init_std)
            scores = curve(params, X_fit, X_val)
            for epochs, score in scores.items():
                if best is None or score > best[0]:
                    best = (score, lr, alpha, epochs)
        score, lr, alpha, epochs = best
        start = time.perf_counter()
        model = MatrixFactorization(loss=loss, solver=solver, learning_rate=lr, alpha=alpha, n_factors=64,
                                    max_iter=epochs, random_state=0, init_std=args.init_std).fit(X_train)
        seconds = time.perf_counter() - start
        test = float(model.score(X_test))
        out["runs"][f"{loss}/{solver}"] = {"learning_rate": lr, "alpha": alpha, "epochs": epochs,
                                           "validation_ndcg": score, "test_ndcg": test, "fit_s": seconds}
        print(f"{loss:8s} {solver:8s} lr={lr:<6g} alpha={alpha:<6g} epochs={epochs:<3d} "
              f"val {score:.4f} test {test:.4f} ({test / out['popularity_test_ndcg']:.2f}x popularity)", flush=True)
        save_json(RESULTS / "ranking_tune.json", out)


if __name__ == "__main__":
    main()
