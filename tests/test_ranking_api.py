"""The ranking API every estimator shares: recommend (candidates, blocklist), similar_items/_users, score.

Every estimator is fitted once on small planted data; each test then checks
one promise of ``recommend(users, n, exclude_seen, items=, filter_items=)``,
of the neighbours in factor space, or of the default ``score`` of the ranking
models (NDCG@10, so ``GridSearchCV`` without ``scoring=`` compares ranking
quality), against an independent computation. Bad arguments must raise a
clear error and leave the model as it was (``_robustness.checked_call``).
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, KFold

from recfreq import (BaselinePredictor, FactorizationMachine, FactorizationMachineClassifier, MatrixFactorization,
                     NeuralCF, OverparamMF, PopularityRecommender)
from recfreq._ranking import _select
from recfreq.metrics import RankingScorer, get_scorer, ndcg_at_k

from _helpers import planted_ratings
from _robustness import Raised, checked_call

MODELS = {
    "BaselinePredictor": lambda: BaselinePredictor(max_iter=3, random_state=0),
    "MatrixFactorization": lambda: MatrixFactorization(n_factors=4, max_iter=3, random_state=0),
    "MatrixFactorization-mixed": lambda: MatrixFactorization(n_factors=4, max_iter=3, embedding_dims="mixed",
                                                             n_dim_blocks=2, random_state=0),
    "OverparamMF": lambda: OverparamMF(n_factors=4, inner_dim=6, max_iter=3, random_state=0),
    "FactorizationMachine": lambda: FactorizationMachine(n_factors=4, max_iter=3, random_state=0),
    "FactorizationMachineClassifier": lambda: FactorizationMachineClassifier(n_factors=4, max_iter=3,
                                                                             random_state=0),
    "NeuralCF": lambda: NeuralCF(n_factors=4, hidden_layers=(8, 4), max_iter=3, positive_threshold=3.5,
                                 random_state=0),
    "PopularityRecommender": lambda: PopularityRecommender(),
}
WITH_FACTORS = [name for name in MODELS if name not in ("BaselinePredictor", "PopularityRecommender")]
UNKNOWN_ITEM = 10**6


def _targets(name, y):
    return (y >= 3.5).astype(int) if name == "FactorizationMachineClassifier" else y


@pytest.fixture(scope="module")
def data():
    X, y = planted_ratings(n_users=50, n_items=30, n_ratings=700, seed=4)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return {name: make().fit(X, _targets(name, y)) for name, make in MODELS.items()}


def _pair_scores(model, users, items):
    """What the model predicts for each (user, item) pair, by its own public per-row method."""
    X = np.column_stack([users, items])
    if isinstance(model, NeuralCF):
        return model.decision_function(X)
    if isinstance(model, FactorizationMachineClassifier):
        return model.predict_proba(X)[:, 1]
    return model.predict(X)


# ------------------------------------------------------------------ recommend
@pytest.mark.parametrize("name", sorted(MODELS))
def test_candidates_are_ranked_by_what_predict_gives(name, fitted, data):
    model, (X, _) = fitted[name], data
    users = np.array([0, 3, 7, 10**9])  # 10**9: an unknown user
    candidates = np.array([5, 2, UNKNOWN_ITEM, 11, 29, 0, 17])  # one item the model never saw
    items, scores = model.recommend(users, n=4, exclude_seen=False, items=candidates)
    assert items.shape == scores.shape == (4, 4)
    assert scores.dtype == (np.float64 if name == "PopularityRecommender" else np.float32)
    for user, row, row_scores in zip(users, items, scores):
        assert set(row.tolist()) <= set(candidates.tolist()) and len(set(row.tolist())) == 4
        assert (np.diff(row_scores) <= 0).all()
        every = _pair_scores(model, np.repeat(user, len(candidates)), candidates)
        np.testing.assert_allclose(row_scores, _pair_scores(model, np.repeat(user, 4), row), rtol=1e-5, atol=1e-6)
        # the best four of all candidates (up to float32 rounding between the two paths)
        assert row_scores[-1] >= np.sort(every)[-4] - 1e-5
    # every candidate when n exceeds them, each once
    all_items, _ = model.recommend(users[:2], n=50, exclude_seen=False, items=candidates)
    assert all_items.shape == (2, len(candidates))
    assert all(sorted(r.tolist()) == sorted(candidates.tolist()) for r in all_items)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_blocklist_is_never_recommended_and_seen_items_only_fill(name, fitted, data):
    model, (X, _) = fitted[name], data
    user = 1
    seen = set(X[X[:, 0] == user, 1].tolist())
    blocked = sorted(seen)[:2] + [i for i in range(30) if i not in seen][:3] + [10**9]  # 10**9: not a candidate
    n_left = len(model.item_ids_) - 5
    items, scores = model.recommend([user, 10**9], n=1000, filter_items=blocked)
    assert items.shape == (2, n_left)
    assert not set(blocked) & set(items.ravel().tolist())
    row, row_scores = items[0], scores[0]
    unseen_left = n_left - (len(seen) - 2)
    assert np.isfinite(row_scores[:unseen_left]).all() and not seen & set(row[:unseen_left].tolist())
    assert np.isneginf(row_scores[unseen_left:]).all() and set(row[unseen_left:].tolist()) <= seen
    assert np.isfinite(scores[1]).all()  # an unknown user has seen nothing
    # an empty blocklist blocks nothing
    for a, b in zip(model.recommend([user], n=5, filter_items=[]), model.recommend([user], n=5)):
        np.testing.assert_array_equal(a, b)
    # the blocklist applies to a candidate set too, unknown candidates included
    cand_items, _ = model.recommend([user], n=10, items=[3, 4, UNKNOWN_ITEM, 6], filter_items=[4, UNKNOWN_ITEM])
    assert sorted(cand_items[0].tolist()) == [3, 6]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bad_candidates_and_blocklists_are_refused_and_change_nothing(name, fitted):
    model = fitted[name]
    cases = [
        ({"items": [3, 4, 3]}, ValueError, "duplicate"),
        ({"items": []}, ValueError, "items is empty"),
        ({"items": [[3, 4]]}, ValueError, r"items must be a 1-D array of item ids, got shape \(1, 2\)"),
        ({"items": [3, np.nan]}, ValueError, "NaN"),
        ({"items": ["a", "b"]}, TypeError, "same kind"),
        ({"filter_items": [[3]]}, ValueError, r"filter_items must be a 1-D array of item ids"),
        ({"filter_items": [1.5]}, ValueError, "non-integral"),
        ({"filter_items": ["a"]}, TypeError, "filter_items: .*same kind"),
        ({"items": [3, 4], "filter_items": [4, 3, 9]}, ValueError, "removes all 2 candidate items"),
        ({"filter_items": model.item_ids_}, ValueError, "removes all"),
    ]
    for kwargs, error, message in cases:
        out = checked_call(model, "recommend", [0, 1], n=3, **kwargs)
        assert isinstance(out, Raised) and isinstance(out.error, error), (kwargs, out)
        assert pytest.raises(error, model.recommend, [0], **kwargs).match(message)


@pytest.mark.parametrize("name", ["MatrixFactorization", "FactorizationMachine", "NeuralCF", "PopularityRecommender"])
def test_batches_do_not_change_the_ranking(name, fitted):
    model = fitted[name]
    users = [0, 5, 9, 10**9, 2]
    kwargs = {"n": 6, "items": np.arange(25)[::-1], "filter_items": [1, 2]}
    items, scores = model.recommend(users, **kwargs)
    for batch_size in (1, 2):
        batch_items, batch_scores = model.recommend(users, batch_size=batch_size, **kwargs)
        np.testing.assert_array_equal(batch_items, items)
        # float32 products of other shapes may round differently (BLAS blocking)
        np.testing.assert_allclose(batch_scores, scores, rtol=1e-6)


def test_equal_scores_keep_the_candidate_order():
    # four items with two interactions each, one with three
    X = np.array([[u, i] for i in (4, 3, 2, 1) for u in (0, 1)] + [[0, 5], [1, 5], [2, 5]])
    model = PopularityRecommender().fit(X)
    items, scores = model.recommend([9], n=3)
    assert items.tolist() == [[5, 1, 2]] and scores.tolist() == [[3, 2, 2]]  # ties in sorted id order
    items, _ = model.recommend([9], n=3, items=[2, 5, 4, 3, 1])
    assert items.tolist() == [[5, 2, 4]]  # ties in the order the candidates were given


@pytest.mark.parametrize("seed", range(5))
def test_top_n_selection_equals_a_stable_full_sort(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(40, 25)).astype(np.float64)  # many ties
    scores[rng.random(scores.shape) < 0.1] = -np.inf
    for n in (1, 3, 10, 24, 25, 30):
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        np.testing.assert_array_equal(_select(scores.copy(), n), expected)


# ------------------------------------------------------------------ neighbours
def _factor_table(model, side):
    """The vectors similar_* must compare, read from the public fitted attributes."""
    if isinstance(model, NeuralCF):
        return np.hstack([getattr(model, f"{side}_gmf_factors_"), getattr(model, f"{side}_mlp_factors_")])
    if isinstance(model, (FactorizationMachine, FactorizationMachineClassifier)):
        ids = model.user_ids_ if side == "user" else model.item_ids_
        rows = [list(model.feature_names_).index(f"{side}={i}") for i in ids]
        return model.feature_factors_[rows]
    return getattr(model, f"{side}_factors_")


@pytest.mark.parametrize("side", ["item", "user"])
@pytest.mark.parametrize("name", WITH_FACTORS)
def test_similar_items_and_users_are_cosine_neighbours_in_factor_space(name, side, fitted):
    model = fitted[name]
    ids = getattr(model, f"{side}_ids_")
    similar = getattr(model, f"similar_{side}s")
    table = _factor_table(model, side).astype(np.float64)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    query = ids[[0, 4, 7]]
    neighbours, sims = similar(query, n=5)
    assert neighbours.shape == sims.shape == (3, 5)
    for row, q, nbrs, s in zip([0, 4, 7], query, neighbours, sims):
        brute = unit[row] @ unit.T
        brute[row] = -np.inf
        assert q not in nbrs
        np.testing.assert_allclose(s, np.sort(brute)[::-1][:5], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(brute[np.searchsorted(ids, nbrs)], s, rtol=1e-4, atol=1e-5)
    # n beyond the catalogue: every other id once
    every, _ = similar(query[:1], n=10**6)
    assert every.shape == (1, len(ids) - 1)
    with pytest.raises(KeyError, match=f"Unknown {side} id"):
        similar([10**9])
    with pytest.raises(ValueError, match="positive integer"):
        similar(query, n=0)
    with pytest.raises(ValueError, match=f"{side}s must be a 1-D array"):
        similar([query[:2]])


@pytest.mark.parametrize("name", ["BaselinePredictor", "PopularityRecommender"])
def test_models_without_factors_have_no_neighbours(name, fitted):
    model = fitted[name]
    for method in ("similar_items", "similar_users"):
        assert not hasattr(model, method) and not hasattr(MODELS[name](), method)
        with pytest.raises(AttributeError, match=f"has no attribute '{method}'") as info:
            getattr(model, method)([0])
        # scikit-learn's available_if raises its own message; ours, the reason, is the cause
        assert "has no factor vectors" in str(info.value.__cause__)


def test_fm_on_a_sparse_design_matrix_has_no_ids_to_look_up():
    design = sp.random(30, 8, density=0.3, random_state=0, format="csr")
    model = FactorizationMachine(n_factors=2, max_iter=1, random_state=0).fit(design, np.arange(30) % 5 + 1.0)
    with pytest.raises(ValueError, match="sparse design matrix"):
        model.similar_items([0])
    with pytest.raises(ValueError, match="sparse design matrix"):
        model.recommend([0])


# ----------------------------------------------- factorization machine's features
@pytest.fixture(scope="module")
def fm_with_genres():
    rng = np.random.default_rng(0)
    n = 300
    genres = [["a", "b", "c"][: 1 + k % 3] for k in range(20)]
    X = pd.DataFrame({"user": rng.integers(0, 15, n), "item": rng.integers(0, 20, n)})
    X["genres"] = [genres[i] for i in X["item"]]
    y = 1.0 + 4 * rng.random(n)
    return FactorizationMachine(n_factors=3, max_iter=3, random_state=0).fit(X, y), genres


def test_fm_item_features_as_lists_of_lists_are_read_like_a_dataframe_column(fm_with_genres):
    model, genres = fm_with_genres
    candidates = list(range(20)) + [99]
    cells = genres + [["c", "a"]]
    as_frame = model.recommend([0, 3], n=6, items=candidates, item_features=pd.DataFrame({"genres": cells}))
    as_lists = model.recommend([0, 3], n=6, items=candidates, item_features={"genres": cells})
    for a, b in zip(as_frame, as_lists):
        np.testing.assert_array_equal(a, b)
    # cells of equal length too (NumPy would make them a 2-D array)
    pairs = [["a", "b"]] * 21
    equal = model.recommend([0], n=3, items=candidates, item_features={"genres": pairs})
    np.testing.assert_array_equal(
        equal[0], model.recommend([0], n=3, items=candidates, item_features=pd.DataFrame({"genres": pairs}))[0])
    with pytest.raises(ValueError, match=r"item_features\['genres'\] has shape \(2,\), expected \(21,\)"):
        model.recommend([0], items=candidates, item_features={"genres": [["a"], ["b"]]})


def test_fm_blocklist_drops_the_blocked_candidates_with_their_features(fm_with_genres):
    model, genres = fm_with_genres
    candidates, cells = list(range(20)), genres
    blocked = [2, 5, 11]
    kept = [i for i in candidates if i not in blocked]
    filtered = model.recommend([0, 1], n=8, items=candidates, item_features={"genres": cells}, filter_items=blocked)
    direct = model.recommend([0, 1], n=8, items=kept, item_features={"genres": [cells[i] for i in kept]})
    for a, b in zip(filtered, direct):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ score
def test_ranking_models_score_by_ndcg_at_10_of_their_recommendations(fitted, data):
    X, y = data
    X_test = np.array([[u, i] for u in range(50) for i in (0, 7, 13, 21) if not ((X[:, 0] == u) & (X[:, 1] == i)).any()])
    y_test = np.linspace(1, 5, len(X_test))
    ncf, pop = fitted["NeuralCF"], fitted["PopularityRecommender"]
    # relevant rows as fit reads y: ratings >= positive_threshold for NeuralCF, y > 0 for popularity
    assert ncf.score(X_test, y_test) == RankingScorer("ndcg", k=10, threshold=3.5)(ncf, X_test, y_test)
    assert pop.score(X_test, y_test) == get_scorer("ndcg@10")(pop, X_test, y_test)
    assert pop.score(X_test) == get_scorer("ndcg@10")(pop, X_test)
    # by hand: the users' relevant held-out items against their top 10
    keep = y_test >= 3.5
    users = np.unique(X_test[keep, 0])
    relevant = [set(X_test[keep & (X_test[:, 0] == u), 1].tolist()) for u in users]
    assert ncf.score(X_test, y_test) == pytest.approx(ndcg_at_k(relevant, ncf.recommend(users, n=10), k=10))
    with pytest.raises(ValueError, match="no held-out row is relevant"):
        ncf.score(X_test, np.zeros(len(X_test)))
    with pytest.raises(ValueError, match="X has 3 features, but NeuralCF is expecting 2"):
        ncf.score(np.column_stack([X_test, X_test[:, 0]]), y_test)


def test_rating_models_keep_their_score(fitted, data):
    X, y = data
    for name in ("BaselinePredictor", "MatrixFactorization", "OverparamMF", "FactorizationMachine"):
        model = fitted[name]
        assert model.score(X, y) == pytest.approx(r2_score(y, model.predict(X)), rel=1e-6)
    fmc = fitted["FactorizationMachineClassifier"]
    labels = _targets("FactorizationMachineClassifier", y)
    assert fmc.score(X, labels) == accuracy_score(labels, fmc.predict(X))
    with pytest.raises(ValueError, match="needs the true targets y"):
        fitted["MatrixFactorization"].score(X)


class _RankingMF(MatrixFactorization):
    """What a ranking loss switches on: the hook alone makes score the ranking score."""

    def _ranks_by_default(self):
        return True


class _RankingFM(FactorizationMachineClassifier):
    def _ranks_by_default(self):
        return True


@pytest.mark.parametrize("cls", [_RankingMF, _RankingFM])
def test_the_ranks_by_default_hook_makes_score_the_ranking_score(cls, data):
    X, y = data
    model = cls(n_factors=4, max_iter=2, random_state=0).fit(X[:500], (y[:500] >= 3.5).astype(int))
    X_test, labels = X[500:], (y[500:] >= 3.5).astype(int)
    assert model.score(X_test, labels) == RankingScorer("ndcg", k=10, threshold=0.5)(model, X_test, labels)
    assert model.score(X_test) == get_scorer("ndcg@10")(model, X_test)
    with pytest.raises(ValueError, match="takes no sample_weight"):
        model.score(X_test, labels, sample_weight=np.ones(len(labels)))


def _manual_grid_scores(estimator, grid, X, y, cv, fit_params=None):
    """Mean NDCG@10 per candidate, fitted and scored by hand (ndcg_at_k, not the estimator's score)."""
    means = []
    for params in grid:
        fold_scores = []
        for train, test in cv.split(X):
            model = clone(estimator).set_params(**params)
            kwargs = {k: v[train] for k, v in (fit_params or {}).items()}
            model.fit(X[train], None if y is None else y[train], **kwargs)
            relevant_rows = np.ones(len(test), bool) if y is None else y[test] >= 3.5
            users = np.unique(X[test][relevant_rows, 0])
            relevant = [set(X[test][relevant_rows & (X[test][:, 0] == u), 1].tolist()) for u in users]
            fold_scores.append(ndcg_at_k(relevant, model.recommend(users, n=10), k=10))
        means.append(np.mean(fold_scores))
    return np.array(means)


def test_grid_search_without_scoring_ranks_neural_cf_candidates_by_ndcg():
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=1500, seed=2)
    base = NeuralCF(model="gmf", n_factors=4, max_iter=4, positive_threshold=3.5, random_state=0)
    grid = [{"learning_rate": 1e-6}, {"learning_rate": 0.1}]  # the first barely moves from its random start
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(base, {"learning_rate": [1e-6, 0.1]}, cv=cv).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    expected = _manual_grid_scores(base, grid, X, y, cv)
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    assert search.best_index_ == int(np.argmax(expected)) == 1  # not the first candidate by default


