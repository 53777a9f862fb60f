"""Instructions per update of the CPU kernels, counted with valgrind's callgrind.

Instruction counts do not move with the machine's load (the same binary and
inputs give the same count), so they measure a kernel's efficiency on a shared
machine where wall clock cannot. Each configuration fits MovieLens-100K (all
100,000 ratings, one thread) twice in fresh processes under callgrind, for 1
and for 2 epochs; the difference is one extra epoch:

* ``kernel``: instructions inside the epoch kernel (inclusive: the Cython
  function and everything it calls, its OpenMP region included), per sample;
* ``process``: everything the process executes per extra epoch (host-side
  epoch ordering, bookkeeping, Python), per sample.

A "sample" is one row the kernel visits: a rating for MF/FM, a positive or a
sampled negative for NeuralCF. The projected configurations (OverparamMF,
mixed dimensions) fit a fixed random subset of ``PROJECTED_SUBSET`` ratings:
their per-sample cost does not depend on the data's size, and callgrind is slow. callgrind runs the AVX2 variant at most
(valgrind has no AVX-512); ``--variant`` forces one (``RECFREQ_CPU_VARIANT``).

Usage::

    python benchmarks/bench_instructions.py                 # every configuration
    python benchmarks/bench_instructions.py --only mf-sgd   # one
    python benchmarks/bench_instructions.py --variant baseline --only mf-sgd
    python benchmarks/bench_instructions.py --repo ../before --label before   # another commit's build

Writes ``benchmarks/results/instructions.json`` (one entry per configuration
and variant, merged into what is there), unless ``--no-save``.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULT = HERE / "results" / "instructions.json"

# ratings of ml-100k the projected configurations fit (a fixed random subset): their
# samples cost 10^5 instructions, and callgrind runs some 50 times slower than the CPU
PROJECTED_SUBSET = 5000

# name -> (kernel function, estimator factory source); every factory takes the epoch count
CONFIGS = {
    "mf-sgd": ("mf_epoch", "MatrixFactorization(n_factors=100, solver='sgd', learning_rate=0.005, alpha=0.02, "
                           "alpha_bias=0.02, dtype='float32', max_iter={epochs}, n_jobs=1, random_state=0)"),
    "mf-adagrad": ("mf_epoch", "MatrixFactorization(n_factors=100, solver='adagrad', dtype='float32', "
                               "max_iter={epochs}, n_jobs=1, random_state=0)"),
    "mf-sgd-float64": ("mf_epoch", "MatrixFactorization(n_factors=100, solver='sgd', learning_rate=0.005, "
                                   "alpha=0.02, alpha_bias=0.02, dtype='float64', max_iter={epochs}, n_jobs=1, "
                                   "random_state=0)"),
    "fm-ids": ("fm_epoch", "FactorizationMachine(n_factors=10, max_iter={epochs}, n_jobs=1, random_state=0)"),
    "fm-side": ("fm_epoch", "FactorizationMachine(n_factors=10, max_iter={epochs}, n_jobs=1, random_state=0)"),
    "ncf-gmf": ("ncf_epoch", "NeuralCF(model='gmf', max_iter={epochs}, n_jobs=1, random_state=0)"),
    "overparam": ("mf_projected_epoch", "OverparamMF(n_factors=32, inner_dim=64, solver='sgd', "
                                        "max_iter={epochs}, n_jobs=1, random_state=0)"),
    "mixed": ("mf_projected_epoch", "MatrixFactorization(n_factors=100, embedding_dims='mixed', "
                                    "mixed_dim_exponent=0.3, max_iter={epochs}, n_jobs=1, random_state=0)"),
}

CHILD = """
import os, sys, numpy as np, scipy.sparse as sp
sys.path.insert(0, {repo!r})
from recfreq import MatrixFactorization, FactorizationMachine, NeuralCF, OverparamMF


def fit(name, epochs):
    d = np.load(os.path.join({folder!r}, name + ".npz"), allow_pickle=False)
    rows = slice(None) if epochs else slice(0, 500)
    model = eval(FACTORIES[name].format(epochs=max(epochs, 1)))
    if name.startswith("fm-"):
        X = sp.csr_matrix((d["data"], d["indices"], d["indptr"]), shape=tuple(d["shape"]))
        model.fit(X[rows], d["y"][rows])
    elif name == "ncf-gmf":
        model.fit(d["X"][rows])
    else:
        model.fit(d["X"][rows], d["y"][rows])


FACTORIES = {factories!r}
for name in {names!r}:
    fit(name, 0)        # warm-up on 500 samples: lazy imports and caches are not the epoch's cost
    os.getppid()        # marker: callgrind dumps its counts here (--dump-before=getppid)
    fit(name, 1)
    os.getppid()
    fit(name, 2)
    os.getppid()
