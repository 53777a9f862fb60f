"""FactorizationMachine, NeuralCF, OverparamMF and mixed MF epochs on the GPU, against the CPU path.

Whole epochs are timed with the data already on the device, as ``bench_gpu.py``
times MatrixFactorization's: each epoch is the estimator's own bound training
call (``recfreq._engine.bind``: the kernel launch with the keyed epoch order
computed in the kernel, NeuralCF's step-offset scan before it, and the 8-byte
download of the epoch's loss, which synchronizes). The CPU path is the same
bound call on the CPU with every core (``--cpu``). Medians over ``--epochs``
timed epochs after one untimed epoch (compilation, warm-up).

Three tables, one command (``results/gpu_models.json``):

* **FM samples/s** on MovieLens-1M's 90 % training split, k = 10 and 64, ids only and ids
  plus side features (gender, age, occupation, genres; a multi-valued column).
  Target: at least 0.5 x 10^9 samples/s with ids only at k = 10.
* **NeuralCF samples/s** (emitted samples: each positive and its 4 negatives) on the
  NCF paper's ml-1m training file: NeuMF k=8 with the tower 64-32-16-8, and GMF k=8.
  The PyTorch comparison at equal quality is ``bench_ncf_torch_gpu.py``.
* **Projected tables against uniform MF** on the same GPU: epoch time of
  MatrixFactorization (uniform, k=32), OverparamMF (inner 64, 2 and 3 layers) and
  MatrixFactorization(embedding_dims="mixed") on ml-1m.

Run on a machine with a CUDA GPU and CuPy, from the repository root::

    RECFREQ_BENCH_ML1M=<folder with ratings.dat and ncf/> PYTHONPATH=. python benchmarks/bench_gpu_models.py --cpu
    PYTHONPATH=. python benchmarks/bench_gpu_models.py --smoke --backend emulated --cpu   # checks the script anywhere

``--smoke`` shrinks everything to synthetic data so the script can be checked
anywhere (the emulated device runs the same CUDA source on the CPU; its
timings mean nothing and nothing is saved).
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, load_split, machine_info, save_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ data
def _power_law(n, size, rng, exponent=1.0):
    cdf = np.cumsum(1.0 / np.arange(1, n + 1) ** exponent)
    ranks = np.searchsorted(cdf / cdf[-1], rng.random(size), side="right")
    return rng.permutation(n)[np.minimum(ranks, n - 1)]


def synthetic_ratings(n_users=300, n_items=200, n_ratings=6000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([_power_law(n_users, n_ratings, rng), _power_law(n_items, n_ratings, rng)])
    return X.astype(np.int64), rng.integers(1, 6, n_ratings).astype(np.float64)


def ml1m_ratings():
    X_train, _, y_train, _ = load_split("ml-1m")
    return np.asarray(X_train), np.asarray(y_train, dtype=np.float64)


def side_frame(X, smoke):
    """The ids of X with MovieLens-1M's side features (synthetic ones with --smoke)."""
    import pandas as pd

    frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1]})
    if smoke:
        frame["gender"] = np.where(X[:, 0] % 2 == 0, "F", "M")
        frame["age"] = (X[:, 0] % 7).astype(str)
        frame["occupation"] = (X[:, 0] % 21).astype(str)
        frame["genres"] = np.where(X[:, 1] % 3 == 0, "Drama|Comedy", "Action")
        return frame
    from _common import ML1M_HOME
    from recfreq.datasets import fetch_movielens

    bunch = fetch_movielens("1m", data_home=None if ML1M_HOME is None else str(ML1M_HOME))
    users = pd.DataFrame(bunch.users).set_index("user_id")
    movies = pd.DataFrame(bunch.movies).set_index("item_id")
    frame["gender"] = users.loc[frame.user, "gender"].to_numpy()
    frame["age"] = users.loc[frame.user, "age"].astype(str).to_numpy()
    frame["occupation"] = users.loc[frame.user, "occupation"].to_numpy()
    frame["genres"] = movies.loc[frame.item, "genres"].to_numpy()
    return frame


def implicit_rows(smoke):
    """(user, item) positives: the NCF paper's ml-1m training file (synthetic with --smoke)."""
    if smoke:
        X, _ = synthetic_ratings(n_ratings=3000)
        return np.unique(X, axis=0)
    from bench_ncf import load_ncf_ml1m

    return load_ncf_ml1m()[0]


# ------------------------------------------------------------------ timing
def training_of(est, X, y):
    """The Training that the fitted ``est``'s next ``partial_fit(X, y)`` binds, built by its own hooks,
    and the samples one epoch trains."""
    raw, targets = est._read_training_data(X, y, reset=False, dtype=est._fitted_dtype)
    est._match_solver_state()
    data = est._encode_and_grow(raw, targets, est._rng)
    est._count_frequencies(data, reset=False)
    return est._training(data), est._n_epoch_samples(data)


def time_epochs(bound, n_epochs):
    """Seconds of each epoch (the first, which compiles or warms up, is run before and not timed)."""
    bound.run_epoch(t_start=0, order_seed=1, epoch=0)
    seconds = []
    for epoch in range(1, n_epochs + 1):
        start = time.perf_counter()
        bound.run_epoch(t_start=0, order_seed=1, epoch=epoch)  # returns after the loss came back
        seconds.append(time.perf_counter() - start)
    return seconds


