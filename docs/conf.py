"""Sphinx configuration of the recfreq documentation site.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` from the
repository root after ``pip install -e ".[docs]"``. The Markdown pages are
read by myst-parser, the API reference is generated from the numpydoc
docstrings by autosummary, and the examples gallery runs ``examples/*.py``
with sphinx-gallery at build time (its figures are never committed).
"""

import os
import sys
from pathlib import Path

import recfreq

DOCS = Path(__file__).resolve().parent
# The gallery scripts run in the build process: draw with the non-interactive
# backend, and keep any downloaded data out of the user's home directory.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RECFREQ_DATA", str(DOCS / "_build" / "recfreq_data"))

project = "recfreq"
author = "The recfreq developers"
copyright = "The recfreq developers"  # noqa: A001 (the name Sphinx reads)
release = recfreq.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json",
                    "sg_execution_times.rst"]

# Markdown: "page.md#heading" links resolve to the heading's anchor.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "dollarmath"]

# API reference: one page per public name, written at build time.
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
# numpydoc renders the "Parameters"/"Attributes" sections; the methods are
# listed by the autosummary class template, not by numpydoc a second time.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    # "Examples using X" on each API page
    "backreferences_dir": "generated",
    "doc_module": ("recfreq",),
}

html_theme = "pydata_sphinx_theme"
html_title = f"recfreq {release}"
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["custom.css"]
