"""The documentation tells the truth: its examples run, show what they print, and cover the code.

* Every Python block of the Markdown pages in ``docs/`` runs as written (the blocks of a page
  build on each other, like a tutorial), and every output a block shows in a ``# -> expected``
  comment is compared with what that statement prints.
* Every public name of the package is in the API reference (``docs/api.rst``).
* Every module of ``recfreq/`` is in the module map of ``docs/architecture.md``.
"""

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLE = re.compile(r"```python\n(.*?)```", flags=re.S)
PAGES = [p for p in sorted(DOCS.glob("*.md")) if EXAMPLE.search(p.read_text())] if DOCS.exists() else []
# "# -> expected" or "# -> expected ±tolerance" at the end of a line
SHOWN = re.compile(r"#\s*->\s*(?P<expected>.*?)(?:\s+±\s*(?P<tol>[0-9.eE+-]+))?\s*$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# a trailing comment after print(...) that looks like an output but is not checked
UNCHECKED_OUTPUT = re.compile(r"print\(.*\)\s*#\s*(?!->)[\[\(\d'\"-]")

needs_docs = pytest.mark.skipif(not DOCS.exists(), reason="not running from a source checkout")


# ---------------------------------------------------------------- shown outputs
def _tokens(text):
    """Split text into ('num', float, decimals) and ('text', str) tokens, whitespace-insensitive."""
    tokens, pos = [], 0
    for match in NUMBER.finditer(text):
        if match.start() > pos:
            tokens.append(("text", "".join(text[pos:match.start()].split())))
        literal = match.group()
        decimals = len(literal.split(".")[1].split("e")[0].split("E")[0]) if "." in literal else 0
        tokens.append(("num", float(literal), decimals))
        pos = match.end()
    if pos < len(text):
        tokens.append(("text", "".join(text[pos:].split())))
    return [t for t in tokens if t != ("text", "")]


def outputs_match(actual, expected, tol=None):
    """True if ``actual`` reads as ``expected``: the same text, and numbers equal to the digits shown.

    Without ``tol`` a number matches when it rounds to the shown one (half a unit of the last
    shown digit, plus a little for binary floats); with ``tol`` it must lie within ``tol``.
    """
    got, want = _tokens(actual), _tokens(expected)
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g[0] != w[0]:
            return False
        if w[0] == "text":
            if g[1] != w[1]:
                return False
            continue
        allowed = tol if tol is not None else 0.5 * 10.0 ** -w[2] * (1 + 1e-9) + 1e-12 * abs(w[1])
        if abs(g[1] - w[1]) > allowed:
            return False
    return True


def run_block(source, filename, namespace, first_line=1):
    """Run a block statement by statement; check each ``# -> expected`` against the statement's output.

    Returns the number of checked outputs.
    """
    lines = source.splitlines()
    checked = 0
    for node in ast.parse(source, filename).body:
        shown = SHOWN.search(lines[node.end_lineno - 1])
        module = ast.Module(body=[node], type_ignores=[])
        code = compile(module, filename, "exec")
        if shown is None:
            exec(code, namespace)
            continue
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(code, namespace)
        printed = buffer.getvalue().strip()
        expected = shown.group("expected").strip()
        tol = float(shown.group("tol")) if shown.group("tol") else None
        assert outputs_match(printed, expected, tol), (
            f"{filename}, line {first_line + node.end_lineno - 1}: the page shows {expected!r}"
            f"{f' ±{tol}' if tol is not None else ''} but the code prints {printed!r}")
        checked += 1
    return checked


@needs_docs
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run_and_show_what_they_print(page, tmp_path, monkeypatch):
    text = page.read_text()
    monkeypatch.chdir(tmp_path)  # examples must not write into the source tree
    monkeypatch.setenv("RECFREQ_DATA", str(tmp_path / "recfreq_data"))
    namespace = {}
    for match in EXAMPLE.finditer(text):
        first_line = text.count("\n", 0, match.start(1)) + 1
        run_block(match.group(1), str(page), namespace, first_line)


@needs_docs
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_shown_output_is_checked(page):
    """An output written as a plain comment (``print(x)  # 0.5``) would never be checked."""
    for block in EXAMPLE.findall(page.read_text()):
        for line in block.splitlines():
            assert not UNCHECKED_OUTPUT.search(line), (
                f"{page.name}: {line.strip()!r} shows an output without '# ->', so it is not checked")


def test_output_comparison_can_fail():
    """The checker itself: text must agree exactly, numbers to the digits shown or the tolerance."""
    assert outputs_match("(3, 5) (2, 3)", "(3, 5) (2, 3)")
    assert outputs_match("0.6666666666666666", "0.6666666666666666")
    assert outputs_match("0.93052", "0.9305")
    assert outputs_match("0.9391", "0.9305", tol=0.01)
    assert outputs_match("[1, 2]", "[1,  2]")
    assert not outputs_match("0.9312", "0.9305")
    assert not outputs_match("0.95", "0.9305", tol=0.01)
    assert not outputs_match("(3, 6)", "(3, 5)")
    assert not outputs_match("['a', 'b']", "['a', 'c']")
    assert not outputs_match("1 2 3", "1 2")
    assert not outputs_match("True", "False")


def test_a_wrong_shown_output_fails_the_page():
    with pytest.raises(AssertionError, match="shows '3'"):
        run_block("x = 1\nprint(x + 1)  # -> 3\n", "page.md", {})
    assert run_block("x = 1\nprint(x + 1)  # -> 2\nprint(x)\n", "page.md", {}) == 1


# ---------------------------------------------------------------- API reference and module map
def _public_names():
    import recfreq
    import recfreq.dask
    import recfreq.datasets
    import recfreq.exceptions
    import recfreq.metrics
    import recfreq.model_selection

    for module in (recfreq, recfreq.dask, recfreq.datasets, recfreq.exceptions, recfreq.metrics,
                   recfreq.model_selection):
        for name in module.__all__:
            yield module.__name__, name


def _documented_names(api_text):
    """(module, name) of every entry of an autosummary table or py:data directive in api.rst."""
    documented, module, in_autosummary = set(), None, False
    for line in api_text.splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            module = stripped.split("::", 1)[1].strip()
        elif stripped.startswith(".. py:data::"):
            documented.add((module, stripped.split("::", 1)[1].strip()))
        elif stripped.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line and not line[0].isspace():
            in_autosummary = False
        elif in_autosummary and stripped and not stripped.startswith(":"):
            documented.add((module, stripped.lstrip("~")))
    return documented


@needs_docs
def test_every_public_name_is_in_the_api_reference():
    documented = _documented_names((DOCS / "api.rst").read_text())
    missing = sorted(f"{m}.{n}" for m, n in _public_names() if (m, n) not in documented)
    assert not missing, f"docs/api.rst does not list: {missing}"


def test_the_api_reference_parser_sees_a_missing_name():
    api = ".. currentmodule:: recfreq\n\n.. autosummary::\n   :toctree: generated/\n\n   NeuralCF\n\nText\n"
    assert _documented_names(api) == {("recfreq", "NeuralCF")}


def _package_modules():
    """Every source file of the package (Python, Cython, headers), relative to recfreq/."""
    package = ROOT / "recfreq"
    for path in sorted(package.rglob("*")):
        if path.suffix in {".py", ".pyx", ".pxd", ".cu", ".cuh"} and "__pycache__" not in path.parts:
            yield path.relative_to(package)


def _mapped_paths(module_map):
    """Paths of the tree drawn in the module map: indentation nests names under "folder/" lines."""
    block = re.search(r"```\n(.*?)```", module_map, flags=re.S).group(1)
    paths, folders = set(), []  # folders: (indentation, "name/") from the root down
    for line in block.splitlines():
        if not line.strip():
            continue
        indent, name = len(line) - len(line.lstrip()), line.split()[0].rstrip(",")
        while folders and folders[-1][0] >= indent:
            folders.pop()
        if name.endswith("/"):
            folders.append((indent, name))
        else:
            paths.add("".join(f for _, f in folders) + name)
    return paths


@needs_docs
def test_every_module_is_in_the_architecture_module_map():
    text = (DOCS / "architecture.md").read_text()
    listed = _mapped_paths(re.search(r"## Module map\n(.*?)\n## ", text, flags=re.S).group(1))
    missing = [f"recfreq/{p}" for p in _package_modules() if f"recfreq/{p.as_posix()}" not in listed]
    assert not missing, f"docs/architecture.md's module map does not list: {missing}"


def test_the_module_map_parser_nests_by_indentation():
    tree = "```\nsetup.py   build\nrecfreq/\n  base.py    x\n  _ext/\n    _mf.pyx  y\n  mf.py\ntests/\n```\n"
    assert _mapped_paths(tree) == {"setup.py", "recfreq/base.py", "recfreq/_ext/_mf.pyx", "recfreq/mf.py"}


@needs_docs
@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_readme_and_landing_page_list_every_estimator(page):
    import recfreq

    text = (ROOT / page).read_text()
    estimators = [name for name in recfreq.__all__ if name[0].isupper()]
    missing = [name for name in estimators if not re.search(rf"`{name}`|~recfreq\.{name}`", text)]
    assert not missing, f"{page} does not list {missing}"
