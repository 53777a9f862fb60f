"""Tests for recfreq.datasets. None of them reaches the internet."""

import gzip
import hashlib
import http.server
import io
import re
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recfreq.datasets import (
    clear_data_home,
    fetch_movielens,
    get_data_home,
    load_movielens,
    make_synthetic_ratings,
)
from recfreq.datasets import _movielens

U_DATA_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
U_USER_SHA256 = "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"
SHARED_ML1M = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-1m"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------- load_movielens


@pytest.fixture(scope="module")
def ml100k():
    return load_movielens()


def test_load_movielens_reproduces_u_data_byte_for_byte(ml100k):
    # Proves the bundle is lossless and in the original row order.
    text = "".join(
        f"{u}\t{i}\t{r}\t{t}\n"
        for (u, i), r, t in zip(ml100k.data.tolist(), ml100k.target.astype(int).tolist(),
                                ml100k.timestamps.tolist())
    )
    assert sha256(text.encode("ascii")) == U_DATA_SHA256


def test_load_movielens_reproduces_u_user_byte_for_byte(ml100k):
    u = ml100k.users
    text = "".join(
        f"{a}|{b}|{c}|{d}|{e}\n"
        for a, b, c, d, e in zip(u.user_id.tolist(), u.age.tolist(), u.gender.tolist(),
                                 u.occupation.tolist(), u.zip_code.tolist())
    )
    assert sha256(text.encode("ascii")) == U_USER_SHA256


