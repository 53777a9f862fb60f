"""Bad input gets a clear ValueError/TypeError before any compiled code runs."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from recfreq import BaselinePredictor

from _helpers import tiny_ratings


@pytest.fixture
def fitted():
    X, y = tiny_ratings()
    return BaselinePredictor(max_iter=2, random_state=0).fit(X, y)


X_OK, Y_OK = tiny_ratings()


@pytest.mark.parametrize("X, y, error, match", [
    (X_OK[:, :1], Y_OK, ValueError, r"1 feature\(s\)"),
    (X_OK[:, 0], Y_OK, ValueError, "Reshape your data"),
    (X_OK[:0], Y_OK[:0], ValueError, "0 sample"),
    (X_OK, Y_OK[:-1], ValueError, "inconsistent numbers of samples"),
    (X_OK, np.where(np.arange(len(Y_OK)) == 3, np.nan, Y_OK), ValueError, "NaN or infinity"),
    (X_OK, np.where(np.arange(len(Y_OK)) == 3, np.inf, Y_OK), ValueError, "NaN or infinity"),
    (X_OK, None, ValueError, "requires y to be passed"),
    (X_OK, np.array(["a"] * len(Y_OK)), TypeError, "numeric ratings"),
    (X_OK + 0.5, Y_OK, ValueError, "non-integral float id"),
    (np.where(np.arange(2 * len(X_OK)).reshape(-1, 2) == 6, np.nan, X_OK), Y_OK, ValueError, "NaN"),
    (np.array([[1, "a"], ["b", 2]] * 40, dtype=object), Y_OK, TypeError, "mix strings and numbers"),
    (np.array([[None, 1]] * 80, dtype=object), Y_OK, ValueError, "None"),
    (np.array([[[1], 2]] * 80, dtype=object), Y_OK, TypeError, "integers or strings"),
    (sp.csr_matrix(X_OK), Y_OK, TypeError, "sparse"),
    (X_OK.astype(complex), Y_OK, ValueError, "Complex"),
    (X_OK, np.ones((len(Y_OK), 2)), ValueError, "1-D"),
])
def test_bad_training_input(X, y, error, match):
    with pytest.raises(error, match=match):
        BaselinePredictor().fit(X, y)


def test_float_ids_that_are_integral_are_accepted():
    X, y = tiny_ratings()
    a = BaselinePredictor(random_state=0).fit(X.astype(float), y).predict(X)
    b = BaselinePredictor(random_state=0).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def test_extra_columns_are_ignored_with_a_warning():
    X, y = tiny_ratings()
    with pytest.warns(UserWarning, match="only the first 2 columns"):
        BaselinePredictor(max_iter=1).fit(np.column_stack([X, X[:, 0]]), y)


def test_predict_checks_column_count(fitted):
    X, _ = tiny_ratings()
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.column_stack([X, X]))


@pytest.mark.parametrize("params, match", [
    ({"solver": "newton"}, "solver"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"alpha": -1}, "alpha"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"frequency_exponent": -0.5}, "frequency_exponent"),
    ({"counter_halflife": 0}, "counter_halflife"),
    ({"dtype": "float16"}, "dtype"),
    ({"device": "tpu"}, "device"),
    ({"n_jobs": "all"}, "n_jobs"),
])
def test_absurd_parameters(params, match):
    X, y = tiny_ratings()
    with pytest.raises((ValueError, TypeError), match=match):
        BaselinePredictor(**params).fit(X, y)


def test_n_jobs_zero_is_rejected():
    X, y = tiny_ratings()
    with pytest.raises(ValueError, match="n_jobs"):
        BaselinePredictor(n_jobs=0).fit(X, y)


def test_cuda_without_cupy_or_a_device_is_a_clear_error_before_anything_is_allocated():
    X, y = tiny_ratings()
    est = BaselinePredictor(device="cuda")
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="gpu-cuda12.*gpu-cuda13.*cupy-cuda12x"):
            est.fit(X, y)
        assert not hasattr(est, "t_")
        return
    from recfreq._engine.cuda import require_device
    try:
        require_device()
    except RuntimeError as exc:
        assert "device" in str(exc)
        with pytest.raises(RuntimeError, match="device"):
            est.fit(X, y)
        assert not hasattr(est, "t_")


def test_predict_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BaselinePredictor().predict(X_OK)


def test_predict_with_bad_ids_is_an_error_not_a_crash(fitted):
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="0 sample"):
        fitted.predict(np.empty((0, 2)))
    # negative ids are ordinary labels: unknown, so they get the fallback
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fitted.predict(np.array([[-5, -7]]))[0] == pytest.approx(fitted.global_mean_)


def test_column_vector_y_is_accepted_with_a_warning():
    from sklearn.exceptions import DataConversionWarning

    X, y = tiny_ratings()
    with pytest.warns(DataConversionWarning):
        BaselinePredictor(max_iter=1).fit(X, y.reshape(-1, 1))


def test_warm_start_refuses_a_dtype_change():
    X, y = tiny_ratings()
    model = BaselinePredictor(max_iter=1, warm_start=True).fit(X, y)
    model.set_params(dtype="float64")
    with pytest.raises(ValueError, match="warm_start"):
        model.fit(X, y)


def test_dataframe_input_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = tiny_ratings()
    df = pd.DataFrame({"user": X[:, 0], "item": X[:, 1]})
    model = BaselinePredictor(random_state=0).fit(df, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, ["user", "item"])
    np.testing.assert_array_equal(model.predict(df), BaselinePredictor(random_state=0).fit(X, y).predict(X))
    cats = df.astype({"user": "category"})
    assert np.isfinite(BaselinePredictor(max_iter=1).fit(cats, y).predict(cats)).all()


@pytest.mark.parametrize("params", [{"n_jobs": 0}, {"device": "cuda"}])
def test_runtime_settings_fail_before_anything_is_fitted(params):
    X, y = tiny_ratings()
    model = BaselinePredictor(**params)
    with pytest.raises((ValueError, ImportError, RuntimeError)):
        model.fit(X, y)
    assert not [name for name in vars(model) if name.endswith("_") and not name.startswith("__")]
