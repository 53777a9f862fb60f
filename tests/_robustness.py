"""Estimators and checks shared by the property suite and the subprocess harness.

Every estimator configuration the robustness tests exercise is listed once in
``ESTIMATORS`` with tiny settings (a few factors, one to three epochs) so that
hundreds of examples run in seconds. ``checked_call`` is the contract every
public call must keep: it either returns, or raises a ValueError/TypeError
(FloatingPointError for divergence) with a message, and a call that raised
leaves the estimator exactly as it was.

Kept free of pytest so that the forked case runner can import it.
"""

import numpy as np

from recfreq import (
    BaselinePredictor,
    FactorizationMachine,
    FactorizationMachineClassifier,
    MatrixFactorization,
    NeuralCF,
    OverparamMF,
)
from _state import assert_unchanged, snapshot

__all__ = ["ESTIMATORS", "ALLOWED_ERRORS", "TARGET_KIND", "make", "tiny_data", "checked_call", "Raised"]

#: name -> (class, tiny settings). "-mixed": mixed-dimension embeddings.
ESTIMATORS = {
    "BaselinePredictor": (BaselinePredictor, {"max_iter": 2}),
    "MatrixFactorization": (MatrixFactorization, {"n_factors": 3, "max_iter": 2}),
    "MatrixFactorization-mixed": (MatrixFactorization,
                                  {"n_factors": 4, "embedding_dims": "mixed", "n_dim_blocks": 2, "max_iter": 2}),
    "OverparamMF": (OverparamMF, {"n_factors": 2, "inner_dim": 3, "n_layers": 2, "max_iter": 2}),
    "FactorizationMachine": (FactorizationMachine, {"n_factors": 3, "max_iter": 2}),
    "FactorizationMachine-mixed": (FactorizationMachine,
                                   {"n_factors": 4, "embedding_dims": "mixed", "n_dim_blocks": 2, "max_iter": 2}),
    "FactorizationMachineClassifier": (FactorizationMachineClassifier, {"n_factors": 3, "max_iter": 2}),
    "FactorizationMachineClassifier-mixed": (
        FactorizationMachineClassifier, {"n_factors": 4, "embedding_dims": "mixed", "n_dim_blocks": 2,
                                         "max_iter": 2}),
    "NeuralCF-gmf": (NeuralCF, {"model": "gmf", "n_factors": 2, "hidden_layers": (4, 2), "n_negatives": 1,
                                "max_iter": 2}),
    "NeuralCF-mlp": (NeuralCF, {"model": "mlp", "n_factors": 2, "hidden_layers": (4, 2), "n_negatives": 1,
                                "max_iter": 2}),
    "NeuralCF-neumf": (NeuralCF, {"model": "neumf", "n_factors": 2, "hidden_layers": (4, 2), "n_negatives": 1,
                                  "max_iter": 2}),
}

#: What the estimator learns from: "ratings" (regression), "labels" (two classes) or
#: "implicit" (NeuralCF: 0/1 labels, y=None meaning all positives).
TARGET_KIND = {name: ("labels" if "Classifier" in name else "implicit" if name.startswith("NeuralCF")
                      else "ratings") for name in ESTIMATORS}

#: Errors a public call may raise on bad input or parameters (FloatingPointError: divergence).
ALLOWED_ERRORS = (ValueError, TypeError, FloatingPointError)


def make(name, **params):
    """A fresh estimator ``name`` of ``ESTIMATORS`` with ``params`` on top of its tiny settings."""
    cls, settings = ESTIMATORS[name]
    return cls(**{**settings, **params})


def tiny_data(name, n_users=5, n_items=4, n_rows=24, seed=0):
    """(X, y) of integer ids with every user and item present, and targets fitting the estimator."""
    rng = np.random.default_rng(seed)
    users = np.concatenate([np.arange(n_users), rng.integers(0, n_users, n_rows - n_users)])
    items = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_rows - n_items)])
    X = np.column_stack([users, items]).astype(np.int64)
    kind = TARGET_KIND[name]
    if kind == "ratings":
        y = rng.integers(1, 6, n_rows).astype(np.float64)
    else:
        y = np.arange(n_rows) % 2  # both classes present
        if kind == "implicit":
            y[:n_users] = 1  # every user has a positive
    return X, y


class Raised:
    """What :func:`checked_call` returns when the call raised an allowed error."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return f"Raised({type(self.error).__name__}: {self.error})"


def checked_call(estimator, method, *args, allowed=ALLOWED_ERRORS, **kwargs):
    """Call ``estimator.method(*args, **kwargs)`` under the robustness contract.

    Returns the call's result, or a :class:`Raised` if it raised one of
    ``allowed``. Anything else propagates (and fails the test). Raises
    AssertionError when the error has no message or the call that raised
    changed any attribute of the estimator.
    """
    before = snapshot(estimator)
    try:
        return getattr(estimator, method)(*args, **kwargs)
    except allowed as exc:
        message = str(exc).strip()
        assert message, f"{method} raised {type(exc).__name__} without a message"
        assert "internal error" not in message.lower(), f"{method} raised an internal error: {message}"
        assert_unchanged(before, estimator, f"{type(estimator).__name__}.{method} ({type(exc).__name__}: {message})")
        return Raised(exc)
