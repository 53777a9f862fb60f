"""Property-based tests of every estimator's public calls (hypothesis).

Random sequences of calls -- ``fit``, ``partial_fit``, ``predict``,
``predict_proba``, ``decision_function``, ``recommend``, ``similar_items`` and
``set_params`` between them (``recommend`` with candidate sets and blocklists) -- on random data: ids of every kind (small and
huge integers, beyond int64 and negative, strings, integral floats, booleans,
duplicates, mixes that must be refused), ratings from 1 to 5 up to +-3e38 and
1e300, tiny and constant ones, side columns of every kind for the
factorization machines and sparse design matrices. Every call must keep the
contract of ``_robustness.checked_call``:

* it does not crash, and raises nothing but a ValueError or TypeError (a
  FloatingPointError when training diverges) whose message is not empty;
* a call that raised leaves the estimator exactly as it was: every attribute
  (parameters, fitted attributes, encoders, solver state, random state) is
  compared deeply before and after;
* a call that returned gives output of the right shape and dtype, finite
  (only ``recommend`` may give ``-inf`` to slots filled with seen items), and
  a model that trained without error predicts its training rows within a
  bound set by the targets (``assert_sane_regression``).

Data stay tiny (a few dozen rows, two to four factors, one to three epochs)
so a property runs hundreds of examples in seconds. The number of examples
comes from the hypothesis profile chosen in ``conftest.py``
(``HYPOTHESIS_PROFILE=dev|ci|long``). Calls that can kill the interpreter
also have enumerated cases in ``test_crash_cases.py``, run in subprocesses.
"""

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, note
from hypothesis import strategies as st

from _robustness import ALLOWED_ERRORS, ESTIMATORS, TARGET_KIND, Raised, checked_call, make, tiny_data
from recfreq._solvers import SOLVER_NAMES

pytestmark = pytest.mark.filterwarnings("ignore")  # warnings are allowed; outcomes are judged

# ---------------------------------------------------------------- ids
#: Pools of raw ids. Drawing rows from a small pool gives duplicates and
#: (user, item) pairs seen twice; the pools span int64 and go beyond it.
ID_POOLS = {
    "small": [0, 1, 2, 3, 4, 5],
    "sparse": [0, 7, 10**6, 10**12, 2**62, -3, -(2**63), 2**63 - 1],
    "beyond-int64": [1, 2**63, 2**64 + 1, 10**20, -(2**70), -5],
    "str": ["a", "b", "\u00fc", "", "10", "x y"],
    "float": [0.0, 1.0, 2.0, 1e6, -4.0],
    "bool": [True, False],
}
#: Id columns that must be refused (TypeError or ValueError), never guessed.
BAD_ID_POOLS = {
    "mixed-str-int": [1, "a", 2, "b"],
    "nan": [1.0, float("nan")],
    "fraction": [1.0, 1.5],
    "none": [1, None],
    "complex": [1 + 1j, 2 + 0j],
}
REGRESSORS = [n for n, kind in TARGET_KIND.items() if kind == "ratings"]
FM_NAMES = [n for n in ESTIMATORS if n.startswith("FactorizationMachine")]

# ------------------------------------------------------------- targets
#: Finite ratings at the edges: beyond float32 (1e300), at its limit (3e38),
#: huge but representable (1e30), tiny and subnormal.
EXTREME_RATINGS = [1e30, -1e30, 3e38, -3e38, 1e300, -1e300, 1e-300, 5e-324, 0.0, -1.0, 70046.0]


@st.composite
def ratings(draw, n):
    kind = draw(st.sampled_from(["stars", "wide", "extreme", "constant", "bad"]))
    note(f"ratings: {kind}")
    if kind == "stars":
        return [float(v) for v in draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))]
    if kind == "wide":
        return draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
    if kind == "extreme":
        return draw(st.lists(st.sampled_from(EXTREME_RATINGS + [1.0, 3.0, 5.0]), min_size=n, max_size=n))
    if kind == "constant":
        return [draw(st.sampled_from(EXTREME_RATINGS + [4.0]))] * n
    # must be refused: NaN, infinity, complex or non-numeric ratings among good ones
    bad = draw(st.sampled_from([float("nan"), float("inf"), 1 + 2j, "five"]))
    values = [3.0] * n
    values[draw(st.integers(0, n - 1))] = bad
    return values


