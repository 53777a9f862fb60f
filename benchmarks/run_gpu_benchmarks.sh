#!/usr/bin/env bash
# Every GPU benchmark of benchmarks/README.md in one command, on a machine with an NVIDIA GPU,
# CuPy and PyTorch (CUDA builds), from the repository root:
#
#   RECFREQ_BENCH_ML1M=<folder with ratings.dat and ncf/> bash benchmarks/run_gpu_benchmarks.sh
#
# writes results/gpu_mf.json, results/gpu_models.json and results/ncf_torch_gpu.json (each script's
# own canonical file; their tables in benchmarks/README.md are filled from them). Extra arguments
# go to every script (--smoke --backend emulated checks the scripts without a GPU; the PyTorch
# comparison then needs PyTorch on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}."
python=${PYTHON:-python}
"$python" -c "import recfreq; recfreq.show_versions()"
"$python" benchmarks/bench_gpu.py --cpu "$@"
"$python" benchmarks/bench_gpu_models.py --cpu "$@"
"$python" benchmarks/bench_ncf_torch_gpu.py "$@"
