"""Frequency-aware solver study on MovieLens-1M (90/10 split, random_state=0).

Test RMSE after every epoch for sgd, fa-sgd, cf-sgd and adagrad, each over a
small learning-rate grid, 3 seeds, at two L2 strengths (alpha 0.02 and 0.05);
then a frequency_exponent (beta) sweep for fa-sgd and cf-sgd at their best
learning rate. MatrixFactorization with n_factors=64, 20 epochs, float32,
n_jobs=2 (Hogwild; chosen to save time), one ``partial_fit`` per epoch.

"Best" learning rate = lowest median (over seeds) test RMSE at the last epoch.

Every finished run is appended to results/solver_study.json at once, and a
restarted run skips what is already there, so a partial run stays usable.

    PYTHONPATH=. benchmarks/.env/bin/python benchmarks/study_solvers.py          # run / resume
    PYTHONPATH=. benchmarks/.env/bin/python benchmarks/study_solvers.py --report  # tables + plot only
"""
import argparse
import os
import sys
import time

import numpy as np

from _common import FIGURES, RESULTS, HERE, load_split, rmse, save_json, load_json, machine_info

OUT = RESULTS / "solver_study.json"
PLOT = FIGURES / "solver_study.png"

K = 64
EPOCHS = 20
N_JOBS = 2
SEEDS = (0, 1, 2)
ALPHAS = (0.02, 0.05)
GRIDS = {
    "sgd": (0.003, 0.005, 0.01, 0.02),
    "fa-sgd": (0.1, 0.25, 0.5, 1.0),
    "cf-sgd": (0.1, 0.25, 0.5, 1.0),
    "adagrad": (0.01, 0.02, 0.05, 0.1),
}
BETA_DEFAULT = 0.5
BETAS = (0.25, 0.5, 0.75, 1.0)
REPORT_EPOCHS = (1, 3, 5, 10, 20)
# phase 3: the step-size scale interacts with beta (a smaller beta keeps steps larger), so
# re-tune lr per beta on a 3-point grid around where it should lie
BETA_LR_GRIDS = {0.25: (0.05, 0.1, 0.25), 0.75: (0.5, 0.75, 1.0), 1.0: (0.5, 0.75, 1.0)}


def key(r):
    return (r["phase"], r["alpha"], r["solver"], r["learning_rate"], r["beta"], r["seed"])


def run_one(data, solver, lr, alpha, beta, seed):
    from recfreq import MatrixFactorization

    Xtr, Xte, ytr, yte = data
    model = MatrixFactorization(
        n_factors=K, solver=solver, learning_rate=lr, alpha=alpha, frequency_exponent=beta,
        max_iter=EPOCHS, dtype="float32", n_jobs=N_JOBS, random_state=seed)
    curve, times = [], []
    for _ in range(EPOCHS):
        t0 = time.perf_counter()
        try:
            model.partial_fit(Xtr, ytr)
        except FloatingPointError:
            curve.append(float("nan"))
            break
        times.append(time.perf_counter() - t0)
        curve.append(rmse(yte, model.predict(Xte)))
        if not np.isfinite(curve[-1]):
            break
    # a run that diverges in its first epoch leaves the model unfitted
    us, its = getattr(model, "user_state_", None), getattr(model, "item_state_", None)
    state = int(us.nbytes + its.nbytes) if us is not None else None
    return {"rmse": curve, "epoch_seconds": times, "state_bytes": state}


def run_retrying(*args):
    """Other people rebuild the extension while this runs: wait out a transient breakage."""
    try:
        return run_one(*args)
    except (TypeError, ImportError, AttributeError, ValueError) as exc:
        # a loaded extension module is never reloaded: restart the process, which
        # resumes from the checkpoint
        print(f"  library error ({exc!r}); restarting in 30 s", flush=True)
        time.sleep(30)
        os.execv(sys.executable, [sys.executable] + sys.argv)


def final(r):
    c = r["rmse"]
    return c[-1] if len(c) == EPOCHS and np.isfinite(c[-1]) else float("inf")


def at_epoch(r, e):
    c = r["rmse"]
    return c[e - 1] if len(c) >= e and np.isfinite(c[e - 1]) else float("inf")


def group(runs, phase, alpha, solver, lr, beta):
    return [r for r in runs if r["phase"] == phase and r["alpha"] == alpha and r["solver"] == solver
            and r["learning_rate"] == lr and r["beta"] == beta]


def best_lr(runs, alpha, solver, epoch=EPOCHS):
    """lr with the lowest median RMSE at `epoch` over the seeds run so far."""
    best = None
    for lr in GRIDS[solver]:
        g = group(runs, "grid", alpha, solver, lr, BETA_DEFAULT)
        if not g:
            continue
        med = float(np.median([at_epoch(r, epoch) for r in g]))
        if best is None or med < best[1]:
            best = (lr, med, len(g))
    return best


