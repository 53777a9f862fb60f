"""FactorizationMachine's ranking losses implement their rules exactly.

The compiled ``fm_ranking_epoch`` (a context part per positive, an item table, sampled negatives) is
replayed by the NumPy reference (``tests/_reference.py``, which scores pair by pair instead of
through Rendle's identity) for every loss x solver at float64 rtol 1e-10, with item parts that
share rows (a genre of both the positive and the negative); the estimator's glue (the split into
context and item parts, the item table, fa-sgd's expected steps) is checked against direct counts;
and a model with side features ranks cold-start users and items from their features.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfreq import FactorizationMachine
from recfreq import _engine
from recfreq._solvers import SOLVER_NAMES, Solver, TableState
from recfreq._ranking_losses import warp_weights

import _reference as ref

RTOL = 1e-10
LOSSES = {"logistic": ref.LOGISTIC, "bpr": ref.BPR, "warp": ref.WARP}


def _toy(seed=0):
    """Context parts (user id row, a user-group row, a numeric row), item parts (item id row and
    genre rows of weight 1/len, shared between items), positives, as the kernel reads them."""
    rng = np.random.default_rng(seed)
    n_users, n_items, n_genres = 5, 6, 3
    user_row = np.arange(n_users)                       # rows 0..4
    group_row = n_users + np.arange(2)                  # rows 5, 6
    numeric_row = n_users + 2                           # row 7
    item_row = numeric_row + 1 + np.arange(n_items)     # rows 8..13
    genre_row = item_row[-1] + 1 + np.arange(n_genres)  # rows 14..16
    n_features = genre_row[-1] + 1
    item_parts = []
    for i in range(n_items):
        genres = rng.choice(n_genres, rng.integers(1, 3), replace=False)
        item_parts.append([(int(item_row[i]), 1.0)] + [(int(genre_row[g]), 1.0 / len(genres)) for g in sorted(genres)])
    pairs = sorted({(int(rng.integers(n_users)), int(rng.integers(n_items))) for _ in range(14)})
    pairs += [(4, i) for i in range(n_items) if (4, i) not in pairs]  # user 4 holds every item
    users = np.array([u for u, _ in pairs], dtype=np.int32)
    items = np.array([i for _, i in pairs], dtype=np.int32)
    ctx = [[(int(user_row[u]), 1.0), (int(group_row[u % 2]), 1.0), (numeric_row, float(rng.normal()))]
           for u in users]
    return ctx, users, items, item_parts, n_users, n_items, n_features


def _csr(rows, n_features):
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    indices = np.array([a for r in rows for a, _ in r], dtype=np.int32)
    data = np.array([x for r in rows for _, x in r], dtype=np.float64)
    return indptr, indices, data


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 7.0)])
def test_kernel_matches_reference(loss, solver, halflife):
    ctx, users, items, item_parts, n_users, n_items, n_features = _toy()
    rng = np.random.default_rng(1)
    k = 3
    V = rng.normal(0, 0.3, (n_features, k))
    w = rng.normal(0, 0.1, n_features)
    w0 = np.array([0.2])
    solver_code = Solver.from_name(solver)
    cfg = _engine.solver_config(solver_code, 0.05 if solver != "fa-sgd" else 0.3, 0.6, halflife)
    dense_cfg = dict(cfg, solver=ref.ADAGRAD if solver == "adagrad" else ref.SGD, learning_rate=0.02)
    state = TableState.allocate(solver_code, n_features, {"factors": (k,), "bias": ()}, np.float64,
                                halflife is not None)
    frequency = rng.uniform(0.05, 0.9, n_features) if solver == "fa-sgd" else np.zeros(0)
    ref_state = ref.new_state(n_features, {"factors": (k,), "bias": ()}, solver_code,
                              counts=frequency if solver == "fa-sgd" else None, n_samples=1)
    pairs = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(n_users, n_items))
    pairs.sort_indices()
    pos_indptr, pos_indices = pairs.indptr.astype(np.int64), pairs.indices.astype(np.int32)
    c_indptr, c_indices, c_data = _csr(ctx, n_features)
    i_indptr, i_indices, i_data = _csr(item_parts, n_features)
    Vk, wk, w0k = V.copy(), w.copy(), w0.copy()
    accum0 = np.zeros(1 if solver == "adagrad" else 0)
    ref_accum0 = np.zeros(1)
    t = 0
    for epoch in range(2):
        order = ref.keyed_order(len(users), 99, epoch)
        got = _engine.fm_ranking_epoch(
            device="cpu", ctx_indptr=c_indptr, ctx_indices=c_indices, ctx_data=c_data, user_index=users,
            item_index=items, order=order, item_indptr=i_indptr, item_indices=i_indices, item_data=i_data,
            positive_indptr=pos_indptr, positive_indices=pos_indices, ranking_loss=LOSSES[loss], n_negatives=3,
            max_sampled=4, warp_weights=warp_weights(n_items), sample_seed=17, order_epoch=epoch, intercept=w0k,
            intercept_accum=accum0, feature_bias=wk, feature_factors=Vk, state=state, feature_frequency=frequency,
            config=cfg, dense_learning_rate=0.02, alpha=0.03, alpha_bias=0.01, t_start=t, n_threads=1)
        want = ref.fm_ranking_epoch(ctx, users, items, item_parts, order, ref.draw_key(17, epoch), w0, w, V,
                                    LOSSES[loss], 3, 4, pos_indptr, pos_indices, cfg, dense_cfg, 0.03, 0.01, t,
                                    ref_state, ref_accum0)
        assert got == pytest.approx(want, rel=RTOL)
        t += len(users)
    np.testing.assert_allclose(Vk, V, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(wk, w, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(w0k, w0, rtol=RTOL, atol=1e-13)
    if loss != "logistic":
        assert w0k[0] == 0.2  # w0 cancels in a pairwise loss
    if solver == "cf-sgd":
        np.testing.assert_allclose(state.counter, ref_state["counter"], rtol=RTOL)


def _side_frame(n_users=60, n_items=40, seed=0):
    """Users of two groups, each group liking the items of one genre (plus noise); genres describe items."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        liked = [i for i in range(n_items) if i % 2 == u % 2]
        for i in rng.choice(liked, 8, replace=False):
            rows.append((u, int(i)))
        rows.append((u, int(rng.integers(n_items))))
    X = pd.DataFrame(sorted(set(rows)), columns=["user", "item"])
    X["group"] = np.where(X["user"] % 2 == 0, "even", "odd")
    X["genre"] = np.where(X["item"] % 2 == 0, "A", "B")
    return X


