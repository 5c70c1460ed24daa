"""Sphinx extension: the learner's notebooks, rendered from the built pages.

For every executable page the HTML build writes ``_build/notebooks/<page path>.ipynb``: the page
as a learner reads it on the web, as plain Jupyter Markdown and code cells without outputs
(:mod:`dlbook_tools.markdown` does the rendering), plus one first cell that installs on Colab
what Colab lacks. Glued numbers are those of the same build, so the notebook and the page agree.

The deploy workflow publishes ``_build/notebooks`` (with the learner environment for Binder,
see :mod:`dlbook_tools.branch`) on the ``notebooks`` branch; the pages' Colab and Binder buttons open
the files there, and the theme's download button serves the same notebook.

Configuration (``_config.yml``): ``html.baseurl`` is where the book is published (links in the
notebooks point there); ``repository.url`` names the GitHub repository; the Sphinx option
``dlbook_notebooks_branch`` names the branch the launch buttons open (default ``notebooks``).
``DLBOOK_REVISION`` overrides the commit that the Colab cell installs the book's helpers from
(default: the checkout's ``HEAD``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import nbformat
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import workshop
from .markdown import WORKSHOP_KEY, NotebookRenderer, PageContext

REPO = Path(__file__).resolve().parents[3]
LEARNER_REQUIREMENTS = REPO / "code" / "learner" / "requirements.txt"
SETUP_TAG = "colab-setup"
# Packages the notebooks import that Colab does not ship, by the module name a page imports.
COLAB_LACKS = {"keras_tuner": "keras-tuner"}
# The distributions behind the modules pages import: the first cell reports their versions.
MODULE_DISTS = {
    "keras": "keras",
    "numpy": "numpy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
    "sklearn": "scikit-learn",
    "keras_tuner": "keras-tuner",
    "tensorboard": "tensorboard",
    "palmerpenguins": "palmerpenguins",
}
logger = logging.getLogger(__name__)


# -- configuration ---------------------------------------------------------------------------


def repository_url(config: Path | None = None) -> str:
    """The repository URL from ``_config.yml`` (the one place it is written)."""
    import yaml

    config = config or REPO / "_config.yml"
    return yaml.safe_load(config.read_text())["repository"]["url"].rstrip("/")


def github_slug(repo_url: str) -> str:
    match = re.match(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?$", repo_url)
    if not match:
        raise ValueError(f"repository url {repo_url!r} is not a GitHub repository URL")
    return match.group(1)


def book_url(config: Path | None = None) -> str:
    """Where the book is published (``html.baseurl`` of ``_config.yml``), ending in a slash."""
    import yaml

    config = config or REPO / "_config.yml"
    url = yaml.safe_load(config.read_text())["html"]["baseurl"]
    return url if url.endswith("/") else url + "/"


def revision(repo: Path = REPO) -> str:
    """The commit the notebooks are built from: ``DLBOOK_REVISION``, else git's HEAD, else main."""
    if os.environ.get("DLBOOK_REVISION"):
        return os.environ["DLBOOK_REVISION"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "main"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "main"


def pinned(requirements: Path = LEARNER_REQUIREMENTS) -> dict[str, str]:
    """``{distribution: "name==version"}`` for the plain pins of a requirements file."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", line)
        if match:
            pins[match.group(1).lower()] = line
    return pins


def helper_requirement(repo_url: str, rev: str) -> str:
    """The pip requirement of the book's helper package at revision ``rev``."""
    return f"dlbook @ git+https://github.com/{github_slug(repo_url)}@{rev}#subdirectory=code/learner"


def setup_cell_source(
    repo_url: str, rev: str, extras: list[str] = (), uses: list[str] = (), gpu: bool = False
) -> str:
    """The first cell of every notebook: on Colab, install what Colab lacks; everywhere, report
    how the installed versions of the packages the page ``uses`` compare with the book's (and,
    on a page that trains long enough for a ``gpu`` to help, say so when there is none)."""
    packages = ", ".join(f'"{p}"' for p in extras)
    packages = f", {packages}" if packages else ""
    checked = ", ".join(f'"{p}"' for p in ["tensorflow", *uses])
    return (
        "# On Colab only: install the book's helpers (data loaders, plots) at the revision this\n"
        "# notebook was built from, and the packages Colab lacks (see the setup page for a local\n"
        "# install). DLBOOK_PACKAGE overrides where the helpers come from (any pip requirement,\n"
        "# e.g. the path of a local checkout's code/learner folder). Then, everywhere: a report\n"
        "# on this environment; its last line says whether anything needs fixing.\n"
        "import os\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    helpers = os.environ.get("DLBOOK_PACKAGE", "{helper_requirement(repo_url, rev)}")\n'
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "--quiet", helpers{packages}], check=True\n'
        "    )\n"
        "\n"
        "from dlbook.environment import check_environment\n"
        "\n"
        f"check_environment([{checked}]{', expect_gpu=True' if gpu else ''})"
    )


