"""Snapshot an estimator and compare it deeply with a later state of itself.

Used to check the rule that a call which raises leaves the estimator exactly
as it was: every attribute (parameters, fitted attributes ending in ``_``,
private fitted state such as the id encoders, the random state, solver state
dataclasses and projected tables) is copied before the call and compared
after it, arrays element by element (NaN equal to NaN), nested objects
through their attributes.

Kept free of pytest so that the subprocess harness can import it too.
"""

import copy
import dataclasses

import numpy as np
import scipy.sparse as sp

__all__ = ["snapshot", "state_differences", "assert_unchanged"]


def snapshot(estimator):
    """A deep copy of every attribute of ``estimator`` (``vars``), to compare later."""
    return copy.deepcopy(vars(estimator))


def _array_differs(a, b):
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} != {b.dtype}"
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    if a.dtype.kind in "fc":
        same = np.array_equal(a, b, equal_nan=True)
    elif a.dtype.kind == "O":
        same = all(not _differences(x, y, "", set()) for x, y in zip(a.ravel(), b.ravel()))
    else:
        same = np.array_equal(a, b)
    return None if same else "values differ"


def _differences(a, b, path, seen):
    """Human-readable differences between ``a`` and ``b`` (empty when equal)."""
    key = (id(a), id(b))
    if key in seen:  # a cycle, or the same pair reached twice
        return []
    seen.add(key)
    if type(a) is not type(b):
        return [f"{path}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, np.ndarray):
        why = _array_differs(a, b)
        return [f"{path}: {why}"] if why else []
    if sp.issparse(a):
        if a.shape != b.shape or a.dtype != b.dtype or a.format != b.format:
            return [f"{path}: sparse {a.format}{a.shape}/{a.dtype} != {b.format}{b.shape}/{b.dtype}"]
        ca, cb = a.tocsr(copy=True), b.tocsr(copy=True)
        ca.sum_duplicates()
        cb.sum_duplicates()
        return [] if (ca != cb).nnz == 0 else [f"{path}: sparse values differ"]
    if isinstance(a, np.random.RandomState):
        return _differences(a.get_state(legacy=False), b.get_state(legacy=False), f"{path}.get_state()", seen)
    if isinstance(a, np.random.Generator):
        return _differences(a.bit_generator.state, b.bit_generator.state, f"{path}.bit_generator.state", seen)
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(map(str, set(a) ^ set(b)))} added or removed"]
        out = []
        for k in a:
            out += _differences(a[k], b[k], f"{path}[{k!r}]", seen)
        return out
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _differences(x, y, f"{path}[{i}]", seen)
        return out
    if isinstance(a, (float, np.floating)):
        return [] if (a == b or (a != a and b != b)) else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, (str, bytes, bool, int, np.generic, type(None), type, np.dtype)):
        return [] if a == b else [f"{path}: {a!r} != {b!r}"]
    if dataclasses.is_dataclass(a) or hasattr(a, "__dict__"):
        # TableState, ProjectedTable, IdEncoder, FeatureEncoder, nested estimators ...
        return _differences(vars(a), vars(b), f"{path}.<{type(a).__name__}>", seen)
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def state_differences(before, estimator):
    """Differences between a :func:`snapshot` and the estimator's current attributes."""
    return _differences(before, vars(estimator), type(estimator).__name__, set())


def assert_unchanged(before, estimator, what="the call"):
    """Raise AssertionError listing every attribute that differs from ``before``."""
    diffs = state_differences(before, estimator)
    if diffs:
        shown = "\n  ".join(diffs[:20])
        raise AssertionError(f"{what} raised but changed the estimator:\n  {shown}")