@st.composite
def labels(draw, n, implicit):
    kinds = ["01", "bool", "words", "ints", "one-class", "three-class"] + (["none"] if implicit else [])
    kind = draw(st.sampled_from(kinds))
    note(f"labels: {kind}")
    if kind == "none":
        return None
    pools = {"01": [0, 1], "bool": [False, True], "words": ["no", "yes"], "ints": [-1, 7],
             "one-class": ["yes"], "three-class": [0, 1, 2]}
    pool = pools[kind]
    values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    if len(pool) > 1 and n >= len(pool):  # usually every class of the pool is present
        values[:len(pool)] = pool if draw(st.booleans()) else values[:len(pool)]
    return values


# ------------------------------------------------------------- batches
@dataclass
class Schema:
    """How the batches of one test are laid out, so later batches fit the first."""

    user_pool: str
    item_pool: str
    container: str  # "list", "array" or "frame"
    side: list = field(default_factory=list)  # FM: kinds of the side columns
    design: bool = False  # FM on a sparse design matrix instead of id columns
    sparse_columns: int = 0  # the design's width (0 included)


SIDE_KINDS = ["numeric", "numeric-huge", "int", "category", "bool", "missing"]


@st.composite
def schemas(draw, name):
    if name in FM_NAMES and draw(st.integers(0, 3)) == 0:
        return Schema("small", "small", "sparse", design=True, sparse_columns=draw(st.integers(0, 7)))
    pools = st.sampled_from(sorted(ID_POOLS))
    schema = Schema(draw(pools), draw(pools), draw(st.sampled_from(["list", "array", "frame"])))
    if name in FM_NAMES:
        schema.side = draw(st.lists(st.sampled_from(SIDE_KINDS), max_size=3))
        if schema.side:
            schema.container = "frame"  # keeps each column's dtype
    return schema


def _side_values(draw, kind, n):
    if kind == "numeric":
        return np.asarray(draw(st.lists(st.floats(-100, 100, allow_nan=False), min_size=n, max_size=n)))
    if kind == "numeric-huge":  # finite in float64, beyond float32
        return np.asarray(draw(st.lists(st.sampled_from([1e200, -1e200, 1e30, 3e38, 1.0, 0.0]),
                                        min_size=n, max_size=n)))
    if kind == "int":
        return np.asarray(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    if kind == "category":
        return np.asarray(draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n)), dtype=object)
    if kind == "bool":
        return np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return np.asarray(draw(st.lists(st.sampled_from(["x", None, float("nan")]), min_size=n, max_size=n)),
                      dtype=object)


class Batch:
    """One batch of rows: X (list, array, DataFrame or CSR design), targets, and its raw ids."""

    def __init__(self, X, y, users, items):
        self.X, self.y = X, y
        self.users, self.items = users, items  # raw ids, for the bookkeeping of seen pairs (None for designs)

    def __repr__(self):  # what a failing example prints: enough to rebuild the batch
        X = self.X
        if sp.issparse(X):
            X = f"sp.csr_matrix(np.array({X.toarray().tolist()!r}).reshape{X.shape})"
        elif isinstance(X, pd.DataFrame):
            X = f"pd.DataFrame({X.to_dict(orient='list')!r})  # dtypes {X.dtypes.astype(str).tolist()}"
        else:
            X = repr(X)
        return f"Batch(X={X}, y={self.y!r})"


