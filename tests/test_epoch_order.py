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


def test_reference_order_is_a_bijection_for_awkward_sizes():
    """Sizes just above and below powers of two, where cycle walking and the radix matter."""
    for n in (3, 7, 9, 255, 257, 4095, 4096, 4097, 10007):
        order = numpy_permutation(n, 99, 4)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_order_is_a_different_shuffle_each_epoch_and_not_the_identity():
    n = 100_000
    first, second = numpy_permutation(n, 5, 0), numpy_permutation(n, 5, 1)
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.02
    assert abs(np.corrcoef(np.arange(n), first)[0, 1]) < 0.02
    # consecutive positions land far apart about as often as in a uniform shuffle:
    # P(|pi(p+1) - pi(p)| < n/100) is about 2/100
    near = np.mean(np.abs(np.diff(first)) < n // 100)
    assert 0.015 < near < 0.025
    # a position block and a sample block meet as often as chance says (100 x 100 table, chi2 / df about 1)
    table = np.bincount((np.arange(n) * 100 // n) * 100 + first * 100 // n, minlength=10_000)
    assert ((table - n / 1e4) ** 2 / (n / 1e4)).sum() / 9_999 < 1.2


@pytest.mark.parametrize("n", [1, 2, 1000, 2**31 + 5, 10**12 + 39, 2**62])
def test_cuda_order_matches_the_reference(device, n):
    """order.cuh (the GPU's order) gives the reference's samples at positions of any epoch size."""
    from _cuda_compile import toy_kernel_modules

    spec = {m.filename: m for m in toy_kernel_modules()}["order_samples.cu"]
    module = device.load_module(spec.source(), spec.name_expressions, spec.options)
    positions = np.unique(np.array([0, 1, n // 3, n // 2, n - 2, n - 1], dtype=np.int64).clip(0, n - 1))
    out = device.zeros(positions.size, np.int64)
    seed, epoch = 0xFEEDFACE12345678, 7
    device.launch(module, "order_samples", 1, 32, (device.upload(positions), np.int32(positions.size),
                                                   np.int64(n), np.uint64(seed), np.uint64(epoch), out))
    expected = [ref.keyed_sample(n, seed, epoch, int(p)) for p in positions]
    np.testing.assert_array_equal(device.download(out), np.array(expected, dtype=np.int64))
    if n <= 1000:
        np.testing.assert_array_equal(device.download(out), numpy_permutation(n, seed, epoch)[positions])
