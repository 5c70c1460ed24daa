"""The ``.ipynb`` twins of the book's MyST pages, for Colab and Binder.

Colab opens only ``.ipynb`` files, and the book's launch buttons point at the ``.ipynb`` that
lies beside each executable ``.md`` page. This module writes those twins: the same cells as the
MyST source, no outputs, and one extra first cell that installs on Colab what it lacks.
The MyST page is the single source of truth; run ``python -m dlbook_tools.notebooks`` after editing
a page (``make notebooks`` does it), and ``python -m dlbook_tools.notebooks --check`` to find drift.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat
from sphinx.application import Sphinx
from sphinx.util import logging

from .pages import executable_pages

REPO = Path(__file__).resolve().parents[3]
SETUP_TAG = "colab-setup"
logger = logging.getLogger(__name__)


def repository_url(config: Path | None = None) -> str:
    """The repository URL from ``_config.yml`` (the one place it is written)."""
    import yaml

    config = config or REPO / "_config.yml"
    return yaml.safe_load(config.read_text())["repository"]["url"].rstrip("/")


def setup_cell_source(repo_url: str) -> str:
    match = re.match(r"https://github\.com/([^/]+/[^/]+)", repo_url)
    if not match:
        raise ValueError(f"repository url {repo_url!r} is not a GitHub repository URL")
    package = f"dlbook @ git+https://github.com/{match.group(1)}@main#subdirectory=code/learner"
    return (
        "# Colab only: install the book's data helpers and the packages Colab lacks.\n"
        "# Elsewhere (your own install, Binder) this cell does nothing. The data sets are\n"
        "# downloaded and checksum-verified by the loaders when a cell first asks for them.\n"
        "import subprocess\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",\n'
        f'                    "{package}",\n'
        '                    "palmerpenguins", "keras-tuner", "myst-nb"], check=True)'
    )


def twin_path(md_path: Path) -> Path:
    return md_path.with_suffix(".ipynb")


def build_twin(md_path: Path, repo_url: str | None = None) -> nbformat.NotebookNode:
    """The notebook for ``md_path``: its cells, no outputs, a Colab setup cell first."""
    notebook = jupytext.read(md_path, fmt="md:myst")
    setup = nbformat.v4.new_code_cell(setup_cell_source(repo_url or repository_url()))
    setup.metadata["tags"] = [SETUP_TAG]
    cells = [setup]
    for cell in notebook.cells:
        cell = dict(cell)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(nbformat.from_dict(cell))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:03d}"  # stable ids: regenerating changes nothing
    twin = nbformat.v4.new_notebook(cells=cells)
    twin.metadata = {
        "kernelspec": notebook.metadata.get("kernelspec", {}),
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    return twin


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def sync(md_path: Path, repo_url: str | None = None) -> bool:
    """Write the twin of ``md_path``; return True when the file changed."""
    text = render(build_twin(md_path, repo_url))
    target = twin_path(md_path)
    if target.is_file() and target.read_text() == text:
        return False
    target.write_text(text)
    return True


def drift(md_path: Path, repo_url: str | None = None) -> str | None:
    """Why the twin of ``md_path`` is out of date, or None when it is in sync."""
    target = twin_path(md_path)
    if not target.is_file():
        return f"{target.name} is missing"
    try:
        nbformat.validate(nbformat.reads(target.read_text(), as_version=4))
    except Exception as exc:  # nbformat raises several error types
        return f"{target.name} is not a valid notebook: {exc}"
    if target.read_text() != render(build_twin(md_path, repo_url)):
        return f"{target.name} does not match {md_path.name}"
    return None


def _check_twins(app: Sphinx) -> None:
    """Warn (an error under ``-W``) when an executable page's twin is missing or stale."""
    srcdir = Path(app.srcdir)
    config = srcdir / "_config.yml"
    if not config.is_file():
        return
    url = repository_url(config)
    for page in executable_pages(srcdir).values():
        why = drift(page.path, url)
        if why:
            logger.warning(
                "%s: %s; run `make notebooks` to regenerate the Colab/Binder notebooks",
                page.path.relative_to(srcdir),
                why,
                type="dlbook",
                subtype="notebook-twin",
            )


def setup(app: Sphinx) -> dict:
    """Sphinx extension: the build fails on a missing or stale twin."""
    app.connect("builder-inited", _check_twins)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it, else as given."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    parser.add_argument("pages", nargs="*", type=Path, help="MyST pages (default: all)")
    args = parser.parse_args(argv)
    pages = [p.resolve() for p in args.pages] or [p.path for p in executable_pages(REPO).values()]
    url = repository_url()
    problems = []
    for page in pages:
        if args.check:
            why = drift(page, url)
            if why:
                problems.append(f"{_shown(page)}: {why}")
        elif sync(page, url):
            print(f"wrote {_shown(twin_path(page))}")
    if problems:
        print("Notebook twins out of date (run `make notebooks`):\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
