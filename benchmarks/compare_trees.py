"""CPU fit cost of one source tree against another: the same fits, alternated.

Each tree must be compiled in place (``python setup.py build_ext --inplace``).
Two measures, as the benchmarks README asks:

* ``--measure callgrind`` (default): instructions, which do not move with the
  machine's load. Each fit runs under ``valgrind --tool=callgrind`` in a fresh
  process after a warm-up fit on 200 rows (imports and first calls); the cost of
  a fit is total(fit) - total(warm-up only), and the cost per sample of an epoch
  is (total(E2 epochs) - total(E1 epochs)) / ((E2 - E1) * samples per epoch).
* ``--measure wall``: seconds of ``fit`` alone, timed inside fresh processes,
  the two trees alternated ``--repeats`` times; medians and the ratio.

    python benchmarks/compare_trees.py --before /tmp/old --after . --models mf fm ncf
    python benchmarks/compare_trees.py --before /tmp/old --after . --measure wall --repeats 7 --n-jobs 1 2

Models (ml-100k bundled, 80,000 training ratings of the agreed split, 20 epochs
unless ``--epochs``): ``mf`` MatrixFactorization(n_factors=100, solver="sgd");
``fm`` FactorizationMachine(n_factors=10, solver="adagrad") on ids; ``baseline``
BaselinePredictor(); ``ncf`` NeuralCF(model="neumf", n_factors=8,
hidden_layers=(64, 32, 16, 8)) on every rating as an interaction (5 epochs);
``ncf-dropout`` the same with dropout=0.2; ``mf-ml1m`` the MF model on ml-1m's
900,188 training ratings (``RECFREQ_BENCH_ML1M``). Results:
``results/compare_trees.json`` (``--out`` to change), one entry per measure.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# the child: fit one model from one tree, report what it measured
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])
import numpy as np
import recfreq  # from the tree asked for, before _common puts this checkout on the path
assert recfreq.__file__.startswith(sys.argv[1]), recfreq.__file__
from _common import load_split
model, epochs, n_jobs, warm_only = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
X, _, y, _ = load_split("ml-1m" if model.endswith("ml1m") else "ml-100k")
if model.startswith("ncf"):
    y = np.ones_like(y)

def make(max_iter):
    import recfreq
    common = dict(max_iter=max_iter, random_state=0, n_jobs=n_jobs, tol=None)
    if model.startswith("mf"):
        return recfreq.MatrixFactorization(n_factors=100, solver="sgd", **common)
    if model == "fm":
        return recfreq.FactorizationMachine(n_factors=10, solver="adagrad", **common)
    if model == "baseline":
        return recfreq.BaselinePredictor(**common)
    if model.startswith("ncf"):
        return recfreq.NeuralCF(model="neumf", n_factors=8, hidden_layers=(64, 32, 16, 8),
                                dropout=0.2 if model == "ncf-dropout" else 0.0, **common)
    raise ValueError(model)

make(1).fit(X[:200], y[:200])  # imports and first calls, outside the measured fit
seconds = None
if not warm_only:
    start = time.perf_counter()
    make(epochs).fit(X, y)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "samples": int(len(y))}))
"""

DEFAULT_EPOCHS = {"ncf": 5, "ncf-dropout": 5}


def run_child(tree, model, epochs, n_jobs, warm_only=False, callgrind=False):
    """The child's report, with ``instructions`` under callgrind."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-c", CHILD, str(tree.resolve()), str(HERE), model, str(epochs), str(n_jobs),
           "1" if warm_only else "0"]
    if callgrind:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd,
                                  env=env, capture_output=True, text=True, check=True)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            collected = [line for line in done.stderr.splitlines() if "Collected" in line]
            report["instructions"] = int(collected[-1].split()[-1])
            return report
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def callgrind_costs(tree, model, epochs, n_jobs):
    """Instructions of the fit, and per sample of an epoch, for one tree."""
    low = max(1, epochs // 4)
    warm = run_child(tree, model, 0, n_jobs, warm_only=True, callgrind=True)["instructions"]
    few = run_child(tree, model, low, n_jobs, callgrind=True)
    full = run_child(tree, model, epochs, n_jobs, callgrind=True)
    per_sample = (full["instructions"] - few["instructions"]) / ((epochs - low) * few["samples"])
    return {"fit_instructions": full["instructions"] - warm, "per_sample_of_an_epoch": per_sample,
            "fixed_instructions": (few["instructions"] - warm) - per_sample * low * few["samples"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, type=Path)
    parser.add_argument("--after", required=True, type=Path)
    parser.add_argument("--models", nargs="+", default=["mf", "fm", "baseline", "ncf", "ncf-dropout"])
    parser.add_argument("--measure", choices=["callgrind", "wall"], default="callgrind")
    parser.add_argument("--n-jobs", nargs="+", type=int, default=[1])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "compare_trees.json")
    args = parser.parse_args()

    from _common import load_json, machine_info, save_json

    results = {"machine": machine_info(), "before": str(args.before), "after": str(args.after),
               "loadavg_before": os.getloadavg()[0], "rows": []}
    for model in args.models:
        epochs = args.epochs or DEFAULT_EPOCHS.get(model, 20)
        for n_jobs in args.n_jobs:
            row = {"model": model, "epochs": epochs, "n_jobs": n_jobs}
            if args.measure == "callgrind":
                for side in ("before", "after"):
                    row[side] = callgrind_costs(getattr(args, side), model, epochs, n_jobs)
                row["fit_ratio"] = row["after"]["fit_instructions"] / row["before"]["fit_instructions"]
                row["per_sample_ratio"] = (row["after"]["per_sample_of_an_epoch"]
                                           / row["before"]["per_sample_of_an_epoch"])
                print(f"{model:12s} n_jobs={n_jobs} per sample {row['before']['per_sample_of_an_epoch']:8.1f} -> "
                      f"{row['after']['per_sample_of_an_epoch']:8.1f} ({row['per_sample_ratio'] - 1:+.1%}); "
                      f"whole fit {row['fit_ratio'] - 1:+.1%}", flush=True)
            else:
                times = {"before": [], "after": []}
                for _ in range(args.repeats):
                    for side in ("before", "after"):
                        times[side].append(run_child(getattr(args, side), model, epochs, n_jobs)["seconds"])
                row.update({side: {"median_s": statistics.median(t), "runs_s": t} for side, t in times.items()})
                row["ratio"] = row["after"]["median_s"] / row["before"]["median_s"]
                print(f"{model:12s} n_jobs={n_jobs} fit {row['before']['median_s']:.3f} s -> "
                      f"{row['after']['median_s']:.3f} s ({row['ratio'] - 1:+.1%})", flush=True)
            results["rows"].append(row)
    results["loadavg_after"] = os.getloadavg()[0]
    # one file, one entry per measure: a wall-clock run keeps the last callgrind run and vice versa
    save_json(args.out, {**load_json(args.out, {}), args.measure: results})


if __name__ == "__main__":
    main()
