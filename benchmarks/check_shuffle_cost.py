"""Host-side cost of one epoch's order on ml-1m, next to the epoch it feeds.

Each epoch the CPU binding (``recfreq/_engine/cpu.py``) gathers the three training
arrays (users, items, ratings) into the epoch's keyed order in one compiled pass
(``epoch_gather``: each position's sample from the Feistel order of
``_kernels/cpu/order.pxd``, its three fields copied), on a helper thread while
the kernel runs when a core is free. This times that pass on ml-1m's training
arrays (900,188 samples; int32, int32, float32 as the kernel reads them), the
order alone, what NumPy's ``Generator.permutation`` and three ``np.take`` (the
host shuffle before the keyed order) cost, and a whole ``fit(max_iter=20)`` epoch
(sgd, k=100, float32, n_jobs=1 and 2). Medians of 15.

    RECFREQ_BENCH_ML1M=<folder> PYTHONPATH=. python benchmarks/check_shuffle_cost.py
"""
import time

import numpy as np

from _common import RESULTS, load_split, save_json, machine_info


def med(f, n=15):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1000, float(min(ts)) * 1000


def main():
    import os

    from recfreq import MatrixFactorization
    from recfreq._kernels.cpu.epoch_order import epoch_gather, epoch_permutation

    Xtr, Xte, ytr, yte = load_split("ml-1m")
    n = len(ytr)
    u, i, r = Xtr[:, 0].astype(np.int32), Xtr[:, 1].astype(np.int32), ytr.astype(np.float32)
    outputs = [np.empty_like(a) for a in (u, i, r)]
    order = np.empty(n, dtype=np.int64)
    rng = np.random.default_rng(0)
    out = {"machine": machine_info(), "loadavg_before": os.getloadavg()[0], "n_samples": n}
    out["keyed_gather_ms"] = med(lambda: epoch_gather(1, 2, u, i, r, *outputs, np.empty(0, dtype=np.int64)))
    out["keyed_order_only_ms"] = med(lambda: epoch_permutation(n, 1, 2, order))
    permutation = rng.permutation(n)
    out["numpy_permutation_ms"] = med(lambda: rng.permutation(n))
    out["numpy_take_3_arrays_ms"] = med(lambda: [np.take(a, permutation, out=o) for a, o in zip((u, i, r), outputs)])
    for n_jobs in (1, 2):
        def fit():
            MatrixFactorization(n_factors=100, solver="sgd", learning_rate=0.005, alpha=0.02,
                                max_iter=20, n_jobs=n_jobs, random_state=0).fit(Xtr, ytr)
        m, lo = med(fit, n=5)
        out[f"fit_per_epoch_ms_n_jobs_{n_jobs}"] = (m / 20, lo / 20)
    out["loadavg_after"] = os.getloadavg()[0]
    for k, v in out.items():
        if k != "machine":
            print(k, v)
    save_json(RESULTS / "shuffle_cost.json", out)


if __name__ == "__main__":
    main()
