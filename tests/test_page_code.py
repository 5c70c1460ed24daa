"""The code a learner sees is what a learner would type, and the machinery behind it stays small.

Cells hidden from the reader (``remove-cell``) hold the glue for numbers the prose quotes; the
prose describes what visible outputs show instead of assembling sentences in hidden code.
Budget per page: hidden code at most a third of the visible code, no hidden cell over 25
lines (non-blank lines).
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from dlbook_tools.pages import executable_pages
from helpers import code_cells_with_roles

REPO = Path(__file__).resolve().parents[1]
PAGES = {doc: page.path for doc, page in executable_pages(REPO).items()}
MAX_HIDDEN_CELL = 25


def code_cells(path: Path) -> list[tuple[str, list[str]]]:
    notebook = jupytext.read(path, fmt="md:myst")
    return [(c.source, c.metadata.get("tags", [])) for c in notebook.cells if c.cell_type == "code"]


def non_blank(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip())


@pytest.mark.parametrize("doc", sorted(PAGES))
def test_hidden_code_stays_within_a_third_of_the_visible_code(doc):
    cells = code_cells(PAGES[doc])
    hidden = [non_blank(s) for s, tags in cells if "remove-cell" in tags]
    visible = sum(non_blank(s) for s, tags in cells if "remove-cell" not in tags)
    total, largest = sum(hidden), max(hidden, default=0)
    assert total <= visible / 3, f"{total} hidden lines against {visible} visible"
    assert largest <= MAX_HIDDEN_CELL, f"a hidden cell of {largest} lines"


@pytest.mark.parametrize("doc", sorted(PAGES))
def test_visible_cells_hold_no_asserts_or_import_guards(doc):
    for source, tags in code_cells(PAGES[doc]):
        if "remove-cell" in tags:
            continue
        assert not re.search(r"^\s*assert\b", source, re.M), f"an assert in view:\n{source}"
        assert "find_spec" not in source, f"an import guard in view:\n{source}"


def _python(source: str) -> str:
    """The cell without IPython magics and shell lines, which are not Python."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _bound_names(source: str) -> set[str]:
    """Names a cell binds at top level: assignments, imports, function and class definitions."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(_python(source))):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _loaded_names(source: str) -> set[str]:
    import ast

    tree = ast.parse(_python(source))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def names_only_from_set_apart_cells(cells: list[tuple[bool, str]]) -> list[tuple[str, list[str]]]:
    """``cells`` are (set apart?, source) in page order. For each other cell that uses a name which
    only set-apart cells bound so far: (its source, those names)."""
    bound: set[str] = set()
    set_apart_only: set[str] = set()
    found = []
    for set_apart, source in cells:
        if set_apart:
            set_apart_only |= _bound_names(source) - bound
            continue
        needed = (_loaded_names(source) - _bound_names(source)) & set_apart_only
        if needed:
            found.append((source, sorted(needed)))
        bound |= _bound_names(source)
        set_apart_only -= bound
    return found


@pytest.mark.parametrize("doc", sorted(PAGES))
def test_visible_code_needs_nothing_that_only_hidden_cells_define(doc):
    """The learner's notebook leaves hidden cells out, so the visible ones must run on their own."""
    cells = [("remove-cell" in tags, source) for source, tags in code_cells(PAGES[doc])]
    for source, names in names_only_from_set_apart_cells(cells):
        pytest.fail(f"a visible cell uses {names}, which only hidden cells define:\n{source}")


@pytest.mark.parametrize("doc", sorted(PAGES))
def test_code_outside_solutions_needs_nothing_that_only_a_solution_defines(doc):
    """Learners skip exercises: a cell after a solution must not use what only it defined."""
    cells = [(role == "solution", source) for role, source in code_cells_with_roles(PAGES[doc])]
    for source, names in names_only_from_set_apart_cells(cells):
        pytest.fail(f"a cell outside the solutions uses {names}, which only a solution defines:\n{source}")


@pytest.mark.parametrize("doc", sorted(PAGES))
def test_cross_references_in_running_text_have_their_own_words(doc):
    """A bare {ref} to a numbered step pastes its whole title ("5. Choose a loss function and
    optimizer") into the sentence; such links get words of their own."""
    text = PAGES[doc].read_text()
    bare = re.findall(r"\{ref\}`(workflow-step-\d+)`", text)
    assert not bare, f"bare links to {bare}: write {{ref}}`step N <label>` or similar"
