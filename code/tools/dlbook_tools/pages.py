"""Reading the book's sources: the table of contents and each MyST page's front matter,
headings, labels, exercises and "Further reading" list.

This is the one parser of a page's structure; the Sphinx extensions, the anchor manifest,
the notebook writer and the tests all read pages through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

LABEL = re.compile(r"^\(([^()\s]+)\)=\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})")
EXERCISE = re.compile(r"^(`{3,}|:{3,}|~{3,})\{(exercise|exercise-start)\}")
OPTION_LABEL = re.compile(r"^:label:\s*(\S+)\s*$")
LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+")


def split_front_matter(text: str) -> tuple[dict, int]:
    """The YAML front matter of a page (empty when it has none) and the line where the
    body starts."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return yaml.safe_load("\n".join(lines[1:i])) or {}, i + 1
    return {}, 0


def markdown_lines(text: str) -> Iterator[tuple[str, bool]]:
    """Yield ``(line, in_code)`` for the body lines of a MyST page (front matter skipped).

    ``in_code`` is true on and inside fenced blocks (code cells, code examples, directives
    such as exercises), where a ``#`` line is a comment and never a section heading.
    """
    _, start = split_front_matter(text)
    stack: list[str] = []  # open fences
    for line in text.splitlines()[start:]:
        match = FENCE.match(line)
        if match:
            fence = match.group(2)
            rest = line.strip()[len(fence) :].strip()
            if stack and fence[0] == stack[-1][0] and len(fence) >= len(stack[-1]) and not rest:
                stack.pop()
                yield line, True
                continue
            if rest or not stack:
                stack.append(fence)
                yield line, True
                continue
        yield line, bool(stack)


@dataclass(frozen=True)
class Heading:
    level: int  # 1 for "#", 2 for "##"...
    title: str
    label: str | None  # the explicit label right above it, blank lines allowed between


class Page:
    """One MyST page of the book, parsed on demand."""

    def __init__(self, path: Path | str, text: str | None = None):
        self.path = Path(path)
        self.text = self.path.read_text() if text is None else text

    @cached_property
    def front_matter(self) -> dict:
        return split_front_matter(self.text)[0]

    @property
    def lesson(self) -> dict:
        """The ``lesson:`` block of the front matter (empty when it has none)."""
        return self.front_matter.get("lesson") or {}

    @property
    def is_executable(self) -> bool:
        """A page executes when its front matter names a kernel."""
        return "kernelspec" in self.front_matter

    @cached_property
    def headings(self) -> list[Heading]:
        """Every heading outside fenced blocks, in page order."""
        found, label = [], None
        for line, in_code in markdown_lines(self.text):
            if in_code:
                label = None
                continue
            if not line.strip():
                continue
            match = HEADING.match(line)
            if match:
                found.append(Heading(len(match.group(1)), match.group(2), label))
            found_label = LABEL.match(line)
            label = found_label.group(1) if found_label else None
        return found

    @property
    def title(self) -> str:
        return next((h.title for h in self.headings if h.level == 1), self.path.stem)

    @property
    def label(self) -> str | None:
        """The label of the page's ``#`` title."""
        return next((h.label for h in self.headings if h.level == 1), None)

    @cached_property
    def _labels_in_order(self) -> list[tuple[str, str, str | None]]:
        """In page order: ``("label", name, None)`` for each explicit label outside code, and
        ``("exercise", opening line, label or None)`` for each exercise."""
        found: list[tuple[str, str, str | None]] = []
        exercise = None  # index of the exercise whose options block is being read
        for line, in_code in markdown_lines(self.text):
            stripped = line.strip()
            if EXERCISE.match(stripped):
                exercise = len(found)
                found.append(("exercise", stripped, None))
                continue
            if exercise is not None:
                option = OPTION_LABEL.match(stripped)
                if option:
                    found[exercise] = ("exercise", found[exercise][1], option.group(1))
                if option or not stripped.startswith(":"):
                    exercise = None  # the options block ended
                if option:
                    continue
            label = LABEL.match(line)
            if label and not in_code:
                found.append(("label", label.group(1), None))
        return found

    @property
    def exercises(self) -> list[tuple[str, str | None]]:
        """``(opening line, label or None)`` of every ``{exercise}``/``{exercise-start}``."""
        return [(opening, label) for kind, opening, label in self._labels_in_order if kind == "exercise"]

    @property
    def anchors(self) -> list[str]:
        """The explicit labels and exercise labels of the page, in page order."""
        return [
            label if kind == "exercise" else name
            for kind, name, label in self._labels_in_order
            if kind == "label" or label
        ]

    def further_reading(self) -> str | None:
        """The bullet list of the page's ``(...-further-reading)=`` section, as MyST.

        Only the list items are kept (an introductory sentence would speak of "this
        episode"), up to the next heading, label or directive. None when there is no such
        section.
        """
        lines = list(markdown_lines(self.text))
        start = next(
            (
                i + 1
                for i, (line, in_code) in enumerate(lines)
                if not in_code and (m := LABEL.match(line)) and m.group(1).endswith("-further-reading")
            ),
            None,
        )
        if start is None:
            return None
        while start < len(lines) and not HEADING.match(lines[start][0]):
            start += 1  # skip to the heading that follows the label, and past it
        items: list[str] = []
        in_item = False
        for line, in_code in lines[start + 1 :]:
            if not in_code and (HEADING.match(line) or LABEL.match(line)):
                break
            if FENCE.match(line) and not line.startswith((" ", "\t")):
                break  # a directive (the key points) or a code cell ends the list
            if LIST_ITEM.match(line):
                in_item = True
                items.append(line)
            elif in_item and (line.startswith((" ", "\t")) or not line.strip()):
                items.append(line)
            elif line.strip():
                in_item = False
        return "\n".join(items).strip() or None


