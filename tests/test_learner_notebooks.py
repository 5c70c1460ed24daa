"""The notebooks that the Colab and Binder buttons open, rendered by the build from the pages.

Fast tests cover the pieces (the Markdown renderer, the Colab cell, the learner environment,
the notebooks branch). The slow ones read the notebooks of the session's full build
(``built_book``), and run each of them in a fresh kernel of a virtual environment that holds
only the learner environment, and episode 2 in one that holds only what Colab ships.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.utils import new_document

from dlbook_tools import notebooks
from dlbook_tools.markdown import NotebookRenderer, PageContext
from dlbook_tools.pages import Page, executable_pages
from helpers import code_cells_with_roles

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(executable_pages(REPO))
MIRROR = REPO.parent / "shared" / "data"
BASE_URL = yaml.safe_load((REPO / "_config.yml").read_text())["html"]["baseurl"]
RESIDUE = ["{glue", "{ref}", "{term}", "{cite", "{numref}", "```{", ":class:", "{exercise", "{solution"]
LABEL_LINE = re.compile(r"^\([\w-]+\)=\s*$", re.MULTILINE)


# -- the renderer, on small doctrees -----------------------------------------------------------


def _document() -> nodes.document:
    return new_document("<test>", get_default_settings())


def _render(*children: nodes.Node, sources: dict[int, str] | None = None):
    doc = _document()
    for child in children:
        doc += child
    numbers = {("exercise", "ex-one"): "3.2"}
    context = PageContext(
        "book/page", BASE_URL + "book/page.html", lambda t, i: numbers.get((t, i)), sources or {}
    )
    return NotebookRenderer(context).cells(doc), context


def _cell(source: str | None, tags: list[str] | None = None, index: int = 1) -> nodes.container:
    cell = nodes.container(nb_element="cell_code", cell_index=index, cell_metadata={"tags": tags or []})
    if source is not None:
        box = nodes.container(nb_element="cell_code_source")
        box += nodes.literal_block(source, source)
        cell += box
    return cell


def test_text_that_markdown_or_mathjax_would_read_is_escaped():
    cells, _ = _render(nodes.paragraph("", "", nodes.Text("costs $5 or *more* <b>")))
    assert cells[0].source == r"costs \$5 or \*more\* \<b\>"


def test_instructor_notes_are_left_out_and_other_admonitions_quoted():
    note = nodes.admonition("", nodes.title("", "Instructor note"), nodes.paragraph("", "Secret pacing"))
    note["classes"] = ["admonition", "instructor-note"]
    tip = nodes.tip("", nodes.paragraph("", "Shown to learners"))
    cells, _ = _render(note, tip)
    text = "\n".join(c.source for c in cells)
    assert "Secret pacing" not in text and "Instructor note" not in text
    assert "> **Tip**" in text and "> Shown to learners" in text


def test_links_and_citations_point_at_the_published_book():
    ref = nodes.reference("", "", nodes.inline("", "episode 1"), refuri="1-intro.html#ep-one", internal=True)
    cite = nodes.inline("", "", nodes.Text("["), classes=["bibtex-citation"])
    cite += nodes.reference("", "Horst, 2020", refuri="../references.html#id3", internal=True)
    cite += nodes.Text("]")
    cells, _ = _render(nodes.paragraph("", "", ref, nodes.Text(" and "), cite))
    assert cells[0].source == (
        f"[episode 1]({BASE_URL}book/1-intro.html#ep-one) and ([Horst, 2020]({BASE_URL}references.html#id3))"
    )


def _exercise(label="ex-one", classes=()):
    exercise = nodes.Element(classes=list(classes))
    exercise.__class__ = type("exercise_enumerable_node", (nodes.Element,), {})
    exercise["label"] = label
    exercise += nodes.title("", "", nodes.Text("("), nodes.Text("Count"), nodes.Text(")"))
    exercise += nodes.paragraph("", "Count the layers.")
    return exercise


def test_solution_is_folded_whole_so_running_the_notebook_never_shows_an_answer():
    solution = type("solution_node", (nodes.Element,), {})()
    solution["target_label"] = "ex-one"
    solution += nodes.title("", "Solution")
    solution += nodes.paragraph("", "There are two.")
    solution += _cell("print(len(model.layers))")
    solution += nodes.paragraph("", "The output confirms it.")
    cells, context = _render(_exercise(), solution)
    assert context.problems == []
    # no code cell at all: "Run all" and Shift+Enter cannot print the answer under the exercise
    assert [c.cell_type for c in cells] == ["markdown"]
    text = cells[0].source
    assert text.startswith("#### Exercise 3.2: Count\n\nCount the layers.\n\n<details")
    folded = text[text.index("<details") :]
    assert folded.startswith('<details class="solution">\n<summary>Solution to Exercise 3.2</summary>')
    assert folded.endswith("</details>")
    for part in ("There are two.", "```python\nprint(len(model.layers))\n```", "The output confirms it."):
        assert part in folded, part
    assert folded.index("There are two.") < folded.index("print(") < folded.index("The output")


def test_optional_exercise_says_so_in_its_heading_at_the_same_level_as_every_exercise():
    cells, _ = _render(_exercise(classes=["optional"]))
    assert cells[0].source.startswith("#### Exercise 3.2 (optional): Count\n")


def test_stand_in_notice_shown_by_a_cell_becomes_a_note_in_the_markdown():
    cell = _cell("weather = data.load_weather()")
    output = nodes.container(nb_element="cell_code_output")
    output += nodes.raw(
        "",
        '<div class="admonition warning dlbook-standin" role="note"><p class="admonition-title">'
        "Stand-in data</p><p>Every number below comes from the stand-in &amp; not the data.</p></div>",
        format="html",
    )
    cell += output
    cells, context = _render(cell)
    assert context.problems == []
    assert cells[0].cell_type == "code"
    assert cells[1].source == (
        "> **Note on the numbers in this text (from the run that built the book):** "
        "Stand-in data: Every number below comes from the stand-in & not the data."
    )
    # the same notice glued into the prose (a {glue} directive) becomes the same note
    glued = nodes.raw("", output[0].astext(), format="html")
    cells, _ = _render(glued)
    assert cells[0].source.startswith("> **Note on the numbers in this text")


def test_hidden_input_cell_keeps_its_source_from_the_page_and_is_collapsed():
    cells, context = _render(_cell(None, ["remove-input"], index=4), sources={4: "x = 1"})
    assert context.problems == []
    assert cells[0].source.endswith("\nx = 1")
    assert cells[0].metadata["jupyter"] == {"source_hidden": True}
    # a title that says what works in JupyterLab and Colab alike, not Colab's double-click
    assert cells[0].source.startswith("# @title Code hidden on the book's page (expand the cell")


def test_unknown_node_is_reported_not_dropped():
    class mystery(nodes.General, nodes.Element):
        pass

    cells, context = _render(mystery("", nodes.Text("still here")))
    assert context.problems == ["mystery"]
    assert "still here" in cells[0].source


# -- the Colab cell ----------------------------------------------------------------------------


def _setup_source(extras=("keras-tuner==1.4.8",)) -> str:
    return notebooks.setup_cell_source(notebooks.repository_url(), "0123abc", list(extras))


@pytest.fixture
def reports(monkeypatch) -> list:
    """The calls the first cell makes to the environment report (stubbed: no Keras import)."""
    calls = []
    stub = types.ModuleType("dlbook.environment")
    stub.check_environment = lambda *args, **kwargs: calls.append((args, kwargs))
    monkeypatch.setitem(sys.modules, "dlbook.environment", stub)
    return calls


def test_colab_cell_installs_nothing_off_colab_and_reports_on_the_pages_packages(monkeypatch, reports):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    source = notebooks.setup_cell_source(notebooks.repository_url(), "0123abc", [], ["keras", "pandas"])
    exec(compile(source, "<setup>", "exec"), {})
    assert calls == []
    assert reports == [((["tensorflow", "keras", "pandas"],), {})]


def test_colab_cell_installs_the_helpers_at_the_notebooks_revision_and_what_colab_lacks(monkeypatch, reports):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.delenv("DLBOOK_PACKAGE", raising=False)
    exec(compile(_setup_source(), "<setup>", "exec"), {})
    slug = notebooks.github_slug(notebooks.repository_url())
    assert calls == [
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            f"dlbook @ git+https://github.com/{slug}@0123abc#subdirectory=code/learner",
            "keras-tuner==1.4.8",
        ]
    ]
    calls.clear()
    monkeypatch.setenv("DLBOOK_PACKAGE", "/checkout/code/learner")  # the documented override
    exec(compile(_setup_source(()), "<setup>", "exec"), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", "/checkout/code/learner"]]


def test_the_report_covers_the_packages_a_notebook_imports():
    cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom sklearn.metrics import f1_score\n")]
    assert notebooks.used_packages(cells) == ["numpy", "scikit-learn"]


def test_colab_extras_are_the_pinned_packages_a_notebook_imports_and_colab_lacks():
    tuner = nbformat.v4.new_code_cell("import keras_tuner\n")
    plain = nbformat.v4.new_code_cell("import keras\n")
    pin = notebooks.pinned()["keras-tuner"]
    assert notebooks.colab_extras([plain]) == []
    assert notebooks.colab_extras([plain, tuner]) == [pin]
    assert re.fullmatch(r"keras-tuner==[\d.]+", pin)


def test_revision_is_the_override_or_the_checkouts_head(monkeypatch):
    monkeypatch.setenv("DLBOOK_REVISION", "feedbeef")
    assert notebooks.revision() == "feedbeef"
    monkeypatch.delenv("DLBOOK_REVISION")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    assert notebooks.revision() == (head.stdout.strip() if head.returncode == 0 else "main")


# -- the learner environment and the notebooks branch ------------------------------------------


def _learner_requirements() -> str:
    return (REPO / "code" / "learner" / "requirements.txt").read_text()


def _imports(source: str) -> set[str]:
    return set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", source, flags=re.MULTILINE))


def test_learner_environment_provides_every_module_a_notebook_imports():
    from importlib.metadata import packages_distributions

    provided = {line.split("==")[0].lower() for line in _learner_requirements().splitlines() if "==" in line}
    dists = packages_distributions()
    missing = {}
    for docname, page in executable_pages(REPO).items():
        shown = [
            c.source
            for c in jupytext.read(page.path, fmt="md:myst").cells
            if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])
        ]
        for module in _imports("\n".join(shown)):
            if module in sys.stdlib_module_names or module == "dlbook":
                continue
            names = {d.lower() for d in dists.get(module, [module])}
            if not names & provided:
                missing.setdefault(docname, []).append(module)
    assert missing == {}


def test_learner_environment_holds_jupyterlab_and_none_of_the_build_or_test_tools():
    names = {line.split("==")[0].lower() for line in _learner_requirements().splitlines() if "==" in line}
    assert "jupyterlab" in names
    assert not names & {"jupyter-book", "sphinx", "myst-nb", "pytest", "playwright", "ruff", "pre-commit"}
    assert "-r code/learner/requirements.txt" in (REPO / "requirements.txt").read_text(), (
        "the book builds with the learner environment's versions"
    )


def test_no_notebook_is_committed_beside_the_pages():
    tracked = subprocess.run(["git", "ls-files", "book"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    assert [f for f in tracked.stdout.split() if f.endswith(".ipynb")] == []


def test_notebooks_branch_holds_the_notebooks_and_the_learner_environment(tmp_path):
    built = tmp_path / "built"
    page = built / "_build" / "notebooks" / "book" / "episodes" / "2-keras.ipynb"
    page.parent.mkdir(parents=True)
    page.write_text(nbformat.writes(nbformat.v4.new_notebook()))
    copied = notebooks.branch_files(built, tmp_path / "branch", notebooks.repository_url(), "0123abc")

    branch = tmp_path / "branch"
    assert copied == [branch / "book" / "episodes" / "2-keras.ipynb"]
    requirements = (branch / "requirements.txt").read_text()
    assert requirements.startswith(_learner_requirements())
    assert requirements.rstrip().endswith("@0123abc#subdirectory=code/learner")
    assert (branch / "apt.txt").read_text() == (REPO / "apt.txt").read_text()
    assert (branch / "runtime.txt").read_text() == (REPO / "runtime.txt").read_text()
    assert "0123abc" in (branch / "README.md").read_text()
    with pytest.raises(FileNotFoundError, match="build the book first"):
        notebooks.branch_files(tmp_path / "nothing", tmp_path / "other", notebooks.repository_url(), "x")


def test_deploy_workflow_publishes_the_notebooks_branch():
    workflow = (REPO / ".github" / "workflows" / "deploy.yml").read_text()
    assert "python -m dlbook_tools.notebooks" in workflow
    assert (
        "notebooks"
        in yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]["config"]["dlbook_notebooks_branch"]
    )
    assert "contents: write" in workflow


# -- the built notebooks -----------------------------------------------------------------------


def built_notebook(built_book, docname: str) -> nbformat.NotebookNode:
    return nbformat.read(built_book.root / "_build" / "notebooks" / f"{docname}.ipynb", as_version=4)


def as_markdown(notebook: nbformat.NotebookNode) -> str:
    from nbconvert import MarkdownExporter

    body, _ = MarkdownExporter().from_notebook_node(notebook)
    return body


@pytest.mark.slow
def test_one_valid_notebook_without_outputs_per_executable_page(built_book):
    folder = built_book.root / "_build" / "notebooks"
    found = sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.ipynb"))
    assert found == PAGES
    for docname in PAGES:
        notebook = built_notebook(built_book, docname)
        nbformat.validate(notebook)
        assert notebook.metadata["kernelspec"]["name"] == "python3"
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_notebook_reads_like_the_page_without_myst_residue(built_book, docname):
    notebook = built_notebook(built_book, docname)
    text = as_markdown(notebook)
    for residue in RESIDUE:
        assert residue not in text, residue
    assert not LABEL_LINE.search(text), LABEL_LINE.search(text).group(0)
    assert "myst_nb" not in text and "glue(" not in text
    source = Page(REPO / f"{docname}.md")
    raw = source.path.read_text()
    for note in re.findall(r"```\{instructor-note\}[^\n]*\n(.*?)```", raw, flags=re.DOTALL):
        first_words = " ".join(note.split()[:6])
        assert first_words not in " ".join(text.split()), f"instructor note shown: {first_words}"
    if "{lesson-overview}" in raw:
        assert "> **Overview**" in text and "**Teaching:**" in text


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_every_exercise_is_headed_and_every_solution_folded(built_book, docname):
    notebook = built_notebook(built_book, docname)
    raw = (REPO / f"{docname}.md").read_text()
    n_exercises = len(re.findall(r"^`{3,4}\{exercise\}", raw, flags=re.MULTILINE))
    n_solutions = len(re.findall(r"^`{3,4}\{solution(?:-start)?\}", raw, flags=re.MULTILINE))
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    headings = re.findall(r"^#+ Exercise (\d+(?:\.\d+)?)\b", markdown, flags=re.MULTILINE)
    assert len(headings) == n_exercises
    episode = re.match(r"book/episodes/(\d+)-", docname)
    if episode:
        assert all(h.startswith(f"{episode.group(1)}.") for h in headings), headings
    folded = re.findall(
        r'<details class="solution">\n<summary>Solution to Exercise ([\d.]+)</summary>', markdown
    )
    assert len(folded) == n_solutions
    outside = re.sub(r"<details.*?</details>", "", markdown, flags=re.DOTALL)
    assert "Solution to Exercise" not in outside
    # answers stay unseen until asked for: no code cell of a solution, so no output of one
    assert not any("solution" in c.metadata.get("tags", []) for c in notebook.cells)
    assert not any("Solution to" in c.source for c in notebook.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_glued_values_of_the_page_appear_in_its_notebook(built_book, docname):
    html = built_book.html(docname)
    shown = re.findall(r'<span class="pasted-text">([^<]*)</span>', html)
    markdown = " ".join(
        c.source for c in built_notebook(built_book, docname).cells if c.cell_type == "markdown"
    )
    plain = re.sub(r"\\(.)", r"\1", markdown)
    import html as html_lib

    missing = [v for v in shown if html_lib.unescape(v) not in plain]
    assert missing == []
    if "{glue:text}" in (REPO / f"{docname}.md").read_text():
        assert shown, "the page glues values, so its notebook must carry some"


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_hidden_cells_are_left_out_and_hidden_inputs_collapsed(built_book, docname):
    notebook = built_notebook(built_book, docname)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    sources = "\n".join(c.source for c in code)
    for cell in jupytext.read(REPO / f"{docname}.md", fmt="md:myst").cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "remove-cell" in tags:
            assert cell.source not in sources
        elif {"remove-input", "hide-input"} & set(tags):
            match = [c for c in code if c.source.endswith(cell.source)]
            assert match and match[0].metadata["jupyter"]["source_hidden"]


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_links_are_absolute_and_internal_ones_go_to_the_published_book(built_book, docname):
    markdown = "\n".join(
        c.source for c in built_notebook(built_book, docname).cells if c.cell_type == "markdown"
    )
    for url in re.findall(r"\]\(([^)\s]+)\)", markdown):
        assert url.startswith(("https://", "http://")), url
        if "references.html" in url or "glossary.html" in url:
            assert url.startswith(BASE_URL), url


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_first_cell_is_the_colab_cell_pinned_to_the_build_revision(built_book, docname):
    notebook = built_notebook(built_book, docname)
    about, first = notebook.cells[:2]
    assert about.cell_type == "markdown" and "your own run can give somewhat different" in about.source
    assert first.metadata["tags"] == [notebooks.SETUP_TAG]
    assert "check_environment([" in first.source
    rev = notebook.metadata["dlbook"]["revision"]
    assert rev == notebooks.revision()
    assert f"@{rev}#subdirectory=code/learner" in first.source
    assert "myst" not in first.source
    assert ("keras-tuner==" in first.source) == ("import keras_tuner" in (REPO / f"{docname}.md").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_download_button_serves_the_learner_notebook(built_book, docname):
    served = built_book.html_dir / "_sources" / f"{docname}.ipynb"
    ours = built_book.root / "_build" / "notebooks" / f"{docname}.ipynb"
    assert served.read_bytes() == ours.read_bytes()


# -- running them ------------------------------------------------------------------------------

RUNNER = """
import json, sys, time
import nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
error = None
try:
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": sys.argv[2]}}).execute()
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"[-3000:]
nbformat.write(notebook, sys.argv[1])  # with its outputs, for the caller to read
print(json.dumps({"seconds": time.perf_counter() - start, "error": error}))
"""

# In the learner environment there is no myst-nb: this stand-in records what the page's hidden
# cells glue, as myst-nb would show it (IPython's plain-text form), into DLBOOK_GLUE_RECORD.
GLUE_STUB = '''"""Records glued values (tests only; the real myst_nb is not installed here)."""
import json
import os

from IPython.core.formatters import PlainTextFormatter


def glue(name, variable, display=True):
    path = os.environ["DLBOOK_GLUE_RECORD"]
    records = json.load(open(path)) if os.path.exists(path) else {}
    records[name] = PlainTextFormatter()(variable)
    with open(path, "w") as file:
        json.dump(records, file)
'''


def with_hidden_cells(notebook: nbformat.NotebookNode, page: Path) -> nbformat.NotebookNode:
    """The learner notebook with the page's hidden cells put back where they stand on the page.

    The learner notebook's code cells must be exactly the page's visible code cells outside
    solutions, in order (after the first cell); running this copy is running what a learner runs
    when they skip every exercise, plus the cells that glue the numbers the text quotes.
    """
    code = [c for c in notebook.cells if c.cell_type == "code"]
    visible = iter(code[1:])
    cells = [code[0]]
    for role, source in code_cells_with_roles(page):
        if role == "solution":
            continue
        if role == "hidden":
            cells.append(nbformat.v4.new_code_cell(source))
            continue
        cell = next(visible, None)
        assert cell is not None and cell.source.endswith(source.strip()), f"out of step at:\n{source}"
        cells.append(cell)
    assert next(visible, None) is None, "the notebook has code cells the page does not"
    combined = nbformat.v4.new_notebook(cells=cells, metadata=notebook.metadata)
    for i, cell in enumerate(combined.cells):
        cell["id"] = f"run-{i:03d}"
    return combined


def make_venv(path: Path, *requirements: str) -> Path:
    """A fresh virtual environment with only ``requirements`` (pip's cache makes it quick)."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", *requirements],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"could not create the environment {path.name}:\n{proc.stderr[-3000:]}")
    return python


def run_notebook(python: Path, notebook: Path, workdir: Path, env: dict[str, str]) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(python), "-c", RUNNER, str(notebook), str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def learner_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLBOOK_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        DLBOOK_DATA_DIR=str(tmp / "data"),
        KERAS_HOME=str(tmp / "keras"),
        MPLBACKEND="Agg",
        HOME=str(tmp / "home"),
        MPLCONFIGDIR=str(tmp / "matplotlib"),  # never the real home's font cache
    )
    (tmp / "home").mkdir(exist_ok=True)
    if MIRROR.is_dir():
        env["DLBOOK_DATA_MIRROR"] = str(MIRROR)
    # No network here and no Dollar Street or DenseNet files in the mirror: episodes 4 and 5 can
    # run only on stand-ins, which a learner must ask for (a learner online needs no such thing).
    env["DLBOOK_ALLOW_STANDINS"] = "1"
    return env


