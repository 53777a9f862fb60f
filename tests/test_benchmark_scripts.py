"""The GPU benchmark stays runnable on machines without a GPU (its --smoke mode on the emulated device)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _devices import emulated_device

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_runs_in_smoke_mode_on_the_emulated_device():
    emulated_device()  # skips (or fails in CI) without g++
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--smoke", "--backend",
                             "emulated", "--cpu"], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "updates/s" in result.stdout and "CPU (" in result.stdout
