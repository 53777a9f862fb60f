"""Data sets: bundled MovieLens 100K, downloadable MovieLens, synthetic ratings.

* :func:`load_movielens` -- MovieLens 100K, shipped with the package.
* :func:`fetch_movielens` -- the larger MovieLens releases, downloaded once
  from GroupLens into a local cache and checksum-verified.
* :func:`make_synthetic_ratings` -- planted low-rank ratings with power-law
  user and item frequencies, free of any licence.
"""

from ._base import clear_data_home, get_data_home
from ._movielens import fetch_movielens, load_movielens
from ._synthetic import make_synthetic_ratings

__all__ = [
    "clear_data_home",
    "fetch_movielens",
    "get_data_home",
    "load_movielens",
    "make_synthetic_ratings",
]
