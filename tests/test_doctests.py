"""The ``Examples`` sections of the docstrings run as doctests, their shown outputs included."""

import doctest
import importlib
import pkgutil

import pytest

import recfreq

MODULES = sorted(m.name for m in pkgutil.walk_packages(recfreq.__path__, "recfreq.")
                 if not m.name.startswith("recfreq._ext"))  # compiled kernels have no examples


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example must not write into the source tree
    monkeypatch.setenv("RECFREQ_DATA", str(tmp_path / "recfreq_data"))
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):  # globals: a copy of the module's, as doctest.testmod
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_the_docstrings_have_examples():
    """Guard against the collection above silently finding nothing."""
    total = 0
    for name in MODULES:
        finder = doctest.DocTestFinder(exclude_empty=True)
        total += sum(len(t.examples) for t in finder.find(importlib.import_module(name), name))
    assert total >= 50
