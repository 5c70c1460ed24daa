"""Stable anchors: every section and exercise is labelled, and published anchors never vanish.

The manifest ``code/tools/dlbook_tools/anchors.json`` lists the published anchors page by page
(``python -m dlbook_tools.anchors --update`` adds new ones). An anchor may move or be renamed only
with a ``redirects`` entry ``"page#old": "page#new"``; the book's JavaScript follows it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dlbook_tools import anchors
from dlbook_tools.pages import Page

REPO = Path(__file__).resolve().parents[1]
EPISODES = sorted((REPO / "book" / "episodes").glob("*.md"))


def unlabelled_headings(path: Path) -> list[str]:
    """``##``/``###`` headings of a page without an explicit label right above them."""
    return [
        f"{path.name}: {'#' * h.level + ' ' + h.title!r}"
        for h in Page(path).headings
        if h.level in (2, 3) and h.label is None
    ]


def test_the_episodes_exist():
    assert EPISODES, "no episode in book/episodes/"


@pytest.mark.parametrize("path", EPISODES, ids=lambda p: p.stem)
def test_every_section_heading_has_an_explicit_label_above_it(path):
    assert unlabelled_headings(path) == []


@pytest.mark.parametrize("path", EPISODES, ids=lambda p: p.stem)
def test_every_exercise_has_a_label(path):
    blocks = Page(path).exercises
    missing = [opening for opening, label in blocks if not label]
    assert not missing, f"exercises without :label: in {path.name}: {missing}"
    slug_prefix = [label for _, label in blocks if label and not label.startswith("ex-")]
    assert not slug_prefix, f"exercise labels should start with ex-: {slug_prefix}"


def test_labels_are_unique_across_the_book():
    pages = sorted((REPO / "book").rglob("*.md"))
    counts = Counter(a for p in pages if "_build" not in p.parts for a in Page(p).anchors)
    assert [a for a, n in counts.items() if n > 1] == []


def test_the_label_scanner_sees_labels_headings_and_exercises(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "---\nkernelspec: {}\n---\n\n(top)=\n# Title\n\n(a-section)=\n## A section\n\n"
        "## Unlabelled\n\n```{code-cell} ipython3\n## a comment, not a heading\n(x)=\n```\n\n"
        "```{exercise} Try it\n:label: ex-try\n\nText.\n```\n\n"
        "````{exercise-start} Gated\n:label: ex-gated\n````\n"
    )
    assert Page(page).anchors == ["top", "a-section", "ex-try", "ex-gated"]
    assert unlabelled_headings(page) == ["page.md: '## Unlabelled'"]


def test_manifest_lists_every_anchor_of_the_sources():
    """New labels are registered in the manifest (run `python -m dlbook_tools.anchors --update`)."""
    manifest = anchors.load()
    current = anchors.source_anchors(REPO)
    unregistered = [
        f"{page}#{a}"
        for page, labels in current.items()
        for a in labels
        if a not in manifest["anchors"].get(page, [])
    ]
    assert not unregistered, (
        f"anchors missing from the manifest; run `python -m dlbook_tools.anchors --update`: {unregistered}"
    )


def test_manifest_redirects_point_at_published_anchors():
    manifest = anchors.load()
    for old, new in (manifest.get("redirects") or {}).items():
        assert "#" in old and "#" in new, f"redirect {old!r} -> {new!r}: use page#anchor on both"


def test_a_vanished_anchor_is_reported_unless_redirected(tmp_path):
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "book" / "page.html").write_text('<section id="new-name"></section>')
    manifest = {"anchors": {"book/page": ["new-name", "old-name"]}, "redirects": {}}
    assert len(anchors.missing_anchors(manifest, html)) == 1
    manifest["redirects"] = {"book/page#old-name": "book/page#new-name"}
    assert anchors.missing_anchors(manifest, html) == []
    manifest["redirects"] = {"book/page#old-name": "book/page#nowhere"}
    assert len(anchors.missing_anchors(manifest, html)) == 1


@pytest.mark.slow
def test_no_published_anchor_disappeared_from_the_built_book(built_book):
    missing = anchors.missing_anchors(anchors.load(), built_book.html_dir)
    assert not missing, "published anchors gone from the book:\n" + "\n".join(missing)
