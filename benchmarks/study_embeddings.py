"""Overparameterized (OverparamMF) and mixed-dimension embeddings on MovieLens-1M.

ml-1m, the agreed 90/10 split (random_state=0), float32, ``n_jobs=1`` for the RMSE studies
(the ``speed`` part measured OverparamMF and mixed tables *slower* with 2 threads than with 1 on
this shared 2-core machine, so 1 thread saves time and is bit-for-bit reproducible; the mixed
study had already run at ``--n-jobs 2`` and is reported at 2 threads, see STUDY_JOBS), one ``partial_fit`` per epoch, test RMSE
after every epoch; only the ``partial_fit`` calls are timed. A FloatingPointError is recorded as
a diverged run. Every finished run is appended at once to ``results/embeddings_<part>.json`` and
a restarted command skips runs already there.

Rare rows: "rare-item rows" are the test rows whose item's training count is at most the 20th
percentile of that count over the test rows (so about 20% of the test rows, ties at the cut
included); "rare-user rows" likewise for users. The cut-offs are stored in the JSON.

Parts (sub-commands):

    speed   samples/s of MF vs OverparamMF (k=32, m in {32,64,128}, n_jobs 1/2) and of mixed
            alpha=0.3 vs uniform MF (k in {32,100}); warm-up epoch + median of 3 timed epochs
    mixed   RMSE vs n_parameters_: uniform k in {8..128} vs mixed alpha in {0.2,0.3,0.5}
    accel   RMSE per epoch / second: OverparamMF+sgd vs MF+sgd vs MF+adagrad at k=32
    mlet    final RMSE vs k in {2..64}: MF vs OverparamMF (inner_dim = min(4k, 64))
    extras  what the core budget left out (more seeds, m=128, k=128 mixed, n_dim_blocks)
    report  markdown tables (results/embeddings_tables.md) and the three PNG plots

    cd /work/main && PYTHONPATH=/work/main python benchmarks/study_embeddings.py speed
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIGURES, HERE, RESULTS, load_json, load_split, machine_info, rmse, save_json  # noqa: E402

N_JOBS = 1  # see the module docstring
# what the report shows: the mixed study ran at n_jobs=2 (nj=1 repeats are a cross-check)
STUDY_JOBS = {"accel": 1, "mlet": 1, "mixed": 2}
SEEDS = (0, 1, 2)
RARE_Q = 20  # percent of test rows

FILES = {p: RESULTS / f"embeddings_{p}.json" for p in ("speed", "mixed", "accel", "mlet")}


# ----------------------------------------------------------------------------- data
_DATA = None


def data():
    global _DATA
    if _DATA is None:
        Xtr, Xte, ytr, yte = load_split("ml-1m")
        masks, cuts = {}, {}
        for col, name in ((1, "item"), (0, "user")):
            ids, counts = np.unique(Xtr[:, col], return_counts=True)
            lookup = dict(zip(ids.tolist(), counts.tolist()))
            c = np.array([lookup.get(v, 0) for v in Xte[:, col].tolist()])
            cut = float(np.percentile(c, RARE_Q))
            masks[name] = c <= cut
            cuts[name] = {"max_train_count": cut, "test_rows": int(masks[name].sum()),
                          "share": float(masks[name].mean())}
        _DATA = (Xtr, Xte, ytr, yte, masks, cuts)
    return _DATA


def evaluate(model):
    Xtr, Xte, ytr, yte, masks, _ = data()
    p = model.predict(Xte)
    return (rmse(yte, p), rmse(yte[masks["item"]], p[masks["item"]]),
            rmse(yte[masks["user"]], p[masks["user"]]))


# ----------------------------------------------------------------------------- runs
def make(kind, **kw):
    from recfreq import MatrixFactorization, OverparamMF

    kw.setdefault("dtype", "float32")
    if kind == "op":
        return OverparamMF(**kw)
    return MatrixFactorization(**kw)


def curve_run(kind, params, epochs):
    """Per-epoch test RMSE (overall, rare items, rare users) and partial_fit seconds."""
    Xtr, _, ytr, *_ = data()
    model = make(kind, max_iter=epochs, **params)
    out = {"rmse": [], "rmse_rare_item": [], "rmse_rare_user": [], "epoch_seconds": [],
           "diverged": False, "n_parameters": None, "load_start": os.getloadavg()[0]}
    for _ in range(epochs):
        t0 = time.perf_counter()
        try:
            model.partial_fit(Xtr, ytr)
        except FloatingPointError as exc:
            out["diverged"] = True
            out["error"] = str(exc)[:200]
            break
        out["epoch_seconds"].append(time.perf_counter() - t0)
        a, b, c = evaluate(model)
        out["rmse"].append(a)
        out["rmse_rare_item"].append(b)
        out["rmse_rare_user"].append(c)
        if not np.isfinite(a):
            out["diverged"] = True
            break
    out["n_parameters"] = int(getattr(model, "n_parameters_", 0) or 0)
    out["load_end"] = os.getloadavg()[0]
    if params.get("embedding_dims") == "mixed" and hasattr(model, "user_embedding_"):
        out["widths"] = {"user": model.user_embedding_.group_in_dim.tolist(),
                         "item": model.item_embedding_.group_in_dim.tolist()}
    return out


def run_key(r):
    return r["part"] + "|" + r["kind"] + "|" + "|".join(f"{k}={r['params'][k]}" for k in sorted(r["params"])) \
        + f"|e={r['epochs']}"


def ensure(part, kind, params, epochs, label=None):
    """Run (or reuse) one configuration; checkpoint to the part's JSON."""
    path = FILES[part]
    db = load_json(path, {"machine": machine_info(), "rare": None, "runs": []})
    rec = {"part": part, "kind": kind, "params": params, "epochs": epochs}
    key = run_key(rec)
    for r in db["runs"]:
        if run_key(r) == key:
            return r
    t0 = time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {part} {kind} {params} e={epochs}", flush=True)
    try:
        rec.update(curve_run(kind, params, epochs))
    except (TypeError, ImportError, AttributeError) as exc:  # someone rebuilding the extension
        print(f"  library error {exc!r}; restarting in 30 s", flush=True)
        time.sleep(30)
        os.execv(sys.executable, [sys.executable] + sys.argv)
    rec["label"] = label
    rec["wall"] = time.time() - t0
    print(f"   -> rmse {rec['rmse'][-1] if rec['rmse'] else None} div={rec['diverged']} "
          f"params={rec['n_parameters']} {rec['wall']:.0f}s", flush=True)
    db = load_json(path, {"machine": machine_info(), "rare": None, "runs": []})
    db["rare"] = data()[5]
    db["runs"].append(rec)
    save_json(path, db)
    return rec


