"""Evidence for MatrixFactorization's defaults (cited in its docstring).

For each solver at its default learning rate, and the default alpha and
n_factors, report held-out RMSE on bundled ml-100k (80/20, seed 0) and on
ml-1m (90/10, seed 0; read from ../shared/data beside the checkout), over
3 model seeds. Usage:

    PYTHONPATH=. python benchmarks/check_defaults.py [--alphas 0.05 0.07]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from recfreq import MatrixFactorization
from recfreq.datasets import fetch_movielens, load_movielens
from recfreq.metrics import rmse
from recfreq.model_selection import train_test_split

ML1M = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-1m"


def splits():
    X, y = load_movielens("100k", return_X_y=True)
    yield "ml-100k 80/20", train_test_split(X, y, test_size=0.2, random_state=0)
    if ML1M.exists():
        X, y = fetch_movielens("1m", data_home=ML1M, return_X_y=True)
        yield "ml-1m 90/10", train_test_split(X, y, test_size=0.1, random_state=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[MatrixFactorization().alpha])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
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