def test_item_table_and_parts_come_from_the_training_rows():
    X = _side_frame()
    model = FactorizationMachine(loss="bpr", n_factors=4, max_iter=2, random_state=0, item_columns=["genre"]).fit(X)
    enc = model._feature_encoder
    table = model.item_parts_.toarray()
    for i, item in enumerate(model.item_ids_):
        genre = "A" if item % 2 == 0 else "B"
        expected = {enc.feature_names.index(f"item={item}"), enc.feature_names.index(f"genre={genre}")}
        assert set(np.flatnonzero(table[i])) == expected


def test_item_columns_must_describe_the_item():
    X = _side_frame()
    X.loc[X.index[:3], "genre"] = "C"  # another genre in some rows of items that have B elsewhere
    bad = FactorizationMachine(loss="bpr", n_factors=4, max_iter=1, item_columns=["genre"])
    with pytest.raises(ValueError, match="must describe the item"):
        bad.fit(X[X["item"].isin(X["item"].iloc[:3])])
    with pytest.raises(ValueError, match="not a column"):
        FactorizationMachine(loss="bpr", item_columns=["nope"]).fit(_side_frame())
    with pytest.raises(ValueError, match="side columns"):
        FactorizationMachine(loss="bpr", item_columns=["item"]).fit(_side_frame())
    with pytest.raises(ValueError, match="only matters to a ranking loss"):
        FactorizationMachine(item_columns=["genre"]).fit(_side_frame(), np.ones(len(_side_frame())))
    with pytest.raises(ValueError, match="task"):
        FactorizationMachine(loss="bpr", task="classification").fit(_side_frame())


