import pytest

from recfreq._solvers import SOLVER_NAMES

from _helpers import tiny_ratings


@pytest.fixture
def tiny():
    return tiny_ratings()


@pytest.fixture(params=SOLVER_NAMES)
def solver(request):
    return request.param