def test_load_movielens_counts_and_dtypes(ml100k):
    assert ml100k.data.shape == (100_000, 2) and ml100k.data.dtype == np.int64
    assert ml100k.target.dtype == np.float64 and ml100k.timestamps.dtype == np.int64
    assert len(np.unique(ml100k.data[:, 0])) == 943
    assert len(np.unique(ml100k.data[:, 1])) == 1682
    stars, counts = np.unique(ml100k.target, return_counts=True)
    assert dict(zip(stars.tolist(), counts.tolist())) == {
        1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    assert ml100k.target.mean() == pytest.approx(3.52986, abs=1e-5)
    assert ml100k.timestamps.min() == 874724710 and ml100k.timestamps.max() == 893286638
    assert ml100k.feature_names == ["user_id", "item_id"]


def test_load_movielens_side_information(ml100k):
    m = ml100k.movies
    assert len(m.item_id) == 1682 and np.array_equal(m.item_id, np.arange(1, 1683))
    assert m.title[0] == "Toy Story" and m.year[0] == 1995
    assert m.genres[0] == "Animation|Children's|Comedy"
    assert m.year[266] == 0  # item 267 has no date in u.item
    assert m.year[1411] == 1995  # recbole wrote "V"; recovered from the title
    assert set(ml100k.users.gender.tolist()) == {"M", "F"}
    assert ml100k.users.zip_code[7] == "05201"  # leading zero kept


def test_load_movielens_descr_has_citation_and_terms(ml100k):
    assert "10.1145/2827872" in ml100k.DESCR
    assert "Harper" in ml100k.DESCR and "Konstan" in ml100k.DESCR
    assert "endorsement" in ml100k.DESCR and "research" in ml100k.DESCR


def test_load_movielens_return_X_y(ml100k):
    X, y = load_movielens(return_X_y=True)
    np.testing.assert_array_equal(X, ml100k.data)
    np.testing.assert_array_equal(y, ml100k.target)


def test_load_movielens_as_frame(ml100k):
    pd = pytest.importorskip("pandas")
    b = load_movielens(as_frame=True)
    assert isinstance(b.data, pd.DataFrame) and list(b.data.columns) == ["user_id", "item_id"]
    assert isinstance(b.target, pd.Series) and b.target.name == "rating"
    assert list(b.frame.columns) == ["user_id", "item_id", "rating", "timestamp"]
    np.testing.assert_array_equal(b.frame["timestamp"].to_numpy(), ml100k.timestamps)
    assert b.movies["year"].isna().sum() == 1
    assert list(b.users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    X, y = load_movielens(as_frame=True, return_X_y=True)
    assert X.shape == (100_000, 2) and y.shape == (100_000,)


def test_as_frame_without_pandas_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match="pip install pandas"):
        load_movielens(as_frame=True)
    X, y = load_movielens(return_X_y=True)  # NumPy output needs no pandas
    assert X.shape == (100_000, 2)


def test_load_movielens_rejects_other_variants():
    with pytest.raises(ValueError, match="fetch_movielens"):
        load_movielens("1m")


# ------------------------------------------------------------ fixtures: fake GroupLens

ML1M_RATINGS = (b"1::1193::5::978300760\n1::661::3::978302109\n"
                b"2::3::4::978298413\n3::1193::1::978297000\n")
ML1M_USERS = b"1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117-1234\n"
# ml-1m's movies.dat is ISO-8859-1: 0xE9 is "e" with an acute accent.
ML1M_MOVIES = ("1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
               "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
               "3::Caf\u00e9 au lait (M\u00e9tisse) (1993)::Comedy\n").encode("latin-1")
ML10M_RATINGS = b"1::122::5::838985046\n1::185::4.5::838983525\n7::122::0.5::1049764700\n"
ML10M_MOVIES = (b"122::Boomerang (1992)::Comedy|Romance\n"
                b"185::Net, The (1995)::Action|Crime|Thriller\n")
CSV_RATINGS = (b"userId,movieId,rating,timestamp\n"
               b"1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,1445714835\n")
CSV_MOVIES = ('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
              '3,"American President, The (1995)",Comedy|Drama|Romance\n'
              '5,Stranger Things (2016\u20132017),(no genres listed)\n'
              '7,Nothing Dated,Drama\n').encode("utf-8")


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


ML1M_ZIP = make_zip({"ml-1m/ratings.dat": ML1M_RATINGS, "ml-1m/users.dat": ML1M_USERS,
                     "ml-1m/movies.dat": ML1M_MOVIES, "ml-1m/README": b"readme"})
ML10M_ZIP = make_zip({"ml-10M100K/ratings.dat": ML10M_RATINGS,
                      "ml-10M100K/movies.dat": ML10M_MOVIES})
SMALL_ZIP = make_zip({"ml-latest-small/ratings.csv": CSV_RATINGS,
                      "ml-latest-small/movies.csv": CSV_MOVIES})


class _Server:
    """Serves ``routes[path] = (body, mode)``; mode "ok" or "truncate"."""

    def __init__(self):
        self.routes, self.requests = {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, mode = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncate":
                    # Promise the whole body, send half, hang up.
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/movielens"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def serve(self, name, body, mode="ok"):
        self.routes["/movielens/" + name] = (body, mode)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch, tmp_path):
    s = _Server()
    monkeypatch.setenv("RECFREQ_MOVIELENS_URL", s.url)
    monkeypatch.setenv("RECFREQ_DATA", str(tmp_path / "cache"))
    for variant, body in [("1m", ML1M_ZIP), ("10m", ML10M_ZIP), ("latest-small", SMALL_ZIP)]:
        monkeypatch.setitem(_movielens.MOVIELENS_CHECKSUMS, variant, ("sha256", sha256(body)))
    yield s
    s.close()


def cache_files(tmp_path):
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# ---------------------------------------------------------------- fetch_movielens


def test_fetch_downloads_once_then_uses_cache(server, tmp_path):
    server.serve("ml-1m.zip", ML1M_ZIP)
    b = fetch_movielens("1m")
    np.testing.assert_array_equal(b.data, [[1, 1193], [1, 661], [2, 3], [3, 1193]])
    np.testing.assert_array_equal(b.target, [5.0, 3.0, 4.0, 1.0])
    np.testing.assert_array_equal(b.timestamps, [978300760, 978302109, 978298413, 978297000])
    assert b.movies.title[2] == "Caf\u00e9 au lait (M\u00e9tisse) (1993)"
    np.testing.assert_array_equal(b.movies.year, [1975, 1996, 1993])
    assert b.movies.genres[1] == "Animation|Children's|Musical"
    assert b.users.occupation.tolist() == ["K-12 student", "self-employed", "scientist"]
    assert b.users.age.tolist() == [1, 56, 25]
    assert b.users.zip_code[2] == "55117-1234"
    assert "10.1145/2827872" in b.DESCR
    assert server.requests == ["/movielens/ml-1m.zip"]
    assert cache_files(tmp_path) == ["ml-1m.zip"]

    again = fetch_movielens("1m")
    np.testing.assert_array_equal(again.data, b.data)
    assert len(server.requests) == 1  # served from the cache


def test_fetch_csv_variant_parses_quotes_and_years(server):
    server.serve("ml-latest-small.zip", SMALL_ZIP)
    b = fetch_movielens("latest-small", base_url=server.url)
    np.testing.assert_array_equal(b.data, [[1, 1], [1, 3], [2, 1]])
    np.testing.assert_array_equal(b.target, [4.0, 4.5, 0.5])
    assert b.users is None
    assert b.movies.title[1] == "American President, The (1995)"
    np.testing.assert_array_equal(b.movies.year, [1995, 1995, 2016, 0])
    assert b.movies.genres[2] == "(no genres listed)"


def test_fetch_10m_layout_has_no_users(server):
    server.serve("ml-10m.zip", ML10M_ZIP)
    b = fetch_movielens("10m")
    np.testing.assert_array_equal(b.target, [5.0, 4.5, 0.5])
    np.testing.assert_array_equal(b.data[:, 1], [122, 185, 122])
    assert b.users is None and b.movies.title[1] == "Net, The (1995)"


def test_fetch_as_frame_and_return_X_y(server):
    pd = pytest.importorskip("pandas")
    server.serve("ml-1m.zip", ML1M_ZIP)
    X, y = fetch_movielens("1m", return_X_y=True)
    assert X.shape == (4, 2) and y.tolist() == [5.0, 3.0, 4.0, 1.0]
    b = fetch_movielens("1m", as_frame=True)
    assert isinstance(b.frame, pd.DataFrame) and len(b.frame) == 4
    assert isinstance(b.movies, pd.DataFrame) and isinstance(b.users, pd.DataFrame)


@pytest.mark.parametrize("fault", ["corrupt body", "wrong checksum"])
def test_fetch_checksum_mismatch_leaves_nothing(server, tmp_path, monkeypatch, fault):
    if fault == "corrupt body":
        body = bytearray(ML1M_ZIP)
        body[len(body) // 2] ^= 0xFF
        server.serve("ml-1m.zip", bytes(body))
        expected = sha256(ML1M_ZIP)
    else:
        server.serve("ml-1m.zip", ML1M_ZIP)
        expected = "0" * 64
        monkeypatch.setitem(_movielens.MOVIELENS_CHECKSUMS, "1m", ("sha256", expected))
    with pytest.raises(OSError, match="checksum mismatch") as info:
        fetch_movielens("1m")
    message = str(info.value)
    assert f"expected {expected}" in message
    served = server.routes["/movielens/ml-1m.zip"][0]
    assert f"got {sha256(served)}" in message
    assert cache_files(tmp_path) == []


def test_fetch_interrupted_download_leaves_nothing(server, tmp_path):
    server.serve("ml-1m.zip", ML1M_ZIP, mode="truncate")
    with pytest.raises(OSError, match="interrupted"):
        fetch_movielens("1m")
    assert cache_files(tmp_path) == []
    # A retry against a healthy server then succeeds.
    server.serve("ml-1m.zip", ML1M_ZIP)
    assert fetch_movielens("1m").data.shape == (4, 2)


def test_fetch_http_error_is_oserror(server, tmp_path):
    with pytest.raises(OSError, match="could not download"):
        fetch_movielens("1m")  # nothing served: 404
    assert cache_files(tmp_path) == []


def test_fetch_missing_without_download(server, tmp_path):
    with pytest.raises(FileNotFoundError, match="download_if_missing"):
        fetch_movielens("1m", data_home=tmp_path / "empty", download_if_missing=False)
    assert server.requests == []


def test_fetch_unverifiable_variant_warns_with_its_sha256(server, monkeypatch):
    monkeypatch.setitem(_movielens.MOVIELENS_CHECKSUMS, "1m", None)
    server.serve("ml-1m.zip", ML1M_ZIP)
    with pytest.warns(UserWarning, match=sha256(ML1M_ZIP)):
        fetch_movielens("1m")


@pytest.mark.parametrize("layout", ["folder itself", "root with ml-1m/"])
def test_fetch_reads_local_gzip_folder(server, tmp_path, layout):
    folder = tmp_path / "local" / "ml-1m"
    folder.mkdir(parents=True)
    for name, data in [("ratings.dat", ML1M_RATINGS), ("users.dat", ML1M_USERS),
                       ("movies.dat", ML1M_MOVIES)]:
        (folder / (name + ".gz")).write_bytes(gzip.compress(data))
    home = folder if layout == "folder itself" else folder.parent
    b = fetch_movielens("1m", data_home=home, download_if_missing=False)
    assert b.data.shape == (4, 2) and b.users.user_id.tolist() == [1, 2, 3]
    assert b.movies.title[2].startswith("Caf\u00e9")
    assert server.requests == []


def test_fetch_works_without_pandas(tmp_path, monkeypatch):
    (tmp_path / "ratings.dat").write_bytes(ML1M_RATINGS)
    (tmp_path / "movies.dat").write_bytes(ML1M_MOVIES)
    monkeypatch.setitem(sys.modules, "pandas", None)
    b = fetch_movielens("1m", data_home=tmp_path, download_if_missing=False)
    np.testing.assert_array_equal(b.target, [5.0, 3.0, 4.0, 1.0])
    assert b.users is None  # no users.dat in this folder
    with pytest.raises(ImportError, match="pip install pandas"):
        fetch_movielens("1m", data_home=tmp_path, as_frame=True)


def test_fetch_reads_plain_extracted_csv_folder(tmp_path):
    (tmp_path / "ratings.csv").write_bytes(CSV_RATINGS)
    (tmp_path / "movies.csv").write_bytes(CSV_MOVIES)
    b = fetch_movielens("25m", data_home=tmp_path, download_if_missing=False)
    np.testing.assert_array_equal(b.target, [4.0, 4.5, 0.5])


def test_fetch_unknown_variant_lists_valid_ones():
    with pytest.raises(ValueError, match="'1m', '10m', '20m', '25m', '32m', 'latest-small'"):
        fetch_movielens("2m")


@pytest.mark.parametrize("fmt,raw", [("dat", ML10M_RATINGS), ("csv", CSV_RATINGS)])
def test_numpy_and_pandas_parsers_agree(fmt, raw):
    pytest.importorskip("pandas")
    a = _movielens._parse_ratings(lambda: io.BytesIO(raw), fmt, "ratings", engine="pandas")
    b = _movielens._parse_ratings(lambda: io.BytesIO(raw), fmt, "ratings", engine="numpy")
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(not SHARED_ML1M.is_dir(), reason="shared ml-1m copy not present")
def test_fetch_real_ml1m_folder():
    b = fetch_movielens("1m", data_home=SHARED_ML1M, download_if_missing=False)
    assert b.data.shape == (1_000_209, 2)
    assert len(np.unique(b.data[:, 0])) == 6040
    assert len(np.unique(b.data[:, 1])) == 3706
    assert b.target.mean() == pytest.approx(3.5816, abs=5e-5)
    assert len(b.users.user_id) == 6040 and len(b.movies.item_id) == 3883
    assert np.isin(np.unique(b.data[:, 1]), b.movies.item_id).all()
    assert b.timestamps.min() == 956703932 and b.timestamps.max() == 1046454590


# ------------------------------------------------------------------- data home


def test_get_and_clear_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RECFREQ_DATA", str(tmp_path / "env_home"))
    assert get_data_home() == tmp_path / "env_home" and (tmp_path / "env_home").is_dir()
    explicit = get_data_home(tmp_path / "explicit")
    (explicit / "f").write_text("x")
    clear_data_home(explicit)
    assert not explicit.exists()


# ------------------------------------------------------------- synthetic ratings


def test_synthetic_shapes_uniqueness_and_range():
    X, y = make_synthetic_ratings(n_users=200, n_items=100, n_ratings=5000, random_state=0)
    assert X.shape == (5000, 2) and X.dtype == np.int64 and y.shape == (5000,)
    assert len(np.unique(X[:, 0] * 100 + X[:, 1])) == 5000
    assert X[:, 0].min() >= 0 and X[:, 0].max() < 200
    assert X[:, 1].min() >= 0 and X[:, 1].max() < 100
    assert y.min() >= 1 and y.max() <= 5


@pytest.mark.parametrize("n_users,n_items", [(50, 40), (5000, 4000)])  # both samplers
def test_synthetic_is_seeded(n_users, n_items):
    kw = dict(n_users=n_users, n_items=n_items, n_ratings=1500)
    X1, y1 = make_synthetic_ratings(random_state=3, **kw)
    X2, y2 = make_synthetic_ratings(random_state=3, **kw)
    X3, _ = make_synthetic_ratings(random_state=4, **kw)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert len(np.unique(X1[:, 0] * n_items + X1[:, 1])) == 1500


def test_synthetic_follows_planted_model_without_noise():
    X, y, t = make_synthetic_ratings(n_users=100, n_items=80, n_ratings=2000, noise=0.0,
                                     return_truth=True, random_state=1)
    u, i = X[:, 0], X[:, 1]
    expected = (t.global_mean + t.user_bias[u] + t.item_bias[i]
                + np.sum(t.user_factors[u] * t.item_factors[i], axis=1))
    np.testing.assert_allclose(t.y_true, expected, rtol=1e-12)
    np.testing.assert_allclose(y, np.clip(expected, 1, 5), rtol=1e-12)
    assert np.mean((y > 1) & (y < 5)) > 0.8  # mostly inside the range, not all clipped
    assert t.user_factors.shape == (100, 8) and t.item_factors.shape == (80, 8)


def test_synthetic_skew_concentrates_ratings():
    def top_share(skew):
        X, _ = make_synthetic_ratings(n_users=1000, n_items=500, n_ratings=20_000,
                                      user_skew=skew, item_skew=skew, random_state=0)
        counts = np.sort(np.bincount(X[:, 0], minlength=1000))[::-1]
        return counts[:100].sum() / counts.sum()

    uniform, skewed = top_share(0.0), top_share(1.0)
    assert uniform < 0.15 and skewed > 0.4


def test_synthetic_noise_controls_residual():
    # No biases or factors and a wide range: y - y_true is the noise, unclipped.
    X, y, t = make_synthetic_ratings(n_ratings=20_000, noise=0.7, rating_range=(-100, 100),
                                     bias_scale=0.0, factor_scale=0.0, return_truth=True,
                                     random_state=0)
    assert np.std(y - t.y_true) == pytest.approx(0.7, rel=0.05)


def test_synthetic_integer_and_full_matrix():
    X, y = make_synthetic_ratings(n_users=20, n_items=10, n_ratings=200, integer=True,
                                  shuffle=False, random_state=0)
    assert set(np.unique(y)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # Every cell taken, sorted by user then item when shuffle=False.
    expected = np.array([(u, i) for u in range(20) for i in range(10)])
    np.testing.assert_array_equal(X, expected)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_users=-1), ValueError, "n_users must be >= 1"),
    (dict(n_ratings=-5), ValueError, "n_ratings must be >= 0"),
    (dict(n_users=10, n_items=10, n_ratings=101), ValueError, "exceeds n_users"),
    (dict(n_items=2.5), TypeError, "n_items must be an int"),
    (dict(noise=-0.1), ValueError, "noise"),
    (dict(user_skew=float("nan")), ValueError, "user_skew"),
    (dict(rating_range=(5, 1)), ValueError, "low < high"),
    (dict(rating_range="1-5"), TypeError, "rating_range"),
])
def test_synthetic_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_synthetic_ratings(**kwargs)