def _imports(cells: list[nbformat.NotebookNode], module: str) -> bool:
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    return re.search(rf"^\s*(import|from)\s+{module}\b", code, flags=re.MULTILINE) is not None


def colab_extras(cells: list[nbformat.NotebookNode]) -> list[str]:
    """The pinned packages that the code cells import and Colab does not ship."""
    pins = pinned()
    return [pins.get(dist, dist) for module, dist in COLAB_LACKS.items() if _imports(cells, module)]


def used_packages(cells: list[nbformat.NotebookNode]) -> list[str]:
    """The distributions whose modules the code cells import."""
    return [dist for module, dist in MODULE_DISTS.items() if _imports(cells, module)]


def setup_cell_for(repo_url: str, rev: str, cells: list[nbformat.NotebookNode], gpu: bool = False) -> str:
    """The first cell's source for a notebook of ``cells``."""
    return setup_cell_source(repo_url, rev, colab_extras(cells), used_packages(cells), gpu)


ABOUT = """\
*This notebook is a page of the book [Introduction to Deep Learning]({page_url}). Run the next
cell first: it sets up what is missing and reports on your environment. The numbers and figures
described in the text come from the run that built the book, on a two-core processor with the
package versions that the report lists as the book's; your own run can give somewhat different
numbers, more so on a GPU or with other versions.{exercises}*"""
ABOUT_EXERCISES = """ Each exercise's solution is folded
under it, as text that running the notebook does not execute: try the exercise first."""


def about_cell(page_url: str, has_exercises: bool = True) -> nbformat.NotebookNode:
    """The notebook's opening words: where it comes from, and why its numbers may differ."""
    exercises = ABOUT_EXERCISES if has_exercises else ""
    return nbformat.v4.new_markdown_cell(ABOUT.format(page_url=page_url, exercises=exercises))


def _setup_index(cells: list[nbformat.NotebookNode]) -> int:
    return next(i for i, c in enumerate(cells) if SETUP_TAG in c.metadata.get("tags", []))


def setup_cell(
    repo_url: str, rev: str, cells: list[nbformat.NotebookNode], gpu: bool = False
) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(setup_cell_for(repo_url, rev, cells, gpu))
    cell.metadata["tags"] = [SETUP_TAG]
    return cell


# -- paths and URLs ----------------------------------------------------------------------------


def notebooks_dir(app: Sphinx) -> Path:
    return Path(app.outdir).parent / "notebooks"


def notebook_path(app: Sphinx, docname: str) -> Path:
    return notebooks_dir(app) / f"{docname}.ipynb"


def base_url(app: Sphinx) -> str:
    url = app.config.html_baseurl or ""
    return url if url.endswith("/") else url + "/"


def launch_urls(repo_url: str, branch: str, docname: str) -> dict[str, str]:
    """The Colab and Binder URLs that open ``docname``'s notebook on ``branch``."""
    slug = github_slug(repo_url)
    return {
        "Colab": f"https://colab.research.google.com/github/{slug}/blob/{branch}/{docname}.ipynb",
        "Binder": f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/{docname}.ipynb",
    }


def is_executable(app: Sphinx, docname: str) -> bool:
    return "kernelspec" in app.env.metadata.get(docname, {})