def plan(runs):
    """All runs in order: every config with seed 0 first, so a cut run still covers the grid."""
    todo = []
    for seed in SEEDS:
        for alpha in ALPHAS:
            for solver, grid in GRIDS.items():
                for lr in grid:
                    todo.append(dict(phase="grid", alpha=alpha, solver=solver, learning_rate=lr,
                                     beta=BETA_DEFAULT, seed=seed))
    return todo


def beta_plan(runs):
    todo = []
    for seed in SEEDS:
        for alpha in ALPHAS:
            for solver in ("fa-sgd", "cf-sgd"):
                b = best_lr(runs, alpha, solver)
                if b is None:
                    continue
                for beta in BETAS:
                    if beta == BETA_DEFAULT:
                        continue  # already in the grid phase
                    todo.append(dict(phase="beta", alpha=alpha, solver=solver, learning_rate=b[0],
                                     beta=beta, seed=seed))
    return todo


def beta_lr_plan(runs):
    todo = []
    for seed in SEEDS:
        for alpha in ALPHAS:
            for solver in ("fa-sgd", "cf-sgd"):
                for beta, grid in BETA_LR_GRIDS.items():
                    for lr in grid:
                        todo.append(dict(phase="beta", alpha=alpha, solver=solver, learning_rate=lr,
                                         beta=beta, seed=seed))
    return todo


def run(args):
    store = load_json(OUT, {"config": {}, "runs": []})
    store["config"] = dict(k=K, epochs=EPOCHS, n_jobs=N_JOBS, dtype="float32", seeds=SEEDS,
                           alphas=ALPHAS, grids=GRIDS, betas=BETAS, beta_default=BETA_DEFAULT,
                           data="ml-1m 90/10 random_state=0", machine=machine_info())
    done = {key(r) for r in store["runs"]}
    data = load_split("ml-1m")
    print(f"train {len(data[2])}, test {len(data[3])}", flush=True)
    for phase_plan in (plan, beta_plan, beta_lr_plan):
        for cfg in phase_plan(store["runs"]):
            if key(cfg) in done:
                continue
            t0 = time.perf_counter()
            res = run_retrying(data, cfg["solver"], cfg["learning_rate"], cfg["alpha"], cfg["beta"],
                          cfg["seed"])
            rec = {**cfg, **res, "wall_seconds": time.perf_counter() - t0}
            store["runs"].append(rec)
            done.add(key(rec))
            save_json(OUT, store)
            print(f"{cfg['phase']:4s} a={cfg['alpha']} {cfg['solver']:7s} lr={cfg['learning_rate']:<6}"
                  f" beta={cfg['beta']:<4} seed={cfg['seed']} rmse@5={at_epoch(rec, 5):.4f}"
                  f" @20={final(rec):.4f} ({rec['wall_seconds']:.1f}s)", flush=True)
    report(store)


def fmt(x):
    return "diverged" if not np.isfinite(x) else f"{x:.4f}"