# ---------------------------------------------------------------------------------------------
# The table of contents
# ---------------------------------------------------------------------------------------------


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` of a Jupyter Book ``_toc.yml`` (root first), in reading order."""
    found: list[str] = []

    def walk(entry) -> None:
        if isinstance(entry, dict):
            for key in ("root", "file"):
                if isinstance(entry.get(key), str):
                    found.append(re.sub(r"\.(md|ipynb|rst)$", "", entry[key]))
            for key in ("parts", "chapters", "sections"):
                for child in entry.get(key) or []:
                    walk(child)
        elif isinstance(entry, list):
            for child in entry:
                walk(child)

    walk(toc)
    return found


def toc_pages(srcdir: Path, toc_path: Path | None = None) -> dict[str, Page]:
    """``docname -> Page`` for every MyST page of the table of contents, in reading order."""
    toc_path = toc_path or Path(srcdir) / "_toc.yml"
    toc = yaml.safe_load(Path(toc_path).read_text()) or {}
    pages = {}
    for docname in toc_files(toc):
        path = Path(srcdir) / f"{docname}.md"
        if path.is_file():
            pages[docname] = Page(path)
    return pages


def executable_pages(srcdir: Path, toc_path: Path | None = None) -> dict[str, Page]:
    """The pages of the table of contents that run code (their front matter names a kernel)."""
    return {doc: page for doc, page in toc_pages(srcdir, toc_path).items() if page.is_executable}


@dataclass(frozen=True)
class Episode:
    number: int  # 1-based position among the episodes of the toc
    docname: str  # e.g. "book/episodes/2-keras"
    page: Page

    @property
    def path(self) -> Path:
        return self.page.path

    @property
    def title(self) -> str:
        return self.page.title

    @property
    def label(self) -> str | None:
        return self.page.label

    @property
    def lesson(self) -> dict:
        return self.page.lesson

    @property
    def teaching(self) -> int:
        return int(self.lesson.get("teaching") or 0)

    @property
    def exercises(self) -> int:
        return int(self.lesson.get("exercises") or 0)

    @property
    def minutes(self) -> int:
        return self.teaching + self.exercises


def episodes(srcdir: Path, toc_path: Path | None = None) -> list[Episode]:
    """The pages of the toc whose front matter has a ``lesson:`` block, in toc order."""
    found: list[Episode] = []
    for docname, page in toc_pages(srcdir, toc_path).items():
        if page.lesson:
            found.append(Episode(len(found) + 1, docname, page))
    return found
