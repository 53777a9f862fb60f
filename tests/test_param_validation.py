"""recfreq's own parameter-constraint checks (scikit-learn keeps its implementation private).

They must decide like scikit-learn's on every estimator's constraints, except
that booleans are not numbers here (``n_factors=True`` is refused). CI runs
this file against the newest scikit-learn and, in a second environment, the
oldest one the package supports.
"""

import numbers

import numpy as np
import pytest

from recfreq import (BaselinePredictor, FactorizationMachine, FactorizationMachineClassifier, MatrixFactorization,
                     NeuralCF, OverparamMF)
from recfreq._param_validation import Interval, InvalidParameterError, StrOptions, validate_parameters

ESTIMATORS = [BaselinePredictor, MatrixFactorization, OverparamMF, FactorizationMachine,
              FactorizationMachineClassifier, NeuralCF]
PROBES = [None, 0, 1, 2, -1, 10**12, 0.0, 0.5, 1.0, -0.5, 1e300, float("inf"), float("nan"), "auto", "sgd",
          "float32", "cuda", "", np.float64, (8, 4), [1, 2], np.random.RandomState(0), np.int64(3),
          np.float32(0.25), object()]


@pytest.mark.parametrize("closed, inside, outside", [
    ("left", [0, 0.5], [1, -0.1]), ("right", [1, 0.5], [0, 1.1]),
    ("both", [0, 1], [-0.1, 1.1]), ("neither", [0.5], [0, 1]),
])
def test_interval_bounds(closed, inside, outside):
    interval = Interval(numbers.Real, 0, 1, closed=closed)
    assert all(interval.is_satisfied_by(v) for v in inside)
    assert not any(interval.is_satisfied_by(v) for v in outside)
    assert not interval.is_satisfied_by(float("nan"))
    assert not interval.is_satisfied_by(True)


def test_integral_interval_and_messages():
    interval = Interval(numbers.Integral, 1, None, closed="left")
    assert interval.is_satisfied_by(3) and interval.is_satisfied_by(np.int32(3))
    assert not interval.is_satisfied_by(3.0) and not interval.is_satisfied_by(True) and not interval.is_satisfied_by(0)
    assert str(interval) == "an int in the range [1, inf)"
    assert str(Interval(numbers.Real, 0, None, closed="neither")) == "a float in the range (0.0, inf)"
    with pytest.raises(InvalidParameterError, match=r"The 'k' parameter of Est must be an int in the range \[1, inf\) "
                                                    r"or None\. Got 0 instead\."):
        validate_parameters({"k": [interval, None]}, {"k": 0}, "Est")
    with pytest.raises(ValueError):
        Interval(float, 0, 1, closed="left")
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, TypeError)


def test_special_constraints():
    options = StrOptions({"a", "b"})
    assert options.is_satisfied_by("a") and not options.is_satisfied_by("c") and not options.is_satisfied_by(1)
    validate_parameters({"b": ["boolean"], "r": ["random_state"], "v": ["verbose"], "t": [type, StrOptions({"x"})]},
                        {"b": np.bool_(True), "r": np.random.RandomState(1), "v": 2, "t": np.float32}, "Est")
    for params in ({"b": 1}, {"r": -1}, {"r": 1.5}, {"v": -1}, {"t": "y"}):
        with pytest.raises(InvalidParameterError, match=repr(next(iter(params)))):
            validate_parameters({"b": ["boolean"], "r": ["random_state"], "v": ["verbose"],
                                 "t": [type, StrOptions({"x"})]}, params, "Est")


def _sklearn_accepts(constraints, value):
    private = pytest.importorskip("sklearn.utils._param_validation")  # the test compares with it; the package does not use it
    try:
        private.validate_parameter_constraints({"p": constraints}, {"p": value}, caller_name="Est")
    except private.InvalidParameterError:
        return False
    return True


def _to_sklearn(constraint):
    import sklearn.utils._param_validation as private

    if isinstance(constraint, Interval):
        return private.Interval(constraint.type, constraint.left, constraint.right, closed=constraint.closed)
    if isinstance(constraint, StrOptions):
        return private.StrOptions(constraint.options)
    return constraint


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_decides_like_scikit_learn_on_every_constraint_except_for_booleans(estimator):
    for name, constraints in estimator._parameter_constraints.items():
        theirs = [_to_sklearn(c) for c in constraints]
        for value in PROBES + [True, False]:
            ours = True
            try:
                validate_parameters({name: constraints}, {name: value}, estimator.__name__)
            except InvalidParameterError:
                ours = False
            expected = _sklearn_accepts(theirs, value)
            if isinstance(value, bool) and not {"boolean", "verbose"} & set(map(str, constraints)):
                expected = False  # booleans are not numbers here
            assert ours == expected, (estimator.__name__, name, value)


def test_every_estimator_constrains_every_parameter():
    for estimator in ESTIMATORS:
        assert set(estimator._parameter_constraints) == set(estimator().get_params()), estimator.__name__
