"""Workshop notebooks: the episodes' notebooks to type along into.

A *workshop notebook* is an episode's learner notebook with the code cells that an instructor
types live left empty: each holds one comment that says what to type there, taken from the page's
code-cell option ``:workshop: "..."``. Two tags keep a cell as it is: ``workshop-keep`` for cells
that run on their own (imports, loading data, helper figures: a learner who has typed nothing
can run them) and ``workshop-given`` for cells that use what the typed cells made but are not
worth typing (code the page hides, bookkeeping, checks of a result). The first cell, prose,
figures and exercises are the complete notebook's. The build writes it beside the complete one
as ``<page>-workshop.ipynb``.

The setup page links the archive of every notebook (:mod:`dlbook_tools.branch` writes it) with
the ``{notebooks-archive}`` role and lists the workshop notebooks with ``{workshop-notebooks}``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from docutils import nodes

from .markdown import WORKSHOP_KEY

KEEP_TAG = "workshop-keep"
GIVEN_TAG = "workshop-given"
SUFFIX = "-workshop"
EPISODES = "book/episodes/"
ARCHIVE = "dlbook-notebooks.zip"
COMMENT_WIDTH = 94

ABOUT = """\
**Workshop notebook** of a page of the book [Introduction to Deep Learning]({page_url}).
Many code cells here are empty except for a comment that says what to type into them: in a
workshop the instructor types the same code live, and on your own you type it from the page.
Use the names that the comments put in backticks, because later cells use them. The cells that
import packages, load data, draw helper figures or only check a result are filled in, and so
are a few that the page hides or that teach nothing worth typing.

Run the code cell below first: it sets up what is missing and reports on your environment. On
Colab, choose *File → Save a copy in Drive* before you type, or your work is lost when the tab
closes. Fallen behind? Copy the cell from the page or from the
[complete notebook]({complete_url}). The numbers in the text come from the run that built the
book; yours can differ somewhat.{exercises}"""
ABOUT_EXERCISES = " Each exercise's solution is folded under it: try the exercise first."


def is_episode(docname: str) -> bool:
    return docname.startswith(EPISODES)


def workshop_path(complete: Path) -> Path:
    """Where the workshop notebook of the complete notebook ``complete`` lies."""
    return complete.with_name(f"{complete.stem}{SUFFIX}.ipynb")


def is_workshop(path: Path) -> bool:
    return path.stem.endswith(SUFFIX)


def is_live_coded(cell: nbformat.NotebookNode, setup_tag: str) -> bool:
    """A code cell that the instructor types: neither the first cell nor one tagged to keep."""
    tags = set(cell.metadata.get("tags", []))
    return cell.cell_type == "code" and not {setup_tag, KEEP_TAG, GIVEN_TAG} & tags


def empty_source(comment: str) -> str:
    """What an empty workshop cell holds: the comment, wrapped, and nothing to run."""
    return "\n".join(f"# {line}" for line in textwrap.wrap(comment, COMMENT_WIDTH))


def split(
    complete: nbformat.NotebookNode, setup_tag: str, page_url: str, complete_url: str
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The workshop notebook of ``complete`` (which loses its cells' workshop comments), and the
    problems found: live-coded cells without a comment, kept cells that carry one."""
    problems = []
    workshop = nbformat.from_dict(complete)
    for ours, theirs in zip(complete.cells, workshop.cells, strict=True):
        comment = ours.metadata.pop(WORKSHOP_KEY, None)
        theirs.metadata.pop(WORKSHOP_KEY, None)
        if ours.cell_type != "code":
            continue
        first_line = ours.source.strip().splitlines()[0] if ours.source.strip() else ""
        if not is_live_coded(ours, setup_tag):
            if comment:
                problems.append(
                    f"a cell that the workshop keeps also has a :workshop: comment ({first_line!r})"
                )
            continue
        if not comment:
            problems.append(
                f"a code cell has neither a :workshop: comment nor a tag {KEEP_TAG} or {GIVEN_TAG} "
                f"({first_line!r})"
            )
            comment = "Type the code of this cell from the page"
        theirs.source = empty_source(comment)
        for key in ("jupyter", "cellView"):  # an empty cell has nothing to fold
            theirs.metadata.pop(key, None)
    exercises = ABOUT_EXERCISES if "Each exercise's solution" in complete.cells[0].source else ""
    workshop.cells[0].source = ABOUT.format(page_url=page_url, complete_url=complete_url, exercises=exercises)
    workshop.metadata.setdefault("dlbook", {})["workshop"] = True
    return workshop, problems


# -- the archive's link ------------------------------------------------------------------------


def archive_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{notebooks-archive}`text``: a link to the archive, relative to the page."""
    docname = inliner.document.settings.env.docname
    uri = "../" * docname.count("/") + ARCHIVE
    node = nodes.reference(rawtext, text, refuri=uri, classes=["notebooks-archive"])
    return [node], []
