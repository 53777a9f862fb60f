"""float32 replays: every compiled kernel in single precision against the float64 reference.

float32 is every estimator's default, so the kernels' float32 instantiation
(``floating is float``: ``sqrtf``, the single-precision dot product, float32
gradient buffers and accumulators) is what users run. Each test fits an
estimator with ``dtype="float32"`` (``fit``, then ``partial_fit`` with new ids,
``n_jobs=1``) and replays it with the float64 NumPy reference of
``_reference.py`` from the same random state, exactly as the float64 replays
do (``test_reference_mf.py``, ``test_fm.py``, ``test_reference_fm_mixed.py``,
``test_replay_estimators.py``, whose replay functions are reused here).

Tolerance
---------
The kernels keep the parameters, their gradients and the Adagrad
accumulators in float32 and round every update to float32 (unit roundoff
2**-24 = 6e-8); they compute each sample's error and the summed loss in
double, and dot products, layer outputs and Rendle's sums in float32. The
float64 reference starts from the same draws (the float32 model from their
rounded values) and does not round. On these tiny problems (at most four
epochs, each row stepped a few dozen times) the largest difference of any
trained array, relative to that array's largest entry, was 6e-7 (about ten
roundings) over every kernel, solver and dtype-dependent path below.
``F32_TOL = 1e-5`` leaves a factor of 15 for other compilers and vector
widths (the dot products' summation order follows the SIMD width), and is
still tight enough for defects of the float32 path alone: each of these
mutations of the float32 code fails at least 14 of the tests below, while
the float64 replays cannot see them: the single-precision dot product
dropping its last term, ``sqrtf`` left out of Adagrad's denominator or
scaled by 1.0001, the float32 tower layer reading one input too few (and
``test_tolerance_separates_rounding_from_a_wrong_step`` shows that a 0.1 %
change of one step size fails). The tolerance is applied per array as
``atol = F32_TOL * max|reference|`` plus ``rtol = F32_TOL``, because rounding
errors are relative to the table's scale, not to each entry (an entry near
zero has a large relative error). cf-sgd counters and last-seen stamps are
float64 / int64 in both dtypes and must match to 1e-10.
"""

import numpy as np
import pytest

from recfreq import BaselinePredictor, FactorizationMachine, FactorizationMachineClassifier, MatrixFactorization
from recfreq import NeuralCF
from recfreq import _engine
from recfreq._solvers import Solver

import _reference as ref
import test_fm as fm_replay
import test_reference_fm_mixed as fm_mixed_replay
import test_reference_mf as mf_replay
import test_replay_estimators as estimator_replay
from test_replay_estimators import SOLVER_CASES, assert_close

F32_TOL = 1e-5

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # an overflow in float32 is a failure


def close32(ours, theirs, err_msg=""):
    assert np.asarray(ours).dtype == np.float32, f"{err_msg}: expected float32, got {np.asarray(ours).dtype}"
    assert_close(ours, theirs, rtol=F32_TOL, scaled=True, err_msg=err_msg)


def _lr(solver):
    return 0.03 if solver == "sgd" else 0.2


# ---------------------------------------------------------------- baseline
def _replay_baseline(params, batches):
    """BaselinePredictor's fit + partial_fit in float64 (the orders of ``device_epoch_orders``)."""
    code = Solver.from_name(params["solver"])
    cfg = _engine.solver_config(code, params["learning_rate"], params["frequency_exponent"],
                                params["counter_halflife"])
    u_of = ref.row_numbering([X[:, 0] for X, _ in batches])
    i_of = ref.row_numbering([X[:, 1] for X, _ in batches])
    ust, ist = ref.new_state(len(u_of), {"bias": ()}, code), ref.new_state(len(i_of), {"bias": ()}, code)
    ub, ib = np.zeros(len(u_of)), np.zeros(len(i_of))
    mu = float(np.mean(batches[0][1]))
    calls = ref.device_epoch_orders(params["random_state"], [len(y) for _, y in batches],
                             [params["max_iter"]] + [1] * (len(batches) - 1))
    t, losses = 0, []
    for (X, y), orders in zip(batches, calls):
        users, items = np.array([u_of[v] for v in X[:, 0]]), np.array([i_of[v] for v in X[:, 1]])
        for state, index in ((ust, users), (ist, items)):
            state["counts"] += np.bincount(index, minlength=state["counts"].shape[0])
            state["n_samples"] += len(y)
        for order in orders:
            losses.append(ref.baseline_epoch(users, items, y, order, mu, ub, ib, cfg, params["alpha"], t, ust, ist)
                          / len(y))
            t += len(y)
    return ub, ib, losses, ust, ist