@st.composite
def batches(draw, name, schema, with_targets=True, min_rows=1):
    """A batch laid out by ``schema``; one in ten is foreign (another layout, or ids that must be refused)."""
    n = draw(st.integers(min_rows, 30))
    if draw(st.integers(0, 9)) == 0:
        schema = draw(schemas(name))
        note("foreign batch")
        if draw(st.booleans()):
            bad = draw(st.sampled_from(sorted(BAD_ID_POOLS)))
            schema = Schema(bad, schema.item_pool, "list")
    y = None
    if with_targets:
        kind = TARGET_KIND[name]
        y = draw(ratings(n)) if kind == "ratings" else draw(labels(n, implicit=kind == "implicit"))
    if schema.design:
        values = st.sampled_from([0.0, 0.0, 1.0, -1.0, 0.5, 3.0, 1e30, -1e30, 3e38, 1e300, 1e-300])
        dense = draw(st.lists(st.lists(values, min_size=schema.sparse_columns, max_size=schema.sparse_columns),
                              min_size=n, max_size=n))
        return Batch(sp.csr_matrix(np.asarray(dense).reshape(n, schema.sparse_columns)), y, None, None)
    pool = lambda p: (ID_POOLS.get(p) or BAD_ID_POOLS[p])  # noqa: E731
    users = draw(st.lists(st.sampled_from(pool(schema.user_pool)), min_size=n, max_size=n))
    items = draw(st.lists(st.sampled_from(pool(schema.item_pool)), min_size=n, max_size=n))
    if schema.container == "list":
        X = [[u, i] for u, i in zip(users, items)]
    elif schema.container == "array":
        X = np.array([[u, i] for u, i in zip(users, items)], dtype=object)
        if all(isinstance(v, int) and -(2**63) <= v < 2**63 for v in users + items):
            X = X.astype(np.int64)
    else:
        X = pd.DataFrame({"user": pd.Series(users, dtype=object if schema.user_pool != "small" else None),
                          "item": pd.Series(items, dtype=object if schema.item_pool != "small" else None)})
        for j, kind in enumerate(schema.side):
            X[f"side{j}"] = _side_values(draw, kind, n)
    return Batch(X, y, users, items)


# ------------------------------------------------------------ parameters
COMMON_CHANGES = {
    "solver": list(SOLVER_NAMES),
    "learning_rate": [None, 1e-3, 0.05, 0.5],
    "alpha": [0.0, 0.1],
    "max_iter": [1, 2, 3],
    "counter_halflife": [None, 0.5, 10.0],
    "dtype": ["float32", "float64"],
    "n_jobs": [None, 1, 2, -1, 10**6, 2**40],
    "warm_start": [False, True],
    "frequency_exponent": [0.0, 0.5, 1.0],
    "early_stopping": [False, True],
    "random_state": [0, 1],
}
FAMILY_CHANGES = {
    "BaselinePredictor": {},
    "MatrixFactorization": {"n_factors": [2, 3, 4], "embedding_dims": ["uniform", "mixed"], "n_dim_blocks": [1, 2],
                            "dense_learning_rate": [None, 1e-3], "alpha_bias": [None, 0.01]},
    "OverparamMF": {"n_factors": [2, 3], "inner_dim": [2, 3, 5], "n_layers": [2, 3],
                    "dense_learning_rate": [None, 1e-3]},
    "FactorizationMachine": {"n_factors": [2, 3, 4], "embedding_dims": ["uniform", "mixed"],
                             "task": ["regression", "classification"], "clip_predictions": [True, False],
                             "standardize": [True, False], "dense_learning_rate": [None, 1e-3]},
    "FactorizationMachineClassifier": {"n_factors": [2, 3, 4], "embedding_dims": ["uniform", "mixed"],
                                       "standardize": [True, False], "dense_learning_rate": [None, 1e-3]},
    "NeuralCF": {"model": ["gmf", "mlp", "neumf"], "n_factors": [2, 3], "hidden_layers": [(4, 2), (6, 3, 2), (2,)],
                 "n_negatives": [0, 1, 2], "dropout": [0.0, 0.5], "positive_threshold": [None, 0.5],
                 "dense_learning_rate": [None, 1e-3]},
}


def _family(name):
    return name.split("-")[0]


def changes_for(name):
    return {**COMMON_CHANGES, **FAMILY_CHANGES[_family(name)]}


@st.composite
def param_changes(draw, name):
    options = changes_for(name)
    keys = draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=3, unique=True))
    return {k: draw(st.sampled_from(options[k])) for k in keys}


# ----------------------------------------------------------- bookkeeping
def _key(value):
    """One raw id as the estimators see it (1, 1.0, True and np.int64(1) are the same id)."""
    if isinstance(value, (str, np.str_)):
        return ("s", str(value))
    return ("i", int(value))


