"""The mixed-dimension FM epoch implements its rule exactly (NumPy reference, float64, one thread).

A fit of three epochs and a ``partial_fit`` that brings new users, items and
genres is replayed with ``_reference.fm_projected_epoch``: the same
``ProjectedTable`` layout (built and grown by the shared code, from the same
random state), then every epoch in the reference. The data holds one-hot ids,
a one-hot string column, a multi-hot genre column and a real-valued column.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils import check_random_state

from recfreq import FactorizationMachine, FactorizationMachineClassifier
from recfreq import _engine
from recfreq._features import FeatureEncoder
from recfreq._projection import ProjectedTable
from recfreq._solvers import SOLVER_NAMES, Solver

import _reference as ref
from _helpers import tiny_ratings
from test_fm import side_frame

RTOL = 1e-10


def _replay(params, batches, classification):
    """fit (first batch) + partial_fit (later batches) with the NumPy reference epoch."""
    k, seed = params["n_factors"], params["random_state"]
    solver = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(solver, params["learning_rate"], params["frequency_exponent"],
                                params["counter_halflife"])
    rng = check_random_state(seed)
    encoder = FeatureEncoder()
    designs = []
    for call, (X, y) in enumerate(batches):
        raw = encoder.read(X)
        designs.append((sp.csr_matrix(encoder.fit_transform(raw) if call == 0 else encoder.extend_transform(raw)),
                        np.asarray(y, dtype=float)))
    n_features = encoder.n_features
    y0 = designs[0][1]
    if classification:
        rate = np.clip(y0.mean(), 1e-6, 1 - 1e-6)
        w0 = np.array([np.log(rate / (1 - rate))])
    else:
        w0 = np.array([y0.mean()])
    w = np.zeros(n_features)
    state = ref.new_state(n_features, {"bias": ()}, solver)
    w0_accum = np.zeros(1)
    table, t, losses = None, 0, []
    for call, (design, y) in enumerate(designs):
        if call == 0:
            counts = np.bincount(design.indices, minlength=design.shape[1])
            table = ProjectedTable.mixed(counts, k, params["n_dim_blocks"], params["mixed_dim_exponent"], rng,
                                         params["init_std"], np.float64)
            table.allocate_accumulators(solver == Solver.ADAGRAD)
        else:
            table.grow(design.shape[1], rng)
        state["counts"] += np.bincount(design.indices, minlength=n_features)
        state["n_samples"] += design.shape[0]
        # one order key per call, drawn from the model's RandomState (see ref.device_epoch_orders)
        order_seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        for epoch in range(params["max_iter"] if call == 0 else 1):
            order = ref.keyed_order(design.shape[0], order_seed, epoch)
            total = ref.fm_projected_epoch(design.indptr, design.indices, design.data, y, order,
                                           1 if classification else 0, w0, w, table, cfg,
                                           params["dense_learning_rate"], params["alpha"], params["alpha_bias"],
                                           t, state, w0_accum, params["dense_batch_size"])
            losses.append(total / design.shape[0])
            t += design.shape[0]
    return w0, w, table, losses, state, w0_accum


def _batches(classification):
    X, y = tiny_ratings(seed=5)
    X2, y2 = tiny_ratings(n_users=14, n_items=12, n_ratings=50, seed=6)
    X2 = X2 + 4  # new users and items
    F, F2 = side_frame(X, seed=1), side_frame(X2, seed=2)
    F2.loc[F2.index[:5], "genres"] = [["western"]] * 5  # a new multi-hot value
    if classification:
        y, y2 = (y >= 4).astype(int), (y2 >= 4).astype(int)
    return [(F, y), (F2, y2)]


CASES = [(s, None, 7) for s in SOLVER_NAMES] + [("cf-sgd", 13.0, 7), ("adagrad", None, 1), ("sgd", None, 1)]


@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
@pytest.mark.parametrize("solver, halflife, dense_batch_size", CASES)
def test_mixed_fit_and_partial_fit_match_reference(solver, halflife, dense_batch_size, classification):
    batches = _batches(classification)
    params = {"n_factors": 4, "solver": solver, "learning_rate": 0.2 if solver != "sgd" else 0.03,
              "dense_learning_rate": 0.02, "alpha": 0.04, "alpha_bias": 0.01, "max_iter": 3,
              "frequency_exponent": 0.55, "counter_halflife": halflife, "init_std": 0.3, "dtype": "float64",
              "random_state": 11, "embedding_dims": "mixed", "mixed_dim_exponent": 0.6, "n_dim_blocks": 3,
              "dense_batch_size": dense_batch_size, "n_jobs": 1}
    model_cls = FactorizationMachineClassifier if classification else FactorizationMachine
    model = model_cls(**params).fit(*batches[0])
    n_before = model.feature_embedding_.n_rows
    model.partial_fit(*batches[1])
    w0, w, table, losses, state, w0_accum = _replay(params, batches, classification)

    ours = model.feature_embedding_
    # the case is meaningful: several widths, projected and plain blocks, and rows that
    # partial_fit added to the narrowest block
    assert (ours.group_n_layers == 0).any() and (ours.group_n_layers == 1).any()
    assert len(set(ours.group_in_dim.tolist())) >= 2
    assert ours.n_rows > n_before and (ours.row_group[n_before:] == ours.new_row_group).all()
    assert ours.group_in_dim[ours.new_row_group] == ours.group_in_dim.min()
    np.testing.assert_array_equal(ours.row_group, table.row_group)

    np.testing.assert_allclose(model.loss_curve_, losses, rtol=RTOL)
    np.testing.assert_allclose(ours.rows, table.rows, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(ours.dense, table.dense, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.feature_factors_, table.collapse(), rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.feature_bias_, w, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(model.intercept_, w0, rtol=RTOL)
    np.testing.assert_array_equal(model.feature_state_.counts, state["counts"])
    if solver == "adagrad":
        np.testing.assert_allclose(ours.rows_accum, table.rows_accum, rtol=RTOL)
        np.testing.assert_allclose(ours.dense_accum, table.dense_accum, rtol=RTOL, atol=1e-13)
        np.testing.assert_allclose(model.feature_state_.accumulators["bias"], state["accum"]["bias"], rtol=RTOL)
        np.testing.assert_allclose(model.intercept_accum_, w0_accum, rtol=RTOL)
    if solver == "cf-sgd":
        np.testing.assert_allclose(model.feature_state_.counter, state["counter"], rtol=RTOL)


def test_real_valued_and_multi_hot_rows_are_in_the_epoch():
    """The reference case holds non-unit x (numeric column) and rows of several non-zeros per column."""
    (F, _), _ = _batches(False)
    encoder = FeatureEncoder()
    design = sp.csr_matrix(encoder.fit_transform(encoder.read(F)))
    year = encoder.position("year")
    assert encoder.columns[year].kind == "numeric"
    assert not np.isin(design.data, [0.0, 1.0]).all()
    assert (F["genres"].map(len) > 1).any()