@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_baseline_float32_matches_reference(solver, halflife):
    # Integer ratings let a bias gradient cancel to exactly 0 in float64 and to
    # about 1e-8 in float32; Adagrad then steps eta * g / (|g| + 1e-8), half a
    # step from rounding alone, and the trajectories part (seen for 6 of 8 seeds).
    # Ratings with a fractional part keep every gradient far from 0.
    rng = np.random.default_rng(0)
    batches = [(X, y + rng.uniform(-0.25, 0.25, y.shape[0])) for X, y in estimator_replay.rating_batches()]
    params = dict(solver=solver, learning_rate=_lr(solver), alpha=0.03, max_iter=3, frequency_exponent=0.6,
                  counter_halflife=halflife, dtype="float32", random_state=7)
    model = BaselinePredictor(**params).fit(*batches[0]).partial_fit(*batches[1])
    ub, ib, losses, ust, ist = _replay_baseline(params, batches)
    close32(model.user_bias_, ub, "user_bias_")
    close32(model.item_bias_, ib, "item_bias_")
    assert_close(model.loss_curve_, losses, rtol=F32_TOL, err_msg="loss_curve_")
    if solver == "adagrad":
        close32(model.user_state_.accumulators["bias"], ust["accum"]["bias"], "bias accumulators")
    if solver == "cf-sgd":
        assert_close(model.item_state_.counter, ist["counter"])


# --------------------------------------------------------------------- MF
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_mf_float32_matches_reference(solver, halflife):
    batches = estimator_replay.rating_batches()
    params = dict(n_factors=3, solver=solver, learning_rate=_lr(solver), alpha=0.04, alpha_bias=0.01, max_iter=3,
                  frequency_exponent=0.55, counter_halflife=halflife, init_std=0.3, dtype="float32",
                  random_state=11)
    model = MatrixFactorization(**params).fit(*batches[0]).partial_fit(*batches[1])
    P, Q, bu, bi, losses, ust, ist = mf_replay._replay(params, batches)
    close32(model.user_factors_, P, "user_factors_")
    close32(model.item_factors_, Q, "item_factors_")
    close32(model.user_bias_, bu, "user_bias_")
    close32(model.item_bias_, bi, "item_bias_")
    assert_close(model.loss_curve_, losses, rtol=F32_TOL, err_msg="loss_curve_")
    if solver == "adagrad":
        close32(model.user_state_.accumulators["factors"], ust["accum"]["factors"], "factor accumulators")
        close32(model.item_state_.accumulators["bias"], ist["accum"]["bias"], "bias accumulators")
    if solver == "cf-sgd":
        assert_close(model.user_state_.counter, ust["counter"])
        assert_close(model.item_state_.counter, ist["counter"])


# ---------------------------------------------- projected MF (OverparamMF, mixed)
@pytest.mark.parametrize("kind", ["factored-2", "factored-3", "mixed"])
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_projected_mf_float32_matches_reference(kind, solver, halflife):
    batches = estimator_replay.rating_batches()
    model_cls, params = estimator_replay.projected_mf_params(kind, solver, halflife, 7, dtype="float32")
    model = model_cls(**params).fit(*batches[0]).partial_fit(*batches[1])
    assert model.user_embedding_.rows.dtype == np.float32 and model.user_embedding_.dense.dtype == np.float32
    replay = estimator_replay.replay_projected_mf(model_cls, params, batches)
    estimator_replay.check_projected_mf(model, replay, rtol=F32_TOL, scaled=True)


# ---------------------------------------------------------------- FM plain
def _fm_batches(classification):
    """Ids, a string column, a multi-hot genre column (one new genre later) and a numeric column."""
    return fm_mixed_replay._batches(classification)


@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_fm_float32_matches_reference(solver, halflife, classification):
    batches = _fm_batches(classification)
    params = dict(n_factors=3, solver=solver, learning_rate=_lr(solver), dense_learning_rate=0.02, alpha=0.04,
                  alpha_bias=0.01, max_iter=3, frequency_exponent=0.55, counter_halflife=halflife, init_std=0.3,
                  dtype="float32", random_state=11)
    model_cls = FactorizationMachineClassifier if classification else FactorizationMachine
    model = model_cls(**params).fit(*batches[0]).partial_fit(*batches[1])
    w0, w, V, losses, state = fm_replay._replay(params, batches, classification)
    close32(model.feature_factors_, V, "feature_factors_")
    close32(model.feature_bias_, w, "feature_bias_")
    close32(model.intercept_, w0, "intercept_")
    assert_close(model.loss_curve_, losses, rtol=F32_TOL, err_msg="loss_curve_")
    np.testing.assert_array_equal(model.feature_state_.counts, state["counts"])
    if solver == "adagrad":
        close32(model.feature_state_.accumulators["factors"], state["accum"]["factors"], "factor accumulators")
        close32(model.feature_state_.accumulators["bias"], state["accum"]["bias"], "bias accumulators")
    if solver == "cf-sgd":
        assert_close(model.feature_state_.counter, state["counter"])