@dataclass
class Ghost:
    """What the test knows the estimator has learned since its last fresh start."""

    fitted: bool = False
    regression: bool = True
    design: bool = False  # fitted on a sparse design matrix (no id columns)
    dtype: np.dtype = None
    low: float = math.inf
    high: float = -math.inf
    trained: list = field(default_factory=list)  # successful training batches
    seen: set = field(default_factory=set)  # (user key, item key)
    items: set = field(default_factory=set)
    users: set = field(default_factory=set)

    def learn(self, batch, fresh, estimator):
        if fresh:
            self.__init__(fitted=True, regression=_is_regression(estimator), dtype=np.dtype(estimator.dtype),
                          design=batch.users is None)
        if self.regression:
            y = np.asarray(batch.y, dtype=np.float64)
            self.low, self.high = min(self.low, float(y.min())), max(self.high, float(y.max()))
        self.trained.append(batch)
        if batch.users is not None:
            users, items = [_key(u) for u in batch.users], [_key(i) for i in batch.items]
            self.seen.update(zip(users, items))
            self.users.update(users)
            self.items.update(items)


def _is_regression(estimator):
    """Regression unless the estimator offers class probabilities (read when it is fitted afresh)."""
    return not hasattr(estimator, "predict_proba")


# --------------------------------------------------------------- checks
def assert_sane_regression(estimator, ghost):
    """A regressor that trained without error predicts its training rows within a bound.

    Property: with [lo, hi] the range of every rating trained on since the
    last fresh start and s = max(hi - lo, 1, 1e-3 max(|lo|, |hi|)), every
    prediction for a training row lies in [lo - 100 s, hi + 100 s].

    Why this is sound: every model starts at the global mean (an intercept
    at it) with factor rows of spread at most 0.1, so its first predictions
    are within about 1 of the targets' mean. A stable step of the squared
    loss moves a prediction toward its target; ending 100 spans away from
    every target after one to three epochs needs steps that grow
    geometrically, which is divergence, and divergence must be reported as a
    FloatingPointError (with the state of before the call restored), not
    returned as a fitted model -- nor hidden by clipping. The absolute floor
    1 covers the initial factor term when all targets are equal; the
    relative floor covers the float32 rounding of huge ratings (one unit in
    the last place of 1e30 is 7.6e22).
    """
    span = max(ghost.high - ghost.low, 1.0, 1e-3 * max(abs(ghost.low), abs(ghost.high)))
    lo, hi = ghost.low - 100 * span, ghost.high + 100 * span
    for batch in ghost.trained:
        pred = checked_call(estimator, "predict", batch.X)
        assert not isinstance(pred, Raised), f"a model that trained cannot predict its training rows: {pred}"
        pred = np.asarray(pred, dtype=np.float64)
        assert np.isfinite(pred).all(), f"non-finite predictions after a successful fit: {pred}"
        worst = pred[np.argmax(np.abs(pred - (lo + hi) / 2))]
        assert lo <= pred.min() and pred.max() <= hi, (
            f"prediction {worst:g} for ratings in [{ghost.low:g}, {ghost.high:g}] (bound [{lo:g}, {hi:g}]): "
            "a diverged model was returned as fitted")


def assert_predictions(estimator, ghost, X, n_rows):
    """``predict`` (and the classifiers' scores) of a fitted model: shape, dtype, finite."""
    if ghost.regression:
        pred = checked_call(estimator, "predict", X)
        if isinstance(pred, Raised):
            return pred
        assert pred.shape == (n_rows,), pred.shape
        assert pred.dtype == ghost.dtype, f"predict returned {pred.dtype}, the model was fitted in {ghost.dtype}"
        assert np.isfinite(pred).all(), f"non-finite predictions: {pred}"
        return pred
    out = []
    for method in ("predict_proba", "decision_function", "predict"):
        result = checked_call(estimator, method, X)
        if isinstance(result, Raised):
            return result
        if method == "predict_proba":
            assert result.shape == (n_rows, 2) and result.dtype == ghost.dtype, (result.shape, result.dtype)
            assert np.isfinite(result).all() and (result >= 0).all() and (result <= 1).all(), result
            np.testing.assert_allclose(result.sum(axis=1), 1, rtol=1e-5)
        elif method == "decision_function":
            assert result.shape == (n_rows,) and np.isfinite(result).all(), result
            assert result.dtype == ghost.dtype, f"decision_function returned {result.dtype}, fitted in {ghost.dtype}"
        else:
            assert result.shape == (n_rows,)
            assert np.isin(result, estimator.classes_).all(), (result, estimator.classes_)
        out.append(result)
    return out


