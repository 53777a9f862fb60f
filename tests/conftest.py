import pytest

from recfreq._solvers import SOLVER_NAMES

from _devices import device  # noqa: F401  (CUDA kernel tests: emulated always, CuPy with a GPU)
from _helpers import tiny_ratings


@pytest.fixture
def tiny():
    return tiny_ratings()


@pytest.fixture(params=SOLVER_NAMES)
def solver(request):
    return request.param
