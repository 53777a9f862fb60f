"""Shared helpers for the dataset loaders: cache folder, downloads, pandas."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .._typing import PathLike

__all__ = ["get_data_home", "clear_data_home"]

_CHUNK = 1 << 20


def get_data_home(data_home: PathLike | None = None) -> Path:
    """Return the folder where recfreq caches downloaded data sets.

    The folder is, in order of precedence: ``data_home`` if given, the
    ``RECFREQ_DATA`` environment variable if set, else ``~/recfreq_data``.
    A leading ``~`` is expanded. The folder is created if it does not exist.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use instead of the default.

    Returns
    -------
    data_home : pathlib.Path
        The cache folder.

    Examples
    --------
    >>> from recfreq.datasets import get_data_home
    >>> get_data_home("/tmp/recfreq_cache")  # doctest: +SKIP
    PosixPath('/tmp/recfreq_cache')
    """
    if data_home is None:
        data_home = os.environ.get("RECFREQ_DATA", os.path.join("~", "recfreq_data"))
    path = Path(os.fspath(data_home)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear_data_home(data_home: PathLike | None = None) -> None:
    """Delete the cache folder and everything in it.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to delete; by default the one :func:`get_data_home`
        returns.

    Examples
    --------
    >>> from recfreq.datasets import clear_data_home
    >>> clear_data_home("/tmp/recfreq_cache")  # doctest: +SKIP
    """
    shutil.rmtree(get_data_home(data_home))


def _import_pandas(what="as_frame=True"):
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{what} requires pandas, which is an optional dependency of recfreq. "
            "Install it with `pip install pandas`."
        ) from exc
    return pd


def _file_digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _progress_bar(total, desc):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: download silently without it
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                leave=False)


def _download(url, target, checksum=None, timeout=60):
    """Download ``url`` to ``target``, verifying ``checksum`` first.

    The bytes go to a temporary file in the target's folder, which is renamed
    onto ``target`` only when the download is complete and the checksum
    matches. A rename within one folder is atomic, so an interrupted process,
    a truncated transfer or a corrupt file never leaves a half file under the
    final name that a later call would trust.

    Parameters
    ----------
    url : str
    target : pathlib.Path
    checksum : tuple of (str, str) or None
        ``(algorithm, hexdigest)``, e.g. ``("sha256", "ab12...")``. ``None``
        skips the check.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part",
                                    dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except urllib.error.URLError as exc:
                raise OSError(f"could not download {url}: {exc}") from exc
            with response:
                length = response.headers.get("Content-Length")
                expected_size = int(length) if length is not None else None
                bar = _progress_bar(expected_size, target.name)
                received = 0
                try:
                    while True:
                        try:
                            chunk = response.read(_CHUNK)
                        except (OSError, http.client.HTTPException) as exc:
                            raise OSError(
                                f"download of {url} was interrupted after {received} bytes: "
                                f"{exc!r}"
                            ) from exc
                        if not chunk:
                            break
                        out.write(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
                if expected_size is not None and received != expected_size:
                    raise OSError(
                        f"download of {url} was interrupted: got {received} of "
                        f"{expected_size} bytes. Run the call again to retry."
                    )
        if checksum is not None:
            algorithm, expected = checksum
            got = _file_digest(tmp, algorithm)
            if got != expected.lower():
                raise OSError(
                    f"{algorithm.upper()} checksum mismatch for {url}: expected {expected}, "
                    f"got {got}. The file was removed; the download was corrupt or the "
                    "server's file changed. Run the call again to retry."
                )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
