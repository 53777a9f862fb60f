"""Fit a model on the bundled MovieLens-100K and print its held-out RMSE.

Run as ``recfreq-quickstart`` or ``python -m recfreq.quickstart``. Uses only the
data shipped inside the package: no network, no writes.
"""

import argparse
import time

import numpy as np

__all__ = ["main"]


def _models():
    from . import BaselinePredictor, MatrixFactorization

    return {"mf": MatrixFactorization, "baseline": BaselinePredictor}


def main(argv=None):
    """Entry point of the ``recfreq-quickstart`` console script."""
    parser = argparse.ArgumentParser(prog="recfreq-quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(_models()), default="mf")
    parser.add_argument("--solver", default=None, help="sgd, fa-sgd, cf-sgd or adagrad (default: the model's)")
    parser.add_argument("--n-jobs", type=int, default=None, help="OpenMP threads (-1: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from .datasets import load_movielens
    from .metrics import rmse
    from .model_selection import train_test_split

    X, y = load_movielens("100k", return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    params = {"n_jobs": args.n_jobs, "random_state": args.seed}
    if args.solver is not None:
        params["solver"] = args.solver
    model = _models()[args.model](**params)

    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    score = rmse(y_test, model.predict(X_test))

    print(f"MovieLens-100K (bundled): {len(y_train):,} training / {len(y_test):,} test ratings")
    print(f"model: {model!r}")
    print(f"held-out RMSE: {score:.4f}")
    print(f"fit time: {fit_seconds:.3f} s ({model.n_iter_ * len(y_train) / fit_seconds:,.0f} samples/s)")
    print(f"global-mean RMSE for reference: {float(np.sqrt(np.mean((y_test - y_train.mean()) ** 2))):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
