"""Shared helpers of the benchmark scripts: data loading, splits, RMSE, JSON checkpoints."""
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# MovieLens-1M: a folder holding ml-1m (extracted, or the zip), read through
# fetch_movielens. RECFREQ_BENCH_ML1M names it; without it fetch_movielens's own
# cache is used (RECFREQ_DATA or ~/recfreq_data), downloading ml-1m.zip once.
ML1M_HOME = Path(os.environ["RECFREQ_BENCH_ML1M"]) if os.environ.get("RECFREQ_BENCH_ML1M") else None
RESULTS = HERE / "results"
FIGURES = HERE / "figures"

if str(REPO) not in sys.path:  # recfreq is used from the source tree (compiled in place)
    sys.path.insert(0, str(REPO))


def load_split(name):
    """(X_train, X_test, y_train, y_test) of the agreed split.

    ml-100k: bundled copy, 80/20, random_state=0. ml-1m: 90/10, random_state=0.
    """
    from recfreq.datasets import fetch_movielens, load_movielens
    from recfreq.model_selection import train_test_split

    if name == "ml-100k":
        X, y = load_movielens("100k", return_X_y=True)
        test_size = 0.2
    elif name == "ml-1m":
        bunch = fetch_movielens("1m", data_home=None if ML1M_HOME is None else str(ML1M_HOME))
        X, y = bunch.data, bunch.target
        test_size = 0.1
    else:
        raise ValueError(name)
    return train_test_split(X, y, test_size=test_size, random_state=0)


def rmse(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def save_json(path, obj):
    """Write atomically so a reader (or a killed run) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def load_json(path, default):
    path = Path(path)
    if path.exists():
        with open(path) as f:
            return json.load(f)
    return default


def machine_info():
    import platform

    info = {"python": platform.python_version(), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import recfreq

        info["recfreq"] = recfreq.__version__
    except Exception as exc:  # pragma: no cover
        info["recfreq"] = repr(exc)
    info["numpy"] = np.__version__
    try:
        import subprocess

        info["git_head"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                          capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "recfreq"],
                               capture_output=True, text=True).stdout.strip()
        info["recfreq_dirty"] = bool(dirty)
    except OSError:
        pass
    return info
