"""Tests for recfreq.metrics: rating and ranking metrics, scorers."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate

from recfreq.metrics import (
    SCORERS,
    RankingScorer,
    get_scorer,
    hit_rate_at_k,
    mae,
    make_ranking_scorer,
    mean_reciprocal_rank,
    ndcg_at_k,
    neg_mae_scorer,
    neg_rmse_scorer,
    precision_at_k,
    recall_at_k,
    rmse,
)
from recfreq.model_selection import RatingKFold

# --------------------------------------------------------------------------
# rating metrics
# --------------------------------------------------------------------------


def test_rmse_mae_hand_values():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert rmse([4.0], [4.0]) == 0.0


def test_rmse_mae_match_sklearn():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=500)
    assert rmse(a, b) == pytest.approx(root_mean_squared_error(a, b))
    assert mae(a, b) == pytest.approx(mean_absolute_error(a, b))


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([1.0, np.nan], [1.0, 2.0], "y_true contains NaN"),
        ([1.0, 2.0], [1.0, np.inf], "y_pred contains NaN"),
        ([1.0, 2.0], [1.0], "different lengths"),
        ([], [], "empty"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
    ],
)
def test_rating_metric_errors(metric, y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_pred)


# --------------------------------------------------------------------------
# ranking metrics
# --------------------------------------------------------------------------

# Three users, k = 3:
#   user 0: relevant {1, 2}, recommended [1, 3, 2, 4] -> hits at 1 and 3
#   user 1: relevant {9},    recommended [5, 6, 7, 9] -> no hit in top 3, hit at 4
#   user 2: relevant {4, 5, 6, 7}, recommended [4, 5, 6, 8] -> hits at 1, 2, 3
RELEVANT = [{1, 2}, 9, [4, 5, 6, 7]]
RECOMMENDED = np.array([[1, 3, 2, 4], [5, 6, 7, 9], [4, 5, 6, 8]])
D = [1 / math.log2(j + 1) for j in range(1, 5)]  # discounts of positions 1..4


def test_ranking_hand_values():
    assert precision_at_k(RELEVANT, RECOMMENDED, k=3) == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert recall_at_k(RELEVANT, RECOMMENDED, k=3) == pytest.approx((1 + 0 + 3 / 4) / 3)
    assert hit_rate_at_k(RELEVANT, RECOMMENDED, k=3) == pytest.approx(2 / 3)
    ndcg0 = (D[0] + D[2]) / (D[0] + D[1])
    ndcg2 = 1.0  # ideal DCG is over min(k, |R|) = 3 positions
    assert ndcg_at_k(RELEVANT, RECOMMENDED, k=3) == pytest.approx((ndcg0 + 0 + ndcg2) / 3)
    # MRR over the full list: user 1 first hit at rank 4
    assert mean_reciprocal_rank(RELEVANT, RECOMMENDED) == pytest.approx((1 + 1 / 4 + 1) / 3)
    assert mean_reciprocal_rank(RELEVANT, RECOMMENDED, k=3) == pytest.approx((1 + 0 + 1) / 3)
    # full list, k = 4: user 1 hit at position 4
    assert ndcg_at_k(RELEVANT, RECOMMENDED, k=4) == pytest.approx(
        ((D[0] + D[2]) / (D[0] + D[1]) + D[3] / D[0] + (D[0] + D[1] + D[2]) / sum(D)) / 3
    )


def test_per_user_values_and_users_without_relevant_items():
    relevant = [{1, 2}, [], 9]
    rec = [[1, 3], [1, 2], [9, 1]]
    values = recall_at_k(relevant, rec, k=2, average=False)
    np.testing.assert_allclose(values, [0.5, np.nan, 1.0])
    # the user without relevant items is left out of every mean
    assert precision_at_k(relevant, rec, k=2) == pytest.approx((0.5 + 0.5) / 2)
    assert ndcg_at_k(relevant, rec, k=2) == pytest.approx((1 / (D[0] + D[1]) + 1.0) / 2)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        hit_rate_at_k([[], set()], [[1], [2]], k=1)


def test_recommend_output_tuple_is_accepted():
    ids = np.array([[3, 1], [2, 5]])
    scores = np.array([[0.9, 0.1], [0.8, 0.7]])
    assert hit_rate_at_k([1, 7], (ids, scores), k=2) == 0.5
    assert ndcg_at_k([1, 7], (ids, scores), k=2) == pytest.approx(D[1] / 2)


def test_duplicate_recommendations_count_once():
    assert recall_at_k([{1, 2}], [[1, 1, 1]], k=3) == pytest.approx(0.5)
    assert precision_at_k([{1, 2}], [[1, 1, 3]], k=3) == pytest.approx(1 / 3)
    assert precision_at_k([{1, 2}], [[1, 1, 2]], k=3) == pytest.approx(2 / 3)
    assert ndcg_at_k([{1}], [[1, 1]], k=2) == pytest.approx(1.0)
    # duplicates inside the relevant set count once in |R|
    assert recall_at_k([[1, 1, 2]], [[1, 5]], k=2) == pytest.approx(0.5)


def test_string_and_mixed_ids_and_1d_array_relevant():
    rec = np.array([["a", "b"], ["c", "a"]])
    assert hit_rate_at_k(np.array(["b", "z"]), rec, k=2) == 0.5
    assert mean_reciprocal_rank(pd.Series(["b", "a"]), rec) == pytest.approx((1 / 2 + 1 / 2) / 2)
    mixed = np.array([[1, "1"], ["x", 2]], dtype=object)
    assert precision_at_k([["1"], [2, 1]], mixed, k=2) == pytest.approx((0.5 + 0.5) / 2)
    # a 2-D array of relevant ids: a fixed number per user
    assert recall_at_k(np.array([[1, 2], [3, 4]]), [[2, 9], [9, 9]], k=2) == pytest.approx(0.25)


def _reference(metric, relevant, recommended, k):
    """Straightforward per-user Python definitions."""
    values = []
    for rel, rec in zip(relevant, recommended):
        rel = set(rel) if isinstance(rel, (set, list)) else {rel}
        if not rel:
            continue
        top, seen = [], set()
        for item in list(rec)[: (len(rec) if k is None else k)]:
            top.append(item in rel and item not in seen)
            seen.add(item)
        n_hit = sum(top)
        if metric == "precision":
            values.append(n_hit / k)
        elif metric == "recall":
            values.append(n_hit / len(rel))
        elif metric == "hit_rate":
            values.append(float(n_hit > 0))
        elif metric == "ndcg":
            dcg = sum(1 / math.log2(j + 2) for j, h in enumerate(top) if h)
            idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(rel))))
            values.append(dcg / idcg)
        else:
            values.append(next((1 / (j + 1) for j, h in enumerate(top) if h), 0.0))
    return float(np.mean(values))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ranking_metrics_match_bruteforce(seed, k):
    rng = np.random.default_rng(seed)
    n_users, n_items, width = 200, 30, 12
    rec = rng.integers(0, n_items, size=(n_users, width))  # duplicates included
    relevant = []
    for u in range(n_users):
        size = rng.integers(0, 8)
        relevant.append(list(rng.integers(0, n_items, size)) if u % 5 else int(rng.integers(n_items)))
    funcs = {
        "precision": precision_at_k,
        "recall": recall_at_k,
        "hit_rate": hit_rate_at_k,
        "ndcg": ndcg_at_k,
        "mrr": mean_reciprocal_rank,
    }
    for name, func in funcs.items():
        expected = _reference(name, relevant, rec, k)
        assert func(relevant, rec, k=k) == pytest.approx(expected, rel=1e-12), name
    assert mean_reciprocal_rank(relevant, rec) == pytest.approx(
        _reference("mrr", relevant, rec, None), rel=1e-12
    )


@pytest.mark.parametrize(
    "func", [precision_at_k, recall_at_k, hit_rate_at_k, ndcg_at_k, mean_reciprocal_rank]
)
def test_ranking_metric_errors(func):
    rec = [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="k must be >= 1"):
        func([1, 3], rec, k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        func([1, 3], rec, k=1.5)
    with pytest.raises(TypeError, match="k must be an int"):
        func([1, 3], rec, k=True)
    with pytest.raises(ValueError, match="fewer than k=3"):
        func([1, 3], rec, k=3)
    with pytest.raises(ValueError, match="relevant has 3 entries"):
        func([1, 3, 4], rec, k=2)
    with pytest.raises(ValueError, match="2-D"):
        func([1, 3], [1, 2], k=1)
    with pytest.raises(ValueError, match="empty"):
        func([], np.empty((0, 3)), k=1)
    with pytest.raises(TypeError, match="relevant must be a sequence"):
        func(5, rec, k=1)


# --------------------------------------------------------------------------
# scorers with a fake recommender
# --------------------------------------------------------------------------

N_USERS, N_ITEMS, PER_USER = 12, 40, 10


def _interactions():
    """User u interacts with items (3u + j) % N_ITEMS, j < PER_USER; y is a rating."""
    users = np.repeat(np.arange(N_USERS), PER_USER)
    items = (3 * users + np.tile(np.arange(PER_USER), N_USERS)) % N_ITEMS
    y = ((users + items) % 5 + 1).astype(float)
    return np.c_[users, items], y


class FakeRecommender(RegressorMixin, BaseEstimator):
    """Predicts the true rating plus ``offset``; recommends its own list.

    ``recommend`` ranks items (3u + offset + j) % N_ITEMS, skipping the
    items the user had in training when ``exclude_seen`` is True; offset 0
    therefore ranks exactly the user's held-out items first.
    """

    def __init__(self, offset=0):
        self.offset = offset

    def fit(self, X, y=None):
        X = np.asarray(X)
        self.seen_ = {}
        for u, i in X[:, :2].tolist():
            self.seen_.setdefault(u, set()).add(i)
        self.calls_ = []
        return self

    def predict(self, X):
        X = np.asarray(X)
        return (X[:, 0] + X[:, 1]) % 5 + 1.0 + self.offset

    def recommend(self, users, n=10, exclude_seen=True):
        self.calls_.append((list(users), n, exclude_seen))
        ids = np.empty((len(users), n), dtype=np.int64)
        for row, u in enumerate(users):
            seen = self.seen_.get(u, set()) if exclude_seen else set()
            ranked = [
                (3 * u + self.offset + j) % N_ITEMS
                for j in range(N_ITEMS)
                if (3 * u + self.offset + j) % N_ITEMS not in seen
            ]
            ids[row] = ranked[:n]
        return ids, -np.arange(n, dtype=float)[None, :].repeat(len(users), 0)


def test_rating_scorers():
    X, y = _interactions()
    est = FakeRecommender(offset=2).fit(X, y)
    assert neg_rmse_scorer(est, X, y) == pytest.approx(-2.0)
    assert neg_mae_scorer(est, X, y) == pytest.approx(-2.0)
    assert get_scorer("neg_rmse") is neg_rmse_scorer
    assert get_scorer("neg_mae") is neg_mae_scorer
    sk = get_scorer("neg_root_mean_squared_error")
    rng = np.random.default_rng(0)
    Xr, yr = rng.normal(size=(50, 3)), rng.normal(size=50)
    lr = LinearRegression().fit(Xr, yr)
    assert sk(lr, Xr, yr) == pytest.approx(neg_rmse_scorer(lr, Xr, yr))


def test_ranking_scorer_hand_value_and_recommend_call():
    X, _ = _interactions()
    train, test = X[:100:2], np.array([[0, 4], [0, 99], [1, 3], [1, 5], [7, 33]])
    est = FakeRecommender(offset=0).fit(train)
    # user 0 seen {0,2,4,6,8}: ranking 1,3,5,7,9,... ; user 1 seen {3,5,7,9,11}
    # ranking 4,6,8,10,12 ; user 7 seen {21,...} ranking 22,24,...
    score = RankingScorer("hit_rate", k=3)(est, test, None)
    assert est.calls_ == [([0, 1, 7], 3, True)]
    # user 0: relevant {4, 99} not in [1,3,5]; user 1: {3,5} not in [4,6,8];
    # user 7: {33} not in [22,24,26]
    assert score == 0.0
    est2 = FakeRecommender(offset=0).fit(X[:0])  # nothing seen
    # user 0 ranks 0,1,2,3,4 -> 4 at rank 5; user 1 ranks 3,4,5 -> hits 1 and 3
    assert RankingScorer("mrr", k=5)(est2, test) == pytest.approx((1 / 5 + 1 + 0) / 3)
    rec = est2.recommend([0, 1, 7], n=5)
    assert RankingScorer("ndcg", k=5)(est2, test) == pytest.approx(
        ndcg_at_k([{4, 99}, {3, 5}, 33], rec, k=5)
    )


def test_ranking_scorer_threshold():
    X = np.array([[0, 1], [0, 2], [1, 3], [1, 4]])
    est = FakeRecommender(offset=0).fit(np.empty((0, 2)))
    # user 0 is recommended 0,1 ; user 1 is recommended 3,4
    y = np.array([5.0, 1.0, 2.0, 0.0])
    scorer = make_ranking_scorer("precision", k=2, threshold=4)
    # only (0, 1) counts: user 1 drops out, user 0 has precision 1/2
    assert scorer(est, X, y) == pytest.approx(0.5)
    assert est.calls_[-1][0] == [0]
    # default: y > 0, so (1, 4) with label 0 is not relevant
    assert get_scorer("recall@2")(est, X, y) == pytest.approx((1 / 2 + 1) / 2)
    # y None: every row relevant
    assert get_scorer("recall@2")(est, X, None) == pytest.approx((1 / 2 + 1) / 2)
    assert get_scorer("precision@2")(est, X, None) == pytest.approx((1 / 2 + 1) / 2)
    with pytest.raises(ValueError, match="no held-out row is relevant"):
        make_ranking_scorer("ndcg", threshold=10)(est, X, y)
    with pytest.raises(ValueError, match="y has shape"):
        get_scorer("ndcg@2")(est, X, y[:3])


def test_get_scorer_names():
    for name in SCORERS:
        assert callable(get_scorer(name))
    s = get_scorer("ndcg@5")
    assert (s.metric, s.k, s.threshold) == ("ndcg", 5, None)
    assert get_scorer("mrr").k == 10 and get_scorer("mrr@3").k == 3
    assert get_scorer("hit_rate@1").metric == "hit_rate"
    assert get_scorer(neg_rmse_scorer) is neg_rmse_scorer
    with pytest.raises(ValueError, match="unknown scorer"):
        get_scorer("ndcg_at_10")
    with pytest.raises(ValueError, match="k must be >= 1"):
        get_scorer("ndcg@0")
    with pytest.raises(TypeError):
        get_scorer(5)
    with pytest.raises(ValueError, match="metric must be one of"):
        make_ranking_scorer("auc")


def test_ranking_scorer_needs_recommend():
    X, y = _interactions()
    with pytest.raises(TypeError, match="no recommend method"):
        get_scorer("ndcg@10")(LinearRegression().fit(X, y), X, y)


def test_grid_search_picks_best_offset_with_each_scorer():
    X, y = _interactions()
    grid = {"offset": [20, 0, 7]}
    cv = RatingKFold(n_splits=3, random_state=0)
    for scoring in ["ndcg@10", "hit_rate@5", "precision@10", "recall@10", "mrr", "neg_rmse"]:
        search = GridSearchCV(FakeRecommender(), grid, scoring=get_scorer(scoring), cv=cv)
        search.fit(X, y)
        assert search.best_params_ == {"offset": 0}, scoring
    # offset 0 recommends exactly the held-out items first: perfect ranking
    search = GridSearchCV(FakeRecommender(), grid, scoring=get_scorer("ndcg@10"), cv=cv).fit(X, y)
    assert search.best_score_ == pytest.approx(1.0)
    assert search.cv_results_["mean_test_score"][0] == pytest.approx(0.0)


def test_grid_search_multimetric_and_sklearn_names():
    X, y = _interactions()
    cv = RatingKFold(n_splits=3, random_state=0)
    scoring = {"ndcg": get_scorer("ndcg@10"), "rmse": neg_rmse_scorer}
    search = GridSearchCV(
        FakeRecommender(), {"offset": [3, 0]}, scoring=scoring, refit="ndcg", cv=cv
    ).fit(X, y)
    assert search.best_params_ == {"offset": 0}
    np.testing.assert_allclose(search.cv_results_["mean_test_rmse"], [-3.0, 0.0], atol=1e-12)
    search = GridSearchCV(
        FakeRecommender(), {"offset": [1, -2]}, scoring="neg_root_mean_squared_error", cv=cv
    ).fit(X, y)
    assert search.best_params_ == {"offset": 1}


def test_cross_val_score_with_dataframe_and_kfold():
    X, y = _interactions()
    df = pd.DataFrame({"user": X[:, 0], "item": X[:, 1]})
    scores = cross_val_score(
        FakeRecommender(offset=1), df, y, scoring=neg_mae_scorer,
        cv=RatingKFold(4, random_state=1),
    )
    np.testing.assert_allclose(scores, -1.0)
    res = cross_validate(
        FakeRecommender(offset=0), X, y, scoring=get_scorer("recall@10"),
        cv=RatingKFold(4, random_state=1),
    )
    np.testing.assert_allclose(res["test_score"], 1.0)


# --------------------------------------------------------------------------
# bad input and boundaries
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        (np.array([1 + 1j, 2.0]), [1.0, 2.0], "y_true contains complex"),
        ([1.0, 2.0], np.array([1.0, 2.0 + 0j]), "y_pred contains complex"),  # zero imaginary too
        ([1 + 2j, 2.0], [1.0, 2.0], "y_true contains complex"),
        (["a", "b"], [1.0, 2.0], "y_true must hold numbers"),
        ([1.0, 2.0], np.array([1, "x"], dtype=object), "y_pred must hold numbers"),
    ],
)
def test_rating_metrics_refuse_complex_and_strings(metric, y_true, y_pred, match):
    with pytest.raises(TypeError, match=match):
        metric(y_true, y_pred)


@pytest.mark.parametrize("metric", [rmse, mae])
def test_rating_metrics_missing_values(metric):
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        metric([1.0, 2.0], [1.0, None])
    with pytest.raises(ValueError, match="y_true contains NaN"):
        metric(pd.Series([1.0, None]), [1.0, 2.0])


@pytest.mark.parametrize(
    "func", [precision_at_k, recall_at_k, hit_rate_at_k, ndcg_at_k, mean_reciprocal_rank]
)
def test_ranking_metrics_refuse_missing_and_complex_ids(func):
    rec = np.array([[1, 2], [3, 4]])
    # A NaN relevant id never matches anything: it was scored as a silent miss.
    with pytest.raises(ValueError, match="relevant item ids contain a missing .* empty list"):
        func([np.nan, 3], rec, k=1)
    with pytest.raises(ValueError, match="relevant item ids contain a missing"):
        func([{1, None}, 3], rec, k=1)
    with pytest.raises(ValueError, match="relevant item ids contain a missing"):
        func(np.array([[1, np.nan], [3, 4]]), rec, k=1)
    with pytest.raises(ValueError, match="recommended item ids contain a missing"):
        func([1, 3], np.array([[np.nan, 2], [3, 4]]), k=1)
    with pytest.raises(ValueError, match="recommended item ids contain a missing"):
        func([1, 3], [[1, None], [3, 4]], k=1)
    with pytest.raises(TypeError, match="recommended item ids are complex"):
        func([1, 3], rec + 1j, k=1)
    with pytest.raises(TypeError, match="relevant item ids contain complex"):
        func([1j, 3], rec, k=1)
    with pytest.raises(ValueError, match="no columns"):
        func([1, 3], np.empty((2, 0)), k=1)
    with pytest.raises(ValueError, match="fewer than k=1180591620717411303424"):
        func([1, 3], rec, k=2**70)
    with pytest.raises(ValueError, match="k must be >= 1"):
        func([1, 3], rec, k=-(2**70))


def test_mrr_over_the_full_list_needs_a_column():
    with pytest.raises(ValueError, match="no columns"):
        mean_reciprocal_rank([1], [[]])


def test_ranking_scorer_threshold_is_inclusive():
    # Ratings exactly at the threshold are relevant; just below are not.
    X = np.array([[0, 0], [0, 1], [1, 3], [1, 4]])
    est = FakeRecommender(offset=0).fit(np.empty((0, 2)))
    # user 0 is recommended [0, 1], user 1 is recommended [3, 4]
    y = np.array([4.0, np.nextafter(4.0, 0.0), 4.0, 4.0])
    scorer = make_ranking_scorer("precision", k=2, threshold=4.0)
    # user 0: only item 0 (exactly 4) relevant -> 1/2; user 1: both -> 1
    assert scorer(est, X, y) == pytest.approx((0.5 + 1.0) / 2)
    assert make_ranking_scorer("precision", k=2, threshold=4)(est, X, y) == pytest.approx(0.75)
    # only the exact-threshold rows are relevant: user 1 alone, both items
    y_edge = np.array([3.0, 3.5, 4.0, 4.0])
    assert make_ranking_scorer("precision", k=2, threshold=4)(est, X, y_edge) == 1.0
    assert est.calls_[-1][0] == [1]


def test_ranking_scorer_default_threshold_is_strictly_positive():
    X = np.array([[0, 0], [0, 1], [1, 3], [1, 4]])
    est = FakeRecommender(offset=0).fit(np.empty((0, 2)))
    # label 0 is not relevant, the smallest positive label is
    y = np.array([0.0, 5e-324, 0.0, 1.0])
    assert get_scorer("precision@2")(est, X, y) == pytest.approx(0.5)
    assert est.calls_[-1][0] == [0, 1]
    with pytest.raises(ValueError, match="no held-out row is relevant"):
        get_scorer("precision@2")(est, X, np.zeros(4))


def test_ranking_scorer_bad_y_and_threshold():
    X = np.array([[0, 0], [0, 1], [1, 3], [1, 4]])
    est = FakeRecommender(offset=0).fit(np.empty((0, 2)))
    with pytest.raises(ValueError, match="y contains NaN"):
        get_scorer("ndcg@2")(est, X, np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(TypeError, match="y contains complex"):
        get_scorer("ndcg@2")(est, X, np.array([1.0, 1j, 1.0, 1.0]))
    with pytest.raises(ValueError, match="X item ids contain a missing"):
        get_scorer("ndcg@2")(est, np.array([[0, np.nan], [1, 3]]), None)
    for threshold in [float("nan"), "4", True, 1j]:
        with pytest.raises(ValueError, match="threshold must be None or a real number"):
            make_ranking_scorer("ndcg", threshold=threshold)


# --------------------------------------------------------------------------
# behaviour pinned by mutation testing (mutmut): each test below failed
# under at least one surviving mutant of recfreq/metrics.py
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [rmse, mae])
def test_rating_metrics_refuse_numeric_strings_and_objects(metric):
    # "1.5" converts to a float silently; a rating given as text is a mistake.
    with pytest.raises(TypeError, match="^y_true must hold numbers"):
        metric(["1", "2"], [1.0, 2.0])
    with pytest.raises(TypeError, match="^y_pred must hold numbers"):
        metric([1.0, 2.0], np.array([1.0, "2"], dtype=object))
    with pytest.raises(TypeError, match="^y_true contains complex"):
        metric(np.array([1.0, 2j], dtype=object), [1.0, 2.0])
    with pytest.raises(TypeError, match="^y_pred must hold numbers: "):
        metric([1.0, 2.0], [{}, 1.0])
    # one 1-D and one 2-D argument: the shape message, not a length mismatch
    with pytest.raises(ValueError, match="must be 1-D"):
        metric([1.0, 2.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="must be 1-D"):
        metric([[1.0], [2.0]], [1.0, 2.0])


def test_ranking_metric_defaults_cut_at_10():
    # the relevant item sits at position 11: outside the default cut-off
    rec = [list(range(100, 110)) + [7]]
    assert hit_rate_at_k([7], rec) == 0.0
    assert precision_at_k([{7, 100}], rec) == pytest.approx(0.1)
    assert recall_at_k([{7, 100}], rec) == pytest.approx(0.5)
    assert ndcg_at_k([{7, 100}], rec) == pytest.approx(1 / (D[0] + D[1]))
    assert RankingScorer("ndcg").k == 10
    assert make_ranking_scorer("ndcg").k == 10 and make_ranking_scorer("ndcg").exclude_seen is True
    assert make_ranking_scorer("ndcg", exclude_seen=False).exclude_seen is False


def test_recommendations_must_be_two_dimensional_even_in_a_pair():
    # a 3-D array of two users is not the (ids, scores) pair of recommend
    with pytest.raises(ValueError, match="2-D"):
        hit_rate_at_k([1, 2], np.ones((2, 3, 4), dtype=int), k=1)
    # the pair's scores are never read: any shape is fine
    assert hit_rate_at_k([1], (np.array([[1, 2]]), None), k=1) == 1.0


def test_relevant_entries_of_every_kind():
    rec = np.array([["ab", "cd"], ["ef", "gh"]])
    # a string is one id, not a collection of characters
    assert hit_rate_at_k(["ab", "gh"], rec, k=1) == 0.5
    rec = [[1, 2], [3, 4]]
    # 0-d arrays are single ids, 1-D arrays are collections
    assert recall_at_k([np.array(1), np.array(4)], rec, k=1) == 0.5
    assert recall_at_k([np.array([1, 2]), np.array([3, 9])], rec, k=2) == pytest.approx(0.75)
    # an object array of sets (a pandas column of sets) holds one set per user
    assert recall_at_k(pd.Series([{1, 2}, {3, 9}]), rec, k=2) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="relevant has 3 entries but recommended has 2 rows"):
        recall_at_k(np.array([1, 3, 4]), rec, k=1)


def test_a_single_distinct_relevant_item_and_trailing_users_without_any():
    # all relevant ids equal: the per-user count of relevant items must not
    # depend on how many distinct ids there are
    rec = [[5, 1], [2, 5], [5, 3]]
    np.testing.assert_allclose(recall_at_k([5, 5, []], rec, k=1, average=False), [1.0, 0.0, np.nan])
    np.testing.assert_allclose(ndcg_at_k([[5], 5, []], rec, k=2, average=False),
                               [1.0, D[1], np.nan])


@pytest.mark.filterwarnings("error")
def test_users_without_relevant_items_give_nan_without_warnings():
    # 0 / 0 for those users must not reach the user as a RuntimeWarning
    for func in (precision_at_k, recall_at_k, hit_rate_at_k, ndcg_at_k, mean_reciprocal_rank):
        values = func([{1}, []], [[1, 2], [3, 4]], k=2, average=False)
        assert values[0] > 0 and np.isnan(values[1])


def test_mixed_ids_are_looked_up_exactly():
    # int and str ids cannot be sorted together; the first-appearance order
    # [3, 1, 2, "a"] fooled a binary search into missing the present id 1
    rec = np.array([[3, 1, 2, "a"]], dtype=object)
    assert precision_at_k([[1]], rec, k=4) == 0.25
    assert precision_at_k([[1, "a", "zz", 7]], rec, k=4) == 0.5
    assert precision_at_k([["zz"]], rec, k=4) == 0.0


class _IdsOnlyRecommender(FakeRecommender):
    """Returns only the ids, and more columns than asked for."""

    def recommend(self, users, n=10, exclude_seen=True):
        ids, _ = super().recommend(users, n=n + 3, exclude_seen=exclude_seen)
        return ids


def test_ranking_scorer_cuts_at_k_and_accepts_bare_ids():
    X = np.array([[0, 2], [1, 6]])
    est = _IdsOnlyRecommender().fit(np.empty((0, 2)))
    # user 0 ranks 0, 1, 2, ...: item 2 is third, outside k=2
    assert make_ranking_scorer("hit_rate", k=2)(est, X) == 0.0
    assert make_ranking_scorer("hit_rate", k=3)(est, X) == 0.5


def test_ranking_scorer_passes_exclude_seen_and_checks_rows():
    X = np.array([[0, 1], [1, 3]])
    est = FakeRecommender().fit(X)
    make_ranking_scorer("ndcg", k=2, exclude_seen=False)(est, X)
    assert est.calls_[-1] == ([0, 1], 2, False)

    class OneRow(FakeRecommender):
        def recommend(self, users, n=10, exclude_seen=True):
            ids, scores = super().recommend(users, n=n, exclude_seen=exclude_seen)
            return ids[:1], scores[:1]

    with pytest.raises(ValueError, match="^recommend returned 1 rows for 2 users"):
        make_ranking_scorer("ndcg", k=2)(OneRow().fit(X), X)


def test_get_scorer_rejects_non_strings_by_type():
    with pytest.raises(TypeError, match="^scorer name must be a str, got int"):
        get_scorer(5)
