#!/usr/bin/env bash
# Build the benchmark environment benchmarks/.env (git-ignored): a plain venv with the
# peers (scikit-surprise) and the plotting/IO packages. recfreq is NOT installed into it:
# the scripts import it from the source tree, so build the extensions in place first
# (python setup.py build_ext --inplace, in the dev environment) and run with
# PYTHONPATH=<repo root>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python3 -m venv "$here/.env"
"$here/.env/bin/pip" install --upgrade pip
"$here/.env/bin/pip" install -r "$here/requirements.txt"
"$here/.env/bin/python" -c "import surprise, numpy; print('surprise', surprise.__version__, 'numpy', numpy.__version__)"
