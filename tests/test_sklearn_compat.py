"""scikit-learn's common estimator checks.

No check is expected to fail. Two tags make that honest rather than lucky:
``input_tags.categorical`` (ids are labels, so the checks feed integer X) and
``regressor_tags.poor_score`` (a model of ids cannot learn the checks' random
regression problem, whose targets do not depend on id identity).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from recfreq import BaselinePredictor, MatrixFactorization

#: check name -> reason, per estimator; keep it short and reasoned
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [BaselinePredictor(max_iter=3), MatrixFactorization(n_factors=4, max_iter=3)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