def test_fa_sgd_frequencies_count_negatives_through_the_item_parts():
    X = _side_frame()
    model = FactorizationMachine(loss="logistic", solver="fa-sgd", n_factors=4, max_iter=1, n_negatives=2,
                                 random_state=0, item_columns=["genre"]).fit(X)
    enc, state = model._feature_encoder, model.feature_state_
    indptr, indices = model.user_items_.indptr, model.user_items_.indices
    p = model._ranking_frequencies("logistic", indptr.astype(np.int64), indices.astype(np.int32),
                                   len(model.item_ids_))
    # every positive steps its context rows 1 + 2 times; each item part steps with its item's expected steps
    user_steps, item_steps = ref.ranking_expected_steps(
        enc.columns[0].encoder.transform(X["user"].to_numpy()), enc.columns[1].encoder.transform(X["item"].to_numpy()),
        len(model.user_ids_), len(model.item_ids_), ref.LOGISTIC, 2)
    group = enc.feature_names.index("group=even")
    assert p[group] * len(X) == pytest.approx(3 * (X["group"] == "even").sum())
    genre_a = enc.feature_names.index("genre=A")
    a_items = enc.columns[1].encoder.transform(np.array([i for i in model.item_ids_ if i % 2 == 0]))
    assert p[genre_a] * len(X) == pytest.approx(item_steps[a_items].sum())
    np.testing.assert_allclose(p[enc.columns[0].rows] * len(X), user_steps)


def test_side_features_rank_cold_start_users_and_items():
    X = _side_frame()
    model = FactorizationMachine(loss="bpr", n_factors=8, max_iter=40, random_state=0, item_columns=["genre"],
                                 solver="adagrad", learning_rate=0.1).fit(X)
    # a new user of the even group, and two new items of each genre: the model knows only their features
    items, _ = model.recommend([10**6], n=2, items=[1000, 1001, 1002, 1003],
                               user_features={"group": ["even"]},
                               item_features={"genre": ["A", "B", "A", "B"]})
    assert set(items[0]) == {1000, 1002}
    with pytest.raises(ValueError, match="user_features"):
        model.recommend([0], n=3)  # the group column describes users: ranking needs it
    with pytest.raises(ValueError, match="item_features"):
        model.recommend([0], n=2, items=[1000, 1001], user_features={"group": ["even"]})
    # known items score from their training parts without item_features
    known, _ = model.recommend([0], n=5, user_features={"group": ["even"]})
    assert np.mean(known[0] % 2 == 0) >= 0.8


def test_reference_gradients_match_finite_differences():
    """The reference's d score / d theta (which the kernel's steps are tested against) is the
    gradient of its pair-by-pair score."""
    rng = np.random.default_rng(3)
    V, w = rng.normal(0, 0.5, (6, 3)), rng.normal(0, 0.5, 6)
    features = [(0, 1.0), (2, 0.5), (3, 1.0), (5, -1.3)]
    grads = ref._fm_score_grads(features, w, V)
    eps = 1e-6
    for a, x in features:
        for f in range(3):
            V[a, f] += eps
            up = ref._fm_score(features, 0.1, w, V)
            V[a, f] -= 2 * eps
            down = ref._fm_score(features, 0.1, w, V)
            V[a, f] += eps
            assert grads[a][0][f] == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-9)
        w[a] += eps
        up = ref._fm_score(features, 0.1, w, V)
        w[a] -= 2 * eps
        down = ref._fm_score(features, 0.1, w, V)
        w[a] += eps
        assert grads[a][1] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_a_failed_ranking_fit_leaves_the_model_as_it_was():
    X = _side_frame()
    model = FactorizationMachine(loss="bpr", n_factors=4, max_iter=2, random_state=0, item_columns=["genre"]).fit(X)
    before = (model.feature_factors_.copy(), model.item_parts_.copy(), model._item_columns_at)
    bad = X.copy()
    bad.loc[bad.index[:5], "genre"] = "C"  # genre no longer a property of those items
    with pytest.raises(ValueError, match="must describe the item"):
        model.set_params(warm_start=True).fit(bad)
    np.testing.assert_array_equal(model.feature_factors_, before[0])
    assert (model.item_parts_ != before[1]).nnz == 0 and model._item_columns_at == before[2]
    with pytest.raises(ValueError, match="changed the model's shape"):
        model.set_params(item_columns=[]).partial_fit(X)