# ----------------------------------------------------------------------------- parts
MIXED_UNIFORM_K = (8, 16, 32, 64, 100, 128)
MIXED_ALPHAS = (0.2, 0.3, 0.5)
EPOCHS_MIXED = 20
EPOCHS_ACCEL = 20
EPOCHS_MLET = 15
MLET_K = (2, 4, 8, 16, 32, 64)


def mlet_m(k):
    return min(4 * k, 64)


def part_speed(args):
    from recfreq import MatrixFactorization, OverparamMF

    Xtr, _, ytr, *_ = data()
    path = FILES["speed"]
    db = load_json(path, {"machine": machine_info(), "runs": []})
    done = {r["name"] for r in db["runs"]}
    configs = []
    for nj in (1, 2):
        configs.append((f"mf sgd k=32 nj={nj}", "mf", dict(n_factors=32, solver="sgd", n_jobs=nj)))
        for m in (32, 64, 128):
            configs.append((f"op sgd k=32 m={m} nj={nj}", "op",
                            dict(n_factors=32, inner_dim=m, solver="sgd", n_jobs=nj)))
        for k in (32, 100):
            configs.append((f"mf fa-sgd uniform k={k} nj={nj}", "mf", dict(n_factors=k, n_jobs=nj)))
            configs.append((f"mf fa-sgd mixed a=0.3 k={k} nj={nj}", "mf",
                            dict(n_factors=k, n_jobs=nj, embedding_dims="mixed", mixed_dim_exponent=0.3)))
    for name, kind, params in configs:
        if name in done:
            continue
        model = (OverparamMF if kind == "op" else MatrixFactorization)(random_state=0, dtype="float32", **params)
        times, loads = [], []
        for e in range(1 + args.repeats):
            loads.append(os.getloadavg()[0])
            t0 = time.perf_counter()
            model.partial_fit(Xtr, ytr)
            dt = time.perf_counter() - t0
            if e:
                times.append(dt)
        med = float(np.median(times))
        rec = {"name": name, "kind": kind, "params": params, "epoch_seconds": times, "warmup_excluded": True,
               "median_s": med, "samples_per_s": Xtr.shape[0] / med, "load1": loads,
               "n_parameters": int(model.n_parameters_)}
        print(f"{name}: {med:.3f} s/epoch, {Xtr.shape[0] / med / 1e3:.0f} k samples/s, load {loads}", flush=True)
        db = load_json(path, {"machine": machine_info(), "runs": []})
        db["runs"].append(rec)
        save_json(path, db)


