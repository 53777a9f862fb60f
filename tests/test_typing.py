"""The public API is typed (PEP 561): ``py.typed`` ships and every public signature is annotated.

``typing.get_type_hints`` evaluates every annotation, so these tests also
prove that the (postponed, string) annotations resolve to real types.
Estimator ``__init__`` methods are left unannotated on purpose, as in
scikit-learn: their parameters are documented and validated at ``fit``.
"""

import inspect
import typing
from pathlib import Path

import pytest

import recfreq
from recfreq import datasets, metrics, model_selection
from recfreq.base import BaseRecommender

ROOT = Path(__file__).resolve().parents[1]

PUBLIC_CLASSES = [
    getattr(recfreq, name) for name in recfreq.__all__ if inspect.isclass(getattr(recfreq, name))
] + [metrics.RankingScorer, model_selection.RatingKFold]

PUBLIC_FUNCTIONS = [recfreq.show_versions] + [
    obj
    for module in (datasets, metrics, model_selection)
    for obj in (getattr(module, name) for name in module.__all__)
    if inspect.isfunction(obj)
]

# Dunder methods that are part of the public API despite the underscore.
PUBLIC_DUNDERS = {"__call__"}


def _unwrap(attr):
    """The plain function behind a class attribute (property, descriptor, wrapper)."""
    if isinstance(attr, property):
        return attr.fget
    if isinstance(attr, (staticmethod, classmethod)):
        return attr.__func__
    # sklearn.utils.metaestimators.available_if keeps the method in ``fn``
    fn = getattr(attr, "fn", None)
    if inspect.isfunction(fn):
        return fn
    return attr


def _public_methods(cls):
    """(qualified name, function) of every public method recfreq defines for ``cls``.

    Methods inherited from scikit-learn (``get_params``, the mixins' ``score``,
    metadata-routing setters) are scikit-learn's API, not ours, and are skipped.
    """
    methods = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("recfreq"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") and name not in PUBLIC_DUNDERS:
                continue
            func = _unwrap(attr)
            if inspect.isfunction(func):
                methods[name] = (f"{cls.__name__}.{name}", func)
    return sorted(methods.values(), key=lambda item: item[0])


def _missing_annotations(func):
    """Names of the parameters (and ``return``) of ``func`` that lack a resolvable annotation."""
    hints = typing.get_type_hints(func)  # raises NameError if an annotation does not resolve
    params = list(inspect.signature(func).parameters.values())
    if params and params[0].name in ("self", "cls") and "." in func.__qualname__:
        params = params[1:]  # the bound instance needs no annotation
    missing = [p.name for p in params if p.name not in hints]
    if "return" not in hints:
        missing.append("return")
    return missing


def _all_public_callables():
    items = [(f"{f.__module__}.{f.__name__}", f) for f in PUBLIC_FUNCTIONS]
    for cls in PUBLIC_CLASSES:
        items.extend(_public_methods(cls))
    return items


def test_py_typed_marker_exists_and_is_package_data():
    marker = Path(recfreq.__file__).parent / "py.typed"
    assert marker.is_file()
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        config = tomllib.load(fh)
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["recfreq"]


def test_the_walk_covers_the_public_api():
    # Guards the walk itself: if it silently found nothing, the annotation
    # test below would pass vacuously.
    names = {name for name, _ in _all_public_callables()}
    expected = {
        "MatrixFactorization.fit", "MatrixFactorization.partial_fit", "MatrixFactorization.predict",
        "MatrixFactorization.recommend", "MatrixFactorization.similar_items", "MatrixFactorization.similar_users",
        "MatrixFactorization.score", "NeuralCF.score", "PopularityRecommender.fit", "PopularityRecommender.recommend",
        "OverparamMF.to_matrix_factorization", "OverparamMF.user_embedding_layers_",
        "BaselinePredictor.recommend",
        "FactorizationMachine.score", "FactorizationMachineClassifier.predict_proba",
        "FactorizationMachineClassifier.decision_function", "FactorizationMachine.recommend",
        "NeuralCF.partial_fit", "NeuralCF.predict_proba", "NeuralCF.coefs_",
        "RankingScorer.__call__", "RatingKFold.split", "RatingKFold.get_n_splits",
        "recfreq._show_versions.show_versions",
        "recfreq.datasets._movielens.load_movielens", "recfreq.datasets._movielens.fetch_movielens",
        "recfreq.datasets._synthetic.make_synthetic_ratings",
        "recfreq.datasets._base.get_data_home", "recfreq.datasets._base.clear_data_home",
        "recfreq.metrics.rmse", "recfreq.metrics.mae", "recfreq.metrics.ndcg_at_k",
        "recfreq.metrics.mean_reciprocal_rank", "recfreq.metrics.make_ranking_scorer",
        "recfreq.metrics.get_scorer",
        "recfreq.model_selection.train_test_split", "recfreq.model_selection.leave_one_out_split",
        "recfreq.model_selection.sample_negatives",
    }
    assert expected <= names, sorted(expected - names)
    # scikit-learn's own methods are not claimed
    assert "MatrixFactorization.get_params" not in names


@pytest.mark.parametrize("name, func", _all_public_callables(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_signature_is_fully_annotated(name, func):
    assert _missing_annotations(func) == [], f"{name} lacks annotations"


def test_missing_annotation_detector_flags_gaps():
    # The checker must be able to fail: an unannotated parameter, a missing
    # return type and an unresolvable name are all reported.
    def untyped(a, b: int):
        return a

    def no_return(a: int):
        return a

    def unresolvable(a: "NoSuchType") -> int:  # noqa: F821
        return 0

    assert _missing_annotations(untyped) == ["a", "return"]
    assert _missing_annotations(no_return) == ["return"]
    with pytest.raises(NameError):
        _missing_annotations(unresolvable)


def test_fit_returns_the_estimator_type():
    # fit/partial_fit are annotated with a TypeVar bound to BaseRecommender,
    # so a checker keeps the subclass: the hint is that TypeVar for self and return.
    for cls in PUBLIC_CLASSES:
        if not issubclass(cls, BaseRecommender):
            continue
        for method in ("fit", "partial_fit"):
            hints = typing.get_type_hints(getattr(cls, method))
            assert hints["self"] is hints["return"], f"{cls.__name__}.{method}"
            assert isinstance(hints["return"], typing.TypeVar)
