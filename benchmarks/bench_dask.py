"""Distributed SGD (recfreq.dask.fit) on a local Dask cluster, and Spark MLlib's ALS beside it.

Subcommands (results in ``results/dask.json``, one section each):

* ``epochs``: per epoch of DSGD on a ``LocalCluster(n_workers=2, threads_per_worker=1)``, for each
  number of stripes d: wall time, kernel time on the critical path (``compute``), the rest
  (``overhead``: scheduling, transfers, copies, waiting), the bytes Dask moved between workers and
  the traffic model (item stripes that change worker); the setup (checking, encoding, shipping
  the ratings); the serial ``fit`` (``n_jobs=1`` and 2) per epoch; the workers' and the serial
  process's peak memory; test RMSE (ml-1m: 90/10 split, random_state=0). Each dataset runs in a
  fresh process (``--child``), so peak memory is its own.
  ``ml-1m``: MovieLens-1M (RECFREQ_BENCH_ML1M); ``synthetic-20m``: ml-20m-shaped synthetic data
  (138,000 users, 27,000 items, 20,000,000 ratings, ``make_synthetic_ratings``), trained on all
  of it (time and traffic only).
* ``spark``: Spark MLlib ALS (rank 100, 10 iterations) on the same ml-1m split, ``regParam``
  chosen on a validation split of the training part (90/10, random_state=1), refitted on the
  whole training part; its test RMSE (cold-start predictions filled with the training mean, as
  recfreq's fallback does) and fit time, on ``local[2]``. pyspark is a benchmark-only dependency
  (``pip install pyspark``; Java 17).
* ``recfreq-ml1m``: recfreq's ``MatrixFactorization`` at its defaults on that split, with ``fit`` and
  with DSGD (d = 2) on the local cluster, for the table beside ALS.
* ``project``: from the ``epochs`` figures, when a cluster of W such workers beats one machine,
  by memory and by time, for 10^9 to 10^10 ratings (the assumptions are printed with the table).
* ``report``: the markdown tables of benchmarks/README.md.

    RECFREQ_BENCH_ML1M=<folder> python benchmarks/bench_dask.py epochs --data ml-1m synthetic-20m
    RECFREQ_BENCH_ML1M=<folder> python benchmarks/bench_dask.py spark --reg 0.05 0.1 0.15 --repeats 1
    RECFREQ_BENCH_ML1M=<folder> python benchmarks/bench_dask.py recfreq-ml1m
    python benchmarks/bench_dask.py project && python benchmarks/bench_dask.py report
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

from _common import RESULTS, load_json, load_split, machine_info, rmse, save_json

OUT = RESULTS / "dask.json"
SYNTHETIC = dict(n_users=138_000, n_items=27_000, n_ratings=20_000_000, n_factors=8, user_skew=0.6, item_skew=0.9,
                 integer=True, random_state=0)


def _load(name):
    if name == "ml-1m":
        return load_split("ml-1m")
    from recfreq.datasets import make_synthetic_ratings

    X, y = make_synthetic_ratings(**SYNTHETIC)
    return X, None, y, None


def _serial(X, y, Xte, yte, params, n_jobs):
    """The serial fit: its time, its time per epoch (a fit of one epoch subtracted: id encoding and
    checks are paid once per fit), its peak memory over what was loaded, its test RMSE."""
    from recfreq import MatrixFactorization

    start = time.perf_counter()
    MatrixFactorization(**{**params, "max_iter": 1}, n_jobs=n_jobs).fit(X, y)
    one = time.perf_counter() - start
    before = _rss_mb()
    _reset_peak()
    start = time.perf_counter()
    model = MatrixFactorization(**params, n_jobs=n_jobs).fit(X, y)
    seconds = time.perf_counter() - start
    out = {"n_jobs": n_jobs, "fit_s": seconds, "epoch_s": (seconds - one) / (model.n_iter_ - 1),
           "peak_over_loaded_mb": _peak_mb() - before, "loss": model.loss_curve_[-1]}
    if Xte is not None:
        out["test_rmse"] = rmse(yte, model.predict(Xte))
    return out


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_epochs(name, stripes, params, n_partitions, repeats_serial):
    """One dataset: the serial fits, then DSGD at each d on one local cluster (printed as JSON)."""
    import pandas as pd
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import recfreq.dask
    from recfreq import MatrixFactorization

    X, Xte, y, yte = _load(name)
    out = {"dataset": name, "n_train": int(len(y)), "params": params, "serial": [], "dsgd": []}
    for n_jobs in (1, 2):
        runs = [_serial(X, y, Xte, yte, params, n_jobs) for _ in range(repeats_serial)]
        median = sorted(runs, key=lambda r: r["epoch_s"])[len(runs) // 2]
        out["serial"].append({**median, "epoch_s_runs": [r["epoch_s"] for r in runs]})
    out["serial_peak_over_loaded_mb"] = out["serial"][0]["peak_over_loaded_mb"]
    frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1], "rating": y})
    warnings.filterwarnings("ignore", message=".*large graph.*")  # the frame goes in once, persisted
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        ddf = client.persist(dd.from_pandas(frame, npartitions=n_partitions, sort=False))
        del frame
        client.wait_for_workers(2)
        test = None if Xte is None else pd.DataFrame({"user": Xte[:, 0], "item": Xte[:, 1]})
        # warm the workers (first imports) on a tiny fit
        recfreq.dask.fit(MatrixFactorization(n_factors=2, max_iter=1), ddf.partitions[0], client=client,
                         n_stripes=1)
        for d in stripes:
            client.run(_reset_peak)
            start = time.perf_counter()
            model, report = recfreq.dask.fit(MatrixFactorization(**params), ddf, client=client, n_stripes=d,
                                             return_report=True)
            fit_s = time.perf_counter() - start
            peaks = client.run(_peak_mb)
            row = {"d": d, "fit_s": fit_s, "setup_s": report.setup_seconds,
                   "setup_bytes_moved": report.setup_bytes_moved, "stripe_bytes": report.stripe_bytes,
                   "worker_peak_mb": sorted(peaks.values()),
                   "epochs": [dict(loss=e.loss, seconds=e.seconds, compute_s=e.compute_seconds,
                                   overhead_s=e.overhead_seconds, bytes_moved=e.bytes_moved,
                                   bytes_model=e.bytes_model) for e in report.epochs],
                   "block_sizes_max_over_mean": float(report.block_sizes.max() / report.block_sizes.mean())}
            if test is not None:
                row["test_rmse"] = rmse(yte, model.predict(test))
            out["dsgd"].append(row)
            print(f"{name} d={d}: {fit_s:.1f} s, epoch {np.median([e.seconds for e in report.epochs[1:]]):.3f} s",
                  file=sys.stderr)
    print(json.dumps(out))


def _reset_peak():
    # the peak RSS of a worker process since this call (Linux: clear_refs 5 resets VmHWM)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cmd_epochs(args):
    results = load_json(OUT, {})
    params = dict(n_factors=args.n_factors, max_iter=args.epochs, solver=args.solver, random_state=0)
    section = results.get("epochs", {})
    for name in args.data:
        cmd = [sys.executable, __file__, "--child", name, "--stripes", *map(str, args.stripes), "--params",
               json.dumps(params), "--partitions", str(args.partitions), "--repeats-serial", str(args.repeats_serial)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sys.stderr.write(proc.stderr[-2000:])
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed")
        section[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        section[name]["machine"] = machine_info()
        section[name]["load"] = os.getloadavg()
        results["epochs"] = section
        save_json(OUT, results)


# ----------------------------------------------------------------------------- Spark
def cmd_spark(args):
    import pandas as pd
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession

    from recfreq.model_selection import train_test_split

    X_train, X_test, y_train, y_test = load_split("ml-1m")
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.1, random_state=1)
    spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("recfreq-bench-als")
             .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(2 * args.cores)).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir("/tmp/recfreq-als-checkpoints")

    def frame(X, y=None):
        data = {"user": X[:, 0].astype(np.int32), "item": X[:, 1].astype(np.int32)}
        if y is not None:
            data["rating"] = y.astype(np.float32)
        return spark.createDataFrame(pd.DataFrame(data)).cache()

    def fit_predict(Xa, ya, Xb, yb, reg):
        train = frame(Xa, ya)
        train.count()
        als = ALS(rank=args.rank, maxIter=args.iterations, regParam=reg, userCol="user", itemCol="item",
                  ratingCol="rating", coldStartStrategy="nan", seed=0)
        start = time.perf_counter()
        model = als.fit(train)
        model.userFactors.count()  # the factors are computed lazily
        seconds = time.perf_counter() - start
        test = frame(Xb)
        pred = model.transform(test).toPandas()
        merged = pd.DataFrame({"user": Xb[:, 0], "item": Xb[:, 1], "y": yb}).merge(pred, on=["user", "item"],
                                                                                   how="left")
        filled = merged["prediction"].fillna(float(np.mean(ya)))
        train.unpersist()
        return rmse(merged["y"], filled), seconds, int(merged["prediction"].isna().sum())

    validation = {}
    for reg in args.reg:
        score, seconds, cold = fit_predict(X_fit, y_fit, X_val, y_val, reg)
        validation[str(reg)] = {"val_rmse": score, "fit_s": seconds}
        print(f"regParam {reg}: validation RMSE {score:.4f} ({seconds:.1f} s)", file=sys.stderr)
    best = min(args.reg, key=lambda r: validation[str(r)]["val_rmse"])
    runs = [fit_predict(X_train, y_train, X_test, y_test, best) for _ in range(args.repeats)]
    spark.stop()
    results = load_json(OUT, {})
    results.setdefault("spark", {})
    results["spark"].update({"rank": args.rank, "iterations": args.iterations, "cores": args.cores,
                        "validation": validation, "best_reg": best, "test_rmse": runs[0][0],
                        "fit_s": sorted(r[1] for r in runs)[len(runs) // 2], "fit_s_runs": [r[1] for r in runs],
                        "cold_start_predictions": runs[0][2], "pyspark": __import__("pyspark").__version__,
                        "machine": machine_info(), "load": os.getloadavg()})
    save_json(OUT, results)
    print(json.dumps(results["spark"], indent=1))


def cmd_recfreq_ml1m(args):
    """recfreq at its defaults (k=100, 20 epochs, fa-sgd) on the ALS split: fit, and DSGD (d=2) on a local cluster."""
    import pandas as pd
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import recfreq.dask
    from recfreq import MatrixFactorization

    X_train, X_test, y_train, y_test = load_split("ml-1m")
    out = {}
    start = time.perf_counter()
    serial = MatrixFactorization(random_state=0).fit(X_train, y_train)
    out["fit"] = {"fit_s": time.perf_counter() - start, "test_rmse": rmse(y_test, serial.predict(X_test))}
    warnings.filterwarnings("ignore", message=".*large graph.*")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        ddf = client.persist(dd.from_pandas(pd.DataFrame({"user": X_train[:, 0], "item": X_train[:, 1],
                                                          "rating": y_train}), npartitions=8, sort=False))
        recfreq.dask.fit(MatrixFactorization(n_factors=2, max_iter=1), ddf.partitions[0], n_stripes=1)  # warm-up
        start = time.perf_counter()
        model = recfreq.dask.fit(MatrixFactorization(random_state=0), ddf, n_stripes=2)
        out["dsgd_d2"] = {"fit_s": time.perf_counter() - start,
                          "test_rmse": rmse(y_test, model.predict(pd.DataFrame({"user": X_test[:, 0],
                                                                               "item": X_test[:, 1]})))}
    results = load_json(OUT, {})
    results.setdefault("spark", {})["recfreq_defaults"] = {**out, "load": os.getloadavg()}
    save_json(OUT, results)
    print(json.dumps(out, indent=1))


# ------------------------------------------------------------------ projection
def _epoch_medians(row):
    later = row["epochs"][1:] or row["epochs"]
    return {key: float(np.median([e[key] for e in later])) for key in ("seconds", "compute_s", "overhead_s",
                                                                      "bytes_moved", "bytes_model")}


def cmd_project(args):
    """Where W machines of ``--cores`` cores beat one, for 10^9-10^10 ratings, from the synthetic-20m run.

    Time per epoch. One machine: N / (c r), r the measured one-thread rate (updates/s of a serial
    epoch), scaled to c threads as if Hogwild scaled perfectly (favouring the one machine). A
    cluster with d = W stripes and c threads per block: N / (W c r) (blocks measured within 1 % of
    equal size at d = 8), plus Dask's overhead, measured per block task at the largest d and taken
    to grow with the d^2 tasks of an epoch (one scheduler), plus the item table and its state
    crossing the network once per epoch in parallel over the W links (the traffic model, checked
    against Dask's own count) at ``--bandwidth``. Memory: one machine needs the measured bytes per
    rating of a serial fit plus its input arrays; a worker, the measured peak bytes per rating of
    the busiest worker at the largest d. The catalogue is the issue's example (10^8 users, 7 x 10^6
    items, k = 32, fa-sgd): the client holds that model either way.
    """
    results = load_json(OUT, {})
    synthetic = results["epochs"]["synthetic-20m"]
    n, k = synthetic["n_train"], synthetic["params"]["n_factors"]
    rate = n / synthetic["serial"][0]["epoch_s"]
    serial_bytes = (synthetic["serial_peak_over_loaded_mb"] * 2**20 + 24 * n) / n  # + ids (2 x int64), ratings
    largest = max(synthetic["dsgd"], key=lambda row: row["d"])
    per_task = _epoch_medians(largest)["overhead_s"] / largest["d"] ** 2
    worker_bytes = max(largest["worker_peak_mb"]) * 2**20 / (n / len(largest["worker_peak_mb"]))
    n_users, n_items = 1e8, 7e6
    item_table = n_items * (k + 1) * 4 + n_items * 8  # float32 factors and bias, fa-sgd's counts
    rows = []
    for ratings in (1e9, 3e9, 1e10):
        one_machine = ratings / (args.cores * rate)
        for workers in (4, 16, 64):
            compute = ratings / (workers * args.cores * rate)
            overhead = per_task * workers ** 2
            traffic = item_table / args.bandwidth
            cluster = compute + overhead + traffic
            rows.append({"ratings": ratings, "workers": workers, "one_machine_epoch_s": one_machine,
                         "cluster_epoch_s": cluster, "compute_s": compute, "overhead_s": overhead,
                         "traffic_s": traffic, "speedup": one_machine / cluster,
                         "one_machine_gb": ratings * serial_bytes / 1e9,
                         "per_worker_gb": ratings * worker_bytes / workers / 1e9})
    results["projection"] = {"assumptions": {
        "cores_per_machine": args.cores, "updates_per_s_per_thread": rate, "one_machine_bytes_per_rating": serial_bytes,
        "worker_bytes_per_rating": worker_bytes, "overhead_s_per_block_task": per_task,
        "bandwidth_bytes_per_s": args.bandwidth, "item_table_bytes": item_table,
        "model_bytes_on_client": (n_users + n_items) * (k + 1) * 4, "measured_at_load": synthetic["load"]},
        "rows": rows}
    save_json(OUT, results)
    print(json.dumps(results["projection"], indent=1))


# ---------------------------------------------------------------------- report
def cmd_report(args):
    results = load_json(OUT, {})
    for name, section in results.get("epochs", {}).items():
        print(f"\n{name}: {section['n_train']:,} ratings, {section['params']}")
        print("| run | s / epoch | compute | overhead | moved / epoch | model / epoch | setup s | test RMSE |")
        print("|---|---|---|---|---|---|---|---|")
        for s in section["serial"]:
            rmse_text = f"{s['test_rmse']:.4f}" if "test_rmse" in s else ""
            print(f"| fit, n_jobs={s['n_jobs']} | {s['epoch_s']:.3f} | | | | | | {rmse_text} |")
        for row in section["dsgd"]:
            m = _epoch_medians(row)
            print(f"| DSGD d={row['d']} | {m['seconds']:.3f} | {m['compute_s']:.3f} | {m['overhead_s']:.3f} | "
                  f"{m['bytes_moved'] / 1e6:.2f} MB | {m['bytes_model'] / 1e6:.2f} MB | {row['setup_s']:.1f} | "
                  + (f"{row['test_rmse']:.4f} |" if "test_rmse" in row else " |"))
        print(f"\nPeak memory: the serial fit +{section['serial_peak_over_loaded_mb']:.0f} MB over the loaded data; "
              "the two workers' peaks (MB) at d = " + ", ".join(
                  f"{row['d']}: {' / '.join(f'{mb:.0f}' for mb in row['worker_peak_mb'])}" for row in section["dsgd"])
              + f". Load average during the run: {' / '.join(f'{x:.1f}' for x in section['load'])}.")
    if "spark" in results:
        s = results["spark"]
        print(f"\nSpark ALS rank {s['rank']}, {s['iterations']} iterations, regParam {s['best_reg']}: "
              f"test RMSE {s['test_rmse']:.4f}, fit {s['fit_s']:.1f} s (local[{s['cores']}]); validation "
              + ", ".join(f"{r}: {v['val_rmse']:.4f}" for r, v in s["validation"].items()))
        for name, row in s.get("recfreq_defaults", {}).items():
            if isinstance(row, dict):
                print(f"recfreq MatrixFactorization defaults, {name}: test RMSE {row['test_rmse']:.4f}, "
                      f"fit {row['fit_s']:.1f} s")
    if "projection" in results:
        print("\n| ratings | workers | one machine s/epoch | cluster s/epoch (compute + overhead + traffic) | "
              "speed-up | one machine GB | per worker GB |")
        print("|---|---|---|---|---|---|---|")
        for r in results["projection"]["rows"]:
            print(f"| {r['ratings']:.0e} | {r['workers']} | {r['one_machine_epoch_s']:.0f} | "
                  f"{r['cluster_epoch_s']:.1f} "
                  f"({r['compute_s']:.1f} + {r['overhead_s']:.1f} + {r['traffic_s']:.1f}) | {r['speedup']:.1f} | "
                  f"{r['one_machine_gb']:.0f} | {r['per_worker_gb']:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeats-serial", type=int, default=3)
    parser.add_argument("--stripes", type=int, nargs="+", default=[1, 2, 4, 8])
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("epochs")
    p.add_argument("--data", nargs="+", default=["ml-1m", "synthetic-20m"])
    p.add_argument("--stripes", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-factors", type=int, default=32)
    p.add_argument("--solver", default="fa-sgd")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--repeats-serial", type=int, default=3)
    p = sub.add_parser("spark")
    p.add_argument("--rank", type=int, default=100)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--reg", type=float, nargs="+", default=[0.03, 0.05, 0.08, 0.1, 0.15])
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    sub.add_parser("recfreq-ml1m")
    p = sub.add_parser("project")
    p.add_argument("--cores", type=int, default=16, help="cores of one machine (and of each worker)")
    p.add_argument("--bandwidth", type=float, default=1.25e9, help="bytes/s between workers (10 Gb/s)")
    sub.add_parser("report")
    args = parser.parse_args()
    if args.child:
        child_epochs(args.child, args.stripes, json.loads(args.params), args.partitions, args.repeats_serial)
        return
    {"epochs": cmd_epochs, "spark": cmd_spark, "recfreq-ml1m": cmd_recfreq_ml1m, "project": cmd_project,
     "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main()
