"""Type aliases used in the annotations of the public signatures.

Only annotations use these names; nothing here runs at fit or predict time.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, TypeVar, Union

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # the bound is only read by type checkers; importing base here would be circular
    from .base import BaseRecommender

__all__ = ["ArrayLike", "FeatureColumns", "MatrixLike", "PathLike", "RandomStateLike", "RecommenderT"]

# ``fit``/``partial_fit`` return the estimator itself; a TypeVar bound to the
# base class keeps the subclass type (``typing.Self`` needs Python 3.11).
RecommenderT = TypeVar("RecommenderT", bound="BaseRecommender")

# What ``sklearn.utils.check_random_state`` accepts.
RandomStateLike = Union[int, np.random.RandomState, None]

# Interaction data that may also be a ready-made sparse design matrix
# (factorization machines). A DataFrame counts as ArrayLike: it has ``__array__``.
MatrixLike = Union[ArrayLike, sp.spmatrix, sp.sparray]

# Side columns passed at recommend time: a DataFrame, or ``{column: values}``.
FeatureColumns = Union[Mapping[Any, ArrayLike], ArrayLike]

PathLike = Union[str, os.PathLike[str]]