# ---------------------------------------------------------------- FM mixed
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_fm_mixed_float32_matches_reference(solver, halflife, classification):
    batches = _fm_batches(classification)
    params = {"n_factors": 4, "solver": solver, "learning_rate": _lr(solver), "dense_learning_rate": 0.02,
              "alpha": 0.04, "alpha_bias": 0.01, "max_iter": 3, "frequency_exponent": 0.55,
              "counter_halflife": halflife, "init_std": 0.3, "dtype": "float32", "random_state": 11,
              "embedding_dims": "mixed", "mixed_dim_exponent": 0.6, "n_dim_blocks": 3, "dense_batch_size": 7,
              "n_jobs": 1}
    model_cls = FactorizationMachineClassifier if classification else FactorizationMachine
    model = model_cls(**params).fit(*batches[0]).partial_fit(*batches[1])
    w0, w, table, losses, state, w0_accum = fm_mixed_replay._replay(params, batches, classification)
    ours = model.feature_embedding_
    np.testing.assert_array_equal(ours.row_group, table.row_group)
    assert (ours.group_n_layers == 1).any()  # some rows are projected
    close32(ours.rows, table.rows, "raw rows")
    close32(ours.dense, table.dense, "projections")
    close32(model.feature_factors_, table.collapse(), "feature_factors_")
    close32(model.feature_bias_, w, "feature_bias_")
    close32(model.intercept_, w0, "intercept_")
    assert_close(model.loss_curve_, losses, rtol=F32_TOL, err_msg="loss_curve_")
    if solver == "adagrad":
        close32(ours.rows_accum, table.rows_accum, "rows_accum")
        close32(ours.dense_accum, table.dense_accum, "dense_accum")
        close32(model.intercept_accum_, w0_accum, "intercept_accum_")
    if solver == "cf-sgd":
        assert_close(model.feature_state_.counter, state["counter"])


# ---------------------------------------------------------------- NeuralCF
@pytest.mark.parametrize("network", list(estimator_replay.NCF_MODELS))
@pytest.mark.parametrize("solver, halflife", SOLVER_CASES)
def test_ncf_float32_matches_reference(network, solver, halflife):
    batches = estimator_replay.implicit_batches()
    params = estimator_replay.ncf_params(network, solver, halflife, 7, dtype="float32")
    model = NeuralCF(**params).fit(*batches[0]).partial_fit(*batches[1])
    assert model.dense_parameters_.dtype == np.float32
    estimator_replay.check_ncf(model, estimator_replay.replay_ncf(params, batches), rtol=F32_TOL, scaled=True)


@pytest.mark.parametrize("network", ["mlp", "neumf"])
@pytest.mark.parametrize("solver", ["sgd", "adagrad"])
def test_ncf_dropout_float32_matches_reference(network, solver):
    """float32 draws the same masks as float64 (the mask generator and threshold are integer)."""
    batches = estimator_replay.implicit_batches()
    params = estimator_replay.ncf_params(network, solver, None, 7, dropout=0.3, dtype="float32")
    model = NeuralCF(**params).fit(*batches[0]).partial_fit(*batches[1])
    estimator_replay.check_ncf(model, estimator_replay.replay_ncf(params, batches), rtol=F32_TOL, scaled=True)


def test_tolerance_separates_rounding_from_a_wrong_step():
    """F32_TOL is loose enough for float32 rounding and tight enough to see a 0.1 % change of a step.

    A replay whose learning rate is off by 0.1 % must fail the float32 check:
    the tolerance would otherwise hide defects of the size of a mis-rounded
    step size.
    """
    batches = estimator_replay.rating_batches()
    params = dict(n_factors=3, solver="sgd", learning_rate=0.03, alpha=0.04, alpha_bias=0.01, max_iter=3,
                  frequency_exponent=0.55, counter_halflife=None, init_std=0.3, dtype="float32", random_state=11)
    model = MatrixFactorization(**params).fit(*batches[0]).partial_fit(*batches[1])
    P = mf_replay._replay(params, batches)[0]
    close32(model.user_factors_, P, "user_factors_")
    P_off = mf_replay._replay(dict(params, learning_rate=0.03 * 1.001), batches)[0]
    with pytest.raises(AssertionError):
        close32(model.user_factors_, P_off, "user_factors_")
