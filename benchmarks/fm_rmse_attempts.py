"""What was tried to bring the side-feature FM below RMSE 0.895 on ml-100k .

Usage (repository root, extensions built in place):

    PYTHONPATH=. python benchmarks/fm_rmse_attempts.py average    # parameter / prediction averaging over epochs
    PYTHONPATH=. python benchmarks/fm_rmse_attempts.py ensemble   # mean prediction of 8 seeds
    PYTHONPATH=. python benchmarks/fm_rmse_attempts.py long       # 150 epochs of fa-sgd and sgd
    PYTHONPATH=. python benchmarks/fm_rmse_attempts.py search     # 55 random configurations, 10% validation

Same split and design matrix as ``bench_fm.py`` (ids + user and item side features, CSR,
``n_jobs=1`` so every run is reproducible). Results are printed; the numbers are quoted in
benchmarks/README.md, section "Factorization machines".
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import rmse  # noqa: E402
from bench_fm import SIDE_COLS, design, load_frames  # noqa: E402

from recfreq import FactorizationMachine  # noqa: E402


def average(A, ytr, B, yte):
    """Polyak averaging of the parameters (from epoch 6) and averaging of the predictions (epochs 10-40)."""
    for kw in ({}, {"solver": "sgd", "learning_rate": 0.01}, {"solver": "fa-sgd", "learning_rate": 0.2}):
        model = FactorizationMachine(random_state=0, n_jobs=1, **kw)
        mean_params, preds, raw = None, [], []
        for epoch in range(40):
            model.partial_fit(A, ytr)
            raw.append(rmse(yte, model.predict(B)))
            params = [model.intercept_.copy(), model.feature_bias_.copy(), model.feature_factors_.copy()]
            if epoch >= 9:
                preds.append(model.predict(B))
            if epoch >= 5:
                n = epoch - 4
                mean_params = ([p.astype(np.float64) for p in params] if mean_params is None else
                               [m + (p - m) / n for m, p in zip(mean_params, params)])
        saved = params
        model.intercept_, model.feature_bias_, model.feature_factors_ = [
            m.astype(p.dtype) for m, p in zip(mean_params, saved)]
        averaged = rmse(yte, model.predict(B))
        print(f"{kw or 'defaults'}: best epoch {min(raw):.4f}, last {raw[-1]:.4f}, parameters averaged over "
              f"epochs 6-40 {averaged:.4f}, predictions averaged over epochs 10-40 "
              f"{rmse(yte, np.mean(preds, axis=0)):.4f}", flush=True)


def ensemble(A, ytr, B, yte):
    preds = []
    for seed in range(8):
        preds.append(FactorizationMachine(random_state=seed, n_jobs=1).fit(A, ytr).predict(B))
        print(f"seed {seed}: {rmse(yte, preds[-1]):.4f}; mean of {len(preds)}: "
              f"{rmse(yte, np.mean(preds, axis=0)):.4f}", flush=True)


def long(A, ytr, B, yte):
    for kw in ({"solver": "fa-sgd", "learning_rate": 0.2}, {"solver": "fa-sgd", "learning_rate": 0.1},
               {"solver": "sgd", "learning_rate": 0.01}):
        model = FactorizationMachine(random_state=0, n_jobs=1, **kw)
        curve = []
        for _ in range(150):
            model.partial_fit(A, ytr)
            curve.append(rmse(yte, model.predict(B)))
        print(f"{kw}: best {min(curve):.4f} at epoch {int(np.argmin(curve)) + 1}; every 10th epoch "
              f"{[round(r, 4) for r in curve[9::10]]}", flush=True)


def search(A, ytr, B, yte, n_trials=55):
    """Random search; the epoch and the configuration are chosen on 10% of the training rows."""
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(ytr))
    va, tr = idx[:len(ytr) // 10], idx[len(ytr) // 10:]
    best = None
    for _ in range(n_trials):
        solver = str(rng.choice(["adagrad", "adagrad", "sgd", "fa-sgd"]))
        lr = {"adagrad": 10 ** rng.uniform(-2, -0.7), "sgd": 10 ** rng.uniform(-2.5, -1.3),
              "fa-sgd": 10 ** rng.uniform(-1.5, -0.6)}[solver]
        kw = dict(solver=solver, learning_rate=float(lr), alpha=float(10 ** rng.uniform(-1.7, -0.5)),
                  alpha_bias=float(10 ** rng.uniform(-3, -0.7)), n_factors=int(rng.choice([32, 64, 128])),
                  init_std=float(10 ** rng.uniform(-2.5, -1)))
        model = FactorizationMachine(random_state=0, n_jobs=1, **kw)
        try:
            curve = []
            for _ in range(40):
                model.partial_fit(A[tr], ytr[tr])
                curve.append((rmse(ytr[va], model.predict(A[va])), rmse(yte, model.predict(B))))
        except FloatingPointError:
            continue
        val, test = min(curve)
        print(f"{kw}: validation {val:.4f}, test {test:.4f}", flush=True)
        if best is None or val < best[0]:
            best = (val, test, kw)
    print(f"best by validation: {best}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["average", "ensemble", "long", "search"])
    args = parser.parse_args()
    train, test, ytr, yte = load_frames()
    A, B = design(train, test, SIDE_COLS)
    globals()[args.mode](A, ytr, B, yte)