# ------------------------------------------------- fetch_movielens: bad and corrupt files


def _local(tmp_path, files):
    """An extracted-files folder holding ``files`` (name -> bytes)."""
    folder = tmp_path / "local"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(params=["pandas", "numpy"])
def engine(request, monkeypatch):
    """Run a test with each ratings parser (NumPy's when pandas is absent)."""
    if request.param == "pandas":
        pytest.importorskip("pandas")
    else:
        monkeypatch.setitem(sys.modules, "pandas", None)
    return request.param


BAD_RATING_LINES = [
    # (third line of the file, what the message must say)
    (b"1,3,,964981247", "the rating is empty"),
    (b"1,3,nan,964981247", "the rating is NaN"),
    (b"1,3,NaN,964981247", "the rating is NaN"),
    (b"1,3,four,964981247", "the rating 'four' is not a number"),
    (b"1,3,7.0,964981247", "the rating 7.0 is not 0.5 to 5 stars"),
    (b"1,3,-1,964981247", "the rating -1 is not 0.5 to 5 stars"),
    (b"1,3,4.2,964981247", "the rating 4.2 is not 0.5 to 5 stars in half stars"),
    (b"1,x,4.0,964981247", "the movie id 'x' is not an integer"),
    (b"1,3.5,4.0,964981247", "the movie id '3.5' is not an integer"),
    (b"-1,3,4.0,964981247", "the user id -1 is not a positive integer"),
    (b"1,3,4.0,-5", "the timestamp -5 is negative"),
    (b"1,3,4.0,", "the timestamp '' is not an integer"),
    (b"1,3,4.0", "expected 4 fields .* found 3"),
    (b"1,3,4.0,964981247,7", "expected 4 fields .* found 5"),
    (b"\xff\xfe\x00garbage", "it is not plain ASCII text"),
]


