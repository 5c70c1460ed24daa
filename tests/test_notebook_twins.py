"""The ``.ipynb`` twins that Colab and Binder open, one beside each executable MyST page.

Each twin must exist, be a valid nbformat-4 notebook without outputs, start with the Colab
setup cell that installs this repository's package (URL from ``_config.yml``), and hold the
MyST page's cells one for one; ``python -m dlbook_tools.notebooks --check`` must notice drift.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from dlbook_tools import notebooks
from dlbook_tools.pages import Page, executable_pages

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
PAGES = sorted(page.path for page in executable_pages(REPO).values())


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


def config() -> dict:
    return yaml.safe_load((REPO / "_config.yml").read_text())


def read_twin(page: Path) -> nbformat.NotebookNode:
    return nbformat.read(page.with_suffix(".ipynb"), as_version=4)


def test_executable_pages_are_exactly_the_pages_with_code_cells():
    with_code = sorted(
        p for p in BOOK.rglob("*.md") if "_build" not in p.parts and "```{code-cell}" in p.read_text()
    )
    assert with_code, "the book has executable pages"
    assert with_code == PAGES


def test_landing_page_is_not_executable_and_has_no_twin():
    index = BOOK / "index.md"
    assert index.is_file()
    assert not Page(index).is_executable
    assert index not in PAGES
    assert not index.with_suffix(".ipynb").exists()


def test_check_command_reports_every_twin_in_sync():
    proc = subprocess.run(
        [sys.executable, "-m", "dlbook_tools.notebooks", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_twin_exists_and_is_in_sync(page):
    assert page.with_suffix(".ipynb").is_file(), f"{page_id(page)} has no .ipynb twin"
    assert notebooks.drift(page) is None


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_twin_is_valid_nbformat_4_without_outputs(page):
    twin = read_twin(page)
    nbformat.validate(twin)
    assert twin.nbformat == 4
    assert twin.metadata["kernelspec"]["name"] == "python3"
    for cell in twin.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_twin_starts_with_colab_setup_cell_installing_this_repository(page):
    repo = config()["repository"]
    url = repo["url"].rstrip("/")
    first = read_twin(page).cells[0]

    assert first.cell_type == "code"
    assert "colab-setup" in first.metadata.get("tags", [])
    assert f"git+{url}@{repo['branch']}#subdirectory=code" in first.source
    assert "pip" in first.source and "install" in first.source
    ast.parse(first.source)  # plain Python, runs as is


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_twin_cells_equal_the_myst_cells_one_for_one(page):
    source = jupytext.read(page, fmt="md:myst")
    twin_cells = read_twin(page).cells[1:]

    assert len(twin_cells) == len(source.cells)
    for i, (mine, theirs) in enumerate(zip(twin_cells, source.cells, strict=True)):
        assert mine.cell_type == theirs.cell_type, f"cell {i}"
        assert mine.source == theirs.source, f"cell {i}"
        if theirs.cell_type == "code":
            assert mine.metadata == theirs.metadata, f"cell {i} metadata (tags, figure captions)"


def test_setup_cell_installs_only_on_colab(monkeypatch):
    source = notebooks.setup_cell_source(config()["repository"]["url"])
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))

    exec(compile(source, "<setup>", "exec"), {})  # not on Colab: nothing happens
    assert calls == []

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(source, "<setup>", "exec"), {})
    assert len(calls) == 1
    command = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    url = config()["repository"]["url"].rstrip("/")
    assert f"dlbook @ git+{url}@main#subdirectory=code/learner" in command
    # ...the folder that holds the learner package, and only it
    learner = (REPO / "code" / "learner" / "pyproject.toml").read_text()
    assert 'name = "dlbook"' in learner and 'packages = ["dlbook"]' in learner


@pytest.fixture
def page_copy(tmp_path) -> Path:
    """A copy of the first executable page and its twin, in a scratch folder."""
    if not PAGES:
        pytest.skip("no executable page")
    page = PAGES[0]
    shutil.copy(page, tmp_path / page.name)
    shutil.copy(page.with_suffix(".ipynb"), tmp_path / page.with_suffix(".ipynb").name)
    return tmp_path / page.name


def test_unmodified_copy_is_in_sync(page_copy):
    assert notebooks.drift(page_copy) is None


def test_edited_code_cell_is_detected_as_drift_and_sync_repairs_it(page_copy):
    text = page_copy.read_text()
    marker = "```{code-cell} ipython3\n"
    assert marker in text
    page_copy.write_text(text.replace(marker, marker + "answer = 42  # edited\n", 1))

    why = notebooks.drift(page_copy)
    assert why is not None and "does not match" in why
    assert notebooks.main(["--check", str(page_copy)]) == 1

    assert notebooks.sync(page_copy) is True  # the one command that regenerates
    assert notebooks.drift(page_copy) is None
    assert any("answer = 42" in c.source for c in read_twin(page_copy).cells)
    assert notebooks.sync(page_copy) is False, "regenerating an up-to-date twin changes nothing"


def test_edited_prose_is_detected_as_drift(page_copy):
    page_copy.write_text(page_copy.read_text() + "\nOne more sentence.\n")
    assert notebooks.drift(page_copy) is not None


def test_missing_or_broken_twin_is_reported(page_copy):
    twin = page_copy.with_suffix(".ipynb")
    twin.write_text('{"cells": "not a list"}')
    assert "not a valid notebook" in notebooks.drift(page_copy)
    twin.unlink()
    assert "missing" in notebooks.drift(page_copy)


def test_twin_with_outputs_is_drift(page_copy):
    twin = page_copy.with_suffix(".ipynb")
    nb = nbformat.read(twin, as_version=4)
    code = next(c for c in nb.cells[1:] if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nbformat.write(nb, twin)
    assert notebooks.drift(page_copy) is not None
