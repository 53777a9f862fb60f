"""The counter-based generator of NeuralCF's draws (``_kernels/cpu/rng.pxd`` and its
CUDA mirror ``_kernels/cuda/rng.cuh``) against the NumPy reference.

The reference's Philox-4x32-10 is checked against the known-answer vectors of
Random123 (the authors' implementation); the CUDA header, run on every device
backend, must then give the reference's words bit for bit. The Cython side is
tied to the same reference through the NeuralCF kernels (tests/test_ncf.py:
sampled negatives and dropout masks).
"""

import numpy as np
import pytest

import _reference as ref
from _cuda_compile import toy_kernel_modules

# Random123's kat_vectors, philox4x32 10: counter (4 words), key (2 words) -> output (4 words)
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_reference_philox_matches_the_known_answers(counter, key, expected):
    assert ref.philox4x32_10(counter, key) == expected


def test_reference_stream_layout():
    """Draws 4n..4n+3 of (index, stream) are Philox block n of counter (n, stream, index low, high)."""
    key = ref.draw_key(5, 2)
    stream = ref.CounterStream(key, (3 << 32) + 7, 11)
    words = [stream.next32() for _ in range(8)]
    assert tuple(words[4:]) == ref.philox4x32_10((1, 11, 7, 3), (key & 0xFFFFFFFF, key >> 32))


def test_bounded_draws_are_uniform():
    stream = ref.CounterStream(ref.draw_key(1, 0), 0, 0)
    counts = np.bincount([stream.bounded(7) for _ in range(7000)], minlength=7)
    assert counts.min() > 850 and counts.max() < 1150


@pytest.mark.parametrize("bound", [0, 1, 7, 1000, 2**31 + 1], ids=["bits", "1", "7", "1000", "2^31+1"])
def test_cuda_generator_matches_the_reference(device, bound):
    spec = {m.filename: m for m in toy_kernel_modules()}["rng_draws.cu"]
    module = device.load_module(spec.source(), spec.name_expressions, spec.options)
    rows = np.array([0, 1, 2, 5, 2**32 + 3, 10**12], dtype=np.int64)
    seed, epoch, stream, n_draws = 0xDEADBEEF12345, 3, 9, 9  # 9 draws: three Philox blocks
    out = device.zeros((rows.size, n_draws), np.uint32)
    device.launch(module, "rng_draws", 1, 32, (device.upload(rows), np.int32(rows.size), np.uint64(seed),
                                              np.uint64(epoch), np.uint32(stream), np.int32(n_draws),
                                              np.uint32(bound), out))
    key = ref.draw_key(seed, epoch)
    expected = []
    for row in rows:
        s = ref.CounterStream(key, int(row), stream)
        expected.append([s.next32() if bound == 0 else s.bounded(bound) for _ in range(n_draws)])
    np.testing.assert_array_equal(device.download(out), np.array(expected, dtype=np.uint32))


def test_cuda_blocks_are_the_stream_draws(device):
    """rng_block(b) gives draws 4b..4b+3 of the stream, as the reference's stream does."""
    spec = {m.filename: m for m in toy_kernel_modules()}["rng_draws.cu"]
    module = device.load_module(spec.source(), spec.name_expressions, spec.options)
    rows = np.array([3, 2**40 + 1], dtype=np.int64)
    out = device.zeros((rows.size, 3 * 4), np.uint32)
    device.launch(module, "rng_blocks", 1, 32, (device.upload(rows), np.int32(rows.size), np.uint64(77),
                                               np.uint64(0), np.uint32(5), np.int32(3), out))
    key = ref.draw_key(77, 0)
    expected = []
    for row in rows:
        s = ref.CounterStream(key, int(row), 5)
        expected.append([s.next32() for _ in range(12)])
    np.testing.assert_array_equal(device.download(out), np.array(expected, dtype=np.uint32))


def test_reference_xoroshiro128pp_matches_the_published_sequence():
    """The bit stream's step is xoroshiro128++: from the state SplitMix64 gives seed 0, the
    authors' reference implementation starts 0x6f68e1e7e2646ee1, 0xbf971b7f454094ad, ...
    (the values Bitcoin Core's unit tests quote from it)."""
    stream = ref.BitStream(0, 0, 0)
    stream.s0, stream.s1 = ref._mix64(0), ref._mix64(0x9E3779B97F4A7C15)
    assert [stream.next64() for _ in range(4)] == [0x6F68E1E7E2646EE1, 0xBF971B7F454094AD,
                                                   0x48F2DE556F30DE38, 0x6EA7C59F89BBFC75]


def test_reference_bit_stream_is_seeded_by_philox_block_zero():
    key = ref.draw_key(3, 1)
    words = ref.philox4x32_10((0, 9, 17, 0), (key & 0xFFFFFFFF, key >> 32))
    stream = ref.BitStream(key, 17, 9)
    assert (stream.s0, stream.s1) == (words[0] | words[1] << 32, words[2] | words[3] << 32)


def test_bit_stream_bits_are_balanced():
    stream = ref.BitStream(ref.draw_key(8, 2), 5, 1)
    words = np.array([stream.next64() for _ in range(2000)], dtype=np.uint64)
    ones = np.unpackbits(words.view(np.uint8)).reshape(-1, 64).mean(axis=0)
    assert np.all(np.abs(ones - 0.5) < 0.06)  # every bit position, 2000 draws: 5 sigma is 0.056


def test_cuda_bit_stream_matches_the_reference(device):
    spec = {m.filename: m for m in toy_kernel_modules()}["rng_draws.cu"]
    module = device.load_module(spec.source(), spec.name_expressions, spec.options)
    rows = np.array([0, 7, 2**33 + 5], dtype=np.int64)
    n_draws = 5
    out = device.zeros((rows.size, n_draws), np.uint64)
    device.launch(module, "bit_stream_draws", 1, 32, (device.upload(rows), np.int32(rows.size), np.uint64(41),
                                                     np.uint64(2), np.uint32(3), np.int32(n_draws), out))
    key = ref.draw_key(41, 2)
    expected = []
    for row in rows:
        stream = ref.BitStream(key, int(row), 3)
        expected.append([stream.next64() for _ in range(n_draws)])
    np.testing.assert_array_equal(device.download(out), np.array(expected, dtype=np.uint64))
