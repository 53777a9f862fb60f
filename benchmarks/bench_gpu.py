"""MatrixFactorization epochs on the GPU: updates per second, against the CPU path.

Whole epochs are timed with the data already on the device: each epoch is one
kernel launch (the keyed epoch order computed in the kernel, the warp-per-sample
update, the block-wise loss reduction) plus the 8-byte download of its loss,
which synchronizes. MF with sgd, float32, k=128 by default, as cuMF_SGD's
published figures (Xie, Tan, Fong, Liang, HPDC 2017: 0.64-0.69 x 10^9 updates/s
on Netflix and Yahoo!Music at k=128, half precision, on a 2016-era GPU; quoted,
not measured here).

Data sets:

* ``ml-1m``: MovieLens-1M's 90 % training split (about 900k ratings);
* ``netflix``: synthetic power-law ratings shaped like Netflix (480,189 users,
  17,770 items, 100M ratings; Zipf-like id frequencies), generated here.

Run on a machine with a CUDA GPU and CuPy, from the repository root::

    PYTHONPATH=. python benchmarks/bench_gpu.py                 # both data sets -> results/gpu_mf.json
    PYTHONPATH=. python benchmarks/bench_gpu.py --smoke --backend emulated   # checks the script on a CPU

``--smoke`` shrinks everything so the script can be checked anywhere (the
emulated device runs the same CUDA source on the CPU; its timings mean nothing).
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, load_split, save_json

REPO = Path(__file__).resolve().parents[1]


def power_law_ratings(n_users, n_items, n_ratings, seed=0, exponent=1.0):
    """Ids drawn with frequency proportional to rank**-exponent (shuffled ranks), ratings 1-5."""
    rng = np.random.default_rng(seed)

    def draw(n, size):
        cdf = np.cumsum(1.0 / np.arange(1, n + 1) ** exponent)
        ranks = np.searchsorted(cdf / cdf[-1], rng.random(size), side="right")
        return rng.permutation(n).astype(np.int32)[np.minimum(ranks, n - 1)]

    users, items = draw(n_users, n_ratings), draw(n_items, n_ratings)
    ratings = rng.integers(1, 6, size=n_ratings).astype(np.float32)
    return users, items, ratings


def ml1m():
    from recfreq._encoding import IdEncoder

    X_train, _, y_train, _ = load_split("ml-1m")
    users = IdEncoder().fit_transform(X_train[:, 0])
    items = IdEncoder().fit_transform(X_train[:, 1])
    return users, items, np.asarray(y_train, dtype=np.float32)


def training(users, items, ratings, k, seed=0):
    """The Training a MatrixFactorization(solver="sgd", float32) fit binds, built directly."""
    from recfreq import _engine
    from recfreq._solvers import Solver, TableState

    rng = np.random.default_rng(seed)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    arrays = {"user_factors": (rng.standard_normal((n_users, k)) * 0.1).astype(np.float32),
              "item_factors": (rng.standard_normal((n_items, k)) * 0.1).astype(np.float32),
              "user_bias": np.zeros(n_users, np.float32), "item_bias": np.zeros(n_items, np.float32)}
    for prefix, n in (("user", n_users), ("item", n_items)):
        state = TableState.allocate(Solver.SGD, n, {"factors": (k,), "bias": ()}, np.float32)
        arrays.update(_engine.solver_arrays(prefix, state, {"factors": (f"{prefix}_factors_accum", k),
                                                            "bias": (f"{prefix}_bias_accum", None)}, np.float32))
    scalars = {**_engine.solver_config(Solver.SGD, 0.005, 0.5, None), "global_mean": float(ratings.mean()),
               "alpha": 0.02, "alpha_bias": 0.02, "n_factors": k}
    return _engine.Training(kernel="mf_epoch", samples={"user_index": users, "item_index": items,
                                                        "ratings": ratings}, arrays=arrays, scalars=scalars)


def time_epochs(bound, n_epochs):
    """Seconds of each epoch (the first, which compiles or warms up, is run before and not timed)."""
    bound.run_epoch(t_start=0, order_seed=1, epoch=0)
    seconds = []
    for epoch in range(1, n_epochs + 1):
        start = time.perf_counter()
        bound.run_epoch(t_start=0, order_seed=1, epoch=epoch)  # returns after the loss came back
        seconds.append(time.perf_counter() - start)
    return seconds


def device_description(backend_name):
    if backend_name == "emulated":
        return {"name": "emulated CUDA device (CPU; timings meaningless)"}
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return {"name": name, "compute capability": f"{props['major']}.{props['minor']}",
            "memory GiB": round(props["totalGlobalMem"] / 2**30, 1), "cupy": cupy.__version__}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["cupy", "emulated"], default="cupy")
    parser.add_argument("--datasets", default="ml-1m,netflix")
    parser.add_argument("--k", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per data set (median reported)")
    parser.add_argument("--netflix-ratings", type=int, default=100_000_000)
    parser.add_argument("--cpu", action="store_true", help="also time the CPU path on ml-1m (all cores)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that the script runs")
    parser.add_argument("--out", default=str(RESULTS / "gpu_mf.json"))
    args = parser.parse_args(argv)
    if args.smoke:
        args.k, args.epochs, args.netflix_ratings = 16, 1, 20_000

    from recfreq._engine import cpu as engine_cpu
    from recfreq._engine.cuda import CudaBinding, use_backend

    if args.backend == "emulated":
        sys.path.insert(0, str(REPO / "tests"))
        from _emulated_device import EmulatedDevice

        backend = EmulatedDevice()
    else:
        from recfreq._device_backend import CupyBackend

        backend = CupyBackend()

    result = {"device": device_description(args.backend), "host": platform.node(), "k": args.k, "solver": "sgd",
              "dtype": "float32", "command": " ".join(["python", "benchmarks/bench_gpu.py", *(argv or sys.argv[1:])]),
              "reference": "cuMF_SGD (published): 0.64-0.69e9 updates/s, k=128, half precision, 2016-era GPU",
              "data": {}}
    for name in args.datasets.split(","):
        if name == "ml-1m":
            users, items, ratings = ml1m() if not args.smoke else power_law_ratings(600, 400, 20_000)
        elif name == "netflix":
            users, items, ratings = power_law_ratings(480_189 if not args.smoke else 4_800,
                                                      17_770 if not args.smoke else 1_700, args.netflix_ratings)
        else:
            raise SystemExit(f"unknown data set {name!r}")
        with use_backend(backend):
            bound = CudaBinding(training(users, items, ratings, args.k))
            seconds = time_epochs(bound, args.epochs)
            bound.close()
        epoch = float(np.median(seconds))
        row = {"ratings": int(ratings.shape[0]), "epoch_s": epoch, "updates_per_s": ratings.shape[0] / epoch,
               "epochs_s": seconds}
        if args.cpu and name == "ml-1m":
            n_threads = engine_cpu.usable_cpus()
            bound = engine_cpu.CpuBinding(training(users, items, ratings, args.k), n_threads)
            cpu_seconds = time_epochs(bound, args.epochs)
            bound.close()
            row["cpu"] = {"threads": n_threads, "epoch_s": float(np.median(cpu_seconds)),
                          "updates_per_s": ratings.shape[0] / float(np.median(cpu_seconds))}
        result["data"][name] = row
        print(f"{name:8s} {row['ratings']:>11,d} ratings  epoch {epoch * 1e3:9.2f} ms  "
              f"{row['updates_per_s'] / 1e9:7.3f} x 10^9 updates/s"
              + (f"   CPU ({row['cpu']['threads']} threads): {row['cpu']['epoch_s'] * 1e3:.1f} ms" if "cpu" in row
                 else ""))
    if not args.smoke:
        save_json(args.out, result)
        print(f"wrote {args.out}")
    else:
        print(json.dumps(result["data"], indent=1, default=float)[:2000])
    return result


if __name__ == "__main__":
    if "PYTHONPATH" not in os.environ:
        sys.path.insert(0, str(REPO))
    main()
