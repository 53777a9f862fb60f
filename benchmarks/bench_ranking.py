"""Top-N quality and speed of the ranking losses (MatrixFactorization, FactorizationMachine) and peers.

Commands (run from the repository root, recfreq compiled in place):

    PYTHONPATH=. python benchmarks/bench_ranking.py ncf --loss logistic --solver adagrad \\
        --factors 64 --lr 0.05 --alpha 0.005 --negatives 8 --epochs 60          # one setting, validation curve
    PYTHONPATH=. python benchmarks/bench_ranking.py ncf-final --seeds 0 1 2      # chosen settings, test users
    PYTHONPATH=. python benchmarks/bench_ranking.py ml100k                       # per-user split vs popularity
    PYTHONPATH=. benchmarks/.env/bin/python benchmarks/bench_ranking.py peers    # implicit, LightFM
    PYTHONPATH=. python benchmarks/bench_ranking.py curves                       # per-epoch plot, 4 solvers
    PYTHONPATH=. python benchmarks/bench_ranking.py report

**ml-1m, the NCF protocol** (He et al. 2017): the paper's files (``ml-1m.train.rating``,
``ml-1m.test.rating``, ``ml-1m.test.negative`` in ``$RECFREQ_BENCH_ML1M/ncf/``): each user's latest
interaction is held out and ranked among 99 items the user never interacted with; HR@10 and NDCG@10
over users, a negative scoring equal to the held-out item counted above it. Settings and epochs are
chosen on a validation split cut from the training file the same way (each user's latest training
interaction, ranked among 99 sampled items the user has no interaction with in either file), never on
the test users; ``ncf-final`` then trains on the whole training file and reports both.

**ml-100k, per-user split**: ``train_test_split(strategy="user", test_size=0.2, random_state=0)``,
NDCG@10 of each user's top 10 unseen items against their held-out items, with a popularity list as
the reference (the issue's target: 1.5x popularity).

Results: ``results/ranking_<command>.json``, checkpointed after each run.
"""

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ML1M_HOME, RESULTS, load_json, machine_info, save_json  # noqa: E402

NCF_DIR = (ML1M_HOME if ML1M_HOME is not None else Path(".")) / "ncf"


# ------------------------------------------------------------------ data
def _read_tsv(name, columns):
    import pandas as pd

    return pd.read_csv(NCF_DIR / name, sep="\t", header=None, usecols=columns).to_numpy(np.int64)


def load_ncf_ml1m():
    """(train rows (user, item, timestamp), test users, candidates): candidates[:, 0] is the held-out item."""
    train = _read_tsv("ml-1m.train.rating.gz", [0, 1, 3])
    test = _read_tsv("ml-1m.test.rating.gz", [0, 1])
    users, cands = [], []
    with gzip.open(NCF_DIR / "ml-1m.test.negative.gz", "rt") as f:
        for line in f:
            head, *neg = line.rstrip("\n").split("\t")
            u, i = head.strip("()").split(",")
            users.append(int(u))
            cands.append([int(i)] + [int(j) for j in neg])
    users, cands = np.array(users), np.array(cands)
    assert (users == test[:, 0]).all() and (cands[:, 0] == test[:, 1]).all() and cands.shape[1] == 100
    return train, users, cands


def validation_split(train, test_items, seed=0):
    """Each user's latest training interaction held out (ties: the last row), ranked among 99 items
    the user has no interaction with in the training or the test file."""
    order = np.lexsort((np.arange(len(train)), train[:, 2], train[:, 0]))
    rows = train[order]
    last = np.r_[rows[1:, 0] != rows[:-1, 0], True]
    held, kept = rows[last], rows[~last]
    n_items = int(max(train[:, 1].max(), test_items.max())) + 1
    rng = np.random.default_rng(seed)
    seen = {}
    for u, i in train[:, :2]:
        seen.setdefault(int(u), set()).add(int(i))
    cands = []
    for (u, i, _), t in zip(held, test_items[held[:, 0]]):
        taken = seen[int(u)] | {int(t)}
        neg = []
        while len(neg) < 99:
            j = int(rng.integers(n_items))
            if j not in taken and j not in neg:
                neg.append(j)
        cands.append([int(i)] + neg)
    return kept[:, :2], held[:, 0], np.array(cands)


def evaluate(model, users, cands, k=10):
    """HR@k and NDCG@k of the held-out item (column 0) among the 100 candidates (ties count against it)."""
    pairs = np.column_stack([np.repeat(users, cands.shape[1]), cands.ravel()])
    scores = model.predict(pairs).reshape(cands.shape).astype(np.float64)
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)
    hit = rank < k
    return float(hit.mean()), float(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).mean())