def report(store=None):
    store = store or load_json(OUT, None)
    runs = store["runs"]
    lines = []
    for alpha in ALPHAS:
        lines.append(f"\n### alpha = {alpha} (k={K}, {EPOCHS} epochs, n_jobs={N_JOBS}, float32, "
                     f"beta={BETA_DEFAULT}; median over seeds [min-max])\n")
        lines.append("| solver | best lr (epoch 20) | best lr (epoch 5) | seeds | "
                     + " | ".join(f"ep {e}" for e in REPORT_EPOCHS) + " | state bytes |")
        lines.append("|---" * (5 + len(REPORT_EPOCHS)) + "|")
        for solver in GRIDS:
            b = best_lr(runs, alpha, solver)
            b5 = best_lr(runs, alpha, solver, epoch=5)
            if b is None:
                continue
            g = group(runs, "grid", alpha, solver, b[0], BETA_DEFAULT)
            cells = []
            for e in REPORT_EPOCHS:
                v = [at_epoch(r, e) for r in g]
                cells.append(f"{fmt(np.median(v))} [{fmt(min(v))}-{fmt(max(v))}]"
                             if len(v) > 1 else fmt(v[0]))
            lines.append(f"| {solver} | {b[0]} | {b5[0]} | {len(g)} | " + " | ".join(cells)
                         + f" | {max(r['state_bytes'] or 0 for r in g):,} |")
        lines.append("\nEach solver tuned for each epoch budget separately (lowest median RMSE over its "
                     "lr grid at that epoch; the lr in brackets):\n")
        lines.append("| solver | " + " | ".join(f"ep {e}" for e in REPORT_EPOCHS) + " |")
        lines.append("|---" * (1 + len(REPORT_EPOCHS)) + "|")
        for solver, grid in GRIDS.items():
            cells = []
            for e in REPORT_EPOCHS:
                cand = [(float(np.median([at_epoch(r, e) for r in g])), lr)
                        for lr in grid for g in [group(runs, "grid", alpha, solver, lr, BETA_DEFAULT)] if g]
                if cand:
                    m, lr = min(cand)
                    cells.append(f"{fmt(m)} ({lr})")
            lines.append(f"| {solver} | " + " | ".join(cells) + " |")
        lines.append("\nAll learning rates, median RMSE at epoch 5 / epoch 20:\n")
        lines.append("| solver | lr | seeds | ep 5 | ep 20 |")
        lines.append("|---|---|---|---|---|")
        for solver, grid in GRIDS.items():
            for lr in grid:
                g = group(runs, "grid", alpha, solver, lr, BETA_DEFAULT)
                if g:
                    lines.append(f"| {solver} | {lr} | {len(g)} | "
                                 f"{fmt(np.median([at_epoch(r, 5) for r in g]))} | "
                                 f"{fmt(np.median([final(r) for r in g]))} |")
        beta_rows = []
        for solver in ("fa-sgd", "cf-sgd"):
            b = best_lr(runs, alpha, solver)
            if b is None:
                continue
            for beta in BETAS:
                phase = "grid" if beta == BETA_DEFAULT else "beta"
                g = group(runs, phase, alpha, solver, b[0], beta)
                if g:
                    beta_rows.append(f"| {solver} | {b[0]} | {beta} | {len(g)} | "
                                     + " | ".join(fmt(np.median([at_epoch(r, e) for r in g]))
                                                  for e in REPORT_EPOCHS) + " |")
        for solver in ("fa-sgd", "cf-sgd"):
            for beta in BETAS:
                phase = "grid" if beta == BETA_DEFAULT else "beta"
                lrs = sorted({r["learning_rate"] for r in runs if r["phase"] == phase
                              and r["alpha"] == alpha and r["solver"] == solver and r["beta"] == beta})
                cands = []
                for lr in lrs:
                    g = group(runs, phase, alpha, solver, lr, beta)
                    cands.append((float(np.median([final(r) for r in g])), lr, g))
                if not cands:
                    continue
                m, lr, g = min(cands, key=lambda c: c[0])
                beta_rows.append(f"| {solver} | re-tuned: {lr} (of {lrs}) | {beta} | {len(g)} | "
                                 + " | ".join(fmt(np.median([at_epoch(r, e) for r in g]))
                                              for e in REPORT_EPOCHS) + " |")
        if beta_rows:
            lines.append(f"\nfrequency_exponent sweep at alpha={alpha}: first at the lr that is best "
                         "at beta 0.5, then with lr re-tuned per beta (best median epoch-20 RMSE); "
                         "median RMSE:\n")
            lines.append("| solver | lr | beta | seeds | " + " | ".join(f"ep {e}" for e in REPORT_EPOCHS) + " |")
            lines.append("|---" * (4 + len(REPORT_EPOCHS)) + "|")
            lines.extend(beta_rows)
    text = "\n".join(lines)
    print(text)
    (RESULTS / "solver_study.md").write_text(text + "\n")
    plot(runs)


def plot(runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ALPHAS), figsize=(12, 4.5), sharey=True)
    colors = {"sgd": "C0", "fa-sgd": "C1", "cf-sgd": "C2", "adagrad": "C3"}
    for ax, alpha in zip(axes, ALPHAS):
        for solver in GRIDS:
            b = best_lr(runs, alpha, solver)
            if b is None:
                continue
            g = [r for r in group(runs, "grid", alpha, solver, b[0], BETA_DEFAULT)
                 if len(r["rmse"]) == EPOCHS]
            if not g:
                continue
            curves = np.array([r["rmse"] for r in g])
            ep = np.arange(1, EPOCHS + 1)
            ax.plot(ep, np.median(curves, 0), color=colors[solver], marker=".",
                    label=f"{solver} lr={b[0]} ({len(g)} seeds)")
            ax.fill_between(ep, curves.min(0), curves.max(0), color=colors[solver], alpha=0.2)
        ax.set_title(f"ML-1M 90/10, MF k={K}, alpha={alpha}")
        ax.set_xlabel("epoch")
        ax.set_xticks([1, 3, 5, 10, 15, 20])
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("test RMSE (median over seeds, min-max band)")
    axes[0].set_ylim(0.84, 0.96)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    print(f"plot -> {PLOT}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--report", action="store_true", help="only print tables and redraw the plot")
    a = p.parse_args()
    report() if a.report else run(a)