def assert_recommendations(estimator, ghost, users, n, exclude_seen, out, n_candidates, blocked=()):
    items, scores = out
    n_out = min(n, n_candidates)
    assert items.shape == scores.shape == (len(users), n_out), (items.shape, scores.shape)
    assert scores.dtype == ghost.dtype, f"recommend scores are {scores.dtype}, the model was fitted in {ghost.dtype}"
    finite = np.isfinite(scores)
    if exclude_seen:
        assert (finite | (scores == -np.inf)).all(), scores
    else:
        assert finite.all(), scores
    for row, user in enumerate(users):
        ranked = scores[row][finite[row]]
        assert (np.diff(ranked) <= 0).all(), f"scores not best first: {scores[row]}"
        for item, score in zip(items[row], scores[row]):
            assert _key(item) in ghost.items, f"recommended item {item!r} was never trained on"
            assert _key(item) not in blocked, f"recommended the blocked item {item!r}"
            if exclude_seen and np.isfinite(score):
                assert (_key(user), _key(item)) not in ghost.seen, (
                    f"recommend(exclude_seen=True) gave user {user!r} the seen item {item!r} with score {score}")


# ------------------------------------------------------------ sequences
def _fresh_start(estimator, method, ghost):
    """Whether a successful call of ``method`` starts the model over."""
    if method == "partial_fit":
        return not ghost.fitted
    return not (estimator.warm_start and ghost.fitted)


def _bad_ratings(y):
    """Ratings that must be refused: NaN, infinity, complex or non-numeric values."""
    if y is None:
        return False
    for v in y:
        if isinstance(v, (str, complex)) or (isinstance(v, float) and not math.isfinite(v)):
            return True
    return False


def _bad_ids(values):
    """An id column that must be refused: None, NaN, fractions, complex, or strings mixed with numbers."""
    if values is None:
        return False
    kinds = set()
    for v in values:
        if v is None or isinstance(v, complex) or (isinstance(v, float) and (v != v or v != int(v))):
            return True
        kinds.add(isinstance(v, str))
    return len(kinds) > 1


def _unrepresentable(batch, dtype):
    """A design value the model's dtype cannot hold (1e300 in float32): it must be refused, not turned into inf."""
    X = batch.X
    return sp.issparse(X) and X.nnz > 0 and float(np.abs(X.data).max()) > float(np.finfo(dtype).max)


def _train(estimator, ghost, method, batch):
    fresh = _fresh_start(estimator, method, ghost)
    out = checked_call(estimator, method, batch.X, batch.y)
    note(f"{method} -> {out!r}"[:200])
    # every problem planted in the batch, with what an error about it names; when a
    # batch holds several, the call may report any one of them (validation stops at
    # the first it meets)
    planted = {}
    if _unrepresentable(batch, np.dtype(estimator.dtype) if fresh else ghost.dtype):
        planted["design values beyond the dtype"] = r"beyond the range|float32|float64"
    if TARGET_KIND[_name(estimator)] == "ratings" and estimator.get_params().get("task", "regression") == \
            "regression" and _bad_ratings(batch.y):
        planted["the ratings"] = r"\by\b|rating"
    if _bad_ids(batch.users) or _bad_ids(batch.items):
        planted["the ids"] = r"\bids?\b"
    if planted:
        assert isinstance(out, Raised), f"{method} accepted {', '.join(planted)}: {batch.users}, {batch.items}, {batch.y}"
        message = str(out.error)
        # an input with no column left, with another column count than the fit's, or with targets of
        # the wrong kind, is refused before the values are read
        assert any(re.search(pattern, message) for pattern in planted.values()) or \
            re.search(r"0 feature\(s\)|numeric ratings|\by\b|\bids?\b|class|features|changed the model.s shape|"
                      r"sparse design|positive row|X has \d+ columns, but", message), \
            f"the error names none of {sorted(planted)}: {message}"
    if isinstance(out, Raised):
        return out
    assert out is estimator, f"{method} must return the estimator"
    ghost.learn(batch, fresh, estimator)
    if ghost.regression:
        assert_sane_regression(estimator, ghost)
    else:
        for trained in ghost.trained:
            assert not isinstance(assert_predictions(estimator, ghost, trained.X, _n_rows(trained.X)), Raised)
    return out