@pytest.mark.parametrize("line, problem", BAD_RATING_LINES)
def test_fetch_refuses_a_bad_csv_rating_naming_file_and_line(tmp_path, engine, line, problem):
    ratings = b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n" + line + b"\n2,1,0.5,1\n"
    home = _local(tmp_path, {"ratings.csv": ratings, "movies.csv": CSV_MOVIES})
    path = re.escape(str(home / "ratings.csv"))
    with pytest.raises(ValueError, match=f"^{path}, line 3: {problem}"):
        fetch_movielens("25m", data_home=home, download_if_missing=False)


@pytest.mark.parametrize("line, problem", [
    (b"1::3::::978300760", "the rating is empty"),
    (b"1::3::nan::978300760", "the rating is NaN"),
    (b"1::3::5", "expected 4 fields .* found 3"),
    (b"1::3::5::978300760::1", "expected 4 fields .* found 5"),
    (b"1::3:5::978300760", "expected 4 fields .* found 3"),
    (b"0::3::5::978300760", "the user id 0 is not a positive integer"),
    (b"1::3::5::later", "the timestamp 'later' is not an integer"),
])
def test_fetch_refuses_a_bad_dat_rating_naming_file_and_line(tmp_path, engine, line, problem):
    ratings = ML1M_RATINGS + line + b"\n"
    home = _local(tmp_path, {"ratings.dat": ratings, "movies.dat": ML1M_MOVIES})
    path = re.escape(str(home / "ratings.dat"))
    with pytest.raises(ValueError, match=f"^{path}, line 5: {problem}"):
        fetch_movielens("1m", data_home=home, download_if_missing=False)


