"""The contract of MatrixFactorization under a ranking loss (logistic, bpr, warp), every solver.

``tests/test_contract.py`` assumes ratings (RMSE, ``global_mean_``); a ranking model learns from
implicit interactions with sampled negatives, so the same points are checked on implicit data:
fit returns self and shapes, dtypes, n_jobs=1 reproducibility, seeds matter, the loss decreases and
the model ranks better than chance and than popularity, unknown ids, string ids, clone / pickle /
joblib, warm_start and partial_fit continue, two threads, divergence, early stopping on a held-out
nDCG, tol, recommend, grid search without ``scoring=`` (a ranking score, not NaN), the progress bar,
and bad input. The ``-cuda`` entries train with ``device="cuda"`` on the emulated CUDA device
(default launch: many warps, Hogwild between them), whose epochs run on the CPU warp by warp.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from recfreq import MatrixFactorization
from recfreq._engine import build_info, usable_cpus
from recfreq._engine.cuda import use_backend
from recfreq.metrics import ndcg_at_k

from _devices import emulated_device


LOSSES = ("logistic", "bpr", "warp")


#: the ranking suites' -cuda entries, one loss each (the emulated device runs every epoch warp by
#: warp on the CPU; each loss x solver x dtype of the kernels is replayed in test_cuda_ranking.py):
#: here warp, whose draw-until-violation loop is the pairwise path's whole logic
CUDA_LOSSES = ("warp",)


@pytest.fixture(params=[*LOSSES, *(f"{loss}-cuda" for loss in CUDA_LOSSES)])
def make(request):
    loss, _, device = request.param.partition("-")
    if not device:
        yield lambda **kw: MatrixFactorization(**{"loss": loss, "n_factors": 8, "max_iter": 5, **kw})
        return
    # the emulated CUDA device (tests/_emulated_device.py), through the estimator's own device="cuda" path
    with use_backend(emulated_device()):
        yield lambda **kw: MatrixFactorization(**{"loss": loss, "n_factors": 8, "max_iter": 5, "device": "cuda", **kw})


def grouped_interactions(n_groups=5, users_per_group=40, items_per_group=24, per_user=14, noise=2, seed=0):
    """Implicit feedback a popularity list cannot rank: users of group g interact with items of
    group g (plus a little noise), and every item is about as popular as any other."""
    rng = np.random.default_rng(seed)
    rows = []
    n_items = n_groups * items_per_group
    for u in range(n_groups * users_per_group):
        g = u // users_per_group
        own = g * items_per_group + rng.choice(items_per_group, per_user, replace=False)
        rows += [(u, i) for i in own] + [(u, int(i)) for i in rng.choice(n_items, noise, replace=False)]
    X = np.unique(np.array(rows, dtype=np.int64), axis=0)
    rng.shuffle(X)
    return X


def split_interactions(X):
    """Training and held-out interactions (a fifth, at random)."""
    test = np.random.default_rng(0).random(len(X)) < 0.2
    return X[~test], X[test]


#: the -cuda entries' data: fewer users (the emulated device runs every epoch warp by warp on
#: the CPU); as many items per group, so ranking stays as hard
SMALL = dict(users_per_group=20)


@pytest.fixture(scope="module")
def _grouped():
    return split_interactions(grouped_interactions()), split_interactions(grouped_interactions(**SMALL))


def is_cuda_entry(request):
    callspec = getattr(request.node, "callspec", None)
    return bool(callspec) and str(callspec.params.get("make", "")).endswith("-cuda")


@pytest.fixture
def data(request, _grouped):
    """Grouped implicit interactions, split into training and held-out interactions (about 3,200 of
    them; 1,250 for the -cuda entries)."""
    full, small = _grouped
    return small if is_cuda_entry(request) else full


def _ndcg(model, X_train, X_test):
    users = np.unique(X_test[:, 0])
    relevant = [set(X_test[X_test[:, 0] == u, 1]) for u in users]
    return ndcg_at_k(relevant, model.recommend(users, n=10)[0], k=10)


def test_fit_returns_self_and_shapes(make, solver, data):
    X, _ = data
    model = make(solver=solver, random_state=0)
    assert model.fit(X) is model
    assert model.predict(X[:17]).shape == (17,) and np.isfinite(model.predict(X[:17])).all()
    assert model.n_iter_ == model.max_iter == len(model.loss_curve_)
    assert model.t_ == model.n_iter_ * len(X)  # the clock counts positives
    assert model.global_mean_ == 0.0
    assert model.user_ids_.shape[0] == len(np.unique(X[:, 0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(make, dtype, data):
    X, _ = data
    model = make(dtype=dtype, random_state=0).fit(X)
    assert model.predict(X[:5]).dtype == np.dtype(dtype)
    for array in model._parameter_arrays():
        assert array.dtype == np.dtype(dtype)


def test_single_thread_is_reproducible_and_seeds_matter(make, solver, data):
    X, _ = data
    a = make(solver=solver, random_state=3, n_jobs=1).fit(X).predict(X)
    b = make(solver=solver, random_state=3, n_jobs=1).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(make(solver=solver, random_state=4).fit(X).predict(X), a)


def test_loss_decreases_and_ranks_better_than_popularity(make, solver, data):
    X_train, X_test = data
    # 30 epochs: from the ranking losses' small initial factors (init_std=0.01) the SGD-family
    # solvers spend their first ~15 epochs on these 2,500 rows leaving the saddle at zero
    model = make(solver=solver, random_state=0, max_iter=30).fit(X_train)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    counts = np.bincount(X_train[:, 1], minlength=X_train[:, 1].max() + 1).astype(float)
    users = np.unique(X_test[:, 0])
    relevant = [set(X_test[X_test[:, 0] == u, 1]) for u in users]
    popular = []
    for u in users:
        scores = counts.copy()
        scores[X_train[X_train[:, 0] == u, 1]] = -1
        popular.append(np.argsort(-scores, kind="stable")[:10])
    assert _ndcg(model, X_train, X_test) > 2 * ndcg_at_k(relevant, np.array(popular), k=10)


def test_score_is_the_ndcg_of_recommend(make, data):
    X_train, X_test = data
    model = make(random_state=0).fit(X_train)
    assert model.score(X_test) == pytest.approx(_ndcg(model, X_train, X_test))
    # 0/1 labels: only the rows labelled 1 are relevant
    labels = (np.arange(len(X_test)) % 2).astype(float)
    assert model.score(X_test, labels) == pytest.approx(
        model.score(X_test[labels == 1]))


def test_y_selects_the_positives(make, data):
    X, _ = data
    y = np.where(np.arange(len(X)) % 3 == 0, 1.0, 5.0)
    thresholded = make(random_state=0, positive_threshold=4).fit(X, y)
    subset = make(random_state=0).fit(X[y >= 4])
    np.testing.assert_array_equal(thresholded.predict(X), subset.predict(X))
    labelled = make(random_state=0).fit(X, (y >= 4).astype(int))
    np.testing.assert_array_equal(labelled.predict(X), subset.predict(X))
    assert thresholded.t_ == thresholded.n_iter_ * int((y >= 4).sum())


def test_unknown_ids_score_with_the_known_parts(make, data):
    X, _ = data
    model = make(random_state=0).fit(X)
    u, i = X[0]
    pred = model.predict(np.array([[u, i], [10**9, i], [u, 10**9], [10**9, 10**9]]))
    assert np.isfinite(pred).all() and pred[3] == 0.0
    item_row = np.flatnonzero(model.item_ids_ == i)[0]
    assert pred[1] == pytest.approx(model.item_bias_[item_row], rel=1e-6)


def test_string_ids(make, data):
    X, _ = data
    X = X[:600]
    Xs = np.array([[f"u{a:04d}", f"i{b:04d}"] for a, b in X], dtype=object)
    num = make(random_state=0, dtype="float64").fit(X).predict(X)
    txt = make(random_state=0, dtype="float64").fit(Xs).predict(Xs)
    np.testing.assert_allclose(num, txt)


def test_clone_pickle_joblib_and_cross_validation(make, data, tmp_path):
    import joblib

    X, _ = data
    model = make(random_state=0).fit(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), model.predict(X))
    fresh = clone(model)
    assert not hasattr(fresh, "t_")
    np.testing.assert_array_equal(fresh.fit(X).predict(X), model.predict(X))
    # no scoring=: the model's own ranking score, a number for every fold (the emulated CUDA
    # device lives in this process only: joblib's workers would look for CuPy)
    scores = cross_val_score(make(random_state=0), X, cv=KFold(3, shuffle=True, random_state=0),
                             n_jobs=1 if model.device == "cuda" else 2)
    assert np.isfinite(scores).all() and (scores > 0).all()


def test_grid_search_without_scoring_picks_the_better_ranker(make, data):
    X, _ = data
    grid = GridSearchCV(make(random_state=0, solver="adagrad"), {"learning_rate": [1e-6, 0.1], "max_iter": [10]},
                        cv=KFold(3, shuffle=True, random_state=0)).fit(X)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    # a step of 1e-6 leaves the random start: ranking nearly at chance
    assert grid.best_params_["learning_rate"] == 0.1 and scores[1] > scores[0] + 0.05


def test_warm_start_and_partial_fit_continue(make, solver, data):
    X, _ = data
    warm = make(solver=solver, random_state=0, max_iter=2, warm_start=True).fit(X)
    first = warm.predict(X)
    warm.fit(X)
    assert warm.t_ == 4 * len(X) and not np.array_equal(warm.predict(X), first)
    model = make(solver=solver, random_state=0)
    model.partial_fit(X[:1000])
    n_users = model.user_ids_.shape[0]
    model.partial_fit(X[1000:])
    assert model.n_iter_ == 2 and model.t_ == len(X)
    assert model.user_ids_.shape[0] == len(np.unique(X[:, 0])) >= n_users
    assert model.user_items_.sum() == len({tuple(r) for r in X.tolist()})
    with pytest.raises(ValueError, match="changed the model's shape"):
        model.set_params(loss="squared").partial_fit(X, np.ones(len(X)))


def test_two_threads_rank_as_well_as_one(make, data):
    X_train, X_test = data
    if make().device == "cuda":  # n_jobs (OpenMP threads) does not reach the launch: the same model
        one, two = (make(random_state=0, n_jobs=n_jobs).fit(X_train) for n_jobs in (1, 2))
        np.testing.assert_array_equal(one.predict(X_test), two.predict(X_test))
        return
    one = np.median([_ndcg(make(random_state=s, max_iter=10).fit(X_train), X_train, X_test) for s in range(3)])
    models = [make(random_state=s, max_iter=10, n_jobs=2).fit(X_train) for s in range(3)]
    two = np.median([_ndcg(m, X_train, X_test) for m in models])
    assert abs(one - two) < 0.2 * one
    if usable_cpus() >= 2 and build_info()["openmp"]:
        assert (models[0]._samples_per_thread > 0).all()


def test_divergence_raises_and_leaves_the_estimator_as_it_was(make, data):
    X, _ = data
    model = make(solver="sgd", learning_rate=1e30, random_state=0)
    with pytest.raises(FloatingPointError, match="learning_rate"):
        model.fit(X)
    assert not hasattr(model, "t_")


def test_early_stopping_watches_a_held_out_ndcg(make, data):
    X, _ = data
    model = make(early_stopping=True, validation_fraction=0.2, max_iter=60, n_iter_no_change=2, tol=1e-3,
                 random_state=0, solver="adagrad").fit(X)
    assert len(model.validation_scores_) == model.n_iter_ < 60
    assert all(0 <= s <= 1 for s in model.validation_scores_)
    assert max(model.validation_scores_) > 0.05


def test_verbose_shows_a_progress_bar(make, data, capsys):
    X, _ = data
    make(random_state=0, verbose=1, max_iter=2).fit(X)
    err = capsys.readouterr().err
    assert "epoch" in err and "loss" in err


def test_bad_input_gets_clear_errors(make, data):
    X, _ = data
    with pytest.raises(ValueError, match="no positive row"):
        make().fit(X, np.zeros(len(X)))
    with pytest.raises(TypeError, match="numeric"):
        make().fit(X, np.array(["a"] * len(X), dtype=object))
    with pytest.raises(ValueError, match="NaN"):
        make().fit(X, np.full(len(X), np.nan))
    with pytest.raises(ValueError, match="uniform"):
        make(embedding_dims="mixed").fit(X)
    with pytest.raises(ValueError, match="n_negatives"):
        make(n_negatives=0).fit(X)
    with pytest.raises(ValueError, match="max_sampled"):
        make(max_sampled=0).fit(X)
    with pytest.raises(ValueError, match="loss"):
        make(loss="hinge").fit(X)
    with pytest.raises(ValueError, match="requires y"):
        MatrixFactorization().fit(X)
    model = make(random_state=0).fit(X)
    before = model.user_factors_.copy()
    with pytest.raises(ValueError):
        model.partial_fit(X, np.full(len(X), np.nan))
    np.testing.assert_array_equal(model.user_factors_, before)
