"""FactorizationMachine on MovieLens-100K with side features, side by side with myFM and fastFM.

Usage (from the repository root, extensions built in place):

    benchmarks/.env/bin/python benchmarks/bench_fm.py tune      # learning-rate / alpha grid (defaults)
    benchmarks/.env/bin/python benchmarks/bench_fm.py main      # the comparison table -> results/fm.json
    benchmarks/.env/bin/python benchmarks/bench_fm.py report    # print the table from results/fm.json
    benchmarks/.env/bin/python benchmarks/bench_fm.py mixed     # uniform vs mixed widths -> results/fm_mixed.json

Data: the bundled ml-100k, 80/20 random split with random_state=0 (the agreed
split). Side features: user age bucket, gender, occupation; item genres
(multi-hot, x = 1/len) and release year (numeric, standardized; missing ->
the median). Every peer gets the same design matrix, built by recfreq's own
encoder. Timings: median of ``--repeats`` runs, all runs in this one process.
"""

import argparse
import os
import time

import numpy as np
import pandas as pd

os.environ.setdefault("TQDM_DISABLE", "1")  # myFM's progress bars
try:  # myFM 0.4.0 imports pkg_resources, which setuptools >= 81 no longer ships
    import pkg_resources  # noqa: F401
except ImportError:
    import sys
    import types

    _shim = types.ModuleType("pkg_resources")
    _shim.DistributionNotFound = type("DistributionNotFound", (Exception,), {})
    _shim.get_distribution = lambda name: None
    sys.modules["pkg_resources"] = _shim

from _common import RESULTS, load_json, rmse, save_json

from recfreq import FactorizationMachine, FactorizationMachineClassifier, MatrixFactorization  # noqa: E402
from recfreq._features import FeatureEncoder  # noqa: E402
from recfreq.datasets import load_movielens  # noqa: E402
from recfreq.model_selection import train_test_split  # noqa: E402

AGE_BINS = [0, 18, 25, 35, 45, 50, 56, 200]  # MovieLens-1M's age groups
SOLVERS = ["sgd", "fa-sgd", "cf-sgd", "adagrad"]


def load_frames():
    """(train, test) DataFrames (user, item, side columns) and (y_train, y_test)."""
    b = load_movielens("100k")
    X, y = b.data, b.target
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
    users = pd.DataFrame(b.users).set_index("user_id")
    movies = pd.DataFrame(b.movies).set_index("item_id")
    users["age_bucket"] = pd.cut(users["age"], AGE_BINS, right=False).astype(str)
    year = movies["year"].astype(float)
    year[year <= 0] = np.nan
    movies["year_f"] = year.fillna(year.median())
    movies["genre_list"] = [g.split("|") if g else [] for g in movies["genres"]]

    def frame(ids):
        f = pd.DataFrame({"user": ids[:, 0], "item": ids[:, 1]})
        u = users.loc[f["user"]]
        m = movies.loc[f["item"]]
        f["age"] = u["age_bucket"].to_numpy()
        f["gender"] = u["gender"].to_numpy()
        f["occupation"] = u["occupation"].to_numpy()
        f["genres"] = list(m["genre_list"])
        f["year"] = m["year_f"].to_numpy()
        return f

    return frame(Xtr), frame(Xte), ytr, yte


def design(train, test, columns):
    """The CSR design matrices every peer gets (recfreq's encoder, fitted on train)."""
    enc = FeatureEncoder(multi_value_weight="one")  # the estimator's default
    A = enc.fit_transform(enc.read(train[columns])).tocsr()
    B = enc.transform(enc.read(test[columns])).tocsr()
    return A, B


def tune(args):
    train, test, ytr, yte = load_frames()
    out = []
    for solver, lrs in {"sgd": [0.005, 0.01, 0.02], "fa-sgd": [0.05, 0.1, 0.2],
                        "cf-sgd": [0.05, 0.1, 0.2], "adagrad": [0.02, 0.05, 0.1]}.items():
        for lr in lrs:
            for alpha in [0.02, 0.05, 0.1]:
                m = FactorizationMachine(solver=solver, learning_rate=lr, alpha=alpha, n_factors=args.k,
                                         max_iter=args.epochs, random_state=0, n_jobs=2)
                try:
                    m.fit(train, ytr)
                    r = rmse(yte, m.predict(test))
                except FloatingPointError:
                    r = float("nan")
                out.append(dict(solver=solver, lr=lr, alpha=alpha, rmse=r))
                print(out[-1], flush=True)
    save_json(RESULTS / "fm_tune.json", out)


ID_COLS = ["user", "item"]
SIDE_COLS = ["user", "item", "age", "gender", "occupation", "genres", "year"]