def test_fetch_bad_line_inside_the_zip_names_archive_and_member(server, monkeypatch):
    body = make_zip({"ml-1m/ratings.dat": ML1M_RATINGS + b"4::5::::1\n",
                     "ml-1m/movies.dat": ML1M_MOVIES})
    server.serve("ml-1m.zip", body)
    monkeypatch.setitem(_movielens.MOVIELENS_CHECKSUMS, "1m", ("sha256", sha256(body)))
    with pytest.raises(ValueError, match=r"ml-1m\.zip \(member ml-1m/ratings\.dat\), "
                                         r"line 5: the rating is empty"):
        fetch_movielens("1m")


def test_fetch_headerless_csv_keeps_its_first_rating(tmp_path, engine):
    # The first line used to be skipped unread: a file saved without the
    # header silently lost its first rating.
    headerless = CSV_RATINGS.split(b"\n", 1)[1]
    home = _local(tmp_path, {"ratings.csv": headerless, "movies.csv": CSV_MOVIES})
    b = fetch_movielens("25m", data_home=home, download_if_missing=False)
    np.testing.assert_array_equal(b.data, [[1, 1], [1, 3], [2, 1]])
    np.testing.assert_array_equal(b.target, [4.0, 4.5, 0.5])
    np.testing.assert_array_equal(b.timestamps, [964982703, 964981247, 1445714835])


