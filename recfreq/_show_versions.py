"""``recfreq.show_versions()``: what a bug report needs to know about this install."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import TextIO

__all__ = ["show_versions"]

_DEPENDENCIES = ["numpy", "scipy", "scikit-learn", "joblib", "tqdm", "pandas", "cupy"]


def _version(dist):
    for name in (dist, f"{dist}-cuda12x", f"{dist}-cuda13x", f"{dist}-cuda11x"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _build_info():
    from ._engine import build_info

    return build_info()


def _cuda_info():
    """Whether CuPy imports and a CUDA device is usable, without failing."""
    from ._backend import import_cupy

    try:
        cupy = import_cupy()
    except ImportError:
        return {"usable": False, "reason": "CuPy is not installed"}
    except RuntimeError as exc:
        return {"usable": False, "reason": str(exc)}
    try:
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return {"usable": True, "device": name, "compute capability": f"{props['major']}.{props['minor']}",
                "CUDA runtime": cupy.cuda.runtime.runtimeGetVersion()}
    except Exception as exc:  # pragma: no cover - depends on the driver
        return {"usable": False, "reason": str(exc)}


def show_versions(file: TextIO | None = None) -> None:
    """Print versions of recfreq and its dependencies, OpenMP, the CPU kernels' SIMD variant and CUDA status.

    Parameters
    ----------
    file : file-like, default=sys.stdout
        Where to print.
    """
    from . import __version__

    out = file or sys.stdout
    build = _build_info()
    cuda = _cuda_info()
    print("recfreq:", __version__, file=out)
    print("\nSystem:", file=out)
    print(f"    python: {sys.version.split()[0]} ({sys.executable})", file=out)
    print(f"   machine: {platform.platform()}", file=out)
    print("\nPython dependencies:", file=out)
    for dist in _DEPENDENCIES:
        print(f"{dist:>13}: {_version(dist) or 'not installed'}", file=out)
    print("\nBuild:", file=out)
    print(f"    OpenMP: {'enabled' if build['openmp'] else 'DISABLED (training is single-threaded)'}", file=out)
    print(f"   threads: {build['openmp threads']} (of {build['processors']} processors)", file=out)
    print(f"  CPU SIMD: {build['cpu variant']} (built: {', '.join(build['cpu variants built']) or 'none'}; "
          f"this CPU runs: {', '.join(build['cpu variants runnable'])}; RECFREQ_CPU_VARIANT forces one)", file=out)
    print("\nCUDA:", file=out)
    if cuda["usable"]:
        print(f"    device: {cuda['device']} (compute capability {cuda['compute capability']}, "
              f"CUDA runtime {cuda['CUDA runtime']})", file=out)
    else:
        print(f"    not usable: {cuda['reason']}", file=out)
