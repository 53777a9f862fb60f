"""FactorizationMachine: the compiled epoch implements the spec; encoder, predict, recommend, errors."""

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.utils import check_random_state

from recfreq import FactorizationMachine, FactorizationMachineClassifier
from recfreq import _engine
from recfreq._features import FeatureEncoder
from recfreq._solvers import SOLVER_NAMES, Solver

import _reference as ref
from _helpers import planted_ratings, tiny_ratings

RTOL = 1e-10


def side_frame(X, seed=0, genres=True):
    """tiny ids plus a string column, a multi-valued column and a numeric column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1]})
    frame["gender"] = np.where(X[:, 0] % 2 == 0, "F", "M")
    if genres:
        pool = ["drama", "comedy", "action", "noir"]
        frame["genres"] = [list(rng.choice(pool, size=1 + (i % 3), replace=False)) for i in X[:, 1]]
    frame["year"] = 1990.0 + (X[:, 1] * 7) % 11 + rng.normal(0, 0.1, len(X))
    return frame


def _replay(params, batches, classification=False):
    """Replay fit (first batch) + partial_fit (later batches) with the NumPy reference epoch."""
    k, seed = params["n_factors"], params["random_state"]
    solver = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(solver, params["learning_rate"], params["frequency_exponent"],
                                params["counter_halflife"])
    rng = check_random_state(seed)
    encoder = FeatureEncoder(multi_value_weight=params.get("multi_value_weight", "one"))
    designs = []
    for call, (X, y) in enumerate(batches):
        raw = encoder.read(X)
        designs.append((encoder.fit_transform(raw) if call == 0 else encoder.extend_transform(raw), y))
    n_features = encoder.n_features
    y0 = np.asarray(batches[0][1], dtype=float)
    if classification:
        rate = np.clip(y0.mean(), 1e-6, 1 - 1e-6)
        w0 = np.array([np.log(rate / (1 - rate))])
    else:
        w0 = np.array([y0.mean()])
    V = np.zeros((n_features, k))
    w = np.zeros(n_features)
    state = ref.new_state(n_features, {"factors": (k,), "bias": ()}, solver)
    w0_accum = np.zeros(1)
    n_rows, t, losses = 0, 0, []
    lr_dense = params["dense_learning_rate"]
    for call, (design, y) in enumerate(designs):
        if call == 0:
            V[:design.shape[1]] = rng.standard_normal((design.shape[1], k)) * params["init_std"]
            n_rows = design.shape[1]
        else:
            extra = design.shape[1] - n_rows
            if extra:
                V[n_rows:] = rng.standard_normal((extra, k)) * params["init_std"]
                n_rows += extra
        design = sp.csr_matrix(design)
        state["counts"] += np.bincount(design.indices, minlength=n_features)
        state["n_samples"] += design.shape[0]
        n_epochs = params["max_iter"] if call == 0 else 1
        # one order key per call, drawn from the model's RandomState (see ref.device_epoch_orders)
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        targets = np.asarray(y, dtype=float)
        for epoch in range(n_epochs):
            order = ref.keyed_order(design.shape[0], order_seed, epoch)
            total = ref.fm_epoch(design.indptr, design.indices, design.data, targets, order,
                                 1 if classification else 0, w0, w, V, cfg, lr_dense, params["alpha"],
                                 params["alpha_bias"], t, state, w0_accum)
            losses.append(total / design.shape[0])
            t += design.shape[0]
    return w0, w, V, losses, state


CASES = [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)]


@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
@pytest.mark.parametrize("solver, halflife", CASES)
def test_fit_and_partial_fit_match_reference(solver, halflife, classification):
    X, y = tiny_ratings(seed=5)
    X2, y2 = tiny_ratings(n_users=14, n_items=12, n_ratings=50, seed=6)
    X2 = X2 + 4  # new users/items and new genres for some
    F, F2 = side_frame(X, seed=1), side_frame(X2, seed=2)
    F2.loc[F2.index[:5], "genres"] = [["western"]] * 5
    if classification:
        y, y2 = (y >= 4).astype(int), (y2 >= 4).astype(int)
    params = dict(n_factors=3, solver=solver, learning_rate=0.2 if solver != "sgd" else 0.03,
                  dense_learning_rate=0.02, alpha=0.04, alpha_bias=0.01, max_iter=3, frequency_exponent=0.55,
                  counter_halflife=halflife, init_std=0.3, dtype="float64", random_state=11)
    model_cls = FactorizationMachineClassifier if classification else FactorizationMachine
    model = model_cls(**params).fit(F, y).partial_fit(F2, y2)
    w0, w, V, losses, state = _replay(params, [(F, y), (F2, y2)], classification)
    np.testing.assert_allclose(model.feature_factors_, V, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.feature_bias_, w, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.intercept_, w0, rtol=RTOL)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
    if solver == "adagrad":
        np.testing.assert_allclose(model.feature_state_.accumulators["factors"], state["accum"]["factors"],
                                   rtol=RTOL)
    if solver == "cf-sgd":
        np.testing.assert_allclose(model.feature_state_.counter, state["counter"], rtol=RTOL)
    np.testing.assert_array_equal(model.feature_state_.counts, state["counts"])


def test_multi_hot_weight_mean_matches_reference():
    X, y = tiny_ratings(seed=3)
    F = side_frame(X)
    params = dict(n_factors=2, solver="fa-sgd", learning_rate=0.1, dense_learning_rate=0.01, alpha=0.02,
                  alpha_bias=0.0, max_iter=2, frequency_exponent=0.5, counter_halflife=None, init_std=0.2,
                  dtype="float64", random_state=0, multi_value_weight="mean")
    model = FactorizationMachine(**params).fit(F, y)
    w0, w, V, losses, _ = _replay(params, [(F, y)])
    np.testing.assert_allclose(model.feature_factors_, V, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)


def test_linear_time_identity_equals_naive_pairwise_sum():
    rng = np.random.default_rng(0)
    X = sp.random(40, 15, density=0.3, random_state=1, format="csr")
    X.data = X.data * 3 - 1  # real values of both signs, and some exact ones
    X.data[::4] = 1.0
    y = rng.normal(size=40)
    model = FactorizationMachine(n_factors=5, init_std=0.5, max_iter=2, dtype="float64", random_state=0,
                                 learning_rate=0.01, clip_predictions=False).fit(X, y)
    X = sp.csr_matrix(X)
    naive = [ref.fm_score_naive(X.indices[X.indptr[s]:X.indptr[s + 1]], X.data[X.indptr[s]:X.indptr[s + 1]],
                                model.intercept_[0], model.feature_bias_, model.feature_factors_)
             for s in range(X.shape[0])]
    np.testing.assert_allclose(model.predict(X), naive, rtol=1e-12)


def test_float32_tracks_float64():
    X, y = tiny_ratings()
    F = side_frame(X)
    a = FactorizationMachine(n_factors=4, dtype="float32", random_state=0, max_iter=5).fit(F, y).predict(F)
    b = FactorizationMachine(n_factors=4, dtype="float64", random_state=0, max_iter=5).fit(F, y).predict(F)
    assert a.dtype == np.float32 and b.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-4)


# ------------------------------------------------------------------ encoder
def test_encoder_rows_values_and_unknown_categories():
    frame = pd.DataFrame({"u": ["a", "b", "a"], "i": [1, 2, 3], "g": [["x", "y"], ["y"], []],
                          "occ": pd.Categorical(["p", "q", None]), "age": [20.0, 30.0, 40.0],
                          "flag": [True, False, True]})
    enc = FeatureEncoder(multi_value_weight="mean")
    X = enc.fit_transform(enc.read(frame)).toarray()
    names = list(enc.feature_names)
    assert [c.kind for c in enc.columns] == ["id", "id", "multi", "categorical", "numeric", "categorical"]
    col = {n: j for j, n in enumerate(names)}
    assert X[0, col["user=a"]] == 1 and X[1, col["user=b"]] == 1 and X[2, col["item=3"]] == 1
    assert X[0, col["g=x"]] == X[0, col["g=y"]] == 0.5 and X[1, col["g=y"]] == 1.0
    assert X[2, [col["g=x"], col["g=y"]]].sum() == 0  # empty list: nothing
    assert X[2, [col["occ=p"], col["occ=q"]]].sum() == 0  # missing category: nothing
    np.testing.assert_allclose(X[:, col["age"]], (np.array([20, 30, 40]) - 30) / np.std([20, 30, 40]))
    new = pd.DataFrame({"u": ["zz"], "i": [2], "g": [["y", "unknown"]], "occ": pd.Categorical(["r"]),
                        "age": [30.0], "flag": [False]})
    row = enc.transform(enc.read(new)).toarray()[0]
    # unknown user, unknown genre and unknown occupation add no entry; the
    # known genre keeps the cell's 1/len weight
    assert set(np.flatnonzero(row)) == {col["item=2"], col["g=y"], col["flag=0"]}
    assert row[col["g=y"]] == 0.5
    assert enc.n_features == len(names)


def test_separator_and_forced_categorical_ints():
    frame = pd.DataFrame({"u": [1, 2], "i": [1, 1], "genres": ["A|B", "B"], "bucket": [3, 5]})
    enc = FeatureEncoder(multi_value_separator="|", categorical_features=["bucket"])
    X = enc.fit_transform(enc.read(frame))
    assert [c.kind for c in enc.columns][2:] == ["multi", "categorical"]
    assert "bucket=3" in enc.feature_names and "genres=A" in enc.feature_names
    assert X.shape == (2, 2 + 1 + 2 + 2)


def test_unknown_side_values_at_predict_contribute_nothing():
    X, y = tiny_ratings()
    F = side_frame(X)
    model = FactorizationMachine(n_factors=4, random_state=0, max_iter=3, dtype="float64").fit(F, y)
    G = F.iloc[:3].copy()
    G["gender"] = "X"
    G["genres"] = [["unheard-of"]] * 3
    H = F.iloc[:3].copy()
    H["gender"] = None
    H["genres"] = [[]] * 3
    np.testing.assert_allclose(model.predict(G), model.predict(H))
    cold = pd.DataFrame({"user": [10**9], "item": [10**9], "gender": [None], "genres": [[]], "year": [F.year.mean()]})
    assert np.isfinite(model.predict(cold)).all()


def test_partial_fit_grows_rows_without_moving_old_ones():
    X, y = tiny_ratings()
    F = side_frame(X)
    model = FactorizationMachine(n_factors=4, random_state=0, max_iter=1).fit(F, y)
    names = list(model.feature_names_)
    G = side_frame(X + 100, seed=3)
    G["genres"] = [["brand-new"]] * len(G)
    model.partial_fit(G, y)
    assert list(model.feature_names_[:len(names)]) == names
    assert "genres=brand-new" in set(model.feature_names_)
    assert model.feature_factors_.shape[0] == len(model.feature_names_) == model.feature_state_.n_rows
    assert model.user_items_.shape == (len(model.user_ids_), len(model.item_ids_))


# --------------------------------------------------------------- predictions
def test_regression_predictions_are_clipped_to_training_range():
    X, y = tiny_ratings()
    model = FactorizationMachine(n_factors=4, random_state=0, max_iter=2).fit(X, y)
    model.intercept_[:] = 100.0
    assert (model.predict(X) == y.max()).all()
    model.set_params(clip_predictions=False)
    assert (model.predict(X) > 50).all()


def test_classification_probabilities_labels_and_task_parameter():
    X, y = planted_ratings(n_ratings=3000)
    labels = np.where(y >= 3.5, "like", "dislike")
    clf = FactorizationMachineClassifier(n_factors=4, random_state=0, max_iter=10).fit(X, labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-6)
    assert list(clf.classes_) == ["dislike", "like"]
    pred = clf.predict(X)
    np.testing.assert_array_equal(pred, clf.classes_[(proba[:, 1] > 0.5).astype(int)])
    assert clf.score(X, labels) > 0.7
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    same = FactorizationMachine(task="classification", n_factors=4, random_state=0, max_iter=10).fit(X, labels)
    np.testing.assert_array_equal(same.predict_proba(X), proba)
    assert same.score(X, labels) == clf.score(X, labels)
    with pytest.raises(AttributeError, match="predict_proba"):
        FactorizationMachine().fit(X, y).predict_proba(X)
    with pytest.raises(ValueError, match="Only binary"):
        clf.fit(X, np.arange(len(X)) % 3)


def test_recommend_uses_side_features_of_candidates():
    X, y = tiny_ratings(n_users=15, n_items=12, n_ratings=100, seed=1)
    F = side_frame(X)
    model = FactorizationMachine(n_factors=4, random_state=0, max_iter=5, dtype="float64").fit(F, y)
    users = np.unique(X[:, 0])[-4:]  # the rarest users: at least 3 unseen items each
    assert all((X[:, 0] == u).sum() <= 9 for u in users)
    items = np.unique(X[:, 1])
    item_side = F.drop_duplicates("item").set_index("item").loc[items]
    user_side = F.drop_duplicates("user").set_index("user").loc[users]
    recs, scores = model.recommend(users, n=5, exclude_seen=False, items=items,
                                   user_features={"gender": user_side["gender"].to_numpy()},
                                   item_features=item_side[["genres", "year"]])
    assert recs.shape == scores.shape == (4, 5)
    assert (np.diff(scores, axis=1) <= 0).all()
    pairs = pd.DataFrame({"user": np.repeat(users, 5), "item": recs.ravel(),
                          "gender": np.repeat(user_side["gender"].to_numpy(), 5),
                          "genres": list(item_side.loc[recs.ravel(), "genres"]),
                          "year": item_side.loc[recs.ravel(), "year"].to_numpy()})
    np.testing.assert_allclose(model.predict(pairs), scores.ravel(), rtol=1e-10)
    # exclude_seen removes the user's training items
    recs, _ = model.recommend(users, n=3, items=items, item_features=item_side[["genres", "year"]])
    for u, row in zip(users, recs):
        assert not set(X[X[:, 0] == u, 1]) & set(row.tolist())
    with pytest.raises(ValueError, match="both"):
        model.recommend(users, user_features={"year": np.zeros(4)}, item_features={"year": np.zeros(len(items))},
                        items=items)
    with pytest.raises(KeyError, match="Unknown column"):
        model.recommend(users, user_features={"nope": np.zeros(4)})


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors():
    X, y = tiny_ratings()
    F = side_frame(X)
    with pytest.raises(ValueError, match="minimum of 2"):
        FactorizationMachine().fit(X[:, :1], y)
    bad = F.copy()
    bad.loc[0, "year"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        FactorizationMachine().fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent"):
        FactorizationMachine().fit(F, y[:-1])
    with pytest.raises(ValueError, match="embedding_dims"):
        FactorizationMachine(embedding_dims="tiny").fit(F, y)
    model = FactorizationMachine(max_iter=1).fit(F, y)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(F.iloc[:, :3])
    with pytest.raises(TypeError, match="sparse"):
        model.predict(sp.csr_matrix(np.ones((2, 3))))
    sparse_model = FactorizationMachine(max_iter=1).fit(sp.random(20, 6, density=0.5, random_state=0), np.ones(20))
    with pytest.raises(ValueError, match="6 features"):
        sparse_model.predict(sp.random(2, 5, density=0.5, random_state=0))
    with pytest.raises(ValueError, match="sparse design"):
        sparse_model.recommend([1])


def test_engine_refuses_out_of_range_features():
    X, y = tiny_ratings()
    model = FactorizationMachine(n_factors=2, max_iter=1, dtype="float64", random_state=0).fit(X, y)
    indptr, indices, data = model._design(model._feature_encoder.transform(model._feature_encoder.read(X)))
    indices = indices.copy()
    indices[0] = model.feature_bias_.shape[0]
    with pytest.raises(ValueError, match="outside"):
        _engine.fm_predict(indptr=indptr, indices=indices, data=data, intercept=0.0,
                           feature_bias=model.feature_bias_, feature_factors=model.feature_factors_, n_threads=1)


# ------------------------------------------------------------------ quality
@pytest.mark.slow
def test_movielens_100k_quality_ids_only_and_with_side_features():
    """Issue 5: ids-only FM reproduces biased MF (within 0.01, or better); side features help.

    Thresholds, not exact floats: measured 0.907 (FM ids), 0.919 (MF), 0.899 (FM ids+side);
    see benchmarks/README.md. The issue's 0.895 target is not reached (documented there).
    """
    from recfreq import MatrixFactorization
    from recfreq.datasets import load_movielens
    from recfreq.metrics import rmse
    from recfreq.model_selection import train_test_split

    b = load_movielens("100k")
    X_train, X_test, y_train, y_test = train_test_split(b.data, b.target, test_size=0.2, random_state=0)
    fm = rmse(y_test, FactorizationMachine(random_state=0).fit(X_train, y_train).predict(X_test))
    mf = rmse(y_test, MatrixFactorization(random_state=0).fit(X_train, y_train).predict(X_test))
    assert fm <= mf + 0.01, (fm, mf)
    users = pd.DataFrame(b.users).set_index("user_id")
    movies = pd.DataFrame(b.movies).set_index("item_id")

    def frame(ids):
        f = pd.DataFrame({"user": ids[:, 0], "item": ids[:, 1]})
        f["gender"] = users.loc[f.user, "gender"].to_numpy()
        f["occupation"] = users.loc[f.user, "occupation"].to_numpy()
        f["age"] = (users.loc[f.user, "age"].to_numpy() // 10).astype(str)
        f["genres"] = movies.loc[f.item, "genres"].to_numpy()
        return f

    side = FactorizationMachine(random_state=0, multi_value_separator="|").fit(frame(X_train), y_train)
    with_side = rmse(y_test, side.predict(frame(X_test)))
    assert with_side <= 0.905 and with_side < fm, (with_side, fm)


# ------------------------------------------------------- mixed dimensions
@pytest.mark.parametrize("model_cls", [FactorizationMachine, FactorizationMachineClassifier])
@pytest.mark.parametrize("params, match", [
    ({"mixed_dim_exponent": -0.1}, "mixed_dim_exponent"), ({"mixed_dim_exponent": "big"}, "mixed_dim_exponent"),
    ({"n_dim_blocks": 0}, "n_dim_blocks"), ({"n_dim_blocks": 2.5}, "n_dim_blocks"),
    ({"dense_batch_size": 0}, "dense_batch_size"), ({"dense_learning_rate": 0.0}, "dense_learning_rate"),
])
def test_bad_mixed_parameters_raise(model_cls, params, match):
    X, y = tiny_ratings()
    y = (y >= 4).astype(int) if model_cls is FactorizationMachineClassifier else y
    with pytest.raises(ValueError, match=match):
        model_cls(embedding_dims="mixed", **params).fit(side_frame(X), y)


def test_mixed_tables_structure_parameters_and_prediction():
    X, y = planted_ratings(n_users=300, n_items=150, n_ratings=5000)
    F = side_frame(X)
    model = FactorizationMachine(n_factors=16, embedding_dims="mixed", max_iter=2, dtype="float64",
                                 random_state=0).fit(F, y)
    table = model.feature_embedding_
    assert table.n_rows == model.feature_bias_.shape[0]
    assert table.group_in_dim[0] == 16 and table.group_n_layers[0] == 0  # most frequent block: plain rows
    assert (np.diff(table.group_in_dim) <= 0).all() and table.group_in_dim[-1] < 16
    # the numeric column is non-zero in every sample: the widest block
    assert table.row_group[_feature_row(model, "year")] == 0
    assert model.n_parameters_ == table.rows.size + table.dense.size + model.feature_bias_.size + 1
    uniform = FactorizationMachine(n_factors=16, max_iter=2, random_state=0).fit(F, y)
    assert model.n_parameters_ < uniform.n_parameters_
    # the projections take the mixed model's own dense step; the uniform model's w0 keeps its default
    assert model._dense_learning_rate() == 1e-4 and uniform._dense_learning_rate() == 0.01
    # prediction reads the collapsed rows v_j = e_j P_b, exactly the projected model
    np.testing.assert_allclose(model.feature_factors_, table.collapse(), rtol=1e-12)
    X_design = model._feature_encoder.transform(model._feature_encoder.read(F)).toarray()
    V = np.zeros((table.n_rows, 16))
    for b in range(table.group_in_dim.shape[0]):
        idx, raw = table.group_rows(b)
        for W in table.layers(b):
            raw = raw @ W
        V[idx] = raw
    sums = X_design @ V
    expected = (model.intercept_[0] + X_design @ model.feature_bias_
                + 0.5 * ((sums ** 2).sum(1) - ((X_design ** 2) @ (V ** 2)).sum(1)))
    np.testing.assert_allclose(model.set_params(clip_predictions=False).predict(F), expected, rtol=1e-9)


def _feature_row(model, name):
    return np.flatnonzero(model.feature_names_ == name)[0]


@pytest.mark.parametrize("model_cls", [FactorizationMachine, FactorizationMachineClassifier])
def test_mixed_partial_fit_adds_new_rows_to_the_narrowest_block(model_cls):
    X, y = planted_ratings(n_users=300, n_items=150, n_ratings=5000)
    y = (y >= 4).astype(int) if model_cls is FactorizationMachineClassifier else y
    model = model_cls(n_factors=8, embedding_dims="mixed", random_state=0).partial_fit(side_frame(X), y)
    n_rows = model.feature_embedding_.n_rows
    X_new = np.array([[10**6, X[0, 1]], [10**6 + 1, 10**6]])
    model.partial_fit(side_frame(X_new), y[:2])
    table = model.feature_embedding_
    assert table.n_rows == n_rows + 3 == model.feature_factors_.shape[0] == model.feature_bias_.shape[0]
    assert (table.row_group[n_rows:] == table.new_row_group).all()
    assert table.group_in_dim[table.new_row_group] == table.group_in_dim.min()
    assert np.isfinite(model.predict(side_frame(X_new))).all()


def test_refit_as_uniform_drops_the_mixed_table():
    X, y = tiny_ratings()
    model = FactorizationMachine(n_factors=4, embedding_dims="mixed", max_iter=1, random_state=0).fit(X, y)
    model.set_params(embedding_dims="uniform").fit(X, y)
    assert not hasattr(model, "feature_embedding_")
    assert model.n_parameters_ == model.feature_factors_.size + model.feature_bias_.size + 1


def test_mixed_engine_refuses_inconsistent_inputs():
    X, y = tiny_ratings()
    model = FactorizationMachine(n_factors=4, embedding_dims="mixed", max_iter=1, dtype="float64",
                                 random_state=0).fit(X, y)
    indptr, indices, data = model._design(model._feature_encoder.transform(model._feature_encoder.read(X)))
    config = _engine.solver_config(Solver.SGD, 0.01, 0.5, None)
    common = {"device": "cpu", "indptr": indptr, "data": data, "targets": y.copy(),
              "order": np.arange(len(y), dtype=np.int64), "task": 0, "intercept": model.intercept_,
              "intercept_accum": model.intercept_accum_, "feature_bias": model.feature_bias_,
              "state": model.feature_state_, "config": config, "dense_learning_rate": 1e-4,
              "alpha": 0.0, "alpha_bias": 0.0, "t_start": 0, "n_threads": 1}
    bad = indices.copy()
    bad[0] = model.feature_bias_.shape[0]
    with pytest.raises(ValueError, match="outside"):
        _engine.fm_projected_epoch(indices=bad, table=model.feature_embedding_, dense_batch_size=8, **common)
    with pytest.raises(ValueError, match="dense_batch_size"):
        _engine.fm_projected_epoch(indices=indices, table=model.feature_embedding_, dense_batch_size=0, **common)
    broken = copy.deepcopy(model.feature_embedding_)
    broken.row_offset[-1] = broken.rows.shape[0]  # the last row would run past the storage
    with pytest.raises(ValueError, match="row_offset out of range"):
        _engine.fm_projected_epoch(indices=indices, table=broken, dense_batch_size=8, **common)
    shorter = copy.deepcopy(model.feature_embedding_)
    shorter.row_offset, shorter.row_group = shorter.row_offset[:-1], shorter.row_group[:-1]
    with pytest.raises(ValueError, match="does not match"):
        _engine.fm_projected_epoch(indices=indices, table=shorter, dense_batch_size=8, **common)


# ------------------------------------------------------- hot rows, n_jobs=2
def _hot_design(n=30000, seed=0):
    """Ids plus a numeric column in every sample and a two-valued category in every sample.

    y depends on the numeric column with weight 0.8, so its learned w_j shows
    whether the threads' changes to that (hot) row all reach the shared row.
    """
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 300, n), rng.integers(0, 200, n)
    year, group = rng.normal(size=n), rng.integers(0, 2, n)
    rows = np.repeat(np.arange(n), 4)
    cols = np.stack([users, 300 + items, 500 + group, np.full(n, 502)], 1).ravel()
    vals = np.stack([np.ones(n), np.ones(n), np.ones(n), year], 1).ravel()
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, 503))
    user_effect = rng.normal(0, 0.3, 300)
    y = 3.5 + 0.8 * year + 0.3 * group + user_effect[users] + rng.normal(0, 0.3, n)
    return X, y


def test_hot_rows_are_the_frequent_rows_capped_and_sorted():
    from recfreq._engine.cpu import HOT_ROW_MIN_SHARE, MAX_HOT_ROWS, hot_rows

    assert hot_rows(np.zeros(6, dtype=np.int64), 0).shape == (0,)  # nothing counted yet
    counts = np.array([64, 1, 0, 2, 64, 3])
    assert HOT_ROW_MIN_SHARE == 1 / 64 and MAX_HOT_ROWS == 256
    hot = hot_rows(counts, 128)
    assert hot.dtype == np.int32 and hot.flags.c_contiguous
    np.testing.assert_array_equal(hot, [0, 3, 4, 5])  # n_r / N >= 1/64 means n_r >= 2
    np.testing.assert_array_equal(hot_rows(counts, 128, max_rows=2), [0, 4])  # the most frequent
    np.testing.assert_array_equal(hot_rows(counts, 128, max_rows=3), [0, 4, 5])
    np.testing.assert_array_equal(hot_rows(counts, 128, min_share=0.75), [])


def test_the_cpu_binding_chooses_the_hot_rows_only_for_several_threads():
    """The estimator declares what it trains; the CPU backend picks the hot rows from the samples."""
    X, y = _hot_design(n=2000)
    model = FactorizationMachine(n_factors=2, max_iter=1, random_state=0).fit(X, y)
    training = model._training((model._design(X), y.astype(np.float32)))
    assert "hot_rows" not in {**training.arrays, **training.scalars}
    for n_threads, expected in ((1, []), (2, [500, 501, 502])):
        bound = _engine.bind("cpu", training, n_threads)
        try:
            keywords = bound._fixed
            np.testing.assert_array_equal(keywords["hot_rows"], expected)
            assert (keywords["hot_slot"][expected] == np.arange(len(expected))).all()
            assert (np.delete(keywords["hot_slot"], expected) == -1).all() if expected else \
                keywords["hot_slot"].shape == (0,)
            assert keywords["max_nnz"] == (4 if expected else 1)
        finally:
            bound.close()


# a half-life of 13 samples diverges with two threads with or without hot rows
# (the cold rows' shared last-seen stamps), so the threaded case uses 1000
@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 1000.0)])
def test_two_threads_with_hot_rows_learn_what_one_thread_learns(solver, halflife):
    """n_jobs=2 steps the hot rows on per-thread copies: same quality, no change lost."""
    X, y = _hot_design()
    params = {"n_factors": 4, "max_iter": 4, "solver": solver, "counter_halflife": halflife, "random_state": 0}
    one = FactorizationMachine(n_jobs=1, **params).fit(X, y)
    two = FactorizationMachine(n_jobs=2, **params).fit(X, y)
    hot = _engine.cpu.hot_rows(np.bincount(X.indices, minlength=X.shape[1]), X.shape[0])
    np.testing.assert_array_equal(hot, [500, 501, 502])  # the ids are each in < 1/64 of the samples
    # the numeric row is in every sample: each thread's steps must all land in w_j.
    # How the threads interleave moves w_j as another sample order would:
    # measured |two - one| over random_state 0-4 (sgd, cf-sgd with a half-life,
    # adagrad) reached 0.062 with the earlier shuffled epoch order and 0.051 with
    # the keyed order; a thread's lost steps would leave w_j far from the 0.8 below
    assert abs(two.feature_bias_[502] - one.feature_bias_[502]) < 0.07, (one.feature_bias_[502],
                                                                          two.feature_bias_[502])
    assert abs(one.feature_bias_[502] - 0.8) < 0.1 and abs(two.feature_bias_[502] - 0.8) < 0.1
    # how the two threads interleave changes the Hogwild result; on a loaded
    # machine one thread may run most of its slice first (cf-sgd with a
    # half-life then decays its counters differently: 0.301 vs 0.311 seen)
    rmse = [np.sqrt(np.mean((m.predict(X) - y) ** 2)) for m in (one, two)]
    assert abs(rmse[1] - rmse[0]) < 0.05 * rmse[0], rmse
    assert abs(two.loss_curve_[-1] - one.loss_curve_[-1]) < 0.05 * one.loss_curve_[-1]
    if solver == "cf-sgd" and halflife is None:
        # every visit counted once, whichever thread made it, up to the accepted
        # race: two threads publishing the same row at the same instant can lose
        # one thread's batch of DENSE_SYNC (64) visits; seen losing 2 of 1875
        # batches on a loaded 2-core machine, so allow 1%
        n_visits = X.shape[0] * params["max_iter"]
        np.testing.assert_allclose(two.feature_state_.counter[502], n_visits, rtol=1e-2)
    if solver == "adagrad":
        acc = [m.feature_state_.accumulators["bias"][502] for m in (one, two)]
        np.testing.assert_allclose(acc[1], acc[0], rtol=0.05)


def test_engine_refuses_malformed_hot_rows():
    X, y = _hot_design(n=500)
    model = FactorizationMachine(n_factors=2, max_iter=1, dtype="float64", random_state=0).fit(X, y)
    indptr, indices, data = model._design(X)
    common = {"device": "cpu", "indptr": indptr, "indices": indices, "data": data, "targets": y.copy(),
              "order": np.arange(len(y), dtype=np.int64), "task": 0, "intercept": model.intercept_,
              "intercept_accum": model.intercept_accum_, "feature_bias": model.feature_bias_,
              "feature_factors": model.feature_factors_, "state": model.feature_state_,
              "config": _engine.solver_config(Solver.SGD, 0.01, 0.5, None), "dense_learning_rate": 1e-3,
              "alpha": 0.0, "alpha_bias": 0.0, "t_start": 0, "n_threads": 2}
    n_features = model.feature_bias_.shape[0]
    with pytest.raises(TypeError, match="hot_rows"):
        _engine.fm_epoch(hot_rows=np.array([500, 502], dtype=np.int64), **common)
    with pytest.raises(TypeError, match="hot_rows"):
        _engine.fm_epoch(hot_rows=np.array([[500, 502]], dtype=np.int32), **common)
    for bad in ([502, 500], [500, 500], [-1, 500], [500, n_features]):
        with pytest.raises(ValueError, match="hot_rows"):
            _engine.fm_epoch(hot_rows=np.array(bad, dtype=np.int32), **common)
    with pytest.raises(ValueError, match="hot rows"):
        _engine.fm_epoch(hot_rows=np.arange(257, dtype=np.int32), **common)
    # well-formed: runs
    assert np.isfinite(_engine.fm_epoch(hot_rows=np.array([500, 501, 502], dtype=np.int32), **common))
