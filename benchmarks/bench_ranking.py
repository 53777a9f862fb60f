"""Top-N quality and speed of the ranking losses (MatrixFactorization, FactorizationMachine) and peers.

Commands (run from the repository root, recfreq compiled in place):

    PYTHONPATH=. python benchmarks/bench_ranking.py ncf --loss logistic --solver adagrad \\
        --factors 64 --lr 0.05 --alpha 0.005 --negatives 8 --epochs 60          # one setting, validation curve
    PYTHONPATH=. python benchmarks/bench_ranking.py ncf-final --seeds 0 1 2      # chosen settings, test users
    PYTHONPATH=. python benchmarks/tune_ranking.py [--model fm]                 # ml-100k per-user split vs popularity
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


def fit_curve(params, X, users, cands, epochs, every=1, label="", on_point=None):
    """Fit epoch by epoch (partial_fit keeps the solver state), evaluating every ``every`` epochs
    (``on_point(curve)`` after each evaluation, e.g. to checkpoint a long run)."""
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
            if on_point is not None:
                on_point(curve)
    return model, curve


# ----------------------------------------------------------------- peers
class RecfreqRanker:
    """recfreq's MatrixFactorization under a ranking loss, one epoch per call."""

    def __init__(self, loss, k, lr, reg, n_threads, seed, solver="fa-sgd", n_negatives=4):
        from recfreq import MatrixFactorization

        self.label = f"recfreq {loss} ({solver})"
        self.model = MatrixFactorization(loss=loss, solver=solver, n_factors=k, learning_rate=lr, alpha=reg,
                                         n_negatives=n_negatives, n_jobs=n_threads, random_state=seed)

    def epoch(self, X, n_users, n_items):
        self.model.partial_fit(X)

    def scores(self, users, items):
        return self.model.predict(np.column_stack([users, items])).astype(np.float64)


class ImplicitBPR:
    """implicit's BayesianPersonalizedRanking (CPU), one epoch per call."""

    def __init__(self, k, lr, reg, n_threads, seed):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.label = "implicit BPR"
        self.model = BayesianPersonalizedRanking(factors=k, learning_rate=lr, regularization=reg, iterations=1,
                                                 num_threads=n_threads, random_state=seed)
        self._matrix = None

    def epoch(self, X, n_users, n_items):
        import scipy.sparse as sp

        if self._matrix is None:
            self._matrix = sp.csr_matrix((np.ones(len(X), dtype=np.float32), (X[:, 0], X[:, 1])),
                                         shape=(n_users, n_items))
        self.model.fit(self._matrix, show_progress=False)  # continues from the current factors

    def scores(self, users, items):
        return np.einsum("ij,ij->i", self.model.user_factors[users], self.model.item_factors[items]).astype(
            np.float64)


class LightFMRanker:
    """LightFM (bpr or warp), one epoch per call."""

    def __init__(self, loss, k, lr, reg, n_threads, seed):
        from lightfm import LightFM

        self.label = f"LightFM {loss}"
        self.model = LightFM(no_components=k, loss=loss, learning_rate=lr, item_alpha=reg, user_alpha=reg,
                             random_state=seed)
        self.n_threads = n_threads
        self._matrix = None

    def epoch(self, X, n_users, n_items):
        import scipy.sparse as sp

        if self._matrix is None:
            self._matrix = sp.coo_matrix((np.ones(len(X), dtype=np.float32), (X[:, 0], X[:, 1])),
                                         shape=(n_users, n_items))
        self.model.fit_partial(self._matrix, epochs=1, num_threads=self.n_threads)

    def scores(self, users, items):
        return self.model.predict(users.astype(np.int32), items.astype(np.int32),
                                  num_threads=self.n_threads).astype(np.float64)