def test_fetch_headerless_csv_with_a_bad_first_line_is_not_taken_for_a_header(tmp_path, engine):
    home = _local(tmp_path, {"ratings.csv": b"1,x,4.0,964982703\n1,3,4.5,964981247\n"})
    with pytest.raises(ValueError, match=r"ratings\.csv, line 1: the movie id 'x'"):
        fetch_movielens("25m", data_home=home, download_if_missing=False)


@pytest.mark.parametrize("content", [b"", b"userId,movieId,rating,timestamp\n", b"\n\n"])
def test_fetch_ratings_file_without_ratings(tmp_path, engine, content):
    home = _local(tmp_path, {"ratings.csv": content})
    with pytest.raises(ValueError, match=r"ratings\.csv holds no ratings"):
        fetch_movielens("25m", data_home=home, download_if_missing=False)


def test_fetch_headerless_movies_csv_keeps_its_first_movie(tmp_path):
    headerless = CSV_MOVIES.split(b"\n", 1)[1]
    home = _local(tmp_path, {"ratings.csv": CSV_RATINGS, "movies.csv": headerless})
    b = fetch_movielens("25m", data_home=home, download_if_missing=False)
    np.testing.assert_array_equal(b.movies.item_id, [1, 3, 5, 7])


@pytest.mark.parametrize("users_line, problem", [
    (b"4::M::25::-1::55455", r"-1 is not a valid occupation code \(0 to 20\)"),
    (b"4::M::25::21::55455", r"21 is not a valid occupation code"),
    (b"4::M::25::x::55455", r"the occupation code \(0 to 20\) 'x' is not an integer"),
    (b"4::M::-25::7::55455", r"-25 is not a valid age group code \(one of \[1, 18, 25"),
    (b"4::M::17::7::55455", r"17 is not a valid age group code"),
    (b"4::X::25::7::55455", r"'X' is not a valid gender code"),
    (b"-4::M::25::7::55455", r"-4 is not a valid user id"),
    (b"4::M::25::7", r"expected 5 fields, found 4"),
])
def test_fetch_refuses_bad_ml1m_users(tmp_path, users_line, problem):
    home = _local(tmp_path, {"ratings.dat": ML1M_RATINGS, "movies.dat": ML1M_MOVIES,
                             "users.dat": ML1M_USERS + users_line + b"\n"})
    path = re.escape(str(home / "users.dat"))
    with pytest.raises(ValueError, match=f"^{path}, line 4: {problem}"):
        fetch_movielens("1m", data_home=home, download_if_missing=False)