def test_grid_search_without_scoring_picks_the_half_life_that_ranks_best():
    # items 0-9 were popular long ago, items 10-19 are popular now; the held-out
    # rows (the latest) are recent items, so a decayed count ranks them better
    rng = np.random.default_rng(0)
    old = np.column_stack([rng.integers(0, 80, 600), rng.integers(0, 10, 600)])
    new = np.column_stack([rng.integers(0, 80, 400), 10 + rng.integers(0, 10, 400)])
    noise = np.column_stack([rng.integers(0, 80, 300), rng.integers(0, 20, 300)])
    X = np.vstack([old, noise, new])
    t = np.concatenate([np.arange(600), np.arange(600, 900), 900 + np.arange(400)]).astype(float)
    test = np.arange(len(X)) >= len(X) - 150

    class LatestRows:
        def split(self, X, y=None, groups=None):
            yield np.flatnonzero(~test), np.flatnonzero(test)

        def get_n_splits(self, *args, **kwargs):
            return 1

    grid = [{"half_life": None}, {"half_life": 50.0}]
    search = GridSearchCV(PopularityRecommender(), {"half_life": [None, 50.0]}, cv=LatestRows())
    search.fit(X, timestamps=t)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, _manual_grid_scores(PopularityRecommender(), grid, X, None, LatestRows(),
                                                           {"timestamps": t}), rtol=1e-12)
    assert search.best_params_ == {"half_life": 50.0} and scores[1] > scores[0] + 0.1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_ranking_scorers_accept_every_estimator(name, fitted, data):
    X, y = data
    model = fitted[name]
    X_test = np.array([[u, (u * 7 + 3) % 30] for u in range(50)])
    for scorer in ("ndcg@10", "hit_rate@5", "precision@3", "recall@10", "mrr"):
        value = get_scorer(scorer)(model, X_test, None)
        assert 0 <= value <= 1
    assert 0 <= get_scorer("ndcg@10")(model, pd.DataFrame(X_test, columns=["u", "i"]), None) <= 1
