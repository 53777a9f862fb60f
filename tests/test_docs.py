"""Every Python example in docs/*.md runs as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLE = re.compile(r"```python\n(.*?)```", flags=re.S)
PAGES = [p for p in sorted(DOCS.glob("*.md")) if EXAMPLE.search(p.read_text())] if DOCS.exists() else []


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch):
    blocks = EXAMPLE.findall(page.read_text())
    monkeypatch.chdir(tmp_path)  # examples must not write into the source tree
    monkeypatch.setenv("RECFREQ_DATA", str(tmp_path / "recfreq_data"))
    namespace = {}
    for block in blocks:  # blocks of a page build on each other, like a tutorial
        exec(compile(block, str(page), "exec"), namespace)
