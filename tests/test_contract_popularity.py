"""The shared contract, run for PopularityRecommender, and what its counts and decay promise.

``tests/test_contract.py`` assumes a trained rating model (RMSE, solvers,
epochs); the popularity baseline has no solver and no epochs, so the contract
points that apply are checked here: fit returns self and shapes, unknown ids,
string and huge ids, clone/pickle/joblib, partial_fit continues and grows,
grid search / pipeline / cross-validation, bad input refused with a clear
error that leaves the model as it was. Then the model itself: the score is
the count of positive interactions or its time-decayed sum, exactly, also
across ``partial_fit`` calls.
"""

import datetime
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from recfreq import PopularityRecommender

from _helpers import planted_ratings, tiny_ratings
from _robustness import Raised, checked_call


@pytest.fixture(scope="module")
def data():
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=1500, seed=1)
    t = np.random.default_rng(1).uniform(0, 1000, len(y))
    return X, y, t


def _counts(X, keep, ids):
    return np.array([int(((X[:, 1] == i) & keep).sum()) for i in ids], dtype=np.float64)


# ------------------------------------------------------------------ contract
def test_fit_returns_self_and_counts_positive_interactions(data):
    X, y, _ = data
    model = PopularityRecommender()
    assert model.fit(X) is model
    np.testing.assert_array_equal(model.item_ids_, np.unique(X[:, 1]))
    np.testing.assert_array_equal(model.user_ids_, np.unique(X[:, 0]))
    np.testing.assert_array_equal(model.item_popularity_, _counts(X, np.ones(len(X), bool), model.item_ids_))
    assert model.reference_time_ is None and model.n_features_in_ == 2
    assert model.predict(X[:17]).shape == (17,) and model.predict(X[:17]).dtype == np.float64
    # positive_threshold reads y as ratings, as NeuralCF does; without it, rows with y > 0 count
    rated = PopularityRecommender(positive_threshold=4).fit(X, y)
    np.testing.assert_array_equal(rated.item_popularity_, _counts(X, y >= 4, rated.item_ids_))
    labels = (y >= 4).astype(int)
    np.testing.assert_array_equal(PopularityRecommender().fit(X, labels).item_popularity_, rated.item_popularity_)
    np.testing.assert_array_equal(PopularityRecommender().fit(X, y).item_popularity_, model.item_popularity_)


def test_predict_gives_the_item_score_and_zero_for_unknown_items(data):
    X, _, _ = data
    model = PopularityRecommender().fit(X)
    item = X[0, 1]
    score = model.item_popularity_[np.searchsorted(model.item_ids_, item)]
    np.testing.assert_array_equal(model.predict([[X[0, 0], item], [10**9, item], [0, 10**9]]), [score, score, 0.0])


def test_recommend_is_the_same_list_for_everyone_minus_what_they_saw(data):
    X, _, _ = data
    model = PopularityRecommender().fit(X)
    order = np.argsort(-model.item_popularity_, kind="stable")
    items, scores = model.recommend([10**9, X[0, 0]], n=5)
    np.testing.assert_array_equal(items[0], model.item_ids_[order[:5]])
    np.testing.assert_array_equal(scores[0], model.item_popularity_[order[:5]])
    seen = set(X[X[:, 0] == X[0, 0], 1].tolist())
    np.testing.assert_array_equal(items[1], [i for i in model.item_ids_[order] if i not in seen][:5])


def test_string_and_huge_ids():
    X, y = tiny_ratings()
    Xs = np.array([[f"u{a:03d}", f"i{b:03d}"] for a, b in X], dtype=object)
    num, txt = PopularityRecommender().fit(X, y), PopularityRecommender().fit(Xs, y)
    np.testing.assert_array_equal(num.item_popularity_, txt.item_popularity_)
    assert txt.recommend(["u000", "nobody"], n=3)[0].dtype.kind == "U"
    with pytest.raises(TypeError, match="same kind"):
        txt.predict(X)
    X_big = np.array([[2**70 + int(a), 10**12 * int(b)] for a, b in X], dtype=object)
    big = PopularityRecommender().fit(X_big, y)
    assert big.item_popularity_.shape == num.item_popularity_.shape
    np.testing.assert_array_equal(big.item_popularity_, num.item_popularity_)