def part_mixed(args, extras=False):
    seeds = SEEDS
    if not extras:
        for k in MIXED_UNIFORM_K:  # fa-sgd (library default), 3 seeds
            for s in seeds:
                ensure("mixed", "mf", dict(n_factors=k, solver="fa-sgd", n_jobs=N_JOBS, random_state=s), EPOCHS_MIXED)
        for k in MIXED_UNIFORM_K:  # sgd, 1 seed
            ensure("mixed", "mf", dict(n_factors=k, solver="sgd", n_jobs=N_JOBS, random_state=0), EPOCHS_MIXED)
        for k in (32, 64):
            for a in MIXED_ALPHAS:
                ensure("mixed", "mf", dict(n_factors=k, solver="fa-sgd", embedding_dims="mixed",
                                           mixed_dim_exponent=a, n_jobs=N_JOBS, random_state=0), EPOCHS_MIXED)
        for a in MIXED_ALPHAS:
            ensure("mixed", "mf", dict(n_factors=32, solver="sgd", embedding_dims="mixed",
                                       mixed_dim_exponent=a, n_jobs=N_JOBS, random_state=0), EPOCHS_MIXED)
    else:
        for s in (1, 2):
            for a in MIXED_ALPHAS:
                ensure("mixed", "mf", dict(n_factors=32, solver="fa-sgd", embedding_dims="mixed",
                                           mixed_dim_exponent=a, n_jobs=N_JOBS, random_state=s), EPOCHS_MIXED)
        for nb in (2, 8):
            ensure("mixed", "mf", dict(n_factors=32, solver="fa-sgd", embedding_dims="mixed",
                                       mixed_dim_exponent=0.3, n_dim_blocks=nb, n_jobs=N_JOBS, random_state=0),
                   EPOCHS_MIXED)


def mf_sgd_target():
    db = load_json(FILES["accel"], {"runs": []})
    best = [min(r["rmse"]) for r in db["runs"] if r["kind"] == "mf" and r["params"]["solver"] == "sgd"
            and r["params"]["n_jobs"] == STUDY_JOBS["accel"]]
    return float(np.median(best)) if best else None


def part_accel(args, extras=False):
    if not extras:
        for s in SEEDS:
            ensure("accel", "mf", dict(n_factors=32, solver="sgd", n_jobs=N_JOBS, random_state=s), EPOCHS_ACCEL)
            ensure("accel", "mf", dict(n_factors=32, solver="adagrad", n_jobs=N_JOBS, random_state=s), EPOCHS_ACCEL)
        for s in SEEDS:
            ensure("accel", "op", dict(n_factors=32, inner_dim=64, solver="sgd", n_jobs=N_JOBS, random_state=s),
                   EPOCHS_ACCEL)
        # dense_learning_rate check, only if OverparamMF+sgd does clearly worse than MF+sgd
        db = load_json(FILES["accel"], {"runs": []})
        op = [r["rmse"][-1] if not r["diverged"] else np.inf for r in db["runs"]
              if r["kind"] == "op" and r["params"]["inner_dim"] == 64 and "dense_learning_rate" not in r["params"]]
        mf = [r["rmse"][-1] for r in db["runs"] if r["kind"] == "mf" and r["params"]["solver"] == "sgd"]
        if args.force_dense or np.median(op) > np.median(mf) + 0.005:
            for dlr in (3e-4, 3e-3):
                ensure("accel", "op", dict(n_factors=32, inner_dim=64, solver="sgd", dense_learning_rate=dlr,
                                           n_jobs=N_JOBS, random_state=0), EPOCHS_ACCEL)
    else:
        ensure("accel", "op", dict(n_factors=32, inner_dim=128, solver="sgd", n_jobs=N_JOBS, random_state=0),
               EPOCHS_ACCEL)