def measure(make, X, y, args, backend):
    """{device: {epoch_s, samples_per_s}} of one model: GPU (the given backend) and, with --cpu, the CPU."""
    from recfreq import _engine
    from recfreq._engine.cuda import use_backend

    row = {}
    with use_backend(backend):
        est = make(device="cuda").fit(X, y)  # allocates, uploads once and compiles the module
        training, n = training_of(est, X, y)
        bound = _engine.bind("cuda", training, 1)
        seconds = time_epochs(bound, args.epochs)
        bound.close()
    row["gpu"] = {"epoch_s": float(np.median(seconds)), "samples_per_s": n / float(np.median(seconds)),
                  "epochs_s": seconds}
    if args.cpu:
        n_threads = _engine.usable_cpus()
        est = make(n_jobs=n_threads).fit(X, y)
        training, n = training_of(est, X, y)
        bound = _engine.bind("cpu", training, n_threads)
        seconds = time_epochs(bound, args.epochs)
        bound.close()
        row["cpu"] = {"threads": n_threads, "epoch_s": float(np.median(seconds)),
                      "samples_per_s": n / float(np.median(seconds))}
    row["samples_per_epoch"] = int(n)
    return row


def _print(name, row):
    gpu = row["gpu"]
    text = f"  {name:34s} {row['samples_per_epoch']:>10,d} samples  epoch {gpu['epoch_s'] * 1e3:9.2f} ms  " \
           f"{gpu['samples_per_s'] / 1e6:9.2f} M samples/s"
    if "cpu" in row:
        text += f"   CPU ({row['cpu']['threads']} threads): {row['cpu']['samples_per_s'] / 1e6:.2f} M/s " \
                f"(x {gpu['samples_per_s'] / row['cpu']['samples_per_s']:.1f})"
    print(text, flush=True)


# ------------------------------------------------------------------ tables
def fm_table(args, backend):
    from recfreq import FactorizationMachine

    X, y = synthetic_ratings() if args.smoke else ml1m_ratings()
    rows = {}
    for k in args.fm_factors:
        for side in (False, True):
            data = side_frame(X, args.smoke) if side else X
            name = f"fm k={k} {'ids + side' if side else 'ids'}"

            def make(**kw):
                return FactorizationMachine(n_factors=k, max_iter=1, random_state=0, multi_value_separator="|", **kw)

            rows[name] = measure(make, data, y, args, backend)
            _print(name, rows[name])
    return rows


def ncf_table(args, backend):
    from recfreq import NeuralCF

    X = implicit_rows(args.smoke)
    rows = {}
    for name, params in (("neumf k=8 64-32-16-8", dict(model="neumf", n_factors=8, hidden_layers=(64, 32, 16, 8))),
                         ("gmf k=8", dict(model="gmf", n_factors=8))):
        def make(**kw):
            return NeuralCF(max_iter=1, n_negatives=4, random_state=0, **params, **kw)

        rows[name] = measure(make, X, None, args, backend)
        _print(name, rows[name])
    return rows


def projected_table(args, backend):
    from recfreq import MatrixFactorization, OverparamMF

    X, y = synthetic_ratings() if args.smoke else ml1m_ratings()
    k = args.mf_factors
    models = {
        f"MatrixFactorization k={k} (uniform)": lambda **kw: MatrixFactorization(n_factors=k, solver="sgd", **kw),
        f"OverparamMF k={k} inner 64, 2 layers": lambda **kw: OverparamMF(n_factors=k, inner_dim=64, **kw),
        f"OverparamMF k={k} inner 64, 3 layers": lambda **kw: OverparamMF(n_factors=k, inner_dim=64, n_layers=3, **kw),
        f"MatrixFactorization k={k} mixed": lambda **kw: MatrixFactorization(n_factors=k, embedding_dims="mixed",
                                                                             solver="sgd", **kw),
    }
    rows = {}
    for name, make in models.items():
        rows[name] = measure(lambda **kw: make(max_iter=1, random_state=0, **kw), X, y, args, backend)
        _print(name, rows[name])
    uniform = next(iter(rows.values()))["gpu"]["epoch_s"]
    for row in rows.values():
        row["epoch_vs_uniform"] = row["gpu"]["epoch_s"] / uniform
    return rows


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
    parser.add_argument("--tables", default="fm,ncf,projected")
    parser.add_argument("--fm-factors", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--mf-factors", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per model (median reported)")
    parser.add_argument("--cpu", action="store_true", help="also time the CPU path (all cores)")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data: check that the script runs")
    parser.add_argument("--out", default=str(RESULTS / "gpu_models.json"))
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.fm_factors, args.mf_factors = 1, [4], 8

    if args.backend == "emulated":
        sys.path.insert(0, str(REPO / "tests"))
        from _emulated_device import EmulatedDevice

        backend = EmulatedDevice()
    else:
        from recfreq._device_backend import CupyBackend

        backend = CupyBackend()

    result = {"device": device_description(args.backend), "host": platform.node(), "machine": machine_info(),
              "dtype": "float32", "epochs": args.epochs,
              "command": " ".join(["python", "benchmarks/bench_gpu_models.py", *(argv or sys.argv[1:])]),
              "targets": {"fm ids k=10": "0.5e9 samples/s", "neumf": ">= 10 x PyTorch (bench_ncf_torch_gpu.py)"}}
    tables = {"fm": fm_table, "ncf": ncf_table, "projected": projected_table}
    for name in args.tables.split(","):
        print(f"{name}:", flush=True)
        result[name] = tables[name](args, backend)
    if not args.smoke:
        save_json(args.out, result)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({name: {model: row["gpu"]["samples_per_s"] for model, row in result[name].items()}
                          for name in args.tables.split(",")}, indent=1, default=float))
    return result


if __name__ == "__main__":
    if "PYTHONPATH" not in os.environ:
        sys.path.insert(0, str(REPO))
    main()
