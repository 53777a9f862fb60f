"""The compiled epoch order (``_kernels/cpu/order.pxd``) is the keyed order of the reference, for any thread count."""

import numpy as np
import pytest

from recfreq._epoch_order import epoch_permutation as numpy_permutation
from recfreq._kernels.cpu.epoch_order import epoch_permutation

import _reference as ref


@pytest.mark.parametrize("n", [0, 1, 2, 5, 64, 65, 1000, 4097])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_compiled_order_is_the_reference_order_for_any_thread_count(n, n_threads):
    for seed, epoch in ((0, 0), (12345, 3), (2**63 - 1, 2**40)):
        out = np.full(n + 2, -7, dtype=np.int64)  # longer than n: the tail stays untouched
        epoch_permutation(n, seed, epoch, out, n_threads=n_threads)
        expected = ref.keyed_order(n, seed, epoch)
        np.testing.assert_array_equal(out[:n], expected)
        np.testing.assert_array_equal(out[n:], [-7, -7])
        np.testing.assert_array_equal(numpy_permutation(n, seed, epoch), expected)


def test_compiled_order_refuses_a_short_buffer():
    with pytest.raises(ValueError, match="fewer than n=10"):
        epoch_permutation(10, 0, 0, np.empty(9, dtype=np.int64))