def part_mlet(args, extras=False):
    if not extras:
        for k in MLET_K:
            for s in SEEDS:
                ensure("mlet", "mf", dict(n_factors=k, solver="sgd", n_jobs=N_JOBS, random_state=s), EPOCHS_MLET)
                ensure("mlet", "mf", dict(n_factors=k, solver="fa-sgd", n_jobs=N_JOBS, random_state=s), EPOCHS_MLET)
        for k in MLET_K:
            ensure("mlet", "op", dict(n_factors=k, inner_dim=mlet_m(k), solver="sgd", n_jobs=N_JOBS,
                                      random_state=0), EPOCHS_MLET)
        for k in (4, 8):
            ensure("mlet", "op", dict(n_factors=k, inner_dim=64, solver="sgd", n_jobs=N_JOBS, random_state=0),
                   EPOCHS_MLET)
    else:
        for s in (1, 2):
            for k in MLET_K:
                ensure("mlet", "op", dict(n_factors=k, inner_dim=mlet_m(k), solver="sgd", n_jobs=N_JOBS,
                                          random_state=s), EPOCHS_MLET)


def part_extras(args):
    part_mixed(args, extras=True)
    part_accel(args, extras=True)
    part_mlet(args, extras=True)
    part_k128(args)


def part_dense(args):
    """The better dense_learning_rate of the one-seed check (3e-4), at the other two seeds."""
    for s in (1, 2):
        ensure("accel", "op", dict(n_factors=32, inner_dim=64, solver="sgd", dense_learning_rate=3e-4,
                                   n_jobs=N_JOBS, random_state=s), EPOCHS_ACCEL)


def part_k128(args):
    ensure("mixed", "mf", dict(n_factors=128, solver="fa-sgd", embedding_dims="mixed", mixed_dim_exponent=0.3,
                               n_jobs=N_JOBS, random_state=0), EPOCHS_MIXED)


# ----------------------------------------------------------------------------- report
def med(xs):
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.median(xs)) if xs else float("nan")


def groups(runs, **match):
    out = {}
    for r in runs:
        p = r["params"]
        if all((p.get(k) if k != "kind" else r["kind"]) == v for k, v in match.items()):
            key = (r["kind"],) + tuple(sorted((k, v) for k, v in p.items() if k not in ("random_state", "n_jobs")))
            out.setdefault(key, []).append(r)
    return out


def fmt(x, n=4):
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{n}f}"


def cfg_name(r):
    p = r["params"]
    if r["kind"] == "op":
        s = f"OverparamMF sgd k={p['n_factors']} m={p['inner_dim']}"
        if "dense_learning_rate" in p:
            s += f" dense_lr={p['dense_learning_rate']:g}"
        return s
    s = f"MF {p.get('solver', 'fa-sgd')} k={p['n_factors']}"
    if p.get("embedding_dims") == "mixed":
        s += f" mixed a={p['mixed_dim_exponent']}" + (f" blocks={p['n_dim_blocks']}" if "n_dim_blocks" in p else "")
    return s


def epochs_to(r, target):
    for i, v in enumerate(r["rmse"]):
        if v <= target:
            return i + 1, float(np.sum(r["epoch_seconds"][:i + 1]))
    return None, None