def fit_curve(params, X, users, cands, epochs, every=1, label=""):
    """Fit epoch by epoch (partial_fit keeps the solver state), evaluating every ``every`` epochs."""
    from recfreq import MatrixFactorization

    model = MatrixFactorization(**params)
    curve, train_s = [], 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        try:
            model.partial_fit(X)
        except FloatingPointError:
            curve.append({"epoch": epoch, "diverged": True})
            break
        train_s += time.perf_counter() - start
        if epoch % every == 0 or epoch == epochs:
            hr, ndcg = evaluate(model, users, cands)
            curve.append({"epoch": epoch, "hr": hr, "ndcg": ndcg, "loss": model.loss_curve_[-1],
                          "train_s": round(train_s, 2)})
            print(f"  {label} epoch {epoch:3d} loss {model.loss_curve_[-1]:.4f} HR@10 {hr:.4f} NDCG@10 {ndcg:.4f} "
                  f"({train_s:.0f}s)", flush=True)
    return model, curve


# --------------------------------------------------------------- commands
def cmd_ncf(args):
    """One setting's validation curve on the NCF training file."""
    train, test_users, cands = load_ncf_ml1m()
    X_fit, val_users, val_cands = validation_split(train, cands[:, 0])
    params = dict(loss=args.loss, solver=args.solver, n_factors=args.factors, learning_rate=args.lr,
                  alpha=args.alpha, n_negatives=args.negatives, max_sampled=args.max_sampled,
                  init_std=args.init_std, n_jobs=args.n_jobs, random_state=args.seed)
    key = "/".join(f"{k}={v}" for k, v in params.items() if k not in ("n_jobs",))
    out_path = RESULTS / "ranking_ncf_validation.json"
    out = load_json(out_path, {"machine": machine_info(), "runs": {}})
    _, curve = fit_curve(params, X_fit, val_users, val_cands, args.epochs, every=args.every, label=args.loss)
    out["runs"][key] = {"params": params, "curve": curve}
    save_json(out_path, out)


def cmd_ncf_final(args):
    """The chosen settings (best validation epoch) trained on the whole training file, test users, seeds."""
    train, test_users, cands = load_ncf_ml1m()
    validation = load_json(RESULTS / "ranking_ncf_validation.json", {"runs": {}})["runs"]
    out_path = RESULTS / "ranking_ncf.json"
    out = load_json(out_path, {"machine": machine_info(), "results": {}})
    for loss in args.losses:
        runs = [r for r in validation.values() if r["params"]["loss"] == loss]
        if not runs:
            print("no validation run for", loss)
            continue
        best_run, best_point = max(((r, p) for r in runs for p in r["curve"] if "hr" in p),
                                   key=lambda rp: (rp[1]["hr"], rp[1]["ndcg"]))
        params = dict(best_run["params"], n_jobs=args.n_jobs)
        per_seed = []
        for seed in args.seeds:
            params["random_state"] = seed
            start = time.perf_counter()
            from recfreq import MatrixFactorization

            model = MatrixFactorization(**dict(params, max_iter=best_point["epoch"])).fit(train[:, :2])
            seconds = time.perf_counter() - start
            hr, ndcg = evaluate(model, test_users, cands)
            per_seed.append({"seed": seed, "hr": hr, "ndcg": ndcg, "fit_s": round(seconds, 1)})
            print(f"{loss} seed {seed}: HR@10 {hr:.4f} NDCG@10 {ndcg:.4f} ({seconds:.0f}s)", flush=True)
        out["results"][loss] = {"params": params, "epochs": best_point["epoch"], "validation": best_point,
                                "seeds": per_seed, "median_hr": float(np.median([s["hr"] for s in per_seed])),
                                "median_ndcg": float(np.median([s["ndcg"] for s in per_seed]))}
        save_json(out_path, out)
    for loss, r in out["results"].items():
        print(f"{loss:9s} {r['params']['solver']:8s} k={r['params']['n_factors']:<4d} epochs={r['epochs']:<4d} "
              f"validation HR {r['validation']['hr']:.4f} NDCG {r['validation']['ndcg']:.4f}  "
              f"test median HR {r['median_hr']:.4f} NDCG {r['median_ndcg']:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ncf")
    p.add_argument("--loss", default="logistic")
    p.add_argument("--solver", default="adagrad")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--alpha", type=float, default=0.005)
    p.add_argument("--negatives", type=int, default=8)
    p.add_argument("--max-sampled", type=int, default=10)
    p.add_argument("--init-std", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=1)
    p = sub.add_parser("ncf-final")
    p.add_argument("--losses", nargs="+", default=["logistic", "bpr", "warp"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    {"ncf": cmd_ncf, "ncf-final": cmd_ncf_final}[args.command](args)


if __name__ == "__main__":
    main()
