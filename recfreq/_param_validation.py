"""Parameter constraints, declared as scikit-learn estimators declare them, checked here.

Each estimator lists what every ``__init__`` parameter accepts in
``_parameter_constraints`` (a dict of parameter name -> list of constraints; a
value is valid when it satisfies one of them), and
:func:`validate_parameters` checks them once at the start of ``fit`` and
``partial_fit``. scikit-learn keeps its own implementation private
(``sklearn.utils._param_validation``), so recfreq has this small one, with
the same constraint vocabulary and the same kind of message:

* ``Interval(numbers.Integral | numbers.Real, left, right, closed=...)``
  (booleans are not numbers here: ``n_factors=True`` is refused);
* ``StrOptions({"a", "b"})``;
* ``"boolean"``, ``"random_state"`` (None, an int or a ``RandomState``),
  ``"verbose"`` (a boolean or a non-negative int), ``None``;
* a type: the value must be an instance of it (``list``, ``tuple``, ``type``, ``str``).
"""

import numbers

import numpy as np

__all__ = ["Interval", "InvalidParameterError", "StrOptions", "validate_parameters"]

_CLOSED = {"left": ("[", ")"), "right": ("(", "]"), "both": ("[", "]"), "neither": ("(", ")")}


class InvalidParameterError(ValueError, TypeError):
    """A parameter of an estimator has a value it does not accept (both a ValueError and a TypeError)."""


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


class Interval:
    """Numbers of ``type`` between ``left`` and ``right`` (None: unbounded), ``closed`` as given."""

    def __init__(self, type, left, right, *, closed):
        if type not in (numbers.Integral, numbers.Real):
            raise ValueError(f"Interval type must be numbers.Integral or numbers.Real, got {type!r}.")
        if closed not in _CLOSED:
            raise ValueError(f"closed must be one of {sorted(_CLOSED)}, got {closed!r}.")
        if left is not None and right is not None and right < left:
            raise ValueError(f"right ({right}) must not be below left ({left}).")
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def is_satisfied_by(self, value):
        if _is_bool(value) or not isinstance(value, self.type):
            return False
        if isinstance(value, numbers.Real) and value != value:  # NaN
            return False
        # an unbounded side is -inf / inf, open or closed like the bound would be
        # (so learning_rate=inf is refused by (0, inf)), as scikit-learn's intervals do
        lower_open = self.closed in ("right", "neither")
        upper_open = self.closed in ("left", "neither")
        left = -np.inf if self.left is None else self.left
        right = np.inf if self.right is None else self.right
        if value <= left if lower_open else value < left:
            return False
        if value >= right if upper_open else value > right:
            return False
        return True

    def __str__(self):
        kind = "an int" if self.type is numbers.Integral else "a float"
        left = "-inf" if self.left is None else (self.left if self.type is numbers.Integral else float(self.left))
        right = "inf" if self.right is None else (self.right if self.type is numbers.Integral else float(self.right))
        opening, closing = _CLOSED[self.closed]
        if self.left is None:
            opening = "("
        if self.right is None:
            closing = ")"
        return f"{kind} in the range {opening}{left}, {right}{closing}"


class StrOptions:
    """One of the strings in ``options``."""

    def __init__(self, options):
        self.options = set(options)

    def is_satisfied_by(self, value):
        return isinstance(value, str) and value in self.options

    def __str__(self):
        return f"a str among {sorted(self.options)}"


def _satisfies(constraint, value):
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return _is_bool(value)
    if constraint == "random_state":
        return (value is None or isinstance(value, np.random.RandomState)
                or (isinstance(value, numbers.Integral) and not _is_bool(value) and 0 <= value < 2**32))
    if constraint == "verbose":
        return _is_bool(value) or (isinstance(value, numbers.Integral) and value >= 0)
    if isinstance(constraint, type):
        return isinstance(value, constraint) and not (_is_bool(value) and constraint in (numbers.Integral, int,
                                                                                      numbers.Real, float))
    return constraint.is_satisfied_by(value)


def _describe(constraint):
    if constraint is None:
        return "None"
    if constraint == "boolean":
        return "an instance of 'bool'"
    if constraint == "random_state":
        return "an int in the range [0, 4294967295], an instance of 'numpy.random.RandomState' or None"
    if constraint == "verbose":
        return "an int in the range [0, inf) or an instance of 'bool'"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__qualname__!r}"
    return str(constraint)


def validate_parameters(constraints, params, caller_name):
    """Raise :class:`InvalidParameterError` for the first parameter whose value no constraint accepts.

    Parameters
    ----------
    constraints : dict of str to list
        The estimator's ``_parameter_constraints``; a parameter listed as
        ``"no_validation"`` (or not listed) is not checked.
    params : dict of str to object
        ``estimator.get_params(deep=False)``.
    caller_name : str
        Used in the message.
    """
    for name, value in params.items():
        accepted = constraints.get(name, "no_validation")
        if accepted == "no_validation":
            continue
        if any(_satisfies(constraint, value) for constraint in accepted):
            continue
        described = [_describe(c) for c in accepted]
        wanted = described[0] if len(described) == 1 else f"{', '.join(described[:-1])} or {described[-1]}"
        raise InvalidParameterError(f"The {name!r} parameter of {caller_name} must be {wanted}. Got {value!r} "
                                    "instead.")