def _name(estimator):
    """The ``ESTIMATORS`` entry an estimator was made from (its class and embedding layout)."""
    for name, (cls, settings) in ESTIMATORS.items():
        if type(estimator) is cls and all(getattr(estimator, k) == v for k, v in settings.items()
                                          if k in ("embedding_dims", "model")):
            return name
    return next(name for name, (cls, _) in ESTIMATORS.items() if type(estimator) is cls)


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


OPERATIONS = ["fit", "partial_fit", "predict", "recommend", "similar_items", "set_params"]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@given(data=st.data())
def test_call_sequences_keep_the_contract(name, data):
    """Any sequence of public calls and parameter changes keeps the contract (module docstring)."""
    estimator = make(name, random_state=data.draw(st.integers(0, 3), label="random_state"))
    schema = data.draw(schemas(name), label="schema")
    ghost = Ghost(regression=_is_regression(estimator))
    first = data.draw(st.sampled_from(["fit", "partial_fit"]), label="first call")
    _train(estimator, ghost, first, data.draw(batches(name, schema), label="batch"))
    for step in range(data.draw(st.integers(1, 5), label="n_steps")):
        op = data.draw(st.sampled_from(OPERATIONS), label=f"step {step}")
        if op in ("fit", "partial_fit"):
            _train(estimator, ghost, op, data.draw(batches(name, schema), label="batch"))
        elif op == "set_params":
            change = data.draw(param_changes(name), label="set_params")
            estimator.set_params(**change)
        elif op == "predict":
            query = data.draw(batches(name, schema, with_targets=False), label="query")
            if not ghost.fitted:
                assert isinstance(checked_call(estimator, "predict", query.X), Raised), "an unfitted model predicted"
            else:
                out = assert_predictions(estimator, ghost, query.X, _n_rows(query.X))
                if _unrepresentable(query, ghost.dtype):
                    assert isinstance(out, Raised), f"design values beyond {ghost.dtype} were not refused: {out!r}"
        elif op == "recommend":
            _recommend(estimator, ghost, schema, data)
        elif op == "similar_items" and hasattr(estimator, "similar_items"):
            _similar_items(estimator, ghost, data)