def learner_package(folder: Path) -> Path:
    """A copy of code/learner: pip builds a package folder in place, and the tree stays clean."""
    copy = folder / "learner"
    shutil.copytree(REPO / "code" / "learner", copy, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    return copy


@pytest.fixture(scope="session")
def learner_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("learner-env")
    requirements = str(REPO / "code" / "learner" / "requirements.txt")
    return make_venv(root / "venv", "-r", requirements, str(learner_package(root)))


# Glued values that measure time: they differ from run to run by nature.
TIMINGS = re.compile(r"seconds|minutes|speed|_time|time_|ms_per|per_image")


def solution_glue(page: Path):
    """A test for glue names that a solution's cells may glue: the string constants and keyword
    names of those cells (``glue("name", ...)``, ``glue_all(name=...)``), names that start with
    the literal part of an f-string there (``glue(f"name_{i}", ...)``) or with a constant and an
    underscore (a page's helper that glues a run's numbers under a prefix, ``glue_run("long", h)``)."""
    import ast

    exact, prefixes = set(), set()
    for role, source in code_cells_with_roles(page):
        if role != "solution":
            continue
        tree = ast.parse(
            "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                exact.add(node.value)
            elif isinstance(node, ast.keyword) and node.arg:
                exact.add(node.arg)
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                prefixes.add(node.values[0].value)
    prefixes |= {f"{constant}_" for constant in exact if constant.isidentifier()}
    return lambda name: name in exact or any(name.startswith(p) for p in prefixes if p)


def _same_glue(ours: str, theirs: str, rel: float = 1e-6) -> bool:
    def number(text: str):
        text = re.sub(r"^np\.\w+\((.*)\)$", r"\1", text.strip())
        try:
            return float(text)
        except ValueError:
            return None

    a, b = number(ours), number(theirs)
    if a is None or b is None:
        return ours == theirs
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("docname", PAGES)
def test_notebook_runs_top_to_bottom_with_every_exercise_skipped_and_reproduces_the_texts_numbers(
    built_book, learner_python, tmp_path, docname
):
    """One run per page, in the learner environment: the learner notebook (which holds no
    solution code cells), with the page's hidden glue cells put back. It must run without error
    and without TensorFlow's start-up noise, and give the numbers that the text quotes."""
    notebook = nbformat.read(built_book.root / "_build" / "notebooks" / f"{docname}.ipynb", as_version=4)
    runnable = tmp_path / "run.ipynb"
    nbformat.write(with_hidden_cells(notebook, REPO / f"{docname}.md"), runnable)
    stub = tmp_path / "stub" / "myst_nb"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(GLUE_STUB)
    env = learner_env(tmp_path)
    env.update(PYTHONPATH=str(stub.parent), DLBOOK_GLUE_RECORD=str(tmp_path / "glue.json"))
    result = run_notebook(learner_python, runnable, tmp_path / "work", env)
    print(f"{docname}: {result['seconds']:.1f} s in the learner environment")
    assert result["error"] is None, result["error"]

    executed = nbformat.read(runnable, as_version=4)
    printed = "\n".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    for noise in (
        "oneDNN custom operations",
        "absl::InitializeLog",
        "cpu_feature_guard",
        "rebuild TensorFlow",
    ):
        assert noise not in printed, f"TensorFlow start-up noise reaches the learner: {noise}"

    built = built_book.glued(docname)
    record = tmp_path / "glue.json"
    ours = json.loads(record.read_text()) if record.is_file() else {}
    assert set(ours) <= set(built), "the run glued names that the build did not"
    # what a solution's own cells glue (its answer) is not there when the exercises are skipped
    answer = solution_glue(REPO / f"{docname}.md")
    unexplained = sorted(name for name in set(built) - set(ours) if not answer(name))
    assert not unexplained, (
        f"glued by the build, not by a learner's run, and not by a solution: {unexplained}"
    )
    differ = {
        name: (ours[name], built[name])
        for name in ours
        if not TIMINGS.search(name) and not _same_glue(ours[name], built[name])
    }
    assert not differ, (
        f"numbers the text quotes that a learner who skips the exercises does not get: {differ}"
    )


# What Colab preinstalls among the learner environment's packages (Colab also ships pydot and the
# Graphviz program that episode 2's plot_model uses, and TensorBoard); not dlbook, keras-tuner.
COLAB_SHIPS = ["tensorflow-cpu", "keras", "pandas", "seaborn", "scikit-learn", "matplotlib", "numpy", "pydot"]


@pytest.mark.slow
def test_colab_cell_then_episode_2_run_where_only_colabs_packages_are(built_book, tmp_path):
    pins = {}
    for line in (REPO / "code" / "learner" / "requirements.txt").read_text().splitlines():
        match = re.match(r"([\w-]+)==([^;\s]+)", line)
        if match:
            pins.setdefault(match.group(1), line.split(";")[0].strip())
    python = make_venv(tmp_path / "colab", *(pins[p] for p in COLAB_SHIPS), pins["ipykernel"], "nbclient")
    # What makes this kernel "Colab" for the first cell: google.colab is imported at start-up.
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s own package."""\n')
    (site / "fake_colab.pth").write_text("import google.colab\n")
    env = learner_env(tmp_path)
    check = subprocess.run([str(python), "-c", "import dlbook"], capture_output=True, env=env)
    assert check.returncode != 0, "the Colab environment must not hold the book's helpers yet"

    env["DLBOOK_PACKAGE"] = str(learner_package(tmp_path))  # the documented override: a checkout
    start = time.perf_counter()
    notebook = built_book.root / "_build" / "notebooks" / "book" / "episodes" / "2-keras.ipynb"
    result = run_notebook(python, notebook, tmp_path / "work", env)
    print(f"episode 2 on the Colab stand-in: {time.perf_counter() - start:.1f} s, install included")
    assert result["error"] is None, result["error"]
    installed = subprocess.run([str(python), "-c", "import dlbook"], capture_output=True, env=env)
    assert installed.returncode == 0
