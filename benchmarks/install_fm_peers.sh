#!/usr/bin/env bash
# Install the FactorizationMachine benchmark's peers (myFM, fastFM) into benchmarks/.env.
#
# myFM has a manylinux wheel. fastFM 0.2.10 (the last release) ships only an sdist whose
# pre-generated fastFM/ffm.c includes longintrepr.h, a header Python 3.11 removed: delete
# the generated C file and let Cython < 3 regenerate it, building without isolation.
# Versions measured in benchmarks/README.md: myfm 0.4.0, fastFM 0.2.10 (Cython 0.29.x).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pip="$here/.env/bin/pip"
"$pip" install myfm
"$pip" install "cython<3" setuptools wheel
tmp="$(mktemp -d)"
"$pip" download fastFM==0.2.10 --no-deps --no-binary :all: --no-build-isolation -d "$tmp"
tar xzf "$tmp/fastFM-0.2.10.tar.gz" -C "$tmp"
rm -f "$tmp/fastFM-0.2.10/fastFM/ffm.c"
(cd "$tmp/fastFM-0.2.10" && "$pip" install --no-build-isolation .)
"$here/.env/bin/python" -c "import myfm, fastFM; print('myfm', myfm.__version__, 'fastFM ok')"
