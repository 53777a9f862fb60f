"""The epoch order as a keyed bijection of the sample indices, in NumPy.

The GPU kernels compute the order where they use it (``_kernels/cuda/order.cuh``),
so no permutation crosses the bus between epochs; this is the same function on
the host, bit for bit, for the tests that replay a device's epochs and for host
code that needs the order a device will use. Position ``p`` of an epoch trains
sample ``epoch_permutation(n, seed, epoch)[p]``.

A Feistel network on b bits (2**b >= n) whose halves of floor(b/2) and
ceil(b/2) bits trade widths every round, four rounds of the SplitMix64
finalizer, cycle-walked back into [0, n).
"""

import numpy as np

__all__ = ["epoch_permutation"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(z):
    z = np.asarray(z, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _round_keys(seed, epoch):
    with np.errstate(over="ignore"):
        key = _mix64(np.array([seed], dtype=np.uint64) ^ _mix64(np.array([epoch], dtype=np.uint64)))
        return [_mix64(key + np.uint64(r + 1))[0] for r in range(4)]


def epoch_permutation(n, seed, epoch):
    """The samples an epoch visits, in order: a permutation of ``range(n)`` (int64).

    Parameters
    ----------
    n : int
        Samples in the epoch.
    seed, epoch : int
        The key (0 <= each < 2**64); the same key gives the same order on every device.
    """
    n = int(n)
    bits = 0
    while bits < 62 and (1 << bits) < n:
        bits += 1
    keys = _round_keys(int(seed) % 2**64, int(epoch) % 2**64)

    def permute(x):
        left_bits, right_bits = bits - bits // 2, bits // 2
        left, right = x >> np.uint64(right_bits), x & np.uint64((1 << right_bits) - 1)
        for key in keys:
            left, right = right, left ^ (_mix64(right ^ key) & np.uint64((1 << left_bits) - 1))
            left_bits, right_bits = right_bits, left_bits
        return (left << np.uint64(right_bits)) | right

    with np.errstate(over="ignore"):
        x = permute(np.arange(n, dtype=np.uint64))
        outside = x >= np.uint64(n)
        while outside.any():
            x[outside] = permute(x[outside])
            outside = x >= np.uint64(n)
    return x.astype(np.int64)