"""


def _prepare_data(name, folder):
    """Write the configuration's training data to an .npz (built outside callgrind)."""
    path = Path(folder) / f"{name}.npz"
    import numpy as np

    sys.path.insert(0, str(REPO))
    from recfreq.datasets import load_movielens

    b = load_movielens("100k")
    X, y = np.asarray(b.data), np.asarray(b.target, dtype=np.float64)
    if name.startswith("fm-"):
        import pandas as pd

        from recfreq._features import FeatureEncoder

        frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1]})
        if name == "fm-side":
            users = pd.DataFrame(b.users).set_index("user_id")
            movies = pd.DataFrame(b.movies).set_index("item_id")
            u, m = users.loc[frame["user"]], movies.loc[frame["item"]]
            frame["age"] = pd.cut(u["age"], [0, 18, 25, 35, 45, 50, 56, 200], right=False).astype(str).to_numpy()
            frame["gender"] = u["gender"].to_numpy()
            frame["occupation"] = u["occupation"].to_numpy()
            frame["genres"] = [g.split("|") if g else [] for g in m["genres"]]
        enc = FeatureEncoder(multi_value_weight="one")
        A = enc.fit_transform(enc.read(frame)).tocsr()
        np.savez(path, data=A.data, indices=A.indices, indptr=A.indptr, shape=np.array(A.shape), y=y)
        n = A.shape[0]
    else:
        if CONFIGS[name][0] == "mf_projected_epoch":
            keep = np.sort(np.random.default_rng(0).permutation(X.shape[0])[:PROJECTED_SUBSET])
            X, y = X[keep], y[keep]
        np.savez(path, X=X, y=y)
        n = X.shape[0] * (5 if name == "ncf-gmf" else 1)  # NeuralCF: each positive and its 4 negatives
    return n


def _counts(dump, kernel):
    """(instructions in the dump, instructions inside ``kernel``: its Cython wrapper, inclusive)."""
    total = 0
    for line in Path(dump).read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
    annotate = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", str(dump)],
                              check=True, capture_output=True, text=True).stdout
    # __pyx_pw_..._<n><kernel> and __pyx_pf_...: one per fused-type specialization; the
    # largest inclusive count is the outermost, which covers the OpenMP region.
    pattern = re.compile(r"^\s*([\d,]+)\s.*:\S*_\d+" + re.escape(kernel) + r"(\b|\._omp)")
    inside = 0
    for line in annotate.splitlines():
        match = pattern.match(line)
        if match:
            inside = max(inside, int(match.group(1).replace(",", "")))
    return total, inside


def measure(names, folder, variant=None, repo=REPO):
    """Per-sample instruction counts of each configuration, in one process under callgrind,
    of the recfreq compiled in place in the source tree ``repo``."""
    samples = {name: _prepare_data(name, folder) for name in names}
    script = Path(folder) / "child.py"
    script.write_text(CHILD.format(repo=str(repo), folder=str(folder), names=list(names),
                                   factories={n: CONFIGS[n][1] for n in names}))
    out = Path(folder) / "callgrind.out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if variant:
        env["RECFREQ_CPU_VARIANT"] = variant
    subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
                    sys.executable, str(script)], check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    dumps = sorted(Path(folder).glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    results = {}
    for j, name in enumerate(names):
        kernel = CONFIGS[name][0]
        # dumps 3j+1 .. 3j+3: warm-up, one epoch, two epochs
        t1, k1 = _counts(dumps[3 * j + 1], kernel)
        t2, k2 = _counts(dumps[3 * j + 2], kernel)
        n = samples[name]
        results[name] = {"samples_per_epoch": n, "kernel": round((k2 - k1) / n, 1),
                         "process": round((t2 - t1) / n, 1), "kernel_function": kernel,
                         "variant": variant or "auto"}
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configurations to count (default: all)")
    parser.add_argument("--variant", default=None, help="force RECFREQ_CPU_VARIANT (default: chosen at import)")
    parser.add_argument("--label", default=None, help="key of this run in the JSON (default: the variant)")
    parser.add_argument("--repo", default=str(REPO),
                        help="source tree whose in-place build is counted (another commit's worktree)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _common import load_json, save_json

    results = load_json(RESULT, {})
    label = args.label or (args.variant or "auto")
    with tempfile.TemporaryDirectory(prefix="recfreq-callgrind-") as folder:
        rows = measure(args.only or list(CONFIGS), folder, args.variant, Path(args.repo))
    for name, row in rows.items():
        print(f"{label:10s} {name:16s} kernel {row['kernel']:>10,.1f}  process {row['process']:>10,.1f}  "
              "instructions/sample")
        results.setdefault(label, {})[name] = row
    if not args.no_save:
        save_json(RESULT, results)


if __name__ == "__main__":
    main()