#: peer -> (factory(k, lr, reg, n_threads, seed), learning rates, regularizations) of the shared grid
# every library gets its default learning rate times {1/3, 1, 3} and two regularizations around its
# default (recfreq: its default solver, fa-sgd, whose rates are per-row scaled and so larger)
PEERS = {
    "recfreq-bpr": (lambda *a: RecfreqRanker("bpr", *a), [0.3, 1.0, 3.0], [0.01, 0.1]),
    "recfreq-warp": (lambda *a: RecfreqRanker("warp", *a), [0.01, 0.03, 0.1], [0.01, 0.1]),
    "recfreq-logistic": (lambda *a: RecfreqRanker("logistic", *a), [0.3, 1.0, 3.0], [0.01, 0.1]),
    "implicit-bpr": (ImplicitBPR, [0.01, 0.03, 0.1], [0.003, 0.03]),
    "lightfm-bpr": (lambda *a: LightFMRanker("bpr", *a), [0.01, 0.03, 0.1], [1e-6, 1e-4]),
    "lightfm-warp": (lambda *a: LightFMRanker("warp", *a), [0.01, 0.03, 0.1], [1e-6, 1e-4]),
}
CHECKPOINTS = (5, 10, 20, 30, 40, 50)


def per_user_ndcg(ranker, X_train, X_test, n_users, n_items, k=10):
    """NDCG@k of each user's top k unseen items against the user's held-out items (mean over users)."""
    from recfreq.metrics import ndcg_at_k

    users = np.unique(X_test[:, 0])
    grid_u = np.repeat(users, n_items)
    scores = ranker.scores(grid_u, np.tile(np.arange(n_items), len(users))).reshape(len(users), n_items)
    position = np.full(n_users, -1)
    position[users] = np.arange(len(users))
    seen = X_train[position[X_train[:, 0]] >= 0]
    scores[position[seen[:, 0]], seen[:, 1]] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    relevant = [set() for _ in users]
    for u, i in X_test:
        relevant[position[u]].add(int(i))
    return float(ndcg_at_k(relevant, top, k=k))


def _ml100k_user_split():
    """(X_fit, X_val, X_train, X_test, n_users, n_items) of ml-100k's per-user split, ids 0-based."""
    from recfreq.datasets import load_movielens
    from recfreq.model_selection import train_test_split

    X, y = load_movielens("100k", return_X_y=True)
    X = np.column_stack([np.unique(X[:, 0], return_inverse=True)[1], np.unique(X[:, 1], return_inverse=True)[1]])
    X_train, X_test, _, _ = train_test_split(X, y, strategy="user", test_size=0.2, random_state=0)
    X_fit, X_val = train_test_split(X_train, strategy="user", test_size=0.2, random_state=1)
    return X_fit, X_val, X_train, X_test, int(X[:, 0].max()) + 1, int(X[:, 1].max()) + 1


def _quality_runs(peer, k, n_threads, fit_data, evaluate_fn, seed=0, regs=None, checkpoints=CHECKPOINTS):
    """Validation score at every checkpoint of every (learning rate, regularization) of the grid."""
    factory, rates, grid_regs = PEERS[peer]
    runs = []
    for lr in rates:
        for reg in regs or grid_regs:
            ranker = factory(k, lr, reg, n_threads, seed)
            for epoch in range(1, checkpoints[-1] + 1):
                try:
                    ranker.epoch(*fit_data)
                except FloatingPointError:
                    break
                if epoch in checkpoints:
                    runs.append({"lr": lr, "reg": reg, "epochs": epoch, "score": evaluate_fn(ranker)})
    return runs


