#!/usr/bin/env bash
# Install the ranking benchmark's peers (implicit, LightFM) into benchmarks/.env.
#
# implicit has manylinux wheels. LightFM 1.17 (the last release) ships only an sdist whose
# setup.py sets `__builtins__.__LIGHTFM_SETUP__`, which fails under setuptools' build backend
# (__builtins__ is a dict there): patch that line and build without isolation. LightFM's own
# build flags are kept (it compiles with -ffast-math -march=native and OpenMP), as its users
# get it. Versions measured in benchmarks/README.md: implicit 0.7.3, LightFM 1.17.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pip="$here/.env/bin/pip"
"$pip" install "implicit==0.7.3"
"$pip" install "cython<3.1" setuptools wheel
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$pip" download "lightfm==1.17" --no-deps --no-binary :all: --no-build-isolation -d "$tmp" \
    || curl -sSL -o "$tmp/lightfm-1.17.tar.gz" \
        "https://files.pythonhosted.org/packages/1f/96/5ec230f5c27811534af0faaa8525f11c1000ee1c24c8a82c0546d0724aea/lightfm-1.17.tar.gz"
echo "2b77ada182ccd768a8d7643ab3cfcd8b6e855db09087f7cc7329bd63316697a8  $tmp/lightfm-1.17.tar.gz" | sha256sum -c -
tar xzf "$tmp/lightfm-1.17.tar.gz" -C "$tmp"
sed -i 's/^__builtins__.__LIGHTFM_SETUP__ = True/import builtins; builtins.__LIGHTFM_SETUP__ = True/' \
    "$tmp/lightfm-1.17/setup.py"
(cd "$tmp/lightfm-1.17" && "$pip" install --no-build-isolation .)
(cd "$tmp" && "$here/.env/bin/python" -c "import implicit, lightfm; print('implicit', implicit.__version__, 'lightfm', lightfm.__version__)")
