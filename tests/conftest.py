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

from recfreq._solvers import SOLVER_NAMES  # noqa: E402

from _devices import device  # noqa: E402,F401  (CUDA kernel tests: emulated always, CuPy with a GPU)
from _helpers import tiny_ratings  # noqa: E402


@pytest.fixture
def tiny():
    return tiny_ratings()


@pytest.fixture(params=SOLVER_NAMES)
def solver(request):
    return request.param
