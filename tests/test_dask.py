"""recfreq.dask.fit on a local Dask cluster of two worker processes.

One cluster serves the module (about 2 s to start). What is proven here: the cluster runs the
schedule of ``recfreq._dsgd`` exactly (``tests/test_dsgd.py`` proves that schedule against the
NumPy reference and the serial fit), bad input is refused before any rating is shipped, the
result is an ordinary estimator, the traffic is the model's, a worker killed mid-fit changes
nothing, and the quality on MovieLens-100K is the serial fit's.
"""

import os
import pickle

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
from dask.utils import key_split  # noqa: E402
from distributed.diagnostics.plugin import WorkerPlugin  # noqa: E402

import recfreq.dask  # noqa: E402
from recfreq import MatrixFactorization  # noqa: E402
from recfreq._dsgd import fit_local  # noqa: E402
from recfreq._solvers import SOLVER_NAMES  # noqa: E402

from _helpers import planted_ratings, tiny_ratings  # noqa: E402
from test_dsgd import TABLES, assert_same_tables, params  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        yield client


def frame(X, y, npartitions=3):
    return dd.from_pandas(pd.DataFrame({"user": X[:, 0], "item": X[:, 1], "rating": y}), npartitions=npartitions,
                          sort=False)


def local_partitions(ddf):
    return [part.compute() for part in ddf.to_delayed()]


@pytest.mark.parametrize("solver, halflife, d", [("fa-sgd", None, 2), ("cf-sgd", 13.0, 4), ("adagrad", None, 3),
                                                 ("sgd", None, 4)])
def test_the_cluster_runs_the_local_schedule_bit_for_bit(client, solver, halflife, d):
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=900, seed=2)
    ddf = frame(X, y)
    model, report = recfreq.dask.fit(MatrixFactorization(**params(solver, halflife)), ddf, client=client,
                                     n_stripes=d, return_report=True)
    local, _ = fit_local(MatrixFactorization(**params(solver, halflife)), local_partitions(ddf), n_stripes=d)
    assert_same_tables(model, local)
    assert model.global_mean_ == local.global_mean_
    assert (model.user_items_ != local.user_items_).nnz == 0
    workers = sorted(client.scheduler_info()["workers"])
    assert report.n_stripes == d and set(report.placement) == set(workers)  # both workers trained blocks
    assert report.recoveries == 0 and len(report.epochs) == model.n_iter_ == 3


def test_stripes_without_rows_are_scattered_apart_and_change_nothing(client):
    # 5 stripes of 3 users: empty stripes are equal arrays, which scatter must not alias (hash=False)
    X, y = tiny_ratings(n_users=3, n_items=9, n_ratings=20, seed=1)
    ddf = frame(X, y, npartitions=2)
    model = recfreq.dask.fit(MatrixFactorization(**params("adagrad")), ddf, client=client, n_stripes=5)
    local, report = fit_local(MatrixFactorization(**params("adagrad")), local_partitions(ddf), n_stripes=5)
    assert (report.block_sizes.sum(axis=1) == 0).sum() == 2
    assert_same_tables(model, local)


@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)])
def test_one_stripe_on_the_cluster_is_the_serial_fit(client, solver, halflife):
    X, y = tiny_ratings(n_users=14, n_items=11, n_ratings=90, seed=3)
    model = recfreq.dask.fit(MatrixFactorization(**params(solver, halflife)), frame(X, y), client=client,
                             n_stripes=1)
    serial = MatrixFactorization(**params(solver, halflife), n_jobs=1).fit(X, y)
    assert_same_tables(model, serial)
    assert (model.user_items_ != serial.user_items_).nnz == 0


def test_the_result_is_an_ordinary_model(client, tmp_path):
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=900, seed=2)
    with client.as_current():  # client=None: the current client
        model = recfreq.dask.fit(MatrixFactorization(n_factors=4, max_iter=3, random_state=0), frame(X, y),
                                 n_stripes=2)
    assert type(model) is MatrixFactorization
    for name in TABLES:
        assert type(getattr(model, name)) is np.ndarray
    assert model.n_features_in_ == 2 and list(model.feature_names_in_) == ["user", "item"]
    query = pd.DataFrame({"user": X[:5, 0], "item": X[:5, 1]})
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    loaded = pickle.loads(path.read_bytes())
    np.testing.assert_array_equal(loaded.predict(query), model.predict(query))
    items, scores = loaded.recommend(X[:3, 0], n=5)
    seen = set(map(tuple, X.tolist()))
    assert all((u, i) not in seen for u, row in zip(X[:3, 0], items) for i in row)  # seen items are excluded
    t = loaded.t_
    loaded.partial_fit(pd.DataFrame({"user": X[:50, 0], "item": X[:50, 1]}), y[:50])  # on one machine
    assert loaded.t_ == t + 50 and loaded.n_iter_ == 4