def _recommend(estimator, ghost, schema, data):
    if ghost.design or not ghost.fitted:
        out = checked_call(estimator, "recommend", [0], n=2)
        if not ghost.fitted:
            assert isinstance(out, Raised), "an unfitted model recommended"
        return
    known = [k[1] for k in sorted(ghost.users, key=repr)]
    kinds = {k[0] for k in ghost.users}
    # an unknown user of the same kind as the known ones; sometimes one of another kind
    unknown = ["never-seen"] if kinds == {"s"} else [10**15]
    foreign = data.draw(st.integers(0, 4), label="foreign user") == 0
    if foreign:
        unknown = [10**15] if kinds == {"s"} else ["never-seen"]
    users = data.draw(st.lists(st.sampled_from(known + unknown), min_size=1, max_size=4), label="users")
    n = data.draw(st.sampled_from([1, 3, 100, 0, -1]), label="n")
    batch_size = data.draw(st.sampled_from([1, 2, 1024, 0, -1]), label="batch_size")
    exclude_seen = data.draw(st.booleans(), label="exclude_seen")
    kwargs = {}
    known_items = sorted(ghost.items, key=repr)
    candidates = known_items
    if data.draw(st.booleans(), label="items?"):
        candidates = data.draw(st.lists(st.sampled_from(known_items), min_size=1, max_size=4), label="items")
        kwargs["items"] = [c[1] for c in candidates]
    blocked = set()
    if data.draw(st.booleans(), label="filter_items?"):
        # known items and one the model never saw (of the fitted kind: ignored, not an error)
        never = ("s", "never-seen") if {k[0] for k in ghost.items} == {"s"} else ("i", 10**15)
        blocked = set(data.draw(st.lists(st.sampled_from(known_items + [never]), max_size=3), label="filter_items"))
        kwargs["filter_items"] = [b[1] for b in blocked]
    n_candidates = len({c for c in candidates if c not in blocked})
    out = checked_call(estimator, "recommend", users, n=n, exclude_seen=exclude_seen, batch_size=batch_size,
                       **kwargs)
    if n < 1 or batch_size < 1:
        assert isinstance(out, Raised), f"recommend(n={n}, batch_size={batch_size}) was accepted"
        bad = "n" if n < 1 else "batch_size"
        assert re.search(rf"\b{bad}\b", str(out.error)), f"the error does not name {bad}: {out.error}"
        return
    if "items" in kwargs and len(set(candidates)) < len(candidates):
        # a candidate listed twice would be recommended twice: duplicates are refused, not dropped
        assert isinstance(out, Raised) and "duplicate" in str(out.error), f"duplicate candidates: {out!r}"
        return
    if n_candidates == 0:
        assert isinstance(out, Raised) and "removes all" in str(out.error), f"everything blocked: {out!r}"
        return
    if isinstance(out, Raised):
        assert foreign, f"recommend refused users {users} of the fitted kind: {out.error!r}"
        return
    assert_recommendations(estimator, ghost, users, n, exclude_seen, out, n_candidates, blocked)


def _similar_items(estimator, ghost, data):
    if not ghost.fitted:
        assert isinstance(checked_call(estimator, "similar_items", [0], allowed=ALLOWED_ERRORS + (KeyError,)),
                          Raised)
        return
    known = [k[1] for k in sorted(ghost.items, key=repr)]
    queries = data.draw(st.lists(st.sampled_from(known + ["never-seen"]), min_size=1, max_size=3), label="items")
    n = data.draw(st.sampled_from([1, 2, 50]), label="n")
    out = checked_call(estimator, "similar_items", queries, n=n, allowed=ALLOWED_ERRORS + (KeyError,))
    if isinstance(out, Raised):
        assert "never-seen" in queries or isinstance(out.error, TypeError), f"similar_items refused {queries}: {out}"
        return
    neighbours, sims = out
    width = min(n, len(ghost.items) - 1)
    assert neighbours.shape == sims.shape == (len(queries), width), (neighbours.shape, sims.shape)
    assert np.isfinite(sims).all() and (np.abs(sims) <= 1 + 1e-5).all(), sims
    for query, row in zip(queries, neighbours):
        assert _key(query) not in {_key(v) for v in row}, f"{query!r} is its own neighbour"


# -------------------------------------------------- parameters after fit
#: Parameters that may change what a fitted model predicts: ``clip_predictions``
#: is applied at prediction time by design. Every other parameter is read by
#: training only (``n_jobs`` may change the threads, not the values).
PREDICTION_TIME_PARAMS = {"clip_predictions"}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@given(data=st.data())
def test_set_params_does_not_change_a_fitted_model(name, data):
    """After fit, set_params alone never changes predictions: they stay equal, or the call refuses cleanly."""
    estimator = make(name, random_state=0)
    schema = data.draw(schemas(name), label="schema")
    batch = data.draw(batches(name, schema, min_rows=4), label="batch")
    if isinstance(checked_call(estimator, "fit", batch.X, batch.y), Raised):
        return
    methods = [m for m in ("predict", "predict_proba", "decision_function") if hasattr(estimator, m)]
    before = {m: getattr(estimator, m)(batch.X) for m in methods}
    recommend = None if batch.users is None else estimator.recommend([batch.users[0]], n=3)
    change = data.draw(param_changes(name), label="set_params")
    change = {k: v for k, v in change.items() if k not in PREDICTION_TIME_PARAMS}
    estimator.set_params(**change)
    for method in methods:
        after = checked_call(estimator, method, batch.X)
        if not isinstance(after, Raised):
            np.testing.assert_array_equal(after, before[method], err_msg=f"{method} changed after set_params({change})")
            assert after.dtype == before[method].dtype, f"{method} dtype changed after set_params({change})"
    if recommend is not None:
        after = checked_call(estimator, "recommend", [batch.users[0]], n=3)
        if not isinstance(after, Raised):
            for a, b in zip(after, recommend):
                np.testing.assert_array_equal(a, b, err_msg=f"recommend changed after set_params({change})")
                assert a.dtype == b.dtype, f"recommend dtype changed after set_params({change})"