def cmd_peers(args):
    """Each peer at its best (learning rate, regularization, epochs) of the same validation grid."""
    out_path = RESULTS / "ranking_peers.json"
    out = load_json(out_path, {"machine": machine_info(), "k": args.factors, "ml100k": {}, "ml1m": {}})
    X_fit, X_val, X_train, X_test, n_users, n_items = _ml100k_user_split()
    train, test_users, cands = load_ncf_ml1m() if "ml1m" in args.data else (None, None, None)
    for peer in args.peers:
        if "ml100k" in args.data:
            runs = _quality_runs(peer, args.factors, args.n_jobs, (X_fit, n_users, n_items),
                                 lambda r: per_user_ndcg(r, X_fit, X_val, n_users, n_items))
            best = max(runs, key=lambda r: r["score"])
            tests = []
            for seed in args.seeds:
                ranker = PEERS[peer][0](args.factors, best["lr"], best["reg"], args.n_jobs, seed)
                for _ in range(best["epochs"]):
                    ranker.epoch(X_train, n_users, n_items)
                tests.append(per_user_ndcg(ranker, X_train, X_test, n_users, n_items))
            out["ml100k"][peer] = {"best": best, "grid": runs, "test_ndcg": tests,
                                   "median_test_ndcg": float(np.median(tests))}
            print(f"ml-100k {peer:16s} lr={best['lr']} reg={best['reg']} epochs={best['epochs']} "
                  f"val {best['score']:.4f} test nDCG@10 {np.median(tests):.4f}", flush=True)
            save_json(out_path, out)
        if "ml1m" in args.data:
            X1_fit, val_users, val_cands = validation_split(train, cands[:, 0])
            n1_users, n1_items = int(train[:, 0].max()) + 1, int(max(train[:, 1].max(), cands.max())) + 1
            # ml-1m costs ten times ml-100k per epoch: --ml1m-small keeps each peer's ml-100k
            # regularization and stops the grid at 30 epochs
            small = args.ml1m_small and peer in out["ml100k"]
            runs = _quality_runs(peer, args.factors, args.n_jobs, (X1_fit, n1_users, n1_items),
                                 lambda r: _hit_ndcg(r, val_users, val_cands)[0],
                                 regs=[out["ml100k"][peer]["best"]["reg"]] if small else None,
                                 checkpoints=(5, 10, 20, 30) if small else CHECKPOINTS)
            best = max(runs, key=lambda r: r["score"])
            tests = []
            for seed in args.seeds:
                ranker = PEERS[peer][0](args.factors, best["lr"], best["reg"], args.n_jobs, seed)
                for _ in range(best["epochs"]):
                    ranker.epoch(train[:, :2], n1_users, n1_items)
                tests.append(_hit_ndcg(ranker, test_users, cands))
            out["ml1m"][peer] = {"best": best, "grid": runs, "test": tests,
                                 "median_hr": float(np.median([t[0] for t in tests])),
                                 "median_ndcg": float(np.median([t[1] for t in tests]))}
            print(f"ml-1m   {peer:16s} lr={best['lr']} reg={best['reg']} epochs={best['epochs']} "
                  f"val HR {best['score']:.4f} test HR@10 {out['ml1m'][peer]['median_hr']:.4f} "
                  f"NDCG@10 {out['ml1m'][peer]['median_ndcg']:.4f}", flush=True)
            save_json(out_path, out)


def _hit_ndcg(ranker, users, cands, k=10):
    """HR@k, NDCG@k of the held-out item among the 100 candidates (ties count against it)."""
    scores = ranker.scores(np.repeat(users, cands.shape[1]), cands.ravel()).reshape(cands.shape)
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)
    hit = rank < k
    return float(hit.mean()), float(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).mean())


def _fit_seconds(peer, solver, X, n_users, n_items, k, n_threads, epochs):
    """Seconds of one whole training call of ``epochs`` epochs of a fresh model (setup included)."""
    if peer.startswith("recfreq"):
        from recfreq import MatrixFactorization

        model = MatrixFactorization(loss=peer.split("-")[1], solver=solver, n_factors=k, max_iter=epochs,
                                    n_jobs=n_threads, random_state=0)
        start = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - start
    import scipy.sparse as sp

    matrix = sp.csr_matrix((np.ones(len(X), dtype=np.float32), (X[:, 0], X[:, 1])), shape=(n_users, n_items))
    if peer == "implicit-bpr":
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(factors=k, iterations=epochs, num_threads=n_threads, random_state=0)
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        return time.perf_counter() - start
    from lightfm import LightFM

    model = LightFM(no_components=k, loss=peer.split("-")[1], random_state=0)
    coo = matrix.tocoo()
    start = time.perf_counter()
    model.fit_partial(coo, epochs=epochs, num_threads=n_threads)
    return time.perf_counter() - start


