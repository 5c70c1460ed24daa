"""Facts and checks that several test modules share (import as ``from helpers import ...``)."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
from bs4 import BeautifulSoup

from dlbook_tools.execution import cell_roles
from dlbook_tools.pages import Page

# The 10 steps of the deep-learning workflow, as episode 1 defines them (workflow-step-N).
WORKFLOW_STEPS = [
    "Formulate the problem",
    "Identify inputs and outputs",
    "Prepare the data",
    "Choose a pre-trained model or build a new architecture",
    "Choose a loss function and optimizer",
    "Train the model",
    "Perform a prediction/classification",
    "Measure performance",
    "Refine the model",
    "Save and share the model",
]
STEP_TITLES = dict(enumerate(WORKFLOW_STEPS, start=1))


def article(html: str) -> BeautifulSoup:
    """The page's main content (no navigation, no sidebars)."""
    soup = BeautifulSoup(html, "html.parser")
    return soup.find("main") or soup


def check_exercises(html: str, expected: set[str]) -> None:
    """The page has exactly the ``expected`` exercises, each with one solution in a dropdown."""
    main = article(html)
    found = [div["id"] for div in main.select("div.exercise.admonition[id]")]
    assert sorted(found) == sorted(expected), "exercises on the page differ from the expected ones"
    solutions = main.select("div.solution")
    assert all("dropdown" in div["class"] for div in solutions), "solutions are hidden in a dropdown"
    solved = [
        a["href"].lstrip("#") for div in solutions for a in div.select("p.admonition-title a[href^='#']")
    ]
    assert sorted(solved) == sorted(expected), "every exercise needs exactly one solution"


def check_figures(html: str, prefix: str, expected: set[str]) -> None:
    """The figures named ``prefix...`` are exactly ``expected``, each one image with alt text of
    at least eight words and a caption."""
    figures = article(html).select(f'figure[id^="{prefix}"]')
    assert sorted(f["id"] for f in figures) == sorted(expected)
    for figure in figures:
        name, images = figure["id"], figure.find_all("img")
        assert len(images) == 1, f"{name} holds {len(images)} images"
        assert len(images[0].get("alt", "").split()) >= 8, f"{name}: missing or short alt text"
        caption = figure.find("figcaption")
        assert caption is not None and len(caption.get_text(strip=True)) > 20, f"{name}: no caption"


def check_exercise_sources(text: str, expected: set[str]) -> None:
    """In a page's MyST source: the ``expected`` exercise labels, each with one dropdown solution
    (``{solution}``, or ``{solution-start}`` when the solution holds code cells)."""
    labels = re.findall(r"^`{3,4}\{exercise(?:-start)?\}[^\n]*\n:label: (\S+)$", text, re.M)
    assert sorted(labels) == sorted(expected)
    solutions = re.findall(r"^`{3,4}\{solution(?:-start)?\} (\S+)\n:class: dropdown$", text, re.M)
    assert sorted(solutions) == sorted(expected), "every exercise needs exactly one dropdown solution"


def headings_with_labels(path: Path) -> list[tuple[str, str | None]]:
    """Every ``##``/``###`` heading outside fenced blocks, with the label right above it."""
    return [(f"{'#' * h.level} {h.title}", h.label) for h in Page(path).headings if h.level in (2, 3)]


def code_cells_with_roles(path: Path) -> list[tuple[str, str]]:
    """(role, source) of every code cell: "solution", "hidden" or "visible", as the build's
    ``dlbook_tools.execution.cell_roles`` tells them apart."""
    notebook = jupytext.read(path, fmt="md:myst")
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return list(zip(cell_roles(notebook), sources, strict=True))
