"""MovieLens loaders: the bundled ml-100k and the downloadable GroupLens zips."""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import warnings
import zipfile
import zlib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.utils import Bunch

from .._typing import PathLike
from ._base import _download, _file_digest, _import_pandas

__all__ = ["load_movielens", "fetch_movielens"]

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"

# Checksums of the official GroupLens zips, as (algorithm, hexdigest). Tests and
# users with a mirror may replace entries (``MOVIELENS_CHECKSUMS["1m"] = ...``).
# Sources -- never computed here, every value is copied from a public record:
# * SHA-256 of 1m, 20m, 25m and latest-small: tensorflow/datasets,
#   tensorflow_datasets/url_checksums/movielens.txt (commit 1c076ac3c19c), which
#   also records the sizes 5,917,549 / 198,702,078 / 261,978,986 / 978,202 bytes.
# * 10m: no SHA-256 could be found. The MD5 is the one GroupLens publishes beside
#   the zip (ml-10m.zip.md5), as copied in eli-osherovich/papers_with_code,
#   datasets/movielens/dl_config.py; the same repository's MD5s for 1m, 20m and
#   25m agree with GroupLens's .md5 files quoted elsewhere.
# * 32m: no published checksum was found, so the download cannot be verified;
#   fetch_movielens warns and prints the SHA-256 it got so it can be pinned.
# ml-latest-small is a "latest" release that GroupLens may regenerate; if its
# checksum stops matching, the error says so and the entry can be updated.
MOVIELENS_CHECKSUMS = {
    "1m": ("sha256", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    "10m": ("md5", "ce571fd55effeba0271552578f2648bd"),
    "20m": ("sha256", "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),
    "25m": ("sha256", "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
    "32m": None,
    "latest-small": (
        "sha256",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    ),
}

# archive: file name on the server; folder: the top folder inside the zip.
_VARIANTS = {
    "1m": dict(archive="ml-1m.zip", folder="ml-1m", fmt="dat", ratings="ratings.dat",
               movies="movies.dat", users="users.dat", encoding="latin-1",
               name="MovieLens 1M", released="February 2003"),
    "10m": dict(archive="ml-10m.zip", folder="ml-10M100K", fmt="dat", ratings="ratings.dat",
                movies="movies.dat", users=None, encoding="utf-8",
                name="MovieLens 10M", released="January 2009"),
    "20m": dict(archive="ml-20m.zip", folder="ml-20m", fmt="csv", ratings="ratings.csv",
                movies="movies.csv", users=None, encoding="utf-8",
                name="MovieLens 20M", released="April 2015"),
    "25m": dict(archive="ml-25m.zip", folder="ml-25m", fmt="csv", ratings="ratings.csv",
                movies="movies.csv", users=None, encoding="utf-8",
                name="MovieLens 25M", released="November 2019"),
    "32m": dict(archive="ml-32m.zip", folder="ml-32m", fmt="csv", ratings="ratings.csv",
                movies="movies.csv", users=None, encoding="utf-8",
                name="MovieLens 32M", released="May 2024"),
    "latest-small": dict(archive="ml-latest-small.zip", folder="ml-latest-small", fmt="csv",
                         ratings="ratings.csv", movies="movies.csv", users=None,
                         encoding="utf-8", name="MovieLens Latest (small)",
                         released="September 2018"),
}

# ml-1m stores occupations as codes; its README gives the names. Names make the
# column comparable with ml-100k, whose u.user already holds names.
_ML1M_OCCUPATIONS = np.array([
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer",
    "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
])

_YEAR_RE = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$")

_CITATION = """\
F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History
and Context. ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4,
Article 19 (December 2015), 19 pages. DOI: 10.1145/2827872"""

_DESCR = """\
.. _movielens_dataset:

{name} (ml-{variant})
{underline}

GroupLens Research's MovieLens data ({released}): explicit star ratings that
users of the MovieLens web site (https://movielens.org) gave to movies.

**Data set characteristics:**

:Number of ratings: {n_ratings:,}
:Number of users: {n_users:,}
:Number of items (movies rated): {n_items:,}
:Rating values: {rating_values}
:Source: {source}

``data`` holds the original MovieLens user and movie ids (column 0: user id,
column 1: item id), ``target`` the rating and ``timestamps`` the rating time in
seconds since 1970-01-01 UTC, all in the row order of the original file.
``users`` (age, gender, occupation, zip code) is present for ml-100k and ml-1m
only; in ml-1m ``age`` is the lower bound of the age group (1 = under 18,
18 = 18-24, ..., 56 = 56+). ``movies`` holds title, year (0 = unknown) and genres
("|"-separated).

Terms of use (from the GroupLens README): the data may be used for research
purposes; users must acknowledge the use of the data set in publications by
citing the paper below; users may not state or imply any endorsement by the
University of Minnesota or the GroupLens Research Group; the data may not be
redistributed or used commercially without separate permission from GroupLens.
See https://grouplens.org/datasets/movielens/ for the full terms.

.. rubric:: References

{citation}
"""


def _descr(variant, source, user, item, rating):
    spec = _VARIANTS.get(variant, dict(name="MovieLens 100K", released="April 1998"))
    title = f"{spec['name']} (ml-{variant})"
    values = np.unique(rating)
    shown = ", ".join(f"{v:g}" for v in values) if len(values) <= 10 else "see target"
    return _DESCR.format(
        name=spec["name"], variant=variant, underline="=" * len(title),
        released=spec["released"], n_ratings=len(rating),
        n_users=len(np.unique(user)), n_items=len(np.unique(item)),
        rating_values=shown, source=source, citation=_CITATION,
    )


def _make_bunch(user, item, rating, timestamp, users, movies, descr, as_frame, return_X_y):
    """Assemble the loaders' common return value."""
    data = np.column_stack([np.asarray(user, dtype=np.int64),
                            np.asarray(item, dtype=np.int64)])
    target = np.asarray(rating, dtype=np.float64)
    timestamps = np.asarray(timestamp, dtype=np.int64)
    feature_names = ["user_id", "item_id"]
    frame = None
    if as_frame:
        pd = _import_pandas()
        frame = pd.DataFrame({"user_id": data[:, 0], "item_id": data[:, 1],
                              "rating": target, "timestamp": timestamps})
        data = frame[feature_names]
        target = frame["rating"]
        timestamps = frame["timestamp"]
        if users is not None:
            users = pd.DataFrame(dict(users))
        if movies is not None:
            movies = pd.DataFrame(dict(movies))
            # 0 marks an unknown year in the NumPy layout; pandas can say so.
            movies["year"] = movies["year"].astype("Int32").mask(movies["year"] == 0)
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, timestamps=timestamps, frame=frame,
                 users=users, movies=movies, feature_names=feature_names,
                 target_names=["rating"], DESCR=descr)


def load_movielens(
    variant: Literal["100k"] = "100k", *, as_frame: bool = False, return_X_y: bool = False,
) -> Bunch | tuple[Any, Any]:
    """Load the MovieLens 100K ratings bundled with recfreq.

    100,000 ratings (1-5 stars) from 943 users on 1,682 movies, with user
    demographics and movie titles, years and genres. The copy ships inside the
    package, so this needs no network and writes nothing.

    Parameters
    ----------
    variant : {"100k"}, default="100k"
        Only ml-100k is bundled; use :func:`fetch_movielens` for the others.
    as_frame : bool, default=False
        Return pandas objects (``data``/``users``/``movies`` as DataFrames,
        ``target`` and ``timestamps`` as Series, and ``frame`` with all rating
        columns). Requires pandas.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        Dictionary-like object with attributes:

        data : ndarray of shape (100000, 2), int64, or DataFrame
            User id and item id, the original MovieLens ids (1-based).
        target : ndarray of shape (100000,), float64, or Series
            The rating.
        timestamps : ndarray of shape (100000,), int64, or Series
            Seconds since 1970-01-01 UTC.
        frame : DataFrame or None
            ``user_id, item_id, rating, timestamp`` when ``as_frame=True``.
        users : Bunch or DataFrame
            ``user_id, age, gender, occupation, zip_code`` (943 rows, by id).
        movies : Bunch or DataFrame
            Item side information: ``item_id, title, year, genres``
            (1,682 rows, by id). (Not called ``items``: a Bunch is a dict,
            whose ``items`` method would hide it.) Titles are
            without the year; ``year`` is 0 (``<NA>`` in a frame) where
            unknown; genres are "|"-separated.
        feature_names : list of str
            ``["user_id", "item_id"]``.
        target_names : list of str
            ``["rating"]``.
        DESCR : str
            Description, citation and terms of use.

    (data, target) : tuple if ``return_X_y`` is True

    Notes
    -----
    The bundled file was built from the ``recbole==1.2.1`` wheel's copy of
    ml-100k by ``datasets/build_ml100k.py`` in the source repository, which
    checks that the ratings and users reproduce the original ``u.data`` and
    ``u.user`` files byte for byte. Rows are in ``u.data`` order.

    Use of the data is subject to GroupLens's terms (research use, cite the
    paper below, no endorsement); see ``DESCR``.

    References
    ----------
    .. [1] F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and
       Context", ACM Transactions on Interactive Intelligent Systems 5(4),
       2015. https://doi.org/10.1145/2827872

    Examples
    --------
    >>> from recfreq.datasets import load_movielens
    >>> ml = load_movielens()
    >>> ml.data.shape
    (100000, 2)
    >>> X, y = load_movielens(return_X_y=True)
    >>> float(y.mean().round(4))
    3.5299
    """
    if variant != "100k":
        raise ValueError(
            f"load_movielens bundles only variant='100k', got {variant!r}. "
            f"Use fetch_movielens(variant) to download one of {sorted(_VARIANTS)}."
        )
    raw = (resources.files("recfreq.datasets") / "data" / "ml-100k.npz").read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    users = Bunch(user_id=a["user_id"].astype(np.int64), age=a["user_age"].astype(np.int64),
                  gender=a["user_gender"], occupation=a["user_occupation"],
                  zip_code=a["user_zip_code"])
    movies = Bunch(item_id=a["item_id"].astype(np.int64), title=a["item_title"],
                  year=a["item_year"].astype(np.int64), genres=a["item_genres"])
    descr = _descr("100k", "bundled with recfreq (from the recbole 1.2.1 wheel)",
                   a["user"], a["item"], a["rating"])
    return _make_bunch(a["user"], a["item"], a["rating"], a["timestamp"], users, movies,
                       descr, as_frame, return_X_y)


# --------------------------------------------------------------------------- parsing

# Errors that mean the container is damaged, not the text in it: a bad CRC in
# a zip member, a garbled or truncated deflate stream, a file that is not gzip.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile)

_SEPARATOR = {"dat": "::", "csv": ","}

# ml-1m's README: ``age`` is the lower bound of one of these groups.
_ML1M_AGES = frozenset({1, 18, 25, 35, 45, 50, 56})


def _corrupt(label, exc):
    return OSError(
        f"{label} cannot be read: the file is corrupt or truncated ({type(exc).__name__}: "
        f"{exc}). Delete it (and any cached zip) and fetch the data again."
    )


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(fields):
    """A first line is a header when none of its fields is a number.

    GroupLens's CSVs start with a header (``userId,movieId,rating,timestamp``),
    but a file saved without one must not silently lose its first rating, and
    a damaged first data line (``1,x,4,5``) must be reported, not skipped.
    """
    return any(f.strip() for f in fields) and not any(_is_number(f) for f in fields)


def _rating_problem(fields):
    """Why one line of a ratings file is not a MovieLens rating, or None."""
    if len(fields) != 4:
        return (f"expected 4 fields (user id, movie id, rating, timestamp), "
                f"found {len(fields)}")
    user, item, rating, timestamp = (f.strip() for f in fields)
    for what, value in (("user id", user), ("movie id", item)):
        try:
            number = int(value)
        except ValueError:
            return f"the {what} {value!r} is not an integer"
        if number < 1:
            return f"the {what} {number} is not a positive integer"
    if not rating:
        return "the rating is empty"
    try:
        stars = float(rating)
    except ValueError:
        return f"the rating {rating!r} is not a number"
    if stars != stars:
        return "the rating is NaN"
    if not (0.5 <= stars <= 5 and stars * 2 == round(stars * 2)):
        return f"the rating {rating} is not 0.5 to 5 stars in half stars"
    try:
        seconds = int(timestamp)
    except ValueError:
        return f"the timestamp {timestamp!r} is not an integer"
    if seconds < 0:
        return f"the timestamp {seconds} is negative"
    return None


def _scan_ratings(opener, fmt, header):
    """Check a ratings file line by line, in Python.

    Only called when the fast parser failed or its output failed the checks:
    it finds the first offending line, which the C parsers do not report in a
    usable form. Returns ``(line_number, problem, text)``, or ``(None, None,
    n_ratings)`` when every line is valid.
    """
    sep, n_ratings = _SEPARATOR[fmt], 0
    with opener() as f:
        for number, raw in enumerate(f, start=1):
            if header and number == 1:
                continue
            try:
                text = raw.decode("ascii").rstrip("\r\n")
            except UnicodeDecodeError:
                return number, "it is not plain ASCII text (is the file damaged?)", raw[:60]
            if not text.strip():
                continue  # blank lines carry no rating; both C parsers skip them too
            problem = _rating_problem(text.split(sep))
            if problem is not None:
                # Read on to the end: a zip member or gzip stream checks its
                # CRC there, and damage to the container is the better report.
                while f.read(1 << 20):
                    pass
                return number, problem, text[:120]
            n_ratings += 1
    return None, None, n_ratings


class _SeparatorCounter(io.RawIOBase):
    """A read-only stream that counts one separator byte in what it passes on.

    Both C parsers select columns with ``usecols`` and silently ignore fields
    beyond them, so a line with a field too many would go unnoticed. Every
    valid line holds the same number of separators, so the total tells, at
    no extra pass over the file, whether some line has more fields.
    """

    def __init__(self, raw, sep):
        self.raw, self.sep, self.count = raw, sep, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        self.count += data.count(self.sep)
        buffer[: len(data)] = data
        return len(data)


def _read_columns(f, fmt, skip, engine):
    """The fast path: the four columns as parsed by pandas' or NumPy's C parser.

    Returns the columns and the number of separator characters in the file.
    """
    # The "::" of .dat files is a multi-character separator, which only the
    # slow Python engines accept; splitting on ":" and keeping every other
    # field is exact because all four fields are numbers.
    sep, cols = (":", (0, 2, 4, 6)) if fmt == "dat" else (",", (0, 1, 2, 3))
    counter = _SeparatorCounter(f, sep.encode())
    f = io.BufferedReader(counter, buffer_size=1 << 20)
    return _parse_columns(f, sep, cols, skip, engine), counter.count


def _parse_columns(f, sep, cols, skip, engine):
    if engine == "pandas":
        pd = _import_pandas("reading ratings with engine='pandas'")
        dtypes = dict(zip(cols, (np.int64, np.int64, np.float64, np.int64)))
        df = pd.read_csv(f, sep=sep, header=None, skiprows=skip, usecols=list(cols),
                         engine="c", dtype=dtypes)
        return tuple(df[c].to_numpy() for c in cols)
    text = io.TextIOWrapper(f, encoding="ascii")
    with warnings.catch_warnings():
        # An empty file is reported below, by name, instead of this warning.
        warnings.filterwarnings("ignore", message=".*input contained no data")
        arr = np.loadtxt(text, delimiter=sep, skiprows=skip, usecols=cols, dtype=np.float64,
                         ndmin=2)
    return tuple(arr.T)


def _all_valid(user, item, rating, ts):
    """The checks of `_rating_problem`, vectorised over the parsed columns."""
    with np.errstate(invalid="ignore"):
        ok = (user >= 1) & (item >= 1) & (ts >= 0)
        ok &= (rating >= 0.5) & (rating <= 5) & (rating * 2 == np.round(rating * 2))
        if user.dtype.kind == "f":  # the NumPy engine reads every column as float
            ok &= (user == np.floor(user)) & (item == np.floor(item)) & (ts == np.floor(ts))
    return bool(ok.all())


def _parse_ratings(opener, fmt, label, engine=None):
    """Parse a ratings file into (user, item, rating, timestamp) arrays.

    Parameters
    ----------
    opener : callable
        Returns a new binary file object positioned at the start of the file
        (the file is opened twice: once to look at its first line, and again
        to find the offending line if parsing fails).
    fmt : {"dat", "csv"}
        ``u::i::r::t`` without header, or comma-separated with an optional
        header line.
    label : str
        How to name the file in error messages.
    engine : {"pandas", "numpy"}, default=None
        pandas when installed. Both are C parsers: ml-32m has 32 million lines.

    Raises
    ------
    ValueError
        Naming the file and line: a missing, empty, NaN or out-of-range
        rating, a non-integer or non-positive id, a negative timestamp, a
        line with the wrong number of fields, or no rating at all.
    OSError
        The zip member or gzip stream is corrupt or truncated.
    """
    if engine is None:
        try:
            import pandas  # noqa: F401
            engine = "pandas"
        except ImportError:
            engine = "numpy"
    if engine not in ("pandas", "numpy"):
        raise ValueError(f"engine must be 'pandas' or 'numpy', got {engine!r}")
    try:
        header, first = False, ""
        if fmt == "csv":
            with opener() as f:
                first = f.readline().decode("utf-8", "replace")
            header = _is_header(first.strip().split(","))
            if not header:
                first = ""  # its separators are counted with the data
        failure = None
        try:
            with opener() as f:
                columns, n_separators = _read_columns(f, fmt, int(header), engine)
        except ValueError as exc:  # pandas' ParserError and EmptyDataError included
            columns, failure = None, exc
        else:
            # 3 separators a line (6 ":" in "u::i::r::t"), and the header's.
            expected = columns[0].shape[0] * (6 if fmt == "dat" else 3) + first.count(",")
            if n_separators != expected:
                columns = None  # some line has a field too many: find it below
        if columns is not None and columns[0].shape[0] and _all_valid(*columns):
            user, item, rating, ts = columns
            return (np.asarray(user, dtype=np.int64), np.asarray(item, dtype=np.int64),
                    np.asarray(rating, dtype=np.float64), np.asarray(ts, dtype=np.int64))
        number, problem, text = _scan_ratings(opener, fmt, header)
    except _CORRUPT as exc:
        raise _corrupt(label, exc) from exc
    if number is not None:
        raise ValueError(f"{label}, line {number}: {problem}: {text!r}")
    if text == 0:
        raise ValueError(f"{label} holds no ratings.")
    # Every line passes the line check, yet the C parser refused the file.
    raise ValueError(f"could not parse the ratings in {label}: {failure}") from failure


def _decode(raw, encoding):
    if encoding == "latin-1":
        return raw.decode("latin-1")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        # Older releases are not consistently UTF-8; Latin-1 never fails and
        # is what GroupLens used before the CSV releases.
        return raw.decode("latin-1")


def _numbered_rows(raw, fmt, encoding, label, n_fields):
    """``(line_number, fields)`` of a small side file, header and blank lines dropped."""
    text = _decode(raw, encoding)
    if fmt == "dat":
        rows = [(n, line.split("::", n_fields - 1))
                for n, line in enumerate(text.splitlines(), start=1) if line]
    else:
        reader = csv.reader(io.StringIO(text))
        try:
            rows = [(reader.line_num, r) for r in reader if r]
        except csv.Error as exc:
            raise ValueError(f"{label}, line {reader.line_num}: {exc}") from None
        if rows and _is_header(rows[0][1]):
            rows = rows[1:]
    for number, fields in rows:
        if len(fields) != n_fields:
            raise ValueError(f"{label}, line {number}: expected {n_fields} fields, "
                             f"found {len(fields)}: {_SEPARATOR[fmt].join(fields)[:120]!r}")
    return rows


def _int_field(value, what, label, number, valid=None):
    try:
        result = int(value)
    except ValueError:
        raise ValueError(f"{label}, line {number}: the {what} {value!r} is not an "
                         "integer") from None
    if valid is not None and not valid(result):
        raise ValueError(f"{label}, line {number}: {result} is not a valid {what}")
    return result


def _parse_movies(raw, fmt, encoding, label):
    rows = _numbered_rows(raw, fmt, encoding, label, 3)
    item_id = np.array([_int_field(r[0], "movie id", label, n, lambda v: v >= 1)
                        for n, r in rows], dtype=np.int64)
    title = np.array([r[1] for _, r in rows], dtype=str)
    years = []
    for t in title.tolist():
        m = _YEAR_RE.search(t)
        years.append(int(m.group(1)) if m else 0)
    genres = np.array([r[2] for _, r in rows], dtype=str)
    return Bunch(item_id=item_id, title=title, year=np.array(years, dtype=np.int64),
                 genres=genres)


def _parse_users_ml1m(raw, label):
    rows = _numbered_rows(raw, "dat", "latin-1", label, 5)
    for number, r in rows:
        if r[1] not in ("M", "F"):
            raise ValueError(f"{label}, line {number}: {r[1]!r} is not a valid gender "
                             "code ('M' or 'F')")
    n_occupations = len(_ML1M_OCCUPATIONS)
    occupation = [_int_field(r[3], "occupation code (0 to 20)", label, n,
                             lambda v: 0 <= v < n_occupations) for n, r in rows]
    return Bunch(
        user_id=np.array([_int_field(r[0], "user id", label, n, lambda v: v >= 1)
                          for n, r in rows], dtype=np.int64),
        age=np.array([_int_field(r[2], f"age group code (one of {sorted(_ML1M_AGES)})", label,
                                 n, _ML1M_AGES.__contains__) for n, r in rows],
                     dtype=np.int64),
        gender=np.array([r[1] for _, r in rows], dtype=str),
        occupation=_ML1M_OCCUPATIONS[np.array(occupation, dtype=np.int64)],
        zip_code=np.array([r[4] for _, r in rows], dtype=str),
    )


# ---------------------------------------------------------------------- locating


class _Source:
    """Files of one variant, in an extracted folder or in the cached zip."""

    def __init__(self, folder=None, archive=None, prefix=""):
        self.folder, self.prefix = folder, prefix
        self.zip = zipfile.ZipFile(archive) if archive is not None else None
        self.where = str(folder if folder is not None else archive)

    def locate(self, name):
        """``(label, opener)`` for ``name``, or None if the variant lacks it.

        ``label`` names the file in messages; ``opener()`` returns a new
        binary file object each call.
        """
        if self.zip is not None:
            member = self.prefix + name
            if member not in self.zip.namelist():
                return None
            return f"{self.where} (member {member})", lambda: self.zip.open(member)
        path = self.folder / name
        if path.is_file():
            return str(path), lambda: open(path, "rb")
        gz = path.with_name(name + ".gz")
        if gz.is_file():
            return str(gz), lambda: gzip.open(gz, "rb")
        return None

    def read(self, name):
        """``(label, bytes)`` of ``name``, or ``(None, None)`` if the variant lacks it."""
        found = self.locate(name)
        if found is None:
            return None, None
        label, opener = found
        try:
            with opener() as f:
                return label, f.read()
        except _CORRUPT as exc:
            raise _corrupt(label, exc) from exc

    def close(self):
        if self.zip is not None:
            self.zip.close()


def _has(folder, name):
    return (folder / name).is_file() or (folder / (name + ".gz")).is_file()


def _check_variant(variant):
    if not isinstance(variant, str) or variant not in _VARIANTS:
        raise ValueError(
            f"unknown MovieLens variant {variant!r}; fetch_movielens accepts "
            f"{', '.join(repr(v) for v in _VARIANTS)} (and load_movielens '100k')."
        )
    return _VARIANTS[variant]


def fetch_movielens(variant: Literal["1m", "10m", "20m", "25m", "32m", "latest-small"],
                    data_home: PathLike | None = None, download_if_missing: bool = True,
                    as_frame: bool = False, return_X_y: bool = False, *,
                    base_url: str | None = None) -> Bunch | tuple[Any, Any]:
    """Load a MovieLens data set, downloading the official zip once if needed.

    The zip from GroupLens is stored in the cache folder
    (:func:`get_data_home`) after its checksum has been verified, and read
    from there by later calls. A folder that already holds the extracted
    files (plain or ``.gz``-compressed) is read directly. The first line of
    a CSV file is taken for a header only when none of its fields is a
    number, so a file saved without its header keeps its first row.

    Parameters
    ----------
    variant : {"1m", "10m", "20m", "25m", "32m", "latest-small"}
        Which release. ``"100k"`` is bundled: see :func:`load_movielens`.
    data_home : str or path-like, default=None
        Where to look for the data and where to cache the download. Either a
        folder holding the extracted files themselves (e.g. ``ratings.dat``
        or ``ratings.dat.gz``), a folder holding the zip's top folder (e.g.
        ``ml-1m/``; note ml-10m's is ``ml-10M100K/``), or the cache folder
        holding the zip (``ml-1m.zip``). Default: ``$RECFREQ_DATA``, else
        ``~/recfreq_data``.
    download_if_missing : bool, default=True
        If False, raise :class:`FileNotFoundError` instead of downloading.
    as_frame : bool, default=False
        Return pandas objects; see :func:`load_movielens`.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    base_url : str, default=None
        Folder URL the zip is downloaded from (the file name is appended).
        Defaults to ``$RECFREQ_MOVIELENS_URL``, else
        ``https://files.grouplens.org/datasets/movielens``. Use it for a
        mirror; the checksum must still match.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        The layout of :func:`load_movielens`: ``data`` (user id, movie id as
        in the files), ``target`` (stars; half stars from ml-10m on),
        ``timestamps``, ``frame``, ``users`` (ml-1m only, else None),
        ``movies`` (``item_id``, ``title`` as in the file, i.e. with the
        year, ``year`` parsed from the title, 0 if absent, ``genres``),
        ``feature_names``, ``target_names``, ``DESCR``. Rows keep the order
        of the ratings file.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        Unknown ``variant``, or a file whose content is not MovieLens data;
        the message names the file and the line: a missing, empty, NaN or
        out-of-range rating (MovieLens ratings are 0.5 to 5 stars in half
        stars), a non-integer or non-positive id, a negative timestamp, a
        line with too few or too many fields, an ml-1m user with an unknown
        gender, age group or occupation code, or a ratings file with no
        rating at all.
    FileNotFoundError
        The data is not in ``data_home`` and ``download_if_missing=False``.
    OSError
        The download failed, was interrupted, or its checksum did not match
        (nothing is left in the cache then); or a cached zip, one of its
        members, or a ``.gz`` file is corrupt or truncated (the message
        names it).

    Notes
    -----
    Checksums of the official zips live in
    ``recfreq.datasets._movielens.MOVIELENS_CHECKSUMS`` as
    ``(algorithm, hexdigest)`` (SHA-256, or the MD5 GroupLens publishes where no
    SHA-256 is on record: ml-10m). ml-32m has no published checksum: its
    download is accepted with a warning that shows its SHA-256. The zip is
    written to a temporary file beside its final name and renamed only once
    complete and verified.

    References
    ----------
    .. [1] F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and
       Context", ACM Transactions on Interactive Intelligent Systems 5(4),
       2015. https://doi.org/10.1145/2827872

    Examples
    --------
    >>> from recfreq.datasets import fetch_movielens
    >>> ml = fetch_movielens("1m")  # doctest: +SKIP
    >>> ml.data.shape  # doctest: +SKIP
    (1000209, 2)
    """
    spec = _check_variant(variant)
    if data_home is None:
        data_home = os.environ.get("RECFREQ_DATA", os.path.join("~", "recfreq_data"))
    home = Path(os.fspath(data_home)).expanduser()

    if _has(home, spec["ratings"]):
        source = _Source(folder=home)
    elif _has(home / spec["folder"], spec["ratings"]):
        source = _Source(folder=home / spec["folder"])
    else:
        archive = home / spec["archive"]
        if not archive.is_file():
            if not download_if_missing:
                raise FileNotFoundError(
                    f"MovieLens {variant} not found in {home}: looked for "
                    f"{spec['ratings']}[.gz] there and in {spec['folder']}/, and for "
                    f"{spec['archive']}. Pass download_if_missing=True to download it, "
                    "or data_home pointing at the extracted files."
                )
            if base_url is None:
                base_url = os.environ.get("RECFREQ_MOVIELENS_URL", DEFAULT_BASE_URL)
            checksum = MOVIELENS_CHECKSUMS.get(variant)
            _download(base_url.rstrip("/") + "/" + spec["archive"], archive, checksum)
            if checksum is None:
                warnings.warn(
                    f"no published checksum is known for {spec['archive']}, so the "
                    f"download could not be verified; its SHA-256 is "
                    f"{_file_digest(archive, 'sha256')}.",
                    UserWarning, stacklevel=2,
                )
        try:
            source = _Source(archive=archive, prefix=spec["folder"] + "/")
        except zipfile.BadZipFile as exc:
            raise OSError(f"{archive} is not a valid zip file; delete it and "
                          "call fetch_movielens again.") from exc

    try:
        found = source.locate(spec["ratings"])
        if found is None:
            raise FileNotFoundError(
                f"{source.where} has no {spec['folder']}/{spec['ratings']}; is it the "
                f"ml-{variant} archive?"
            )
        label, opener = found
        user, item, rating, ts = _parse_ratings(opener, spec["fmt"], label)
        label, raw_movies = source.read(spec["movies"])
        movies = (None if raw_movies is None
                  else _parse_movies(raw_movies, spec["fmt"], spec["encoding"], label))
        label, raw_users = source.read(spec["users"]) if spec["users"] else (None, None)
        users = None if raw_users is None else _parse_users_ml1m(raw_users, label)
    finally:
        source.close()

    descr = _descr(variant, f"{source.where}", user, item, rating)
    return _make_bunch(user, item, rating, ts, users, movies, descr, as_frame, return_X_y)
