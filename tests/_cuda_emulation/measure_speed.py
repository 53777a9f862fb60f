"""Speed of the emulated CUDA device (a measurement, not a test).

    python tests/_cuda_emulation/measure_speed.py [--samples 10000] [--k 64]

Runs the warp-per-sample dot product of tests/cuda_kernels/toys.cu
(8 blocks of 4 warps, a grid-stride loop over the samples) with the x86-64
context switch and with the ucontext fallback, and prints wall time, fiber
switches per second and samples per second (best of 5 runs each).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _cuda_compile import toy_kernel_modules  # noqa: E402
from _emulated_device import EmulatedDevice  # noqa: E402


def measure(device, n_samples, k, repeats=5):
    spec = next(m for m in toy_kernel_modules() if m.filename == "toys.cu")
    module = device.load_module(spec.source(), spec.name_expressions)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, k)).astype(np.float32)
    y = rng.standard_normal((n_samples, k)).astype(np.float32)
    rows = rng.integers(0, 1000, n_samples).astype(np.int32)
    out = device.zeros(n_samples, np.float32)
    args = (device.upload(x), device.upload(y), device.upload(rows), np.int32(n_samples), np.int32(k), out)
    best = None
    for _ in range(repeats):
        before = module.switch_count
        start = time.perf_counter()
        device.launch(module, "dot_warp<float>", 8, 128, args)
        elapsed = time.perf_counter() - start
        switches = module.switch_count - before
        if best is None or elapsed < best[0]:
            best = (elapsed, switches)
    np.testing.assert_allclose(out.host, np.einsum("ij,ij->i", x[rows], y), rtol=1e-4, atol=1e-4)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=64)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        for label, ucontext in (("x86-64 switch", False), ("ucontext", True)):
            device = EmulatedDevice(cache_dir=cache, use_ucontext=ucontext)
            elapsed, switches = measure(device, options.samples, options.k)
            print(
                f"{label:14s} {options.samples} samples, k={options.k}: {elapsed * 1e3:7.1f} ms, "
                f"{switches} switches, {switches / elapsed / 1e6:5.1f} M switches/s, "
                f"{options.samples / elapsed / 1e3:6.1f} k samples/s"
            )


if __name__ == "__main__":
    main()
