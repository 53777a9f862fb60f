"""The CUDA kernels of BaselinePredictor and MatrixFactorization, without a GPU.

The same ``.cu`` sources that CuPy compiles with NVRTC run here on the emulated
device (``tests/_emulated_device.py``: g++, blocks one after another, a block's
threads as fibers), through the estimators' own ``device="cuda"`` path:

* a launch of one warp visits the samples in the CPU's ``n_jobs=1`` order, so
  it must match the CPU kernel (itself matched to the NumPy reference) and the
  reference directly, for every solver and dtype, ``partial_fit`` and cf-sgd's
  half-life included;
* a launch of many blocks (run one after another: this checks the multi-block
  indexing and the loss reduction, not concurrency) reaches the CPU model's
  test RMSE on MovieLens-100K;
* what a GPU-trained model leaves behind is plain NumPy.

Where a CUDA device and CuPy are usable, the ``gpu``-marked variants run the
same checks on it. nvcc contracts multiply-adds into FMA there, so float64
compares at 1e-9 instead of 1e-10 (the emulation is compiled with
``-ffp-contract=off``).
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from recfreq import BaselinePredictor, MatrixFactorization
from recfreq._engine.cuda import load_kernels, use_backend
from recfreq._solvers import SOLVER_NAMES

from _devices import make_backend
from _helpers import tiny_ratings
from test_reference_mf import _replay


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    return make_backend(request.param)


def _tolerance(backend, dtype):
    if dtype == "float32":
        return 2e-5
    return 1e-10 if backend.name == "emulated" else 1e-9


def _batches():
    X, y = tiny_ratings(seed=5)
    X2, y2 = tiny_ratings(n_users=14, n_items=12, n_ratings=50, seed=6)
    return (X, y), (X2 + 4, y2)  # the second batch adds users and items


MODELS = {
    "baseline": lambda **kw: BaselinePredictor(**{"max_iter": 3, "alpha": 0.03, **kw}),
    "mf": lambda **kw: MatrixFactorization(**{"n_factors": 3, "max_iter": 3, "alpha": 0.04, "alpha_bias": 0.01,
                                             "init_std": 0.3, **kw}),
    # more factors than lanes: each lane holds coordinates l and l + 32
    "mf-k40": lambda **kw: MatrixFactorization(**{"n_factors": 40, "max_iter": 2, "alpha": 0.04, **kw}),
}


def _assert_same_model(a, b, rtol):
    arrays = ["user_bias_", "item_bias_"] + (["user_factors_", "item_factors_"] if hasattr(a, "user_factors_") else [])
    for name in arrays:
        x, z = getattr(a, name), getattr(b, name)
        assert isinstance(x, np.ndarray) and x.dtype == z.dtype
        np.testing.assert_allclose(x, z, rtol=rtol, atol=rtol * max(1.0, float(np.abs(z).max())), err_msg=name)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol)
    for state in ("user_state_", "item_state_"):
        sa, sb = getattr(a, state), getattr(b, state)
        np.testing.assert_allclose(sa.counter, sb.counter, rtol=rtol)
        np.testing.assert_array_equal(sa.last_seen, sb.last_seen)
        assert sa.accumulators.keys() == sb.accumulators.keys()
        for key in sa.accumulators:
            np.testing.assert_allclose(sa.accumulators[key], sb.accumulators[key], rtol=rtol,
                                       atol=rtol * max(1.0, float(np.abs(sb.accumulators[key]).max())))
    assert a.t_ == b.t_


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_warp_replays_the_cpu_kernel(backend, model, solver, halflife, dtype):
    (X, y), (X2, y2) = _batches()
    params = dict(solver=solver, counter_halflife=halflife, dtype=dtype, random_state=11,
                  learning_rate=0.2 if solver != "sgd" else 0.03, frequency_exponent=0.55)
    cpu = MODELS[model](**params).fit(X, y).partial_fit(X2, y2)
    with use_backend(backend, sequential=True):
        gpu = MODELS[model](device="cuda", **params).fit(X, y).partial_fit(X2, y2)
    _assert_same_model(gpu, cpu, _tolerance(backend, dtype))


@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)])
def test_one_warp_matches_the_numpy_reference(backend, solver, halflife):
    (X, y), (X2, y2) = _batches()
    params = dict(n_factors=3, solver=solver, learning_rate=0.2 if solver != "sgd" else 0.03, alpha=0.04,
                  alpha_bias=0.01, max_iter=3, frequency_exponent=0.55, counter_halflife=halflife, init_std=0.3,
                  dtype="float64", random_state=11)
    with use_backend(backend, sequential=True):
        model = MatrixFactorization(device="cuda", **params).fit(X, y).partial_fit(X2, y2)
    P, Q, bu, bi, losses, _, _ = _replay(params, [(X, y), (X2, y2)])
    rtol = _tolerance(backend, "float64")
    for got, want in ((model.user_factors_, P), (model.item_factors_, Q), (model.user_bias_, bu),
                      (model.item_bias_, bi)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-13)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=rtol)


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_many_blocks_reach_the_cpu_quality_on_movielens(backend, solver):
    from recfreq.datasets import load_movielens
    from recfreq.metrics import rmse
    from recfreq.model_selection import train_test_split

    X, y = load_movielens("100k", return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    params = dict(n_factors=32, max_iter=8, solver=solver, random_state=0)
    cpu = rmse(y_test, MatrixFactorization(**params).fit(X_train, y_train).predict(X_test))
    with use_backend(backend):  # the default launch: blocks of 8 warps, one warp per sample
        gpu = rmse(y_test, MatrixFactorization(device="cuda", **params).fit(X_train, y_train).predict(X_test))
    assert abs(gpu - cpu) <= 0.005, (gpu, cpu)
    baseline_cpu = rmse(y_test, BaselinePredictor(solver=solver, random_state=0).fit(X_train, y_train).predict(X_test))
    with use_backend(backend):
        baseline_gpu = rmse(y_test, BaselinePredictor(device="cuda", solver=solver, random_state=0)
                            .fit(X_train, y_train).predict(X_test))
    assert abs(baseline_gpu - baseline_cpu) <= 0.005, (baseline_gpu, baseline_cpu)


def test_predict_kernel_matches_the_cpu_prediction(backend):
    from recfreq._engine.specs import arguments

    X, y = tiny_ratings()
    model = MatrixFactorization(n_factors=40, max_iter=2, dtype="float64", random_state=0).fit(X, y)
    rows_u = model._user_encoder.transform(np.append(X[:20, 0], 999))  # one unknown user
    rows_i = model._item_encoder.transform(np.append(X[:20, 1], X[0, 1]))
    module = load_kernels(backend, "mf.cu")
    out = backend.zeros((rows_u.shape[0],), np.float64)
    values = {"user_index": backend.upload(rows_u), "item_index": backend.upload(rows_i),
              "n_samples": rows_u.shape[0], "global_mean": model.global_mean_,
              "user_factors": backend.upload(model.user_factors_), "item_factors": backend.upload(model.item_factors_),
              "user_bias": backend.upload(model.user_bias_), "item_bias": backend.upload(model.item_bias_),
              "n_factors": 40, "out": out}
    backend.launch(module, "mf_predict<double>", (2,), (64,), arguments("mf_predict", values, np.float64))
    np.testing.assert_allclose(backend.download(out), model.predict(np.vstack([X[:20], [[999, X[0, 1]]]])),
                               rtol=1e-12)


def test_a_gpu_trained_model_is_plain_numpy_and_predicts_without_cupy(backend, tmp_path):
    X, y = tiny_ratings()
    with use_backend(backend):
        model = MatrixFactorization(n_factors=4, max_iter=2, device="cuda", random_state=0).fit(X, y)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert type(getattr(model, name)) is np.ndarray
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    expected = model.predict(X[:5])
    # a fresh interpreter in which CuPy cannot be imported
    code = (
        "import sys, pickle, numpy as np\n"
        "sys.modules['cupy'] = None\n"
        f"model = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        f"np.testing.assert_allclose(model.predict(np.array({X[:5].tolist()})), np.array({expected.tolist()}), rtol=1e-6)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_failed_gpu_call_leaves_the_model_as_it_was(backend):
    X, y = tiny_ratings()
    with use_backend(backend, sequential=True):
        model = MatrixFactorization(n_factors=4, max_iter=2, device="cuda", random_state=0).fit(X, y)
        before = model.user_factors_.copy()
        with pytest.raises(FloatingPointError):
            model.set_params(solver="sgd", learning_rate=1e12).partial_fit(X, y * 1e6)
    np.testing.assert_array_equal(model.user_factors_, before)


@pytest.mark.parametrize("make", [lambda: BaselinePredictor(max_iter=3, device="cuda", random_state=0),
                                  lambda: MatrixFactorization(n_factors=4, max_iter=3, device="cuda", random_state=0)],
                         ids=["baseline", "mf"])
def test_device_cuda_launches_one_kernel_per_epoch_on_the_device(backend, monkeypatch, make):
    # a binding that silently fell back to the CPU would still give the same model up to rounding
    launches = []
    launch = backend.launch
    monkeypatch.setattr(backend, "launch", lambda *args, **kwargs: (launches.append(args[1]), launch(*args, **kwargs)))
    X, y = tiny_ratings()
    with use_backend(backend, sequential=True):
        model = make().fit(X, y)
    assert len(launches) == 3 and all(name.endswith("_epoch<float>") for name in launches)
    assert model._samples_per_thread is None  # a GPU epoch has no OpenMP threads


@pytest.mark.parametrize("solver, halflife", [(s, None) for s in SOLVER_NAMES] + [("cf-sgd", 13.0)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_warp_keeps_the_cpu_clock_stride(backend, solver, halflife, dtype):
    # a DSGD block (recfreq.dask): n samples spanning t_span = 3n + 5 steps of the clock
    import copy

    from recfreq import _engine
    from recfreq.base import TrainingData

    X, y = tiny_ratings(seed=4)
    model = MatrixFactorization(n_factors=40, max_iter=1, solver=solver, counter_halflife=halflife, dtype=dtype,
                                learning_rate=0.2 if solver != "sgd" else 0.03, random_state=0).fit(X, y)
    data = TrainingData(model._user_encoder.transform(X[:, 0]), model._item_encoder.transform(X[:, 1]),
                        y.astype(dtype))
    cpu, gpu = copy.deepcopy(model), copy.deepcopy(model)
    clock = dict(t_start=model.t_, order_seed=7, epoch=2, t_span=3 * len(y) + 5)
    bound = _engine.bind("cpu", cpu._training(data), 1)
    cpu_loss = bound.run_epoch(**clock)
    bound.close()
    with use_backend(backend, sequential=True):
        bound = _engine.bind("cuda", gpu._training(data), 1)
        gpu_loss = bound.run_epoch(**clock)
        bound.write_back()
        bound.close()
    rtol = _tolerance(backend, dtype)
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=rtol)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=rtol,
                                   atol=rtol * max(1.0, float(np.abs(getattr(cpu, name)).max())), err_msg=name)
    for state in ("user_state_", "item_state_"):
        np.testing.assert_allclose(getattr(gpu, state).counter, getattr(cpu, state).counter, rtol=rtol)
        np.testing.assert_array_equal(getattr(gpu, state).last_seen, getattr(cpu, state).last_seen)
    if halflife is not None:  # the last stamp is the end of the span
        assert cpu.item_state_.last_seen.max() == model.t_ + 3 * len(y) + 5