def test_without_a_client_the_error_says_to_start_one():
    import subprocess
    import sys

    # a fresh process: the module's client is the current one here
    code = (
        "import dask.dataframe as dd, pandas as pd\n"
        "import recfreq.dask\n"
        "from recfreq import MatrixFactorization\n"
        "data = dd.from_pandas(pd.DataFrame({'user': [1, 2], 'item': [1, 1], 'rating': [3.0, 4.0]}), npartitions=1)\n"
        "try:\n"
        "    recfreq.dask.fit(MatrixFactorization(), data)\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "needs a Dask client: start one (distributed.Client(...)) or pass client=" in result.stdout


def test_a_dask_array_with_chosen_columns(client):
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=900, seed=2)
    data = np.column_stack([y, X[:, 1], np.zeros(len(y)), X[:, 0]])
    model = recfreq.dask.fit(MatrixFactorization(**params("adagrad")), da.from_array(data, chunks=(250, 2)),
                             client=client, columns=[3, 1, 0], n_stripes=1)
    assert_same_tables(model, MatrixFactorization(**params("adagrad"), n_jobs=1).fit(X, y))
    assert model.n_features_in_ == 2 and not hasattr(model, "feature_names_in_")


def _tasks_run(client, run):
    """The keys of every task the cluster ran during ``run()``."""
    with distributed.get_task_stream(client) as stream:
        run()
    return {str(task["key"]) for task in stream.data}


def test_bad_input_is_refused_before_any_rating_is_shipped(client):
    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=3, max_iter=2, random_state=0).fit(X, y)
    before = {name: getattr(model, name).copy() for name in TABLES}
    good = pd.DataFrame({"user": X[:, 0], "item": X[:, 1], "rating": y})
    nan = good.assign(rating=np.where(np.arange(len(y)) == 70, np.nan, y))
    numbers, strings = good.iloc[:40], good.iloc[40:].assign(user=good["user"].iloc[40:].map("u{}".format))
    mixed = dd.from_delayed([dask.delayed(lambda: numbers)(), dask.delayed(lambda: strings)()],
                            meta=good.iloc[:0].astype({"user": object}), verify_meta=False)
    cases = [
        (dd.from_pandas(good[["user", "item"]], npartitions=2), {}, ValueError, "has 2 column"),
        (dd.from_pandas(good, npartitions=2), {"columns": ("user", "item", "stars")}, ValueError,
         "no column 'stars'"),
        (dd.from_pandas(nan, npartitions=2), {}, ValueError, "partition 1 of the data: Input y contains NaN"),
        (mixed, {}, TypeError, "user ids are numeric in partition 0 but string in partition 1"),
        (good, {}, TypeError, "dask.dataframe.from_pandas"),
        (da.from_array(np.ones((10, 2))), {}, ValueError, "at least 3 columns"),
        (dd.from_pandas(good, npartitions=2), {"n_stripes": 0}, ValueError, "n_stripes"),
    ]
    for data, kwargs, error, match in cases:
        def run():
            with pytest.raises(error, match=match):
                recfreq.dask.fit(model, data, client=client, **kwargs)
        keys = _tasks_run(client, run)
        # nothing past the first pass ran: no split, no blocks, no training
        assert not [k for k in keys if any(step in k for step in ("-split-", "-blocks-", "-block-"))], keys
    for name in TABLES:
        np.testing.assert_array_equal(getattr(model, name), before[name])
    for unsupported, match in (({"embedding_dims": "mixed"}, "embedding_dims"), ({"loss": "bpr"}, "loss='bpr'")):
        with pytest.raises(ValueError, match=match):
            recfreq.dask.fit(MatrixFactorization(**unsupported), dd.from_pandas(good, npartitions=2), client=client)


