"""recfreq MatrixFactorization vs scikit-surprise SVD, side by side in one run.

Same model (biased MF, squared loss, 1/2 convention, per-sample L2) and the same
hyperparameters: n_factors=100, 20 epochs, learning rate 0.005, reg 0.02,
init std 0.1, recfreq solver="sgd". Datasets: ml-100k (bundled, 80/20) and
ml-1m (90/10), random_state=0 split.

Every fit runs in a fresh subprocess (``--child``) so that its peak RSS is its
own; each configuration is repeated ``--repeats`` times (default 5) and the
MEDIAN fit time is reported. updates/s = epochs * n_train / fit time.

* Surprise's fit time is ``SVD.fit(trainset)`` only: building its
  ``Dataset.load_from_df(...).build_full_trainset()`` from the split is timed
  separately (``prep_s``) and NOT included. recfreq's fit time is
  ``MatrixFactorization.fit(X, y)`` (it includes id encoding and validation).
* Memory: ``peak_rss_mb`` is ru_maxrss of the child at the end (whole process:
  interpreter, libraries, data, model); ``fit_peak_over_loaded_mb`` is that
  peak minus the RSS after the split was loaded (for Surprise, the trainset
  building is counted in this increment).
* Surprise clips its predictions to the rating scale [1, 5]; recfreq's
  ``predict`` does not, so recfreq's RMSE is given raw and clipped.

    PYTHONPATH=. benchmarks/.env/bin/python benchmarks/bench_mf_surprise.py --repeats 5
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from _common import RESULTS, load_split, rmse, save_json, load_json, machine_info

K, EPOCHS, LR, REG, INIT_STD = 100, 20, 0.005, 0.02, 0.1
CONFIGS = [
    ("surprise", 1, "float64"),
    ("recfreq", 1, "float32"),
    ("recfreq", 2, "float32"),
    ("recfreq", 1, "float64"),
    ("recfreq", 2, "float64"),
]


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(dataset, impl, n_jobs, dtype, seed):
    Xtr, Xte, ytr, yte = load_split(dataset)
    out = {"n_train": int(len(ytr)), "n_test": int(len(yte))}
    if impl == "surprise":
        import pandas as pd
        from surprise import SVD, Dataset, Reader

        loaded = rss_mb()
        t0 = time.perf_counter()
        df = pd.DataFrame({"u": Xtr[:, 0], "i": Xtr[:, 1], "r": ytr})
        trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
        testset = list(zip(Xte[:, 0].tolist(), Xte[:, 1].tolist(), yte.tolist()))
        out["prep_s"] = time.perf_counter() - t0
        algo = SVD(n_factors=K, n_epochs=EPOCHS, lr_all=LR, reg_all=REG, init_std_dev=INIT_STD,
                   biased=True, random_state=seed)
        t0 = time.perf_counter()
        algo.fit(trainset)
        out["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = np.array([p.est for p in algo.test(testset)])
        out["predict_s"] = time.perf_counter() - t0
        out["rmse"] = rmse(yte, pred)  # Surprise's own estimates, clipped to [1, 5]
        out["rmse_clipped"] = out["rmse"]
    else:
        from recfreq import MatrixFactorization

        loaded = rss_mb()
        model = MatrixFactorization(n_factors=K, solver="sgd", learning_rate=LR, alpha=REG,
                                    max_iter=EPOCHS, init_std=INIT_STD, dtype=dtype,
                                    n_jobs=n_jobs, random_state=seed)
        t0 = time.perf_counter()
        model.fit(Xtr, ytr)
        out["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = model.predict(Xte)
        out["predict_s"] = time.perf_counter() - t0
        out["rmse"] = rmse(yte, pred)
        out["rmse_clipped"] = rmse(yte, np.clip(pred, 1, 5))
        out["state_bytes"] = int(model.user_state_.nbytes + model.item_state_.nbytes)
    out["loadavg_1min_after"] = os.getloadavg()[0]  # the machine is shared: keep its load
    out["rss_after_load_mb"] = loaded
    out["peak_rss_mb"] = maxrss_mb()
    out["fit_peak_over_loaded_mb"] = out["peak_rss_mb"] - loaded
    out["updates_per_s"] = EPOCHS * out["n_train"] / out["fit_s"]
    print("RESULT " + json.dumps(out), flush=True)


def med(rows, k):
    return float(np.median([r[k] for r in rows]))


def summarize(store):
    lines = []
    for dataset, rows in store["results"].items():
        ref = rows.get("surprise-1-float64")
        lines.append(f"\n### {dataset} (n_train={next(iter(rows.values()))[0]['n_train']:,}; "
                     f"k={K}, {EPOCHS} epochs, lr {LR}, reg {REG}; median of "
                     f"{len(next(iter(rows.values())))} fresh-process runs)\n")
        lines.append("| implementation | n_jobs | dtype | fit s (median) [min-max] | updates/s | "
                     "throughput vs Surprise | test RMSE (median) | RMSE clipped [1,5] | "
                     "peak RSS MB | peak - loaded MB |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for name, rs in rows.items():
            impl, nj, dt = name.split("-", 2)
            fit = med(rs, "fit_s")
            ratio = med(ref, "fit_s") / fit if ref else float("nan")
            lines.append(
                f"| {impl} | {nj} | {dt} | {fit:.2f} [{min(r['fit_s'] for r in rs):.2f}-"
                f"{max(r['fit_s'] for r in rs):.2f}] | {med(rs, 'updates_per_s') / 1e6:.2f} M | "
                f"{ratio:.2f}x | {med(rs, 'rmse'):.4f} | {med(rs, 'rmse_clipped'):.4f} | "
                f"{med(rs, 'peak_rss_mb'):.0f} | {med(rs, 'fit_peak_over_loaded_mb'):.0f} |")
        if ref:
            lines.append(f"\nSurprise trainset building (not in its fit time): median "
                         f"{med(ref, 'prep_s'):.2f} s.")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-1m"])
    p.add_argument("--out", default=str(RESULTS / "mf_surprise.json"))
    p.add_argument("--child", nargs=4, metavar=("DATASET", "IMPL", "N_JOBS", "DTYPE"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    a = p.parse_args()
    if a.child:
        d, impl, nj, dt = a.child
        return child(d, impl, int(nj), dt, a.seed)

    store = {"config": dict(k=K, epochs=EPOCHS, lr=LR, reg=REG, init_std=INIT_STD,
                            repeats=a.repeats, machine=machine_info(),
                            started=time.strftime("%Y-%m-%d %H:%M:%S")),
             "results": {}}
    if a.resume:
        store["results"] = load_json(a.out, {}).get("results", {})
    try:
        import surprise
        store["config"]["surprise"] = surprise.__version__
    except ImportError:
        pass
    for dataset in a.datasets:
        res = store["results"].setdefault(dataset, {})
        # interleave repeats across configurations so that load drift hits all alike
        for rep in range(a.repeats):
            for impl, nj, dt in CONFIGS:
                if len(res.get(f"{impl}-{nj}-{dt}", [])) > rep:
                    continue  # resumed
                cmd = [sys.executable, os.path.abspath(__file__), "--child", dataset, impl, str(nj),
                       dt, "--seed", str(rep)]
                for attempt in range(10):
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
                    if proc.returncode == 0 and line:
                        break
                    # others edit and rebuild recfreq while this runs: wait and retry
                    print(proc.stderr[-600:], file=sys.stderr)
                    print(f"child failed ({cmd[3:]}); retry in 30 s", file=sys.stderr, flush=True)
                    time.sleep(30)
                else:
                    raise SystemExit(f"child failed: {cmd}")
                r = json.loads(line[0][7:])
                res.setdefault(f"{impl}-{nj}-{dt}", []).append(r)
                print(f"{dataset} rep {rep} {impl:8s} n_jobs={nj} {dt}: fit {r['fit_s']:.2f}s "
                      f"rmse {r['rmse']:.4f} peak {r['peak_rss_mb']:.0f}MB", flush=True)
                save_json(a.out, store)
    store["config"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    store["config"]["machine_at_end"] = machine_info()
    save_json(a.out, store)
    text = summarize(store)
    print(text)
    with open(os.path.splitext(a.out)[0] + ".md", "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