def cmd_speed(args):
    """Positives per second (each with its sampled negatives) of an epoch: the difference between whole
    fits of ``--epochs`` and of one epoch, divided by the extra epochs (so the setup of a call does not
    count), peers alternated, medians of ``--repeats``; and the whole fit of ``--epochs`` epochs."""
    import os

    train, _, cands = load_ncf_ml1m()
    X = train[:, :2]
    n_users, n_items = int(X[:, 0].max()) + 1, int(max(X[:, 1].max(), cands.max())) + 1
    out = {"machine": machine_info(), "k": args.factors, "epochs": args.epochs, "n_positives": int(len(X)),
           "loadavg": [os.getloadavg()[0]], "runs": {}}
    runs = [(peer, solver) for peer in args.peers
            for solver in (args.solvers if peer.startswith("recfreq") else ["(default)"])]
    for n_threads in args.threads:
        whole = {run: [] for run in runs}
        extra = {run: [] for run in runs}
        for _ in range(args.repeats):
            for peer, solver in runs:
                one = _fit_seconds(peer, solver, X, n_users, n_items, args.factors, n_threads, 1)
                many = _fit_seconds(peer, solver, X, n_users, n_items, args.factors, n_threads, args.epochs)
                whole[(peer, solver)].append(many)
                extra[(peer, solver)].append((many - one) / (args.epochs - 1))
        for (peer, solver), t in extra.items():
            epoch = float(np.median(t))
            out["runs"][f"{peer}/{solver}/{n_threads}"] = {
                "epoch_s": epoch, "positives_per_s": len(X) / epoch, "epoch_runs_s": t,
                "whole_fit_s": float(np.median(whole[(peer, solver)]))}
            print(f"{peer:14s} {solver:9s} threads={n_threads} epoch {epoch:.3f} s  {len(X) / epoch / 1e6:.2f} M "
                  f"positives/s; {args.epochs}-epoch fit {np.median(whole[(peer, solver)]):.2f} s", flush=True)
        out["loadavg"].append(os.getloadavg()[0])
        save_json(RESULTS / "ranking_speed.json", out)


def cmd_curves(args):
    """Per-epoch test NDCG@10 of the four solvers under each loss (ml-100k per-user split, defaults)."""
    from recfreq import MatrixFactorization

    _, _, X_train, X_test, n_users, n_items = _ml100k_user_split()
    out_path = RESULTS / "ranking_curves.json"
    out = {"machine": machine_info(), "k": args.factors, "epochs": args.epochs, "curves": {}}
    for loss in ("logistic", "bpr", "warp"):
        for solver in ("sgd", "fa-sgd", "cf-sgd", "adagrad"):
            model = MatrixFactorization(loss=loss, solver=solver, n_factors=args.factors, random_state=0)
            curve = []
            for _ in range(args.epochs):
                model.partial_fit(X_train)
                curve.append(float(model.score(X_test)))
            out["curves"][f"{loss}/{solver}"] = curve
            print(f"{loss:8s} {solver:8s} " + " ".join(f"{v:.3f}" for v in curve[4::5]), flush=True)
            save_json(out_path, out)
    plot_curves(out)


