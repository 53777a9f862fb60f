import os
import sys

# scikit-learn's array-API estimator checks skip themselves unless
# SCIPY_ARRAY_API=1, and SciPy reads the switch once, when it is first
# imported: so it is set here, before anything below imports SciPy.
_ARRAY_API_PRESET = "SCIPY_ARRAY_API" in os.environ
os.environ.setdefault("SCIPY_ARRAY_API", "1")
if os.environ["SCIPY_ARRAY_API"] != "1":
    raise RuntimeError(
        f"SCIPY_ARRAY_API={os.environ['SCIPY_ARRAY_API']!r} in the environment; the test "
        "suite runs scikit-learn's array-API checks and needs it unset or '1'."
    )
if "scipy" in sys.modules and not _ARRAY_API_PRESET:
    raise RuntimeError(
        "SciPy was imported before tests/conftest.py could set SCIPY_ARRAY_API=1 (by a "
        "pytest plugin or sitecustomize?); SciPy would run without array-API support. "
        "Run the tests with SCIPY_ARRAY_API=1 in the environment."
    )

import pytest  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from recfreq._solvers import SOLVER_NAMES  # noqa: E402

from _devices import device  # noqa: E402,F401  (CUDA kernel tests: emulated always, CuPy with a GPU)
from _helpers import tiny_ratings  # noqa: E402

# Hypothesis profiles of the property suite (tests/test_properties.py), chosen
# by HYPOTHESIS_PROFILE; CI=true selects "ci". Examples build tiny models, so
# the slow-data and too-slow health checks would only flag the fitting itself.
# The "explain" phase (which parts of a failing example matter) costs more than
# finding and shrinking the failure together on these tests, so it is left out.
_COMMON = dict(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much])
# dev: the default, quick enough for every `pytest` run
settings.register_profile("dev", max_examples=25, **_COMMON)
# ci: hundreds of examples per property, the same ones on every run (derandomize)
settings.register_profile("ci", max_examples=300, derandomize=True, print_blob=True, **_COMMON)
# ci-debug: the same on the bounds-checked -O0 build (.ci/run), with fewer examples
settings.register_profile("ci-debug", parent=settings.get_profile("ci"), max_examples=100)
# long: a local hunt for new failures (fresh random examples each run)
settings.register_profile("long", max_examples=3000, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev"))


@pytest.fixture
def tiny():
    return tiny_ratings()


@pytest.fixture(params=SOLVER_NAMES)
def solver(request):
    return request.param
