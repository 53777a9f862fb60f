"""How much a per-epoch ``partial_fit`` loop costs over one ``fit`` call (ml-1m 90/10).

The study and best_ml1m scripts train with one ``partial_fit`` per epoch to record
test RMSE after every epoch; their cumulative times therefore include a per-call
overhead. This measures it: median over 5 of fit(max_iter=20)/20 vs the mean time
of 20 partial_fit calls, sgd, k=100, n_jobs=1 and 2, float32.

    PYTHONPATH=. benchmarks/.env/bin/python benchmarks/check_partial_fit_overhead.py
"""
import time

import numpy as np

from _common import RESULTS, load_split, save_json, machine_info


def main():
    from recfreq import MatrixFactorization

    Xtr, Xte, ytr, yte = load_split("ml-1m")
    out = {"machine": machine_info(), "rows": []}
    for n_jobs in (1, 2):
        fit_epoch, pf_epoch = [], []
        for seed in range(5):
            kw = dict(n_factors=100, solver="sgd", learning_rate=0.005, alpha=0.02, max_iter=20,
                      n_jobs=n_jobs, random_state=seed)
            t0 = time.perf_counter()
            MatrixFactorization(**kw).fit(Xtr, ytr)
            fit_epoch.append((time.perf_counter() - t0) / 20)
            m = MatrixFactorization(**kw)
            t0 = time.perf_counter()
            for _ in range(20):
                m.partial_fit(Xtr, ytr)
            pf_epoch.append((time.perf_counter() - t0) / 20)
        row = dict(n_jobs=n_jobs, fit_s_per_epoch=float(np.median(fit_epoch)),
                   partial_fit_s_per_call=float(np.median(pf_epoch)))
        out["rows"].append(row)
        print(row, flush=True)
    save_json(RESULTS / "partial_fit_overhead.json", out)


if __name__ == "__main__":
    main()