def plot_curves(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import FIGURES

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, loss in zip(axes, ("logistic", "bpr", "warp")):
        for solver in ("sgd", "fa-sgd", "cf-sgd", "adagrad"):
            curve = out["curves"].get(f"{loss}/{solver}")
            if curve:
                ax.plot(range(1, len(curve) + 1), curve, label=solver)
        ax.set_title(f"loss={loss!r}")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("test NDCG@10 (ml-100k, per-user split)")
    axes[0].legend()
    fig.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    fig.savefig(FIGURES / "ranking_solvers.png", dpi=110)


# ----------------------------------------------------------------- report
def _ml100k_table(name, path):
    tune = load_json(RESULTS / path, None)
    if not tune:
        return
    pop = tune["popularity_test_ndcg"]
    print(f"\n{name}, ml-100k per-user split, k={tune['k']}: test NDCG@10 (x popularity {pop:.3f})\n")
    print("| loss | solver | learning_rate | alpha | epochs | validation NDCG@10 | test NDCG@10 | x popularity |")
    print("|---|---|---|---|---|---|---|---|")
    for key, r in tune["runs"].items():
        loss, solver = key.split("/")
        print(f"| {loss} | {solver} | {r['learning_rate']:g} | {r['alpha']:g} | {r['epochs']} | "
              f"{r['validation_ndcg']:.3f} | {r['test_ndcg']:.3f} | {r['test_ndcg'] / pop:.2f} |")


def cmd_report(args):
    """The markdown tables of docs/ranking.md and benchmarks/README.md from the result files."""
    _ml100k_table("MatrixFactorization", "ranking_tune.json")
    _ml100k_table("FactorizationMachine with side features", "ranking_tune_fm.json")
    ncf = load_json(RESULTS / "ranking_ncf.json", None)
    if ncf:
        print("\nml-1m, NCF protocol (test users; settings and epochs chosen on a validation split of the "
              "training file), medians over seeds\n")
        print("| loss | solver | k | lr | alpha | negatives | epochs | validation HR@10 / NDCG@10 | "
              "test HR@10 | test NDCG@10 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for loss, r in ncf["results"].items():
            p = r["params"]
            print(f"| {loss} | {p['solver']} | {p['n_factors']} | {p['learning_rate']} | {p['alpha']} | "
                  f"{p['n_negatives']} | {r['epochs']} | {r['validation']['hr']:.4f} / {r['validation']['ndcg']:.4f} | "
                  f"{r['median_hr']:.4f} | {r['median_ndcg']:.4f} |")
    peers = load_json(RESULTS / "ranking_peers.json", None)
    if peers:
        print(f"\nPeers, k={peers['k']}, one thread, each at its best (learning rate, regularization, epochs) "
              "of the same validation grid; test medians over seeds\n")
        print("| model | ml-100k per-user NDCG@10 | ml-1m HR@10 | ml-1m NDCG@10 |")
        print("|---|---|---|---|")
        for peer in PEERS:
            a, b = peers["ml100k"].get(peer), peers["ml1m"].get(peer)
            if a is None and b is None:
                continue
            cells = [f"{a['median_test_ndcg']:.4f}" if a else "",
                     f"{b['median_hr']:.4f}" if b else "", f"{b['median_ndcg']:.4f}" if b else ""]
            print(f"| {peer} | " + " | ".join(cells) + " |")
    speed = load_json(RESULTS / "ranking_speed.json", None)
    if speed:
        print(f"\nTraining throughput, ml-1m NCF training file ({speed['n_positives']:,} positives), k={speed['k']}: "
              "millions of positives per second (each with its sampled negatives), one epoch's marginal time, "
              "medians\n")
        threads = sorted({int(key.rsplit("/", 1)[1]) for key in speed["runs"]})
        print("| model | solver | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
        print("|---|---|" + "---|" * len(threads))
        for run in dict.fromkeys(key.rsplit("/", 1)[0] for key in speed["runs"]):
            peer, solver = run.split("/")
            cells = [speed["runs"].get(f"{run}/{t}") for t in threads]
            print(f"| {peer} | {solver} | " + " | ".join(f"{c['positives_per_s'] / 1e6:.2f}" if c else "" for c in cells)
                  + " |")


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
    def checkpoint(curve):
        out["runs"][key] = {"params": params, "curve": curve}
        save_json(out_path, out)

    fit_curve(params, X_fit, val_users, val_cands, args.epochs, every=args.every, label=args.loss,
              on_point=checkpoint)


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
    p = sub.add_parser("peers")
    p.add_argument("--peers", nargs="+", default=list(PEERS))
    p.add_argument("--data", nargs="+", default=["ml100k", "ml1m"])
    p.add_argument("--ml1m-small", action="store_true",
                   help="ml-1m: each peer's ml-100k regularization only, checkpoints up to 30 epochs")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--n-jobs", type=int, default=1)
    p = sub.add_parser("speed")
    p.add_argument("--peers", nargs="+", default=["recfreq-bpr", "recfreq-warp", "implicit-bpr", "lightfm-bpr",
                                                  "lightfm-warp"])
    p.add_argument("--solvers", nargs="+", default=["sgd", "fa-sgd", "adagrad"])
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("curves")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--epochs", type=int, default=40)
    sub.add_parser("report")
    args = parser.parse_args()
    {"ncf": cmd_ncf, "ncf-final": cmd_ncf_final, "peers": cmd_peers, "speed": cmd_speed,
     "curves": cmd_curves, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main()
