"""The epoch order as a keyed bijection of the sample indices, in NumPy.

The GPU kernels compute the order where they use it (``_kernels/cuda/order.cuh``),
so no permutation crosses the bus between epochs; this is the same function on
the host, bit for bit, for the tests that replay a device's epochs and for host
code that needs the order a device will use. Position ``p`` of an epoch trains
sample ``epoch_permutation(n, seed, epoch)[p]``.

A Feistel network on the mixed radix ``a x 2**s`` that holds ``[0, n)`` (b the
bits of n, ``s = b // 2``, ``a = ceil(n / 2**s)``; a value is the pair
``(x >> s, x & (2**s - 1))``): four rounds alternate a modular addition to the
high half and an exclusive or into the low half of a 32-bit hash of the other
half and a round key, cycle-walked back into ``[0, n)``.
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
        return [np.uint64(_mix64(key + np.uint64(r + 1))[0] & np.uint64(0xFFFFFFFF)) for r in range(4)]


def _round(half, key):
    """The 32-bit round hash of ``half ^ key`` (uint64 arrays holding 32-bit values)."""
    mask = np.uint64(0xFFFFFFFF)
    h = ((half ^ key) * np.uint64(0x9E3779B1)) & mask
    h ^= h >> np.uint64(15)
    return (h * np.uint64(0x2C1B3C6D)) & mask


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
    s = bits // 2
    a = np.uint64(max(1, (n + (1 << s) - 1) >> s))
    keys = _round_keys(int(seed) % 2**64, int(epoch) % 2**64)
    shift, low_mask, top = np.uint64(s), np.uint64((1 << s) - 1), np.uint64(32)

    def permute(x):
        hi, lo = x >> shift, x & low_mask
        for r in (0, 2):
            hi = hi + ((_round(lo, keys[r]) * a) >> top)
            hi = np.where(hi >= a, hi - a, hi)
            lo = lo ^ ((_round(hi, keys[r + 1]) << shift) >> top)
        return (hi << shift) | lo

    with np.errstate(over="ignore"):
        x = permute(np.arange(n, dtype=np.uint64))
        outside = x >= np.uint64(n)
        while outside.any():
            x[outside] = permute(x[outside])
            outside = x >= np.uint64(n)
    return x.astype(np.int64)