def wants_gpu(app: Sphinx, docname: str) -> bool:
    """The page trains for minutes (front matter ``lesson: gpu: true``): Colab should give it a GPU."""
    lesson = app.env.metadata.get(docname, {}).get("lesson") or {}
    if isinstance(lesson, str):  # Sphinx keeps a front matter's nested block as JSON text
        lesson = json.loads(lesson)
    return isinstance(lesson, dict) and bool(lesson.get("gpu"))


def colab_metadata(gpu: bool) -> dict:
    """The notebook metadata Colab reads: ``accelerator`` and ``gpuType`` open it on a GPU runtime."""
    return (
        {"accelerator": "GPU", "colab": {"provenance": [], "gpuType": "T4"}}
        if gpu
        else {"colab": {"provenance": []}}
    )


# -- the build ---------------------------------------------------------------------------------


def _cell_sources(app: Sphinx, docname: str) -> dict[int, str]:
    """Cell index -> source of the page's code cells, as myst-nb numbers them."""
    from myst_nb.core.read import read_myst_markdown_notebook

    text = Path(app.env.doc2path(docname)).read_text(encoding="utf-8")
    notebook = read_myst_markdown_notebook(text)
    return {i: cell.source for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}


def render(app: Sphinx, doctree, docname: str) -> nbformat.NotebookNode:
    """The learner's notebook of ``docname`` from its resolved doctree."""
    fignumbers = app.env.toc_fignumbers.get(docname, {})

    def number(figtype: str, ident: str) -> str | None:
        found = fignumbers.get(figtype, {}).get(ident)
        return ".".join(map(str, found)) if found else None

    page_url = urljoin(base_url(app), f"{docname}.html")
    context = PageContext(docname, page_url, number, _cell_sources(app, docname))
    cells = NotebookRenderer(context).cells(doctree)
    for problem in sorted(set(context.problems)):
        logger.warning(
            "%s: the learner notebook cannot render %s", docname, problem, type="dlbook", subtype="notebook"
        )
    url = repository_url(Path(app.srcdir) / "_config.yml")
    has_exercises = any('<details class="solution">' in c.source for c in cells if c.cell_type == "markdown")
    gpu = wants_gpu(app, docname)
    cells[:0] = [about_cell(page_url, has_exercises), setup_cell(url, app.config.dlbook_revision, cells, gpu)]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:03d}"  # stable ids: rebuilding an unchanged page changes nothing
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": dict(app.env.metadata[docname]["kernelspec"]),
        "language_info": {"name": "python"},
        **colab_metadata(gpu),
        "dlbook": {
            "page": page_url,
            "revision": app.config.dlbook_revision,
            "renderer": renderer_version(),
        },
    }
    nbformat.validate(notebook)
    return notebook


def _write_notebook(app: Sphinx, doctree, docname: str) -> None:
    if app.builder.format != "html" or not is_executable(app, docname):
        return
    path = notebook_path(app, docname)
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = render(app, doctree, docname)
    if workshop.is_episode(docname):
        url = repository_url(Path(app.srcdir) / "_config.yml")
        complete_url = launch_urls(url, app.config.dlbook_notebooks_branch, docname)["Colab"]
        ours, problems = workshop.split(
            notebook, SETUP_TAG, notebook.metadata["dlbook"]["page"], complete_url
        )
        for problem in problems:
            logger.warning("%s: workshop notebook: %s", docname, problem, type="dlbook", subtype="workshop")
        _write(ours, workshop.workshop_path(path))
    _write(notebook, path)


def _write(notebook: nbformat.NotebookNode, path: Path) -> None:
    for cell in notebook.cells:
        cell.metadata.pop(WORKSHOP_KEY, None)
    text = nbformat.writes(notebook) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@functools.cache
def renderer_version() -> str:
    """A digest of the code that renders notebooks: a change to it renders every page again.
    (Computed once per process: the code does not change during a build.)"""
    digest = hashlib.sha256()
    for module in ("markdown.py", "notebooks.py", "workshop.py"):
        digest.update((Path(__file__).with_name(module)).read_bytes())
    return digest.hexdigest()[:16]


