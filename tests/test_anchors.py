"""Stable anchors: every section and exercise is labelled, and published anchors never vanish.

The manifest ``tests/anchors.json`` lists the published anchors page by page
(``python -m dlbook.anchors --update`` adds new ones). An anchor may move or be renamed only
with a ``redirects`` entry ``"page#old": "page#new"``; the book's JavaScript follows it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from dlbook import anchors
from dlbook.learner_layer import markdown_lines

REPO = Path(__file__).resolve().parents[1]
EPISODES = sorted((REPO / "book" / "episodes").glob("*.md"))
LABEL = re.compile(r"^\(([^()\s]+)\)=\s*$")
HEADING = re.compile(r"^(#{2,3})\s+(.*)$")


def unlabelled_headings(path: Path) -> list[str]:
    """``##``/``###`` headings of a page without an explicit label right above them."""
    problems, previous = [], None
    for number, (line, in_code) in enumerate(markdown_lines(path.read_text()), 1):
        if in_code:
            previous = None
            continue
        if not line.strip():
            continue  # a blank line between label and heading is fine
        heading = HEADING.match(line)
        if heading and previous is None:
            problems.append(f"{path.name}: {line.strip()!r}")
        previous = LABEL.match(line)
    return problems


def exercise_blocks(path: Path) -> list[tuple[str, str | None]]:
    """(opening line, label or None) of every ``{exercise}``/``{exercise-start}`` block."""
    blocks, current = [], None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if re.match(r"^(`{3,}|:{3,}|~{3,})\{(exercise|exercise-start)\}", stripped):
            current = [stripped, None]
            blocks.append(current)
            continue
        if current is not None and current[1] is None:
            option = re.match(r"^:label:\s*(\S+)", stripped)
            if option:
                current[1] = option.group(1)
            elif not stripped.startswith(":"):
                current = None
    return [tuple(b) for b in blocks]


def test_the_episodes_exist():
    assert EPISODES, "no episode in book/episodes/"


@pytest.mark.parametrize("path", EPISODES, ids=lambda p: p.stem)
def test_every_section_heading_has_an_explicit_label_above_it(path):
    assert unlabelled_headings(path) == []


@pytest.mark.parametrize("path", EPISODES, ids=lambda p: p.stem)
def test_every_exercise_has_a_label(path):
    blocks = exercise_blocks(path)
    missing = [opening for opening, label in blocks if not label]
    assert not missing, f"exercises without :label: in {path.name}: {missing}"
    slug_prefix = [label for _, label in blocks if label and not label.startswith("ex-")]
    assert not slug_prefix, f"exercise labels should start with ex-: {slug_prefix}"


def test_labels_are_unique_across_the_book():
    pages = sorted((REPO / "book").rglob("*.md"))
    counts = Counter(a for p in pages if "_build" not in p.parts for a in anchors.page_anchors(p))
    assert [a for a, n in counts.items() if n > 1] == []


def test_the_label_scanner_sees_labels_headings_and_exercises(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "---\nkernelspec: {}\n---\n\n(top)=\n# Title\n\n(a-section)=\n## A section\n\n"
        "## Unlabelled\n\n```{code-cell} ipython3\n## a comment, not a heading\n(x)=\n```\n\n"
        "```{exercise} Try it\n:label: ex-try\n\nText.\n```\n\n"
        "````{exercise-start} Gated\n:label: ex-gated\n````\n"
    )
    assert anchors.page_anchors(page) == ["top", "a-section", "ex-try", "ex-gated"]
    assert unlabelled_headings(page) == ["page.md: '## Unlabelled'"]


def test_manifest_lists_every_anchor_of_the_sources():
    """New labels are registered in the manifest (run `python -m dlbook.anchors --update`)."""
    manifest = anchors.load()
    current = anchors.source_anchors(REPO)
    unregistered = [f"{page}#{a}" for page, labels in current.items() for a in labels
                    if a not in manifest["anchors"].get(page, [])]
    assert not unregistered, (
        "anchors missing from tests/anchors.json; run `python -m dlbook.anchors --update`: "
        f"{unregistered}")


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
