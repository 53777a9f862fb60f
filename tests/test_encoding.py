import numpy as np
import pytest

from recfreq._encoding import IdEncoder, UNKNOWN


@pytest.mark.parametrize("ids", [np.array([30, 10, 30, 20]), np.array([30, 10, 30, 20]) * 10**12])
def test_rows_follow_sorted_ids_and_unknown_is_minus_one(ids):
    """Compact integer ids take the lookup-table path, sparse ones binary search."""
    enc = IdEncoder()
    rows = enc.fit_transform(ids)
    np.testing.assert_array_equal(rows, [2, 0, 2, 1])
    np.testing.assert_array_equal(enc.classes_, np.sort(np.unique(ids)))
    probe = np.array([ids[3], 99 * ids[1] + 7, ids[0], -5, 10**15])
    np.testing.assert_array_equal(enc.transform(probe), [1, UNKNOWN, 2, UNKNOWN, UNKNOWN])
    assert enc.transform(np.array([], dtype=np.int64)).shape == (0,)


def test_growing_never_moves_existing_rows():
    enc = IdEncoder()
    enc.fit_transform(np.array(["b", "a"]))
    rows = enc.extend_transform(np.array(["zz", "a", "c", "zz"]))
    np.testing.assert_array_equal(rows, [3, 0, 2, 3])
    np.testing.assert_array_equal(enc.inverse_transform([0, 1, 2, 3]), ["a", "b", "c", "zz"])
    assert len(enc) == 4
    num = IdEncoder()
    num.fit_transform(np.array([5, 3]))
    np.testing.assert_array_equal(num.extend_transform(np.array([9, 3, 4])), [3, 0, 2])
    np.testing.assert_array_equal(num.transform(np.array([3, 5, 4, 9, 8])), [0, 1, 2, 3, UNKNOWN])


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
