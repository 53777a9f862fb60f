#!/usr/bin/env python
"""Build ``recfreq/datasets/data/ml-100k.npz`` from the RecBole 1.2.1 wheel.

Usage::

    python datasets/build_ml100k.py [PATH/TO/recbole-1.2.1-py3-none-any.whl] [--out FILE]

Without a wheel path the script runs ``pip download --no-deps recbole==1.2.1``
into a temporary folder. The wheel holds
``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``; these are the
GroupLens MovieLens 100K files ``u.data`` and ``u.user`` with a header line
added (and tabs instead of ``|`` in ``ml-100k.user``), and a reduced ``u.item``
(title without year, release year, genre names).

The script rebuilds the ``u.data`` and ``u.user`` text, asserts that their
SHA-256 equal the values published for the original files, asserts the
published counts, packs the columns into NumPy arrays, checks that the arrays
reproduce both texts byte for byte, and writes a deterministic ``.npz`` (fixed
zip timestamps, so rebuilding gives the same bytes).
"""

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"

# SHA-256 of the original GroupLens files (see datasets/README.md).
U_DATA_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
U_USER_SHA256 = "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"

N_RATINGS, N_USERS, N_ITEMS = 100_000, 943, 1_682
STAR_COUNTS = {1: 6_110, 2: 11_370, 3: 27_145, 4: 34_174, 5: 21_201}

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "recfreq" / "datasets" / "data" / "ml-100k.npz"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def get_wheel(path):
    if path is not None:
        return Path(path)
    tmp = Path(tempfile.mkdtemp(prefix="recbole-"))
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(tmp),
         "recbole==1.2.1"],
        check=True,
    )
    return next(tmp.glob("recbole-1.2.1-*.whl"))


def strip_header(raw, expected_header):
    header, sep, body = raw.partition(b"\n")
    assert header == expected_header, f"unexpected header {header!r}"
    return body


def u_data_text(user, item, rating, timestamp):
    """The u.data text from arrays (the layout load_movielens' test also rebuilds)."""
    return "".join(
        f"{u}\t{i}\t{r}\t{t}\n"
        for u, i, r, t in zip(user.tolist(), item.tolist(), rating.tolist(), timestamp.tolist())
    ).encode("ascii")


def u_user_text(user_id, age, gender, occupation, zip_code):
    return "".join(
        f"{u}|{a}|{g}|{o}|{z}\n"
        for u, a, g, o, z in zip(user_id.tolist(), age.tolist(), gender.tolist(),
                                 occupation.tolist(), zip_code.tolist())
    ).encode("ascii")


def parse_items(raw):
    body = strip_header(
        raw, b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"
    ).decode("utf-8")
    item_id, title, year, genres = [], [], [], []
    for line in body.splitlines():
        iid, t, y, g = line.split("\t")
        # Two RecBole conversion quirks, fixed so the side information is
        # usable: item 267 (u.item title "unknown", no date) reads "unkonwn",
        # and item 1412, whose u.item title ends in "(1995) (V)", got the
        # year "V" and kept "(1995)" in the title.
        if t == "unkonwn":
            t = "unknown"
        if y.isdigit():
            year.append(int(y))
        else:
            m = re.search(r"\((\d{4})\)\s*$", t)
            year.append(int(m.group(1)) if m else 0)
        item_id.append(int(iid))
        title.append(t)
        # RecBole separates genres with spaces; MovieLens itself uses "|".
        genres.append("|".join(g.split(" ")))
    return (np.array(item_id, dtype=np.int16), np.array(title, dtype=str),
            np.array(year, dtype=np.int16), np.array(genres, dtype=str))


def write_npz(path, arrays):
    """Like ``np.savez_compressed`` but with fixed timestamps (reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1998, 4, 22, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", help="recbole-1.2.1 wheel (downloaded if omitted)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output .npz")
    args = parser.parse_args(argv)

    wheel = get_wheel(args.wheel)
    with zipfile.ZipFile(wheel) as whl:
        inter = whl.read(WHEEL_MEMBER.format("inter"))
        user = whl.read(WHEEL_MEMBER.format("user"))
        item = whl.read(WHEEL_MEMBER.format("item"))

    u_data = strip_header(inter, b"user_id:token\titem_id:token\trating:float\ttimestamp:float")
    u_user = strip_header(
        user, b"user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"
    ).replace(b"\t", b"|")
    assert sha256(u_data) == U_DATA_SHA256, f"u.data SHA-256 {sha256(u_data)}"
    assert sha256(u_user) == U_USER_SHA256, f"u.user SHA-256 {sha256(u_user)}"

    # u.data is all-integer text, so numpy's C reader is exact.
    cols = np.loadtxt(io.BytesIO(u_data), dtype=np.int64, delimiter="\t", ndmin=2)
    uid, iid, rating, ts = cols.T
    assert len(uid) == N_RATINGS
    assert len(np.unique(uid)) == N_USERS and uid.min() == 1 and uid.max() == N_USERS
    assert len(np.unique(iid)) == N_ITEMS and iid.min() == 1 and iid.max() == N_ITEMS
    assert len(np.unique(uid * 10_000 + iid)) == N_RATINGS, "duplicate (user, item) pairs"
    stars, counts = np.unique(rating, return_counts=True)
    assert dict(zip(stars.tolist(), counts.tolist())) == STAR_COUNTS
    assert ts.min() >= 0 and ts.max() < 2**32

    fields = [line.split("|") for line in u_user.decode("ascii").splitlines()]
    users = {
        "user_id": np.array([int(f[0]) for f in fields], dtype=np.int16),
        "user_age": np.array([int(f[1]) for f in fields], dtype=np.int16),
        "user_gender": np.array([f[2] for f in fields], dtype=str),
        "user_occupation": np.array([f[3] for f in fields], dtype=str),
        # Zip codes are strings: some start with 0, a few hold letters.
        "user_zip_code": np.array([f[4] for f in fields], dtype=str),
    }
    assert len(fields) == N_USERS
    assert np.array_equal(users["user_id"], np.arange(1, N_USERS + 1))
    item_id, title, year, genres = parse_items(item)
    assert np.array_equal(item_id, np.arange(1, N_ITEMS + 1))

    arrays = {
        # Narrow dtypes keep the file small; the loader widens them.
        "user": uid.astype(np.int16),
        "item": iid.astype(np.int16),
        "rating": rating.astype(np.int8),
        "timestamp": ts.astype(np.uint32),
        **users,
        "item_id": item_id,
        "item_title": title,
        "item_year": year,
        "item_genres": genres,
    }
    # Lossless: the packed arrays give back both original texts exactly.
    assert u_data_text(arrays["user"], arrays["item"], arrays["rating"],
                       arrays["timestamp"]) == u_data
    assert u_user_text(users["user_id"], users["user_age"], users["user_gender"],
                       users["user_occupation"], users["user_zip_code"]) == u_user

    out = Path(args.out)
    write_npz(out, arrays)
    data = out.read_bytes()
    print(f"wrote {out} ({len(data):,} bytes, SHA-256 {sha256(data)})")


if __name__ == "__main__":
    main()