# ------------------------------------------------------ invalid parameters
INVALID_PARAMS = {
    "learning_rate": [-0.1, 0.0, float("nan"), "fast"],
    "alpha": [-1.0, float("nan")],
    "max_iter": [0, -1, 2.5],
    "solver": ["newton", None],
    "counter_halflife": [-1.0, 0.0],
    "dtype": ["float16", "int32"],
    "n_jobs": [0, "two", 2.5],
    "frequency_exponent": [-1.0],
}
INVALID_FAMILY_PARAMS = {
    "BaselinePredictor": {},
    "MatrixFactorization": {"n_factors": [0, True, 2.5], "embedding_dims": ["auto"], "n_dim_blocks": [0]},
    "OverparamMF": {"n_factors": [0, True], "inner_dim": [0], "n_layers": [1]},
    "FactorizationMachine": {"n_factors": [0, True], "task": ["ranking"], "embedding_dims": ["auto"],
                             "dense_learning_rate": [-1.0]},
    "FactorizationMachineClassifier": {"n_factors": [0, True], "dense_learning_rate": [-1.0]},
    "NeuralCF": {"model": ["deep"], "n_factors": [0, True], "hidden_layers": [(), (3,), (4, 0)],
                 "n_negatives": [-1, 2**31], "dropout": [1.0, -0.5]},
}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@given(data=st.data())
def test_invalid_parameters_are_refused_by_name(name, data):
    """An invalid parameter set after fit is refused by fit and partial_fit, by name, before any change."""
    invalid = {**INVALID_PARAMS, **INVALID_FAMILY_PARAMS[_family(name)]}
    param = data.draw(st.sampled_from(sorted(invalid)), label="param")
    value = data.draw(st.sampled_from(invalid[param]), label="value")
    estimator = make(name, random_state=0)
    X, y = tiny_data(name)
    estimator.fit(X, y)
    estimator.set_params(**{param: value, "warm_start": data.draw(st.booleans(), label="warm_start")})
    for method in ("partial_fit", "fit"):
        out = checked_call(estimator, method, X, y)
        assert isinstance(out, Raised), f"{method} accepted {param}={value!r}"
        assert isinstance(out.error, (ValueError, TypeError)), out
        assert param in str(out.error), f"{method} with {param}={value!r} raised without naming it: {out.error}"


# --------------------------------------------------- side-column mismatch
@pytest.mark.parametrize("name", FM_NAMES)
@given(data=st.data())
def test_side_column_of_another_type_at_predict(name, data):
    """A side column fitted on one type and given another at predict: a result, or an error naming the column."""
    n = data.draw(st.integers(4, 20), label="n")
    fitted_kind, other_kind = data.draw(st.permutations(["category", "numeric"]), label="kinds")[:2]
    X = pd.DataFrame({"user": np.arange(n) % 3, "item": np.arange(n) % 4,
                      "genre": _side_values(data.draw, fitted_kind, n)})
    kind = TARGET_KIND[name]
    y = np.arange(n) % 2 if kind != "ratings" else np.linspace(1, 5, n)
    estimator = make(name, random_state=0)
    if isinstance(checked_call(estimator, "fit", X, y), Raised):
        return
    query = X.copy()
    query["genre"] = _side_values(data.draw, other_kind, n)
    method = "predict_proba" if kind != "ratings" else "predict"
    out = checked_call(estimator, method, query)
    if isinstance(out, Raised):
        assert "genre" in str(out.error), f"the error does not name the column: {out.error}"
    else:
        assert np.isfinite(out).all()
