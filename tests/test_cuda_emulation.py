"""The emulated CUDA device (tests/_emulated_device.py) and the device backend interface.

Kernels come from tests/cuda_kernels. The feature tests run on every device
backend (the ``device`` fixture: the emulated one here, CuPy's on a GPU);
the error tests are about the emulator's own checks.
"""

import re
import types

import numpy as np
import pytest

from recfreq._backend import cuda_available
from recfreq._device_backend import (
    MAX_SHARED_MEMORY,
    CupyBackend,
    DeviceBackend,
    check_launch,
    enum_defines,
    kernel_source,
)
from recfreq._solvers import Solver

from _cuda_compile import kernel_parameters, toy_kernel_modules
from _devices import emulated_device
from _emulated_device import (
    DeadlockError,
    DeviceAssertionError,
    DivergentBarrierError,
    EmulatedArray,
    EmulatedCompileError,
    EmulatedDevice,
    EmulatedKernelError,
    WarpCollectiveError,
    rewrite_extern_shared,
)

MODULES = {m.filename: m for m in toy_kernel_modules()}


def load(device, filename):
    spec = MODULES[filename]
    return device.load_module(spec.source(), spec.name_expressions, spec.options)


def run(device, filename, kernel, grid, block, args, shared_mem=0):
    device.launch(load(device, filename), kernel, grid, block, args, shared_mem=shared_mem)


# -- interface ---------------------------------------------------------------------


def test_backends_implement_the_interface(device):
    assert isinstance(device, DeviceBackend)
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    on_device = device.upload(host)
    assert on_device.shape == (2, 3) and on_device.dtype == np.float32 and on_device.size == 6
    host[0, 0] = 99.0  # upload copied
    np.testing.assert_array_equal(device.download(on_device), np.arange(6, dtype=np.float32).reshape(2, 3))
    zeros = device.zeros((4,), np.int64)
    assert zeros.dtype == np.int64
    np.testing.assert_array_equal(device.download(zeros), np.zeros(4, np.int64))
    device.synchronize()


def test_emulated_arrays_are_inspectable_numpy_wrappers():
    device = emulated_device()
    array = device.upload(np.arange(3, dtype=np.int32))
    assert isinstance(array, EmulatedArray)
    assert isinstance(array.host, np.ndarray) and array.host.flags.c_contiguous
    assert "int32" in repr(array)
    with pytest.raises(TypeError, match="already on the device"):
        device.upload(array)
    with pytest.raises(TypeError, match="device array"):
        device.download(np.zeros(2))
    with pytest.raises(ValueError, match="C-contiguous"):
        EmulatedArray(np.zeros((3, 3))[:, 0])


@pytest.mark.skipif(cuda_available(), reason="a CUDA device is usable here")
def test_cupy_backend_without_a_device_raises_a_clear_error():
    # ImportError (with the install commands) without CuPy; RuntimeError with CuPy but no device
    with pytest.raises((ImportError, RuntimeError), match="CuPy|CUDA"):
        CupyBackend()


def test_cupy_backend_launch_checks_and_forwards_without_a_gpu():
    """The CuPy launch path, against a stand-in for CuPy's module objects."""

    class FakeArray:
        pass

    calls = []

    class FakeModule:
        def get_function(self, name):
            return lambda grid, block, args, shared_mem: calls.append((name, grid, block, args, shared_mem))

    backend = CupyBackend.__new__(CupyBackend)
    backend._cupy = types.SimpleNamespace(ndarray=FakeArray)
    array = FakeArray()
    backend.launch(FakeModule(), "k<float>", 3, (32, 2), [array, np.int32(5)], shared_mem=128)
    assert calls == [("k<float>", (3, 1, 1), (32, 2, 1), (array, np.int32(5)), 128)]
    with pytest.raises(TypeError, match="argument 0 is a NumPy array that was not uploaded"):
        backend.launch(FakeModule(), "k<float>", 1, 32, [np.zeros(3)])
    with pytest.raises(TypeError, match="argument 1 is of type int; pass a device array or a NumPy scalar"):
        backend.launch(FakeModule(), "k<float>", 1, 32, [array, 5])
    with pytest.raises(ValueError, match="1056 threads"):
        backend.launch(FakeModule(), "k<float>", 1, (32, 33), [array])
    assert len(calls) == 1


