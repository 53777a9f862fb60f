"""recfreq: frequency-aware recommender models with a scikit-learn API.

Estimators follow the scikit-learn contract (``fit``/``predict``, ``clone``,
pipelines, grid search); ``X`` holds (user id, item id) rows and ``y`` ratings.
"""

from ._version import __version__
from ._show_versions import show_versions
from .baseline import BaselinePredictor
from .fm import FactorizationMachine, FactorizationMachineClassifier
from .mf import MatrixFactorization
from .ncf import NeuralCF
from .overparam import OverparamMF
from .popularity import PopularityRecommender

__all__ = ["BaselinePredictor", "FactorizationMachine", "FactorizationMachineClassifier", "MatrixFactorization", "NeuralCF", "OverparamMF", "PopularityRecommender", "show_versions", "__version__"]
