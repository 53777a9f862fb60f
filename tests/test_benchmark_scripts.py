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


def test_gpu_models_benchmark_runs_in_smoke_mode_on_the_emulated_device():
    emulated_device()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu_models.py"), "--smoke", "--backend",
                             "emulated", "--cpu"], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for row in ("fm k=4 ids + side", "neumf k=8 64-32-16-8", "gmf k=8", "OverparamMF k=8 inner 64, 3 layers",
                "MatrixFactorization k=8 mixed"):
        assert row in result.stdout
    assert "samples/s" in result.stdout and "CPU (" in result.stdout


def test_neumf_against_pytorch_benchmark_runs_in_smoke_mode_on_the_emulated_device():
    """recfreq's side runs on the emulated device; PyTorch's runs where PyTorch is installed (on the
    CPU in smoke mode) and is reported as missing elsewhere."""
    emulated_device()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_ncf_torch_gpu.py"), "--smoke",
                             "--backend", "emulated"], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "recfreq NeuMF: best HR@10" in result.stdout
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "PyTorch is not installed here" in result.stdout
    else:
        assert "torch adam epoch 1" in result.stdout and "torch adagrad epoch 1" in result.stdout