@pytest.mark.parametrize("fmt, movies, line, problem", [
    ("dat", ML1M_MOVIES + b"12::No genres field\n", 4, "expected 3 fields, found 2"),
    ("dat", ML1M_MOVIES + b"x12::Title (1990)::Drama\n", 4, "the movie id 'x12' is not an integer"),
    ("csv", CSV_MOVIES + b"9,Title (2000)\n", 6, "expected 3 fields, found 2"),
    ("csv", CSV_MOVIES + b"-9,Title (2000),Drama\n", 6, "-9 is not a valid movie id"),
])
def test_fetch_refuses_bad_movies(tmp_path, fmt, movies, line, problem):
    ratings = ML1M_RATINGS if fmt == "dat" else CSV_RATINGS
    home = _local(tmp_path, {f"ratings.{fmt}": ratings, f"movies.{fmt}": movies})
    path = re.escape(str(home / f"movies.{fmt}"))
    with pytest.raises(ValueError, match=f"^{path}, line {line}: {problem}"):
        fetch_movielens("1m" if fmt == "dat" else "25m", data_home=home,
                        download_if_missing=False)


GZ_RATINGS = gzip.compress(ML1M_RATINGS * 50)


@pytest.mark.parametrize("name, data", [
    ("ratings.dat.gz", GZ_RATINGS[: len(GZ_RATINGS) // 2]),  # truncated: EOFError inside
    ("ratings.dat.gz", b"this is not gzip data at all"),  # BadGzipFile inside
    ("ratings.dat.gz", GZ_RATINGS[:-8] + bytes(8)),  # CRC and size trailer zeroed
    ("movies.dat.gz", gzip.compress(ML1M_MOVIES)[:30]),
])
def test_fetch_corrupt_gzip_names_the_file(tmp_path, engine, name, data):
    files = {"ratings.dat.gz": GZ_RATINGS, "movies.dat.gz": gzip.compress(ML1M_MOVIES)}
    files[name] = data
    home = _local(tmp_path, files)
    path = re.escape(str(home / name))
    with pytest.raises(OSError, match=f"^{path} cannot be read: the file is corrupt or truncated"):
        fetch_movielens("1m", data_home=home, download_if_missing=False)


def _damaged_member_zip(compression):
    """ml-1m zip whose ratings member has one byte changed in its stored data."""
    ratings = ML1M_RATINGS * 50
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        zf.writestr("ml-1m/ratings.dat", ratings)
        zf.writestr("ml-1m/movies.dat", ML1M_MOVIES)
    body = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(body))) as zf:
        info = zf.getinfo("ml-1m/ratings.dat")
    # Local header: 30 bytes + name + extra, then the member's data.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    body[start + info.compress_size // 2] ^= 0x01  # "5" -> "4": still a valid line
    return bytes(body)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_fetch_corrupt_zip_member_names_archive_and_member(tmp_path, engine, compression):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-1m.zip").write_bytes(_damaged_member_zip(compression))
    with pytest.raises(OSError, match=r"ml-1m\.zip \(member ml-1m/ratings\.dat\) cannot be "
                                      r"read: the file is corrupt or truncated"):
        fetch_movielens("1m", data_home=cache, download_if_missing=False)


@pytest.mark.parametrize("body", [b"garbage, not a zip", ML1M_ZIP[: len(ML1M_ZIP) // 2]])
def test_fetch_garbage_or_truncated_cached_zip_names_it(tmp_path, body):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-1m.zip").write_bytes(body)
    path = re.escape(str(cache / "ml-1m.zip"))
    with pytest.raises(OSError, match=f"{path} is not a valid zip file"):
        fetch_movielens("1m", data_home=cache, download_if_missing=False)