def test_the_traffic_is_the_item_stripes_and_matches_the_model(client):
    X, y = planted_ratings(n_users=200, n_items=120, n_ratings=6000, seed=0)
    for d in (2, 4):
        fitted = {}

        def run():
            fitted["report"] = recfreq.dask.fit(
                MatrixFactorization(n_factors=64, dtype="float64", solver="adagrad", max_iter=3, random_state=0),
                frame(X, y), client=client, n_stripes=d, return_report=True)[1]
        keys = _tasks_run(client, run)
        report = fitted["report"]
        # the item table: factors, bias and Adagrad's accumulators of both, per row
        assert report.stripe_bytes == 120 * (64 + 1) * 8 * 2
        # from the second epoch on, each item stripe crosses to the other worker twice per epoch
        # (the user stripes lie in two contiguous ranges): two item tables, whatever d
        for epoch in report.epochs[1:]:
            assert epoch.bytes_model == 2 * report.stripe_bytes
            # what Dask moved: those stripes and each block's small result (under a kilobyte),
            # no rating and no user stripe (one is 200 / d users x 1040 bytes)
            assert epoch.bytes_model <= epoch.bytes_moved <= epoch.bytes_model + 1024 * d * d, epoch
        # every kind of task has its own Dask prefix, so Dask does not take a pick of a stripe out of a
        # block's result for a block (estimated by the prefix's mean duration) and move the result
        # to an idle worker to run it there
        assert {key_split(k) for k in keys if "recfreq" in k} == {f"recfreq-dsgd-{kind}" for kind in (
            "summary", "merge", "plan", "split", "pick", "blocks", "sizes", "block", "pairs")}, keys
        # the setup moved each rating at most once as a piece of its partition (user row, item stripe,
        # item row: int32, rating: float64, 20 bytes) sent to its block's worker, and at most once
        # more if Dask's work stealing ran its partition's split on the other worker (ids int64,
        # rating, index: 32 bytes), plus the merged id lists of the first pass (a few kB)
        assert report.setup_bytes_moved <= 6000 * (20 + 32) + 16_384 and report.block_sizes.sum() == 6000


def test_a_worker_killed_mid_fit_changes_nothing(client, tmp_path):
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=900, seed=2)
    ddf = frame(X, y)
    p = params("cf-sgd", 11.0, max_iter=4)
    undisturbed = recfreq.dask.fit(MatrixFactorization(**p), ddf, client=client, n_stripes=4)
    marker = tmp_path / "killed"

    class KillOnce(WorkerPlugin):
        """Ends, once, the worker process that holds the stripe plan (which every block's data was
        split with) as it starts its first block of epoch 1, stratum 2: the blocks it held must be
        rebuilt, and the stripes it held replayed."""

        name = "recfreq-test-kill-once"

        def setup(self, worker):
            self.worker = worker

        def transition(self, key, start, finish, **kwargs):
            if (finish == "executing" and str(key).startswith("recfreq-dsgd-block-") and "-r0-e1-s2-" in str(key)
                    and not os.path.exists(marker) and any("-plan-" in str(k) for k in self.worker.data)):
                open(marker, "w").close()
                os._exit(1)

    client.register_plugin(KillOnce())
    try:
        model, report = recfreq.dask.fit(MatrixFactorization(**p), ddf, client=client, n_stripes=4,
                                         return_report=True)
    finally:
        client.unregister_worker_plugin(KillOnce.name)
    assert marker.exists()  # a worker did die mid-epoch
    assert report.recoveries >= 1
    assert_same_tables(model, undisturbed)
    client.wait_for_workers(2)


def test_a_worker_killed_while_the_blocks_are_built_is_rescheduled_by_dask(client, tmp_path):
    # before the stripes are scattered everything lost has a lineage: Dask recomputes it, no replay
    X, y = planted_ratings(n_users=60, n_items=40, n_ratings=900, seed=2)
    ddf = frame(X, y)
    p = params("adagrad", max_iter=2)
    undisturbed = recfreq.dask.fit(MatrixFactorization(**p), ddf, client=client, n_stripes=2)
    marker = tmp_path / "killed"

    class KillOnce(WorkerPlugin):
        name = "recfreq-test-kill-building"

        def transition(self, key, start, finish, **kwargs):
            if (finish == "executing" and str(key).startswith("recfreq-dsgd-blocks-") and str(key).endswith("-1")
                    and not os.path.exists(marker)):
                open(marker, "w").close()
                os._exit(1)

    client.register_plugin(KillOnce())
    try:
        model, report = recfreq.dask.fit(MatrixFactorization(**p), ddf, client=client, n_stripes=2,
                                         return_report=True)
    finally:
        client.unregister_worker_plugin(KillOnce.name)
    assert marker.exists() and report.recoveries == 0
    assert_same_tables(model, undisturbed)
    client.wait_for_workers(2)


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_test_rmse_is_within_0005_of_fit_on_movielens_100k(client, solver):
    from recfreq.datasets import load_movielens
    from recfreq.metrics import rmse
    from recfreq.model_selection import train_test_split

    X, y = load_movielens("100k", return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    serial = rmse(y_test, MatrixFactorization(solver=solver, random_state=0).fit(X_train, y_train).predict(X_test))
    ddf = frame(X_train, y_train, npartitions=4)
    test = pd.DataFrame({"user": X_test[:, 0], "item": X_test[:, 1]})
    for d in (2, 4):
        model = recfreq.dask.fit(MatrixFactorization(solver=solver, random_state=0), ddf, client=client, n_stripes=d)
        assert abs(rmse(y_test, model.predict(test)) - serial) <= 0.005, (solver, d)
