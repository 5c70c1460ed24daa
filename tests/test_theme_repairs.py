"""The book's accessibility repairs of other packages' markup stay necessary and in step.

Two theme components are replaced by templates of the book (``dlbook_tools/templates``); the
rest is repaired by ``repairMarkup`` in ``learner-layer.js`` because no configuration reaches
it. These tests fail when an upgrade changes what the repairs assume: a replaced component that
changed upstream (take over the change), or a repair whose cause is gone (remove the repair).
The browser tests check the result with axe-core.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = REPO / "code" / "tools" / "dlbook_tools" / "templates"
JS = REPO / "code" / "tools" / "dlbook_tools" / "static" / "learner-layer.js"


def package_file(package: str, *parts: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent.joinpath(*parts)


THEME_COMPONENTS = package_file("pydata_sphinx_theme", "theme", "pydata_sphinx_theme", "components")


def markup(text: str) -> str:
    """Template text without Jinja comments and with whitespace collapsed."""
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    return re.sub(r"\s+", " ", text).replace("> <", "><").strip()


@pytest.mark.parametrize(
    ("component", "theirs_to_ours"),
    [
        # The button's visible text "Search Ctrl+K" is its name: no aria-label; the icon is decoration.
        (
            "search-button-field.html",
            [
                (r" aria-label=\"\{\{ _\('Search'\) \}\}\"", ""),
                (r'(fa-magnifying-glass")>', r'\1 aria-hidden="true">'),
            ],
        ),
        # The icons are decoration: no titles that compete with the name "Color mode".
        ("theme-switcher.html", [(r' title="\{\{ _\(\'[^\']+\'\) \}\}"', ' aria-hidden="true"')]),
    ],
)
def test_replaced_theme_components_differ_from_the_theme_only_in_the_repair(component, theirs_to_ours):
    theirs = markup((THEME_COMPONENTS / component).read_text())
    for pattern, replacement in theirs_to_ours:
        theirs = re.sub(pattern, replacement, theirs)
    ours = markup((OURS / component).read_text())
    assert re.sub(r" +", " ", theirs) == re.sub(r" +", " ", ours), (
        f"pydata-sphinx-theme's {component} changed: carry the change into {OURS / component}"
    )


def test_myst_nb_still_labels_its_hidden_cell_toggles():
    source = package_file("myst_nb", "sphinx_.py").read_text()
    assert '<summary aria-label="Toggle hidden content">' in source, (
        "myst-nb no longer labels the toggles: remove that repair from learner-layer.js"
    )
    assert "details.hide > summary[aria-label]" in JS.read_text()


def test_the_theme_layout_still_gives_the_sidebar_no_landmark_role():
    layout = package_file("pydata_sphinx_theme", "theme", "pydata_sphinx_theme", "layout.html").read_text()
    sidebar = re.search(r'<div id="pst-primary-sidebar"[^>]*>', layout)
    assert sidebar and "role=" not in sidebar.group(0), (
        "the theme's sidebar has a role now: remove that repair from learner-layer.js"
    )
    assert ".bd-sidebar-primary" in JS.read_text()


def test_pandas_tables_still_leave_the_index_header_empty():
    html = pd.DataFrame({"a": [1]})._repr_html_()
    assert re.search(r"<thead>.*<th></th>", html, re.S), (
        "pandas names the index header now: remove that repair from learner-layer.js"
    )


def test_docutils_still_writes_bibliography_entries_as_doc_biblioentry():
    writer = package_file("docutils", "writers", "_html_base.py").read_text()
    assert 'role="doc-biblioentry"' in writer, (
        "docutils no longer writes doc-biblioentry: remove that repair from learner-layer.js"
    )


@pytest.mark.slow
def test_built_pages_use_the_replaced_components(built_book):
    html = built_book.html("book/episodes/2-keras")
    fields = re.findall(r"<button[^>]*search-button-field[^>]*>", html)
    assert fields and not any("aria-label" in b for b in fields)
    switch = re.search(r"<button[^>]*theme-switch-button.*?</button>", html, re.S).group(0)
    assert "title=" not in switch.split(">", 1)[1] and switch.count('aria-hidden="true"') == 3