def test_clone_pickle_and_joblib_round_trip(data, tmp_path):
    import joblib

    X, _, t = data
    model = PopularityRecommender(half_life=100.0).fit(X, timestamps=t)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    restored.partial_fit(X[:10], timestamps=t[:10] + 1000)  # keeps counting
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").recommend([0], n=4)[0],
                                  model.recommend([0], n=4)[0])
    fresh = clone(model)
    assert fresh.get_params() == model.get_params() and not hasattr(fresh, "item_popularity_")
    np.testing.assert_array_equal(fresh.fit(X, timestamps=t).predict(X), model.predict(X))


def test_partial_fit_continues_grows_and_equals_one_fit(data):
    X, y, t = data
    order = np.argsort(t)  # in time order, and out of order: both must give one fit's scores
    for rows in (order, np.arange(len(y))):
        for half_life in (None, 50.0):
            model = PopularityRecommender(half_life=half_life, positive_threshold=3)
            for part in np.array_split(rows, 3):
                model.partial_fit(X[part], y[part], timestamps=t[part])
            whole = PopularityRecommender(half_life=half_life, positive_threshold=3).fit(X, y, timestamps=t)
            np.testing.assert_array_equal(model.item_ids_, whole.item_ids_)
            np.testing.assert_allclose(model.item_popularity_, whole.item_popularity_, rtol=1e-12)
            np.testing.assert_array_equal(model.item_counts_, whole.item_counts_)
            assert (model.user_items_ != whole.user_items_).nnz == 0


def test_grid_search_pipeline_and_cross_validation(data):
    X, y, t = data
    search = GridSearchCV(PopularityRecommender(), {"half_life": [None, 10.0, 1000.0], "positive_threshold": [None, 4]},
                          cv=KFold(3, shuffle=True, random_state=0)).fit(X, y, timestamps=t)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = clone(PopularityRecommender()).set_params(**search.best_params_).fit(X, y, timestamps=t)
    np.testing.assert_array_equal(search.best_estimator_.item_popularity_, best.item_popularity_)
    pipe = Pipeline([("ids", FunctionTransformer(lambda A: A[:, :2])), ("model", PopularityRecommender(half_life=5.0))])
    pipe.fit(np.column_stack([X, np.zeros(len(X))]), y, model__timestamps=t)
    assert pipe.predict(np.column_stack([X[:4], np.zeros(4)])).shape == (4,)
    scores = cross_val_score(PopularityRecommender(half_life=100.0), X, y, cv=3, n_jobs=2, params={"timestamps": t})
    assert np.isfinite(scores).all() and (scores > 0).all()


BAD_CALLS = [
    ({"half_life": 0.0}, {}, ValueError, "half_life"),
    ({"half_life": "week"}, {}, ValueError, "half_life"),
    ({"positive_threshold": "4"}, {}, ValueError, "positive_threshold"),
    ({}, {"timestamps": None}, ValueError, "pass timestamps"),
    ({}, {"timestamps": np.zeros(3)}, ValueError, "one entry per row of X"),
    ({}, {"timestamps": "nan"}, ValueError, "one entry per row of X"),
    ({}, {"timestamps": "nan-array"}, ValueError, "NaN or infinity"),
    ({}, {"timestamps": "strings"}, TypeError, "numbers or datetime64"),
    # (partial_fit refuses the changed half_life first)
    ({"half_life": datetime.timedelta(days=1)}, {"timestamps": "numbers"}, ValueError, "is a duration|half_life=100"),
    ({}, {"y": "strings"}, TypeError, "y must hold numeric 0/1 labels or ratings"),
    ({}, {"y": "nan-y"}, ValueError, "NaN or infinity"),
    ({}, {"y": "short"}, ValueError, "inconsistent numbers of samples"),
    ({}, {"X": "one column"}, ValueError, "feature"),
    ({}, {"X": "nan ids"}, ValueError, "NaN"),
]