def timed(fn, repeats):
    """(median seconds, last result) of ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def curve(make, train, ytr, test, yte, epochs):
    """Test RMSE after each epoch (one partial_fit per epoch) and the cumulative fit time."""
    model = make()
    rmses, seconds, total = [], [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        model.partial_fit(train, ytr)
        total += time.perf_counter() - start
        rmses.append(rmse(yte, model.predict(test)))
        seconds.append(total)
    return rmses, seconds


def log_loss(y, p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main(args):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train, test, ytr, yte = load_frames()
    n = len(ytr)
    res = {"n_train": n, "n_test": len(yte), "repeats": args.repeats, "rows": [], "curves": {}, "clf": []}
    rows = res["rows"]

    def add(**row):
        rows.append(row)
        print(row, flush=True)
        save_json(RESULTS / "fm.json", res)

    # --- recfreq: the default FM with side features, and ids only
    for feats, cols in (("ids+side", SIDE_COLS), ("ids", ID_COLS)):
        sec, m = timed(lambda: FactorizationMachine(n_jobs=2, random_state=0).fit(train[cols], ytr), args.repeats)
        add(model="recfreq FM (defaults: adagrad, k=64, 15 epochs)", features=feats, rmse=rmse(yte, m.predict(test[cols])),
            fit_s=sec, updates_per_s=n * m.n_iter_ / sec)
    sec, m = timed(lambda: MatrixFactorization(n_jobs=2, random_state=0).fit(train[ID_COLS].to_numpy(), ytr),
                   args.repeats)
    add(model="recfreq MatrixFactorization (defaults)", features="ids", rmse=rmse(yte, m.predict(test[ID_COLS].to_numpy())),
        fit_s=sec, updates_per_s=n * m.n_iter_ / sec)
    # --- k=10, 20 epochs: the peers' setting, for throughput. "DataFrame" includes
    # the side-feature encoding (~0.3 s); "CSR" gets the same design matrix as the peers
    designs = {f: design(train, test, c) for f, c in (("ids", ID_COLS), ("ids+side", SIDE_COLS))}
    for feats, cols in (("ids", ID_COLS), ("ids+side", SIDE_COLS)):
        A, B = designs[feats]
        for nj in (1, 2):
            for source, Xa, Xb in (("CSR", A, B), ("DataFrame", train[cols], test[cols])):
                sec, m = timed(lambda: FactorizationMachine(n_factors=10, max_iter=20, n_jobs=nj, random_state=0)
                               .fit(Xa, ytr), args.repeats)
                add(model=f"recfreq FM k=10, 20 epochs, n_jobs={nj}, {source} input", features=feats,
                    rmse=rmse(yte, m.predict(Xb)), fit_s=sec, updates_per_s=n * m.n_iter_ / sec)

    # --- peers on the same design matrices
    try:
        import myfm

        for feats, (A, B) in designs.items():
            sec, m = timed(lambda: myfm.MyFMRegressor(rank=10, random_seed=0).fit(A, ytr, n_iter=200, n_kept_samples=195),
                           args.repeats)
            add(model="myFM Gibbs k=10, 200 iter", features=feats, rmse=rmse(yte, m.predict(B)), fit_s=sec,
                updates_per_s=None)
    except ImportError as exc:
        res["myfm_error"] = str(exc)
    try:
        from fastFM import mcmc, sgd

        for feats, (A, B) in designs.items():
            Ac, Bc = A.tocsc(), B.tocsc()
            sec, m = timed(lambda: sgd.FMRegression(n_iter=20 * n, init_stdev=0.1, rank=10, l2_reg_w=0.1,
                                                    l2_reg_V=0.1, step_size=0.01, random_state=0).fit(Ac, ytr),
                           args.repeats)
            pred = np.clip(m.predict(Bc), 1, 5)
            add(model="fastFM SGD k=10, 20 epochs", features=feats, rmse=rmse(yte, pred), fit_s=sec,
                updates_per_s=20 * n / sec)
            sec, pred = timed(lambda: mcmc.FMRegression(n_iter=200, rank=10, init_stdev=0.1, random_state=0)
                              .fit_predict(Ac, ytr, Bc), args.repeats)
            add(model="fastFM MCMC k=10, 200 iter", features=feats, rmse=rmse(yte, np.clip(pred, 1, 5)), fit_s=sec,
                updates_per_s=None)
    except ImportError as exc:
        res["fastfm_error"] = str(exc)

    # --- the four solvers, RMSE per epoch (defaults of each solver), with cumulative fit time;
    # CSR input, so that the per-epoch partial_fit calls do not re-encode the side features
    A, B = designs["ids+side"]
    for solver in SOLVERS:
        rm, secs = curve(lambda: FactorizationMachine(solver=solver, n_jobs=2, random_state=0), A, ytr, B, yte,
                         args.epochs)
        res["curves"][solver] = {"rmse": rm, "seconds": secs}
        print(solver, [round(r, 4) for r in rm], flush=True)
        save_json(RESULTS / "fm.json", res)

    # --- classification: rating >= 4
    ctr, cte = (ytr >= 4).astype(int), (yte >= 4).astype(int)

    def add_clf(model, feats, p, sec):
        res["clf"].append(dict(model=model, features=feats, auc=float(roc_auc_score(cte, p)), log_loss=log_loss(cte, p),
                               fit_s=sec))
        print(res["clf"][-1], flush=True)
        save_json(RESULTS / "fm.json", res)

    sec, m = timed(lambda: FactorizationMachineClassifier(n_jobs=2, random_state=0).fit(train[SIDE_COLS], ctr),
                   args.repeats)
    add_clf("recfreq FactorizationMachineClassifier (defaults)", "ids+side", m.predict_proba(test[SIDE_COLS])[:, 1], sec)
    A, B = designs["ids+side"]
    sec, m = timed(lambda: LogisticRegression(max_iter=2000).fit(A, ctr), args.repeats)
    add_clf("scikit-learn LogisticRegression (C=1)", "ids+side", m.predict_proba(B)[:, 1], sec)
    try:
        import myfm

        sec, m = timed(lambda: myfm.MyFMClassifier(rank=10, random_seed=0).fit(A, ctr, n_iter=200, n_kept_samples=195),
                       args.repeats)
        add_clf("myFM Gibbs classifier k=10, 200 iter", "ids+side", m.predict_proba(B), sec)
    except ImportError:
        pass


def report(args):
    res = load_json(RESULTS / "fm.json", None)
    print(f"ml-100k, 80/20 split seed 0 ({res['n_train']} train ratings); times: median of {res['repeats']}\n")
    print("| model | features | test RMSE | fit s | updates/s |")
    print("|---|---|---|---|---|")
    for r in res["rows"]:
        ups = f"{r['updates_per_s'] / 1e6:.1f} M" if r.get("updates_per_s") else "-"
        print(f"| {r['model']} | {r['features']} | {r['rmse']:.4f} | {r['fit_s']:.2f} | {ups} |")
    print("\n| solver | " + " | ".join(f"ep {e}" for e in (1, 2, 5, 10, 15, 20, 25)) + " | best (epoch) |")
    print("|---|" + "---|" * 8)
    for solver, c in res["curves"].items():
        rm = c["rmse"]
        cells = [f"{rm[e - 1]:.4f}" if e <= len(rm) else "-" for e in (1, 2, 5, 10, 15, 20, 25)]
        print(f"| {solver} | " + " | ".join(cells) + f" | {min(rm):.4f} ({int(np.argmin(rm)) + 1}) |")
    for r in res["rows"]:
        if r["model"].startswith("myFM Gibbs") and r["features"] == "ids+side":
            target = r["rmse"]
            print(f"\nmyFM Gibbs (ids+side) RMSE {target:.4f} in {r['fit_s']:.1f} s; epochs/seconds for each solver "
                  "to reach it:")
            for solver, c in res["curves"].items():
                hit = [i for i, v in enumerate(c["rmse"]) if v <= target]
                print(f"- {solver}: " + (f"epoch {hit[0] + 1}, {c['seconds'][hit[0]]:.2f} s" if hit else
                                         f"not reached in {len(c['rmse'])} epochs (best {min(c['rmse']):.4f})"))
    print("\n| classifier (rating >= 4) | features | ROC AUC | log loss | fit s |")
    print("|---|---|---|---|---|")
    for r in res["clf"]:
        print(f"| {r['model']} | {r['features']} | {r['auc']:.4f} | {r['log_loss']:.4f} | {r['fit_s']:.2f} |")


def _every_row_hogwild(fit):
    """``fit`` with the FM's per-thread copies of hot rows switched off (all rows Hogwild).

    For ``speed --compare-hogwild`` only: it swaps the CPU backend's hot-row
    choice (``recfreq._engine.cpu.hot_rows``) for one that returns no rows while
    ``fit`` runs.
    """
    from recfreq._engine import cpu

    def run():
        original = cpu.hot_rows
        cpu.hot_rows = lambda *args, **kwargs: np.empty(0, dtype=np.int32)
        try:
            return fit()
        finally:
            cpu.hot_rows = original

    return run


def speed(args):
    """Throughput only: recfreq FM k=10 (CSR input, 1 and 2 threads) against fastFM's SGD.

    The three fits are interleaved inside each repeat, so that a change in the machine's
    load hits all of them alike; each row is the median over ``--repeats``. Writes
    results/fm_speed.json, or ``--out`` (a path) instead, with the machine's 1-minute
    load average before and after (threads only help when cores are free).
    ``--compare-hogwild`` adds, in the same interleaving, n_jobs=2 with every
    feature row Hogwild (no per-thread copies of hot rows, as before they existed).
    """
    from fastFM import sgd

    train, test, ytr, yte = load_frames()
    n = len(ytr)
    out = {"repeats": args.repeats, "load_average_before": os.getloadavg()[0], "rows": []}
    for feats, cols in (("ids", ID_COLS), ("ids+side", SIDE_COLS)):
        A, B = design(train, test, cols)
        Ac = A.tocsc()
        fits = {f"recfreq FM k=10, 20 epochs, n_jobs={nj}, CSR input":
                (lambda nj=nj: FactorizationMachine(n_factors=10, max_iter=20, n_jobs=nj, random_state=0).fit(A, ytr))
                for nj in (1, 2)}
        if args.compare_hogwild:
            fits["recfreq FM k=10, 20 epochs, n_jobs=2, CSR input, every row Hogwild"] = _every_row_hogwild(
                fits["recfreq FM k=10, 20 epochs, n_jobs=2, CSR input"])
        fits["fastFM SGD k=10, 20 epochs"] = lambda: sgd.FMRegression(
            n_iter=20 * n, init_stdev=0.1, rank=10, l2_reg_w=0.1, l2_reg_V=0.1, step_size=0.01,
            random_state=0).fit(Ac, ytr)
        times = {name: [] for name in fits}
        for _ in range(args.repeats):
            for name, fit in fits.items():
                start = time.perf_counter()
                fit()
                times[name].append(time.perf_counter() - start)
        base = 20 * n / float(np.median(times["fastFM SGD k=10, 20 epochs"]))
        for name, ts in times.items():
            ups = 20 * n / float(np.median(ts))
            out["rows"].append(dict(model=name, features=feats, fit_s=float(np.median(ts)), fit_s_all=ts,
                                    updates_per_s=ups, ratio_to_fastfm=ups / base))
            print(out["rows"][-1], flush=True)
    out["load_average_after"] = os.getloadavg()[0]
    save_json(args.out or RESULTS / "fm_speed.json", out)


def mixed(args):
    """embedding_dims="uniform" vs "mixed" at the defaults, n_jobs=1: test RMSE, fit time, parameters.

    Both fits run inside each repeat (interleaved, so a change in the machine's
    load hits both alike); fit time is the median over ``--repeats`` (DataFrame
    input, so it includes the ~0.3 s side-feature encoding). With n_jobs=1
    every repeat gives the same model, hence one RMSE. ``--sweep-dense`` first
    runs the grid of dense_learning_rate (w0 and the projections) for the
    mixed model that chose its defaults.
    """
    train, test, ytr, yte = load_frames()
    out = {"repeats": args.repeats, "rows": [], "sweep": []}
    if args.sweep_dense:
        A, B = design(train, test, SIDE_COLS)
        for solver in SOLVERS:
            for dlr in (1e-5, 1e-4, 1e-3):
                m = FactorizationMachine(solver=solver, embedding_dims="mixed", dense_learning_rate=dlr,
                                         n_jobs=1, random_state=0).fit(A, ytr)
                out["sweep"].append({"solver": solver, "dense_learning_rate": dlr, "rmse": rmse(yte, m.predict(B))})
                print(out["sweep"][-1], flush=True)
    fits = {dims: (lambda dims=dims: FactorizationMachine(embedding_dims=dims, n_jobs=1, random_state=0)
                   .fit(train[SIDE_COLS], ytr)) for dims in ("uniform", "mixed")}
    times, models = {dims: [] for dims in fits}, {}
    for _ in range(args.repeats):
        for dims, fit in fits.items():
            start = time.perf_counter()
            models[dims] = fit()
            times[dims].append(time.perf_counter() - start)
    for dims, m in models.items():
        row = {"model": f"recfreq FM defaults (adagrad, k=64, 15 epochs), embedding_dims={dims!r}, n_jobs=1",
               "features": "ids+side", "rmse": rmse(yte, m.predict(test[SIDE_COLS])),
               "fit_s": float(np.median(times[dims])), "fit_s_all": times[dims],
               "n_parameters": int(m.n_parameters_)}
        if dims == "mixed":
            table = m.feature_embedding_
            row["block_widths"] = table.group_in_dim.tolist()
            row["block_rows"] = np.bincount(table.row_group).tolist()
        out["rows"].append(row)
        print(row, flush=True)
    save_json(RESULTS / "fm_mixed.json", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["tune", "main", "report", "speed", "mixed"])
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweep-dense", action="store_true", help="mixed: dense_learning_rate grid first")
    parser.add_argument("--compare-hogwild", action="store_true",
                        help="speed: also time n_jobs=2 with every feature row Hogwild")
    parser.add_argument("--out", default=None,
                        help="speed: write the results here instead of results/fm_speed.json")
    args = parser.parse_args()
    {"tune": tune, "main": main, "report": report, "speed": speed, "mixed": mixed}[args.mode](args)
