import numpy as np
import pytest

from recfreq._encoding import IdEncoder, UNKNOWN


def test_rows_follow_first_appearance_and_unknown_is_minus_one():
    enc = IdEncoder()
    rows = enc.fit_transform(np.array([30, 10, 30, 20]))
    np.testing.assert_array_equal(rows, [0, 1, 0, 2])
    np.testing.assert_array_equal(enc.classes_, [30, 10, 20])
    np.testing.assert_array_equal(enc.transform(np.array([20, 99, 30])), [2, UNKNOWN, 0])
    assert enc.transform(np.array([], dtype=np.int64)).shape == (0,)


def test_growing_never_moves_existing_rows():
    enc = IdEncoder()
    enc.fit_transform(np.array(["b", "a"]))
    rows = enc.extend_transform(np.array(["c", "a", "zz", "c"]))
    np.testing.assert_array_equal(rows, [2, 1, 3, 2])
    np.testing.assert_array_equal(enc.inverse_transform([0, 1, 2, 3]), ["b", "a", "c", "zz"])
    assert len(enc) == 4


def test_kind_mismatch_is_a_type_error():
    enc = IdEncoder()
    enc.fit_transform(np.array([1, 2]))
    with pytest.raises(TypeError, match="same kind"):
        enc.transform(np.array(["1"]))


def test_large_random_ids_round_trip():
    rng = np.random.default_rng(0)
    ids = rng.integers(-(2**62), 2**62, 10_000)
    enc = IdEncoder()
    rows = enc.fit_transform(ids)
    np.testing.assert_array_equal(enc.inverse_transform(rows), ids)
    assert rows.dtype == np.int32 and rows.max() == len(np.unique(ids)) - 1