def _stale_notebooks(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Pages whose notebook is missing (a cleaned folder) or was rendered by other code are
    read and written again (from the execution cache: nothing re-executes)."""
    if app.builder.format != "html":
        return []
    stale = []
    for docname in sorted(env.found_docs):
        path = notebook_path(app, docname)
        if not is_executable(app, docname):
            continue
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("dlbook", {})
        except (OSError, ValueError):
            meta = {}
        if meta.get("renderer") != renderer_version() or (
            workshop.is_episode(docname) and not workshop.workshop_path(path).is_file()
        ):
            stale.append(docname)
    return stale


def _refresh_setup_cells(app: Sphinx, exception) -> None:
    """Pages that were not rewritten keep their cells; their first cell names this revision."""
    if exception is not None or app.builder.format != "html":
        return
    url = repository_url(Path(app.srcdir) / "_config.yml")
    rev = app.config.dlbook_revision
    for docname in sorted(app.env.found_docs):
        path = notebook_path(app, docname)
        if not is_executable(app, docname) or not path.is_file():
            continue
        notebook = nbformat.read(path, as_version=4)
        first = _setup_index(notebook.cells)
        fresh = setup_cell_for(url, rev, notebook.cells[first + 1 :], wants_gpu(app, docname))
        twin = workshop.workshop_path(path)
        for copy, nb in [(path, notebook)] + (
            [(twin, nbformat.read(twin, as_version=4))] if twin.is_file() else []
        ):
            if nb.cells[first].source != fresh or nb.metadata.get("dlbook", {}).get("revision") != rev:
                nb.cells[first].source = fresh
                nb.metadata.setdefault("dlbook", {})["revision"] = rev
                nbformat.write(nb, copy)


def _write_archive(app: Sphinx, exception) -> None:
    """The site's archive of every notebook (see :mod:`dlbook_tools.branch`), after the first
    cells name this revision."""
    from .branch import write_site_archive  # it imports this module

    source = notebooks_dir(app)
    if exception is not None or app.builder.format != "html" or not any(source.rglob("*.ipynb")):
        return
    url = repository_url(Path(app.srcdir) / "_config.yml")
    write_site_archive(source, Path(app.outdir) / workshop.ARCHIVE, url, app.config.dlbook_revision)


def _launch_buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Colab and Binder open the notebook on the notebooks branch; download serves it too."""
    if not is_executable(app, pagename):
        return
    url = repository_url(Path(app.srcdir) / "_config.yml")
    urls = launch_urls(url, app.config.dlbook_notebooks_branch, pagename)
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") in urls:
                button["url"] = urls[button["text"]]
    ours = notebook_path(app, pagename)
    if context.get("ipynb_source") and ours.is_file():
        target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ours, target)


def setup(app: Sphinx) -> dict:
    app.add_config_value("dlbook_notebooks_branch", "notebooks", "html")
    app.add_config_value("dlbook_revision", revision(), "")  # a new commit re-reads nothing
    app.connect("env-get-outdated", _stale_notebooks)
    app.connect("doctree-resolved", _write_notebook)
    app.connect("html-page-context", _launch_buttons, priority=600)  # after the theme's (501)
    app.connect("build-finished", _refresh_setup_cells)
    app.connect("build-finished", _write_archive, priority=600)  # after the refresh (500)
    app.add_role("notebooks-archive", workshop.archive_role)
    app.add_directive("workshop-notebooks", WorkshopNotebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": False, "version": "2"}


# -- the setup page's list of workshop notebooks ------------------------------------------------


class WorkshopNotebooks(SphinxDirective):
    """``{workshop-notebooks}``: each episode's workshop and complete notebooks, opened on Colab."""

    def run(self) -> list[nodes.Node]:
        url = repository_url(Path(self.env.srcdir) / "_config.yml")
        branch = self.config.dlbook_notebooks_branch
        lines = []
        for docname in sorted(d for d in self.env.found_docs if workshop.is_episode(d)):
            ours = launch_urls(url, branch, f"{docname}{workshop.SUFFIX}")["Colab"]
            complete = launch_urls(url, branch, docname)["Colab"]
            lines.append(
                f"- {{doc}}`/{docname}`: [workshop notebook on Colab]({ours})"
                f" · [complete notebook on Colab]({complete})"
            )
        container = nodes.container(classes=["workshop-notebooks"])
        self.state.nested_parse(
            StringList(lines, source="workshop-notebooks"), self.content_offset, container
        )
        return [container]