@pytest.mark.parametrize("params, call, error, message", BAD_CALLS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_input_is_refused_and_the_fitted_model_kept(params, call, error, message, method, data):
    X, y, t = data
    model = PopularityRecommender(half_life=100.0).fit(X[:200], timestamps=t[:200])
    model.set_params(**{"half_life": 100.0, **params})
    values = {"nan": np.nan, "nan-array": np.where(np.arange(len(y)) == 3, np.nan, t),
              "strings": np.array(["x"] * len(y)), "numbers": t,
              "nan-y": np.where(np.arange(len(y)) == 5, np.nan, y), "short": y[:-1],
              "one column": X[:, :1], "nan ids": np.where(np.arange(len(y))[:, None] == 2, np.nan, X)}
    args = {"X": X, "y": None, "timestamps": t}
    args.update({k: values[v] if isinstance(v, str) else v for k, v in call.items()})
    out = checked_call(model, method, args["X"], args["y"], timestamps=args["timestamps"])
    assert isinstance(out, Raised) and isinstance(out.error, error), out
    assert re.search(message, str(out.error)), out.error


def test_partial_fit_refuses_a_changed_half_life_or_kind_of_timestamps(data):
    X, _, t = data
    model = PopularityRecommender(half_life=10.0).fit(X, timestamps=t)
    model.set_params(half_life=20.0)
    out = checked_call(model, "partial_fit", X[:5], timestamps=t[:5])
    assert isinstance(out, Raised) and "half_life=10.0" in str(out.error)
    model.set_params(half_life=10.0)
    out = checked_call(model, "partial_fit", X[:5], timestamps=np.datetime64("2020-01-01") + np.arange(5))
    assert isinstance(out, Raised) and "fitted with numeric" in str(out.error)
    assert model.partial_fit(X[:5], timestamps=t[:5]) is model


# ------------------------------------------------------------------ decay
def test_decayed_score_is_the_sum_of_halved_weights(data):
    X, _, t = data
    model = PopularityRecommender(half_life=100.0).fit(X, timestamps=t)
    assert model.reference_time_ == t.max()
    weights = 2.0 ** (-(t.max() - t) / 100.0)
    expected = [weights[X[:, 1] == i].sum() for i in model.item_ids_]
    np.testing.assert_allclose(model.item_popularity_, expected, rtol=1e-12)
    np.testing.assert_array_equal(model.item_counts_, _counts(X, np.ones(len(X), bool), model.item_ids_))
    # timestamps without half_life are checked, then not used
    np.testing.assert_array_equal(PopularityRecommender().fit(X, timestamps=t).item_popularity_, model.item_counts_)


def test_datetime_timestamps_take_a_half_life_in_seconds_or_as_a_duration(data):
    X, _, t = data
    t = np.round(t * 3600)  # whole seconds, as datetime64[s] holds them
    seconds = PopularityRecommender(half_life=86400.0).fit(X, timestamps=t)
    stamps = np.datetime64("2021-03-01T00:00:00") + t.astype("timedelta64[s]")
    for half_life in (86400.0, datetime.timedelta(days=1), pd.Timedelta("1D"), np.timedelta64(1, "D")):
        model = PopularityRecommender(half_life=half_life)
        for timestamps in (stamps, pd.Series(stamps), list(pd.Series(stamps))):
            model.fit(X, timestamps=timestamps)
            np.testing.assert_allclose(model.item_popularity_, seconds.item_popularity_, rtol=1e-9)
    with pytest.raises(ValueError, match="NaT"):
        PopularityRecommender(half_life=1.0).fit(X, timestamps=np.where(np.arange(len(X)) == 0, np.datetime64("NaT"),
                                                                         stamps))