def report(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = []
    dbs = {p: load_json(f, {"runs": []}) for p, f in FILES.items()}
    target = mf_sgd_target()
    speed = {r["name"]: r["median_s"] for r in load_json(FILES["speed"], {"runs": []})["runs"]}

    # ---- part 1
    runs = dbs["accel"]["runs"]
    if runs:
        lines += ["### Part 1: acceleration (k=32, 20 epochs)", "",
                  f"Target = median over seeds of MF+sgd's best test RMSE = {fmt(target)}.", "",
                  "| config | seeds | RMSE ep 1 | ep 3 | ep 5 | ep 10 | ep 20 | best | s/epoch | epochs to target | "
                  "seconds to target (measured / epochs x part-4 s/epoch) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for key, g in groups(runs, n_jobs=STUDY_JOBS['accel']).items():
            name = cfg_name(g[0])
            at = lambda e: med([r["rmse"][e - 1] if len(r["rmse"]) >= e else np.nan for r in g])  # noqa: E731
            best = med([min(r["rmse"]) if r["rmse"] else np.nan for r in g])
            ets = [epochs_to(r, target) for r in g] if target else []
            e_to = [e for e, _ in ets if e is not None]
            s_to = [s for _, s in ets if s is not None]
            reach = f"{med(e_to):.0f} ({len(e_to)}/{len(g)} seeds)" if e_to else f"never (0/{len(g)})"
            sec = fmt(med(s_to), 1) if s_to else "n/a"
            p = g[0]["params"]
            sp = speed.get(f"op sgd k=32 m={p['inner_dim']} nj=1" if g[0]["kind"] == "op"
                           else f"mf {p['solver']} k=32 nj=1")
            if sp and e_to:
                sec += f" / {med(e_to) * sp:.1f}"
            div = sum(r["diverged"] for r in g)
            lines.append(f"| {name}{' (%d diverged)' % div if div else ''} | {len(g)} | {fmt(at(1))} | {fmt(at(3))} | "
                         f"{fmt(at(5))} | {fmt(at(10))} | {fmt(at(20))} | {fmt(best)} | "
                         f"{med([np.median(r['epoch_seconds']) for r in g if r['epoch_seconds']]):.2f} | {reach} | {sec} |")
            n = min(len(r["rmse"]) for r in g)
            if n == 0:
                continue
            curve = np.median([r["rmse"][:n] for r in g], axis=0)
            secs = np.median([np.cumsum(r["epoch_seconds"][:n]) for r in g], axis=0)
            axes[0].plot(np.arange(1, n + 1), curve, marker=".", label=f"{name} ({len(g)} seeds)")
            axes[1].plot(secs, curve, marker=".", label=name)
        axes[1].set_xscale("log")
        for ax, xl in zip(axes, ("epoch", "cumulative seconds of partial_fit (log; n_jobs=1, shared 2-core machine)")):
            if target:
                ax.axhline(target, color="gray", ls=":", lw=1)
            ax.set_xlabel(xl)
            ax.set_ylabel("test RMSE (median over seeds)")
            ax.set_ylim(0.84, 0.98)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle("ml-1m 90/10, k=32: OverparamMF+sgd vs MF+sgd vs MF+adagrad")
        fig.tight_layout()
        fig.savefig(FIGURES / "embeddings_overparam_accel.png", dpi=110)
        plt.close(fig)
        lines.append("")

    # ---- part 2
    runs = dbs["mlet"]["runs"]
    if runs:
        E = EPOCHS_MLET
        rare = dbs["mlet"].get("rare") or {}
        lines += [f"### Part 2: RMSE vs k after {E} epochs (median over seeds)", "",
                  "rare cut-offs: " + ", ".join(f"{k}: train count <= {v['max_train_count']:g} "
                                                 f"({v['test_rows']} test rows, {100 * v['share']:.1f}%)"
                                                 for k, v in rare.items()), "",
                  "| config | k | m | params (training) | seeds | RMSE ep %d | rare items | rare users | best-epoch RMSE | "
                  "rare items | rare users | best epoch |" % E, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        table = {}
        for key, g in sorted(groups(runs, n_jobs=STUDY_JOBS['mlet']).items(), key=lambda kv: (kv[1][0]["kind"],
                                                                     kv[1][0]["params"].get("solver", ""),
                                                                     kv[1][0]["params"].get("inner_dim", 0),
                                                                     kv[1][0]["params"]["n_factors"])):
            p = g[0]["params"]
            vals = [med([r[f][-1] if len(r[f]) == E else np.nan for r in g])
                    for f in ("rmse", "rmse_rare_item", "rmse_rare_user")]
            # oracle early stopping: each run's best epoch by overall test RMSE
            bi = [int(np.argmin(r["rmse"])) for r in g if len(r["rmse"]) == E]
            vals += [med([min(r["rmse"]) for r in g if len(r["rmse"]) == E]),
                     med([r["rmse_rare_item"][i] for r, i in zip([r for r in g if len(r["rmse"]) == E], bi)]),
                     med([r["rmse_rare_user"][i] for r, i in zip([r for r in g if len(r["rmse"]) == E], bi)]),
                     med([i + 1 for i in bi])]
            fam = ("op " + ("4k" if p.get("inner_dim") == mlet_m(p["n_factors"]) else "m64")) if g[0]["kind"] == "op" \
                else "MF " + p["solver"]
            table.setdefault(fam, {})[p["n_factors"]] = vals
            lines.append(f"| {'OverparamMF sgd' if g[0]['kind'] == 'op' else 'MF ' + p['solver']} | {p['n_factors']} | "
                         f"{p.get('inner_dim', '-')} | {g[0]['n_parameters']} | {len(g)} | "
                         + " | ".join(fmt(v) for v in vals[:6]) + f" | {vals[6]:.0f} |")
        lines.append("")
        fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        for c, (fam, d) in enumerate(table.items()):
            ks = sorted(d)
            for j, ax in enumerate(axes):
                ax.plot(ks, [d[k][j] for k in ks], marker="o", color=f"C{c}", label=f"{fam} (epoch {E})")
                ax.plot(ks, [d[k][j + 3] for k in ks], marker=".", ls="--", color=f"C{c}", label=f"{fam} (best epoch)")
        for j, (ax, t) in enumerate(zip(axes, ("all test rows", "rare-item rows", "rare-user rows"))):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("k (n_factors)")
            ax.set_title(t)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(f"test RMSE after {E} epochs")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(FIGURES / "embeddings_overparam_vs_k.png", dpi=110)
        plt.close(fig)

    # ---- part 3
    runs = dbs["mixed"]["runs"]
    if runs:
        lines += ["### Part 3: RMSE vs n_parameters_ (20 epochs, median over seeds)", "",
                  "| solver | dims | k | alpha | n_parameters_ | seeds | RMSE | RMSE rare items | RMSE rare users | "
                  "uniform params at equal RMSE | saving |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for solver in ("fa-sgd", "sgd"):
            uni = sorted([(g[0]["n_parameters"], med([r["rmse"][-1] for r in g if len(r["rmse"]) == EPOCHS_MIXED]))
                          for g in groups(runs, solver=solver, n_jobs=STUDY_JOBS['mixed']).values() if g[0]["params"].get("embedding_dims") is None])
            if uni:
                P = np.array([u[0] for u in uni], float)
                R = np.minimum.accumulate(np.array([u[1] for u in uni]))  # best uniform with <= P params
                ax.plot(P, [u[1] for u in uni], marker="o", label=f"uniform {solver}")
            for key, g in sorted(groups(runs, solver=solver, n_jobs=STUDY_JOBS['mixed']).items(),
                                 key=lambda kv: (kv[1][0]["params"].get("embedding_dims", ""),
                                                 kv[1][0]["params"]["n_factors"],
                                                 kv[1][0]["params"].get("mixed_dim_exponent", 0))):
                p = g[0]["params"]
                full = [r for r in g if len(r["rmse"]) == EPOCHS_MIXED]
                vals = [med([r[f][-1] for r in full]) for f in ("rmse", "rmse_rare_item", "rmse_rare_user")]
                eq, saving = "", ""
                if p.get("embedding_dims") == "mixed" and uni:
                    rm = vals[0]
                    if rm < R[-1]:
                        eq, saving = f"> {int(P[-1])}", f"> {P[-1] / g[0]['n_parameters']:.2f}x"
                    elif rm > R[0]:
                        eq, saving = f"< {int(P[0])}", "n/a"
                    else:
                        i = int(np.argmax(R <= rm))  # first uniform size reaching rm
                        if i == 0:
                            pe = P[0]
                        else:  # interpolate log(params) linearly in RMSE between i-1 and i
                            f = (R[i - 1] - rm) / (R[i - 1] - R[i]) if R[i - 1] != R[i] else 1.0
                            pe = float(np.exp(np.log(P[i - 1]) + f * (np.log(P[i]) - np.log(P[i - 1]))))
                        eq, saving = f"{pe:.0f}", f"{pe / g[0]['n_parameters']:.2f}x"
                    ax.scatter([g[0]["n_parameters"]], [vals[0]], marker="x" if solver == "sgd" else "^",
                               label=f"mixed {solver} k={p['n_factors']} a={p['mixed_dim_exponent']}"
                                     + (f" b={p['n_dim_blocks']}" if "n_dim_blocks" in p else ""))
                lines.append(f"| {solver} | {p.get('embedding_dims', 'uniform')}"
                             f"{' blocks=%d' % p['n_dim_blocks'] if 'n_dim_blocks' in p else ''} | {p['n_factors']} | "
                             f"{p.get('mixed_dim_exponent', '-')} | {g[0]['n_parameters']} | {len(full)} | "
                             + " | ".join(fmt(v) for v in vals) + f" | {eq} | {saving} |")
        # cross-check: the same configurations at n_jobs=1
        other = {k[1:]: g for k, g in groups(runs, n_jobs=1).items()}
        rows = []
        for key, g in groups(runs, n_jobs=STUDY_JOBS["mixed"]).items():
            g1 = [r for r in other.get(key[1:], []) if len(r["rmse"]) == EPOCHS_MIXED]
            g2 = [r for r in g if len(r["rmse"]) == EPOCHS_MIXED]
            if g1 and g2:
                rows.append(f"| {cfg_name(g[0])} | {fmt(med([r['rmse'][-1] for r in g2]))} ({len(g2)}) | "
                            f"{fmt(med([r['rmse'][-1] for r in g1]))} ({len(g1)}) |")
        if rows:
            lines += ["", "n_jobs cross-check (median RMSE after 20 epochs (seeds)):", "",
                      "| config | n_jobs=2 | n_jobs=1 |", "|---|---|---|"] + sorted(rows)
        ax.set_xscale("log")
        ax.set_xlabel("n_parameters_")
        ax.set_ylabel("test RMSE after 20 epochs")
        ax.set_title("ml-1m 90/10: mixed-dimension vs uniform MF")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(FIGURES / "embeddings_mixed_params.png", dpi=110)
        plt.close(fig)
        lines.append("")

    # ---- part 4
    runs = load_json(FILES["speed"], {"runs": []})["runs"]
    if runs:
        lines += ["### Part 4: speed (ml-1m train split, 900,188 samples; warm-up epoch excluded, "
                  "median of 3 epochs)", "",
                  "| config | n_parameters_ | s/epoch (median) | epochs (s) | k samples/s | 1-min load during |",
                  "|---|---|---|---|---|---|"]
        for r in runs:
            lines.append(f"| {r['name']} | {r['n_parameters']} | {r['median_s']:.3f} | "
                         f"{', '.join('%.2f' % t for t in r['epoch_seconds'])} | {r['samples_per_s'] / 1e3:.0f} | "
                         f"{min(r['load1']):.1f}-{max(r['load1']):.1f} |")
        lines.append("")
    out = RESULTS / "embeddings_tables.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="+", choices=("speed", "mixed", "accel", "mlet", "extras", "extras-mixed",
                                                 "extras-accel", "extras-mlet", "extras-k128", "extras-dense",
                                                 "report"))
    ap.add_argument("--n-jobs", type=int, default=None, help="threads of the RMSE studies (default N_JOBS)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per speed config")
    ap.add_argument("--force-dense", action="store_true", help="run the dense_learning_rate check regardless")
    args = ap.parse_args()
    global N_JOBS
    if args.n_jobs is not None:
        N_JOBS = args.n_jobs
    for p in args.parts:
        {"speed": part_speed, "mixed": part_mixed, "accel": part_accel, "mlet": part_mlet,
         "extras": part_extras, "report": report,
         "extras-mixed": lambda a: part_mixed(a, extras=True), "extras-accel": lambda a: part_accel(a, extras=True),
         "extras-mlet": lambda a: part_mlet(a, extras=True), "extras-k128": part_k128,
         "extras-dense": part_dense}[p](args)


if __name__ == "__main__":
    main()