# -- kernels run correctly -------------------------------------------------------------


@pytest.mark.parametrize("dtype, kernel", [(np.float32, "dot_warp<float>"), (np.float64, "dot_warp<double>")])
def test_warp_per_sample_dot_product(device, dtype, kernel):
    rng = np.random.default_rng(0)
    n_rows, n_samples, k = 7, 300, 45  # k not a multiple of 32: lanes hold uneven shares
    x = rng.standard_normal((n_rows, k)).astype(dtype)
    y = rng.standard_normal((n_samples, k)).astype(dtype)
    rows = rng.integers(0, n_rows, n_samples).astype(np.int32)
    out = device.zeros(n_samples, dtype)
    args = (device.upload(x), device.upload(y), device.upload(rows), np.int32(n_samples), np.int32(k), out)
    # 3 blocks of 2 warps: a grid-stride loop over more samples than warps
    run(device, "toys.cu", kernel, 3, 64, args)
    expected = np.einsum("ij,ij->i", x[rows], y)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(device.download(out), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, kernel", [(np.float32, "block_sum<float>"), (np.float64, "block_sum<double>")])
def test_block_reduction_with_static_shared_memory(device, dtype, kernel):
    x = np.arange(1000, dtype=dtype) % 17
    partial = device.zeros(8, dtype)
    run(device, "toys.cu", kernel, 8, 128, (device.upload(x), np.int64(x.size), partial))
    expected = np.add.reduceat(np.concatenate([x, np.zeros(24, dtype)]), np.arange(0, 1024, 128))
    np.testing.assert_allclose(device.download(partial), expected)


def test_block_reduction_with_dynamic_shared_memory(device):
    x = np.linspace(0, 1, 700).astype(np.float32)
    partial = device.zeros(3, np.float32)
    run(device, "toys.cu", "block_sum_dynamic", 3, 256, (device.upload(x), np.int32(x.size), partial), shared_mem=1024)
    expected = [x[:256].sum(), x[256:512].sum(), x[512:].sum()]
    np.testing.assert_allclose(device.download(partial), expected, rtol=1e-5)


def test_largest_block(device):
    """1024 threads (32 warps) in one block, a fiber each."""
    n_samples, k = 100, 40
    x = np.arange(n_samples * k, dtype=np.float64).reshape(n_samples, k) / 1000
    rows = np.arange(n_samples, dtype=np.int32)
    out = device.zeros(n_samples, np.float64)
    args = (device.upload(x), device.upload(x), device.upload(rows), np.int32(n_samples), np.int32(k), out)
    run(device, "toys.cu", "dot_warp<double>", 1, 1024, args)
    np.testing.assert_allclose(device.download(out), (x * x).sum(axis=1), rtol=1e-12)


def test_atomic_add_histogram(device):
    values = np.random.default_rng(1).integers(0, 10, 5000).astype(np.int32)
    bins = device.zeros(10, np.uint32)
    run(device, "toys.cu", "histogram", 4, 96, (device.upload(values), np.int32(values.size), bins))
    np.testing.assert_array_equal(device.download(bins), np.bincount(values, minlength=10))


def test_atomics(device):
    ints = device.upload(np.array([0, -1, 10**6, 0, 0], dtype=np.int32))
    f, d, u = device.zeros(1, np.float32), device.zeros(1, np.float64), device.zeros(1, np.uint64)
    run(device, "toys.cu", "atomics", 2, 48, (ints, f, d, u))
    n = 96
    np.testing.assert_array_equal(device.download(ints), [n * (n - 1) // 2, n - 1, 0, n, 7])
    assert device.download(f)[0] == n * 0.5
    assert device.download(d)[0] == n * 0.25
    assert device.download(u)[0] == n * (1 << 33)


def _expected_collectives(v):
    """What the `collectives` kernel computes, per lane of 32-lane warps."""
    out = np.zeros((v.size, 12), dtype=np.int64)
    for t in range(v.size):
        base, lane = t - t % 32, t % 32
        w = v[base : base + 32]
        seg8, seg16 = lane - lane % 8, lane - lane % 16
        out[t, 0] = w[3]
        out[t, 1] = w[seg8 + (lane + 1) % 8]
        out[t, 2] = w[lane - 2] if lane >= 2 else w[lane]
        out[t, 3] = w[lane + 5] if lane + 5 < 32 else w[lane]
        out[t, 4] = w[lane ^ 1]
        out[t, 5] = w[lane + 3] if lane - seg16 + 3 < 16 else w[lane]
        out[t, 6] = sum(1 << i for i in range(32) if w[i] % 3 == 0)
        out[t, 7] = int((w == 17).any())
        out[t, 8] = int((w >= 0).all())
        half = range(16, 32) if lane >= 16 else range(16)
        out[t, 9] = w[lane ^ 4]
        out[t, 10] = sum(1 << i for i in half if w[i] & 1)
        out[t, 11] = w.sum()
    return out


def test_warp_collectives(device):
    v = np.random.default_rng(2).integers(0, 40, 64).astype(np.int32)  # two warps
    out = device.zeros(64 * 12, np.int32)
    run(device, "toys.cu", "collectives", 1, 64, (device.upload(v), out))
    got = device.download(out).reshape(64, 12).view(np.uint32)  # ballots naming lane 31 are negative ints
    np.testing.assert_array_equal(got, _expected_collectives(v))


def test_match_any(device):
    code = (
        "__global__ void match(const int* v, unsigned int* out) {"
        " out[threadIdx.x] = __match_any_sync(0xffffffffu, v[threadIdx.x]); }"
    )
    module = device.load_module(code, ["match"])
    v = np.arange(32, dtype=np.int32) % 5
    out = device.zeros(32, np.uint32)
    device.launch(module, "match", 1, 32, (device.upload(v), out))
    expected = [sum(1 << j for j in range(32) if v[j] == v[i]) for i in range(32)]
    np.testing.assert_array_equal(device.download(out), expected)


def test_shuffles_move_64_bit_and_floating_values(device):
    d = np.random.default_rng(3).standard_normal(32)
    ll = np.arange(32, dtype=np.int64) * (1 << 40) - 7
    d_out, ll_out = device.zeros(32, np.float64), device.zeros(32, np.int64)
    run(device, "toys.cu", "shuffle_types", 1, 32, (device.upload(d), device.upload(ll), d_out, ll_out))
    np.testing.assert_array_equal(device.download(d_out), d[np.arange(32) ^ 16])
    np.testing.assert_array_equal(device.download(ll_out), np.append(ll[1:], ll[31]))


def test_three_dimensional_indices_and_counting_barriers(device):
    grid, block = (2, 3, 2), (4, 2, 3)  # 24 threads: the only warp is partial
    n_blocks, n_threads = 12, 24
    out = device.zeros(n_blocks * n_threads * 10, np.int32)
    run(device, "toys.cu", "indices", grid, block, (out,))
    got = device.download(out).reshape(n_blocks, n_threads, 10)
    tz, ty, tx = np.meshgrid(range(3), range(2), range(4), indexing="ij")
    bz, by, bx = np.meshgrid(range(2), range(3), range(2), indexing="ij")
    for b in range(n_blocks):
        np.testing.assert_array_equal(got[b, :, 0], tx.ravel())
        np.testing.assert_array_equal(got[b, :, 1], ty.ravel())
        np.testing.assert_array_equal(got[b, :, 2], tz.ravel())
        np.testing.assert_array_equal(got[b, :, 3:6], np.tile([bx.ravel()[b], by.ravel()[b], bz.ravel()[b]], (24, 1)))
    assert (got[..., 6] == n_threads).all() and (got[..., 7] == n_blocks).all()
    assert (got[..., 8] == 8).all()  # threads 0, 3, ..., 21 of each block
    assert (got[..., 9] == 3).all()  # or(thread == 5) + 2 * and(thread < 1000)


def test_scalar_arguments_of_every_width(device):
    out = device.zeros(5, np.float64)
    args = (np.int32(-7), np.int64(-(2**40)), np.uint64(3 << 60), np.float32(0.5), np.float64(1e300), out)
    run(device, "toys.cu", "scalars", 1, 1, args)
    np.testing.assert_array_equal(device.download(out), [-7, -(2**40), (3 << 60) >> 40, 0.5, 1e300])


def test_math_and_integer_intrinsics(device):
    f, u = device.zeros(8, np.float32), device.zeros(8, np.uint32)
    x, a, b = np.float32(2.25), np.uint32(0xF0F0_1234), np.uint32(0x0000_0A00)
    run(device, "toys.cu", "intrinsics", 1, 1, (x, a, b, f, u))
    expected_f = [1.5, 1 / 1.5, 2**2.25, np.exp(2.25), 2.25 * 2.25 + 1, 2.25, 1 / 2.25, 2**1.5]
    # fast-math intrinsics (__expf, __fdividef) are approximate on a GPU
    np.testing.assert_allclose(device.download(f), expected_f, rtol=2e-6)
    a_, b_ = int(a), int(b)
    expected_u = [
        (a_ * b_) >> 32,
        bin(a_).count("1"),
        (b_ & -b_).bit_length(),
        32 - b_.bit_length(),
        int(f"{a_:032b}"[::-1], 2),
        bin(a_).count("1") + bin(b_).count("1"),
        int(np.float32(2.25).view(np.uint32)),
        min(a_, b_),
    ]
    np.testing.assert_array_equal(device.download(u), expected_u)


def test_solver_codes_are_injected_from_the_enum(device):
    out = device.zeros(4, np.int32)
    run(device, "solver_codes.cu", "solver_codes", 1, 32, (out,))
    np.testing.assert_array_equal(device.download(out), [Solver.SGD, Solver.FA_SGD, Solver.CF_SGD, Solver.ADAGRAD])


def test_size_zero_arrays_are_null_pointers_as_in_cupy(device):
    code = "__global__ void is_null(const float* p, int* out) { out[0] = p == nullptr; }"
    module = device.load_module(code, ["is_null"])
    out = device.zeros(1, np.int32)
    device.launch(module, "is_null", 1, 1, (device.zeros(0, np.float32), out))
    assert device.download(out)[0] == 1


# -- emulator specifics -----------------------------------------------------------------


def test_template_instantiations_have_their_own_signatures():
    module = load(emulated_device(), "toys.cu")
    assert module.signature("dot_warp<float>") == "const float*,const float*,const int*,int,int,float*"
    assert module.signature("dot_warp<double>") == "const double*,const double*,const int*,int,int,double*"
    assert module.signature("scalars") == "int,long long,unsigned long long,float,double,double*"


def test_signatures_agree_with_the_parameter_lists_in_the_source():
    spec = MODULES["toys.cu"]
    module = load(emulated_device(), "toys.cu")
    plain = [name for name in spec.name_expressions if "<" not in name]
    assert len(plain) > 5
    for name in plain:
        types = [t for t, _ in kernel_parameters(spec.source(), name)]
        assert ",".join(types) == module.signature(name)


def test_fibers_switch_only_at_sync_points():
    """A kernel without sync points runs each thread once: one switch per thread, plus one back."""
    device = emulated_device()
    module = load(device, "toys.cu")
    values = np.zeros(100, dtype=np.int32)
    bins = device.zeros(1, np.uint32)
    before = module.switch_count
    device.launch(module, "histogram", 2, 64, (device.upload(values), np.int32(100), bins))
    assert module.switch_count - before == 2 * (64 + 1)
    # 5 butterfly steps of a full warp: each lane but the last to arrive
    # blocks once per step; a whole warp costs at most 32 switches per step.
    x = np.ones((1, 32), np.float32)
    rows, out = device.zeros(1, np.int32), device.zeros(1, np.float32)
    args = (device.upload(x), device.upload(x), rows, np.int32(1), np.int32(32), out)
    before = module.switch_count
    device.launch(module, "dot_warp<float>", 1, 32, args)
    assert 5 * 31 <= module.switch_count - before <= 5 * 32 + 33


def test_ucontext_fallback_gives_the_same_results(tmp_path):
    device = EmulatedDevice(cache_dir=tmp_path, use_ucontext=True)
    v = np.random.default_rng(4).integers(0, 40, 64).astype(np.int32)
    out = device.zeros(64 * 12, np.int32)
    run(device, "toys.cu", "collectives", 1, 64, (device.upload(v), out))
    reference = emulated_device().zeros(64 * 12, np.int32)
    run(emulated_device(), "toys.cu", "collectives", 1, 64, (emulated_device().upload(v), reference))
    np.testing.assert_array_equal(device.download(out), reference.host)
    with pytest.raises(DivergentBarrierError):
        run(device, "broken.cu", "two_barriers", 1, 32, (device.zeros(32, np.int32),))


def test_compiled_modules_are_cached_on_disk(tmp_path):
    code = "__global__ void one(int* out) { out[0] = 1; }"
    first = EmulatedDevice(cache_dir=tmp_path).load_module(code, ["one"])
    stamp = first.path.stat().st_mtime_ns
    second = EmulatedDevice(cache_dir=tmp_path).load_module(code, ["one"])
    assert second.path == first.path and second.path.stat().st_mtime_ns == stamp
    third = EmulatedDevice(cache_dir=tmp_path).load_module(code, ["one"], options=("-DX=1",))
    assert third.path != first.path  # options are part of the key


def test_options_reach_the_preprocessor(tmp_path):
    device = EmulatedDevice(cache_dir=tmp_path)
    code = "__global__ void value(int* out) { out[0] = VALUE; }"
    module = device.load_module(code, ["value"], options=("-DVALUE=42", "--use_fast_math", "-ftz=true"))
    out = device.zeros(1, np.int32)
    device.launch(module, "value", 1, 1, (out,))
    assert out.host[0] == 42


def test_compile_errors_show_the_compiler_output(tmp_path):
    with pytest.raises(EmulatedCompileError, match="undeclared|not declared"):
        EmulatedDevice(cache_dir=tmp_path).load_module("__global__ void k(int* o) { o[0] = missing; }", ["k"])


def test_extern_shared_rewrite_keeps_line_numbers():
    code = "a\nextern __shared__ __align__(sizeof(double))\n  unsigned char raw[];\nb"
    rewritten = rewrite_extern_shared(code)
    assert "unsigned char* const raw = static_cast<unsigned char*>(::emu::dynamic_shared_memory());" in rewritten
    assert rewritten.count("\n") == code.count("\n")


# -- host-side mistakes CuPy would let through ---------------------------------------------


@pytest.fixture
def dot_args():
    device = emulated_device()
    x = np.ones((2, 32), np.float32)
    return device, load(device, "toys.cu"), [
        device.upload(x),
        device.upload(x),
        device.upload(np.zeros(2, np.int32)),
        np.int32(2),
        np.int32(32),
        device.zeros(2, np.float32),
    ]


@pytest.mark.parametrize(
    "position, make, message",
    [
        (0, lambda d: np.ones((2, 32), np.float32), "argument 0 .*NumPy array that was not uploaded"),
        (1, lambda d: d.upload(np.ones((2, 32))), r"argument 1 .*const float\*.* array of float64; expected float32"),
        (2, lambda d: d.upload(np.zeros(2, np.int64)), r"argument 2 .*const int\*.* array of int64"),
        (3, lambda d: 2, "argument 3 .*Python int; pass a NumPy scalar of the exact width, np.int32"),
        (4, lambda d: 32.0, "argument 4 .*Python float"),
        (3, lambda d: np.int64(2), "argument 3 .*int64 scalar; expected np.int32"),
        (4, lambda d: np.uint32(32), "argument 4 .*uint32 scalar"),
        (3, lambda d: d.upload(np.array([2], np.int32)), "argument 3 .*is an array; the parameter is a scalar"),
        (5, lambda d: [0.0, 0.0], "argument 5 .*must be a device array, got list"),
    ],
)
def test_argument_mistakes_are_type_errors(dot_args, position, make, message):
    device, module, args = dot_args
    args[position] = make(device)
    with pytest.raises(TypeError, match=message):
        device.launch(module, "dot_warp<float>", 1, 32, args)


def test_wrong_argument_count(dot_args):
    device, module, args = dot_args
    with pytest.raises(TypeError, match=r"takes 6 arguments \(const float\*.*\), 5 were given"):
        device.launch(module, "dot_warp<float>", 1, 32, args[:5])


def test_unknown_name_expression(dot_args):
    device, module, args = dot_args
    with pytest.raises(ValueError, match="'dot_warp<half>' is not a name expression"):
        device.launch(module, "dot_warp<half>", 1, 32, args)


@pytest.mark.parametrize(
    "grid, block, shared_mem, error, message",
    [
        (1, 1025, 0, ValueError, "dimension x is 1025"),
        (1, (32, 33), 0, ValueError, "1056 threads; at most 1024"),
        (1, (1, 1, 65), 0, ValueError, "dimension z is 65"),
        (0, 32, 0, ValueError, r"grid dimension x is 0"),
        ((1, 65536), 32, 0, ValueError, "grid dimension y is 65536"),
        (1, 32, MAX_SHARED_MEMORY + 1, ValueError, "shared_mem is 49153 bytes"),
        (1, (1, 2, 3, 4), 0, TypeError, "up to 3 ints"),
        (1, 32, 1.5, TypeError, "shared_mem must be an int"),
    ],
)
def test_launch_limits(dot_args, grid, block, shared_mem, error, message):
    device, module, args = dot_args
    with pytest.raises(error, match=message):
        device.launch(module, "dot_warp<float>", grid, block, args, shared_mem=shared_mem)


def test_check_launch_pads_dimensions():
    assert check_launch(5, (32, 2)) == ((5, 1, 1), (32, 2, 1))
    assert check_launch((2**31 - 1, 65535, 65535), (1024, 1, 1), MAX_SHARED_MEMORY)[0][0] == 2**31 - 1


# -- kernel mistakes -----------------------------------------------------------------------------


BARRIER_IN_BRANCH = (
    r", thread \(16, 0, 0\): thread exits while thread \(0, 0, 0\) has reached the __syncthreads at broken.cu:9"
)
TWO_BARRIERS = (
    r", thread \(1, 0, 0\): __syncthreads at broken.cu:19 while thread \(0, 0, 0\) waits at the "
    r"__syncthreads at broken.cu:17 \(divergent barrier\)"
)
EXIT_BEFORE_BARRIER = (
    r", thread \(1, 0, 0\): __syncthreads at broken.cu:27 is never reached by thread \(0, 0, 0\), which has exited"
)
SHUFFLE_EXITED_LANE = (
    r", thread \(16, 0, 0\): lane 16 exits while lane 0 waits for it in __shfl_xor_sync at broken.cu:34"
)
SHUFFLE_OUTSIDE_MASK = (
    r", thread \(0, 0, 0\): __shfl_sync at broken.cu:39 reads lane 20, which is not in its mask 0x0000ffff"
)
MASK_WITHOUT_CALLER = (
    r", thread \(20, 0, 0\): __shfl_sync at broken.cu:44 with mask 0x0000ffff, "
    r"which does not name the calling lane 20"
)
MISMATCHED = (
    r", thread \(31, 0, 0\): __ballot_sync at broken.cu:52 with mask 0xffffffff "
    r"meets lane 0 in __shfl_xor_sync at broken.cu:50"
)
DEADLOCK = (
    r": deadlock: no thread can continue; "
    r"16 thread\(s\) wait in __shfl_xor_sync at broken.cu:58 \(the first is thread \(0, 0, 0\)\); "
    r"16 thread\(s\) wait at __syncthreads at broken.cu:60 \(the first is thread \(16, 0, 0\)\);"
)


@pytest.mark.parametrize(
    "kernel, error, message",
    [
        ("barrier_in_branch", DivergentBarrierError, BARRIER_IN_BRANCH),
        ("two_barriers", DivergentBarrierError, TWO_BARRIERS),
        ("exit_before_barrier", DivergentBarrierError, EXIT_BEFORE_BARRIER),
        ("shuffle_exited_lane", WarpCollectiveError, SHUFFLE_EXITED_LANE),
        ("shuffle_outside_mask", WarpCollectiveError, SHUFFLE_OUTSIDE_MASK),
        ("mask_without_caller", WarpCollectiveError, MASK_WITHOUT_CALLER),
        ("mismatched_collectives", WarpCollectiveError, MISMATCHED),
        ("shuffle_against_barrier", DeadlockError, DEADLOCK),
    ],
)
def test_kernel_mistakes_raise_naming_kernel_block_and_thread(kernel, error, message):
    device = emulated_device()
    with pytest.raises(error, match=rf"kernel '{kernel}', block \(0, 0, 0\)" + message) as info:
        run(device, "broken.cu", kernel, 1, 32, (device.zeros(32, np.int32),))
    assert isinstance(info.value, EmulatedKernelError)


def test_failed_device_assert_names_the_thread_and_the_expression():
    device = emulated_device()
    values = device.upload(np.arange(64, dtype=np.int32))
    out = device.zeros(64, np.int32)
    run(device, "broken.cu", "checked_index", 2, 32, (values, np.int32(64), out))  # no thread has index 64
    np.testing.assert_array_equal(out.host, np.arange(64))
    expected = (
        "kernel 'checked_index', block (1, 0, 0), thread (5, 0, 0): "
        "device assert `i != n` failed at broken.cu:67 in void checked_index(const int*, int, int*)"
    )
    with pytest.raises(DeviceAssertionError, match=re.escape(expected)):
        run(device, "broken.cu", "checked_index", 2, 32, (values, np.int32(37), out))


def test_device_is_usable_after_a_kernel_error():
    device = emulated_device()
    with pytest.raises(DeadlockError):
        run(device, "broken.cu", "shuffle_against_barrier", 1, 32, (device.zeros(32, np.int32),))
    test_warp_collectives(device)


# -- sources --------------------------------------------------------------------------------


def test_kernel_source_inlines_package_headers_with_line_directives():
    source = kernel_source("portability.cuh", {"ANSWER": 42, "SCALE": 0.5, "NAME": "float"})
    lines = source.splitlines()
    assert lines[:3] == ["#define ANSWER 42", "#define SCALE 0.5", "#define NAME float"]
    assert lines[3] == '#line 1 "portability.cuh"'
    assert "warp_sum" in source and "#pragma once" not in source


def test_test_kernels_inline_the_package_header():
    source = MODULES["toys.cu"].source()
    assert '#line 1 "portability.cuh"' in source
    assert re.search(r'#line 5 "toys.cu"', source)  # after the include on line 4


def test_kernel_source_errors():
    with pytest.raises(FileNotFoundError, match="missing.cu"):
        kernel_source("missing.cu")
    with pytest.raises(ValueError, match="not a valid macro name"):
        kernel_source("portability.cuh", {"BAD NAME": 1})
    with pytest.raises(TypeError, match="not an int, float or one-line string"):
        kernel_source("portability.cuh", {"X": [1]})


def test_enum_defines():
    expected = {"SOLVER_SGD": 0, "SOLVER_FA_SGD": 1, "SOLVER_CF_SGD": 2, "SOLVER_ADAGRAD": 3}
    assert enum_defines(Solver, "SOLVER_") == expected


def test_a_cpp_exception_in_emulated_code_is_reported(tmp_path):
    # Not CUDA (device code cannot throw), but emulated code can: a helper of
    # the emulation or an out-of-memory in host-side C++ must not unwind
    # across fibers.
    code = '__global__ void throws(int* out) { if (threadIdx.x == 3) throw std::runtime_error("boom"); out[0] = 1; }'
    device = EmulatedDevice(cache_dir=tmp_path)
    module = device.load_module("#include <stdexcept>\n" + code, ["throws"])
    with pytest.raises(EmulatedKernelError, match=r"kernel 'throws', block \(0, 0, 0\), thread \(3, 0, 0\): .*boom"):
        device.launch(module, "throws", 1, 8, (device.zeros(1, np.int32),))
