"""Evidence for MatrixFactorization's defaults (cited in its docstring).

For each solver at its default learning rate, and the default alpha and
n_factors, report held-out RMSE on bundled ml-100k (80/20, seed 0) and on
ml-1m (90/10, seed 0; read from the folder RECFREQ_BENCH_ML1M names, when set), over
3 model seeds. Usage:

    PYTHONPATH=. python benchmarks/check_defaults.py [--alphas 0.05 0.07]
    PYTHONPATH=. python benchmarks/check_defaults.py --dense   # dense_learning_rate defaults
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np

from recfreq import MatrixFactorization, OverparamMF
from recfreq.datasets import fetch_movielens, load_movielens
from recfreq.metrics import rmse
from recfreq.model_selection import train_test_split

ML1M = Path(os.environ.get("RECFREQ_BENCH_ML1M", "/nonexistent"))


def splits():
    X, y = load_movielens("100k", return_X_y=True)
    yield "ml-100k 80/20", train_test_split(X, y, test_size=0.2, random_state=0)
    if ML1M.exists():
        X, y = fetch_movielens("1m", data_home=ML1M, return_X_y=True)
        yield "ml-1m 90/10", train_test_split(X, y, test_size=0.1, random_state=0)


def dense_sweep(seeds):
    """The layer steps' defaults: held-out RMSE on ml-100k per solver and dense_learning_rate.

    Mixed-dimension MF at its defaults (20 epochs) and OverparamMF at its
    defaults but 8 epochs (OverparamMF's sgd default was then set on ml-1m by
    study_embeddings.py, part 1).
    """
    X, y = load_movielens("100k", return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    grids = [(MatrixFactorization, {"embedding_dims": "mixed"}, [1e-6, 1e-5, 3e-5, 1e-4]),
             (OverparamMF, {"max_iter": 8}, [1e-5, 1e-4, 1e-3])]
    for cls, params, rates in grids:
        for solver in ("sgd", "fa-sgd", "adagrad"):
            for rate in rates:
                scores = []
                for seed in range(seeds):
                    model = cls(solver=solver, dense_learning_rate=rate, random_state=seed, **params)
                    try:
                        scores.append(rmse(y_te, model.fit(X_tr, y_tr).predict(X_te)))
                    except FloatingPointError:
                        scores.append(float("inf"))
                print(f"{cls.__name__:20s} {solver:8s} dense_lr={rate:<7g} RMSE median {np.median(scores):.4f}",
                      flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[MatrixFactorization().alpha])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--dense", action="store_true", help="sweep the layer steps instead")
    args = parser.parse_args()
    if args.dense:
        return dense_sweep(args.seeds)
    rows = []
    for name, (X_tr, X_te, y_tr, y_te) in splits():
        for alpha in args.alphas:
            for solver in ("sgd", "fa-sgd", "cf-sgd", "adagrad"):
                scores = []
                for seed in range(args.seeds):
                    model = MatrixFactorization(solver=solver, alpha=alpha, n_jobs=args.n_jobs, random_state=seed)
                    try:
                        scores.append(rmse(y_te, model.fit(X_tr, y_tr).predict(X_te)))
                    except FloatingPointError:
                        scores.append(float("inf"))
                row = dict(data=name, solver=solver, learning_rate=model._learning_rate(), alpha=alpha,
                           n_factors=model.n_factors, median=float(np.median(scores)), worst=float(max(scores)))
                rows.append(row)
                print(f"{name:14s} {solver:8s} lr={row['learning_rate']:<6g} alpha={alpha:<5g} "
                      f"RMSE median {row['median']:.4f} worst {row['worst']:.4f}", flush=True)
    out = Path(__file__).parent / "results" / "defaults.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
