"""The notebooks that the Colab and Binder buttons open, rendered by the build from the pages.

Fast tests cover the pieces (the Markdown renderer, the Colab cell, the learner environment,
the notebooks branch). The slow ones read the notebooks of the session's full build
(``built_book``), and run each of them in a fresh kernel of a virtual environment that holds
only the learner environment, and episode 2 in one that holds only what Colab ships.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.utils import new_document
from learner_runs import has_solution_code, with_hidden_cells

from dlbook_tools import branch, notebooks, workshop
from dlbook_tools.markdown import NotebookRenderer, PageContext
from dlbook_tools.pages import Page, executable_pages
from helpers import code_cells_with_roles

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(executable_pages(REPO))
EPISODES = [d for d in PAGES if d.startswith("book/episodes/")]
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
    copied = branch.branch_files(
        built / "_build" / "notebooks", tmp_path / "branch", notebooks.repository_url(), "0123abc"
    )

    target = tmp_path / "branch"
    assert copied == [target / "book" / "episodes" / "2-keras.ipynb"]
    requirements = (target / "requirements.txt").read_text()
    assert requirements.startswith(_learner_requirements())
    assert requirements.rstrip().endswith("@0123abc#subdirectory=code/learner")
    assert (target / "apt.txt").read_text() == (REPO / "apt.txt").read_text()
    assert (target / "runtime.txt").read_text() == (REPO / "runtime.txt").read_text()
    assert "0123abc" in (target / "README.md").read_text()
    with pytest.raises(FileNotFoundError, match="build the book first"):
        branch.branch_files(tmp_path / "nothing", tmp_path / "other", notebooks.repository_url(), "x")


def test_deploy_workflow_publishes_the_notebooks_branch():
    workflow = (REPO / ".github" / "workflows" / "deploy.yml").read_text()
    assert "python -m dlbook_tools.branch" in workflow
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
    assert found == sorted(PAGES + [f"{d}-workshop" for d in EPISODES])  # and one to type into
    for docname in found:
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

# Glued values that measure time: they differ from run to run by nature.
TIMINGS = re.compile(r"seconds|minutes|speed|_time|time_|ms_per|per_image|timed_on")
# Numbers computed outside a solution from a value that an exercise's solution sets; a learner who
# skips the exercise keeps the default, so they are compared only when the build's value is the
# default (page: (glued name of the value, default, prefix of the names computed from it)).
# Episode 4's search uses `best_rate`, 0.5 unless the dropout exercise's sweep found another.
FROM_A_SOLUTION = {"book/episodes/4-advanced-layer-types": ("best_rate", 0.5, "tuner_")}


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
@pytest.mark.parametrize("docname", [d for d in PAGES if not has_solution_code(REPO / f"{d}.md")])
def test_a_page_without_solution_code_runs_once_in_the_build_which_its_notebook_repeats(built_book, docname):
    """No solution on the page holds code, so its learner notebook holds exactly the page's code
    cells (hidden ones put back): the build's run is the learner's run, in the build's
    environment. That the learner environment holds what the page imports is checked by
    test_learner_environment_provides_every_module_a_notebook_imports and by the workshop
    notebook's run."""
    notebook = nbformat.read(built_book.root / "_build" / "notebooks" / f"{docname}.ipynb", as_version=4)
    combined = with_hidden_cells(notebook, REPO / f"{docname}.md")  # asserts the cells match
    executed = [c.source for c in built_book.notebook(docname).cells if c.cell_type == "code"]
    assert len(combined.cells) - 1 == len(executed)  # all but the first (Colab) cell
    for cell, source in zip(combined.cells[1:], executed, strict=True):
        assert cell.source.endswith(source.strip()), f"the notebook runs other code than the build:\n{source}"


@pytest.mark.slow
@pytest.mark.parametrize("docname", [d for d in PAGES if has_solution_code(REPO / f"{d}.md")])
def test_notebook_runs_top_to_bottom_with_every_exercise_skipped_and_reproduces_the_texts_numbers(
    built_book, learner_runs, docname
):
    """One run per page, in the learner environment: the learner notebook (which holds no
    solution code cells), with the page's hidden glue cells put back. It must run without error
    and without TensorFlow's start-up noise, and give the numbers that the text quotes."""
    result = learner_runs.result("complete", docname)
    print(f"{docname}: {result['seconds']:.1f} s in the learner environment")
    assert result["error"] is None, result["error"]

    executed = nbformat.read(result["executed"], as_version=4)
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
    ours = result["glued"]
    assert set(ours) <= set(built), "the run glued names that the build did not"
    # what a solution's own cells glue (its answer) is not there when the exercises are skipped
    answer = solution_glue(REPO / f"{docname}.md")
    unexplained = sorted(name for name in set(built) - set(ours) if not answer(name))
    assert not unexplained, (
        f"glued by the build, not by a learner's run, and not by a solution: {unexplained}"
    )
    value, default, prefix = FROM_A_SOLUTION.get(docname, (None, None, None))
    depends = value is not None and built_book.glued_value(docname, value) != default
    differ = {
        name: (ours[name], built[name])
        for name in ours
        if not TIMINGS.search(name)
        and not (depends and name.startswith(prefix))
        and not _same_glue(ours[name], built[name])
    }
    assert not differ, (
        f"numbers the text quotes that a learner who skips the exercises does not get: {differ}"
    )


@pytest.mark.slow
def test_colab_cell_then_episode_2_run_where_only_colabs_packages_are(learner_runs):
    """Episode 2 where only what Colab ships is installed: its first cell installs the helpers
    (from a checkout, the documented override) and what else the page needs, and it runs."""
    result = learner_runs.result("colab", "book/episodes/2-keras")
    assert not result["importable_before"], "the Colab environment must not hold the book's helpers yet"
    print(f"episode 2 on the Colab stand-in: {result['seconds_with_install']:.1f} s, install included")
    assert result["error"] is None, result["error"]
    assert result["importable_after"]


# -- Colab's GPU runtime, the first cell's report ---------------------------------------------


def test_first_cell_reports_versions_that_differ_and_a_cpu_where_a_gpu_was_expected(monkeypatch, capsys):
    """The first cell itself (not a stub of the report) with a Keras and a pandas whose minor
    versions differ from the pins, on a Colab runtime without a GPU: it flags both, names the fix
    and says how to switch the runtime, and it does not fail."""
    from dlbook import environment

    pins = environment.pins()
    differ = {"keras": "2.15.0", "pandas": "1.5.3"}
    monkeypatch.setattr(environment, "installed_version", lambda name: differ.get(name, pins.get(name)))
    monkeypatch.setattr(environment, "device", lambda: "CPU")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)  # installs nothing here
    source = notebooks.setup_cell_source(
        notebooks.repository_url(), "0123abc", [], ["keras", "pandas"], gpu=True
    )
    assert source.rstrip().endswith('check_environment(["tensorflow", "keras", "pandas"], expect_gpu=True)')
    exec(compile(source, "<first cell>", "exec"), {})
    report = capsys.readouterr().out
    flagged = [line.split()[0] for line in report.splitlines() if "<- a different major or minor" in line]
    assert flagged == ["keras", "pandas"], report
    assert f'Run: python -m pip install "keras=={pins["keras"]}"' in report
    assert "(and 1 more flagged above)" in report
    assert "Device   CPU" in report
    assert "Runtime > Change runtime type" in report  # on Colab: how to get the GPU

    monkeypatch.delenv("COLAB_RELEASE_TAG")  # a laptop: a CPU is fine, said without Colab's menu
    monkeypatch.setattr(environment, "installed_version", lambda name: pins.get(name))
    exec(compile(source, "<first cell>", "exec"), {})
    report = capsys.readouterr().out
    assert "Note: no GPU" in report and "Runtime >" not in report
    assert report.rstrip().endswith("All good: the versions match the ones the book was built with.")


def test_colab_opens_a_gpu_runtime_only_for_a_page_that_asks_for_one():
    assert notebooks.colab_metadata(True) == {
        "accelerator": "GPU",
        "colab": {"provenance": [], "gpuType": "T4"},
    }
    assert notebooks.colab_metadata(False) == {"colab": {"provenance": []}}


# -- workshop notebooks and the archive -------------------------------------------------------


def _complete_notebook() -> nbformat.NotebookNode:
    setup = nbformat.v4.new_code_cell("check_environment([])")
    setup.metadata["tags"] = [notebooks.SETUP_TAG]
    kept = nbformat.v4.new_code_cell("import numpy as np")
    kept.metadata["tags"] = [workshop.KEEP_TAG]
    given = nbformat.v4.new_code_cell("check(x)")
    given.metadata["tags"] = ["hide-input", workshop.GIVEN_TAG]
    typed = nbformat.v4.new_code_cell("x = np.arange(3)\nx.sum()")
    typed.metadata["workshop"] = "Sum the first three whole numbers " + "and say so at some length " * 4
    hidden = nbformat.v4.new_code_cell("# @title Code hidden\nplot(x)")
    hidden.metadata.update(workshop="Plot them", jupyter={"source_hidden": True}, cellView="form")
    bare = nbformat.v4.new_code_cell("y = 1")
    cells = [
        notebooks.about_cell("https://example.org/page.html"),
        setup,
        nbformat.v4.new_markdown_cell("Some prose."),
        kept,
        given,
        typed,
        hidden,
        bare,
    ]
    return nbformat.v4.new_notebook(cells=cells)


def test_workshop_notebook_empties_the_live_coded_cells_and_keeps_the_rest():
    complete = _complete_notebook()
    ours, problems = workshop.split(
        complete, notebooks.SETUP_TAG, "https://example.org/page.html", "https://colab.example/page.ipynb"
    )
    about = ours.cells[0].source
    assert "Workshop notebook" in about and "(https://example.org/page.html)" in about
    assert "[complete notebook](https://colab.example/page.ipynb)" in about
    assert [c.source for c in ours.cells[1:5]] == [c.source for c in complete.cells[1:5]]
    typed, hidden, bare = ours.cells[5:]
    assert all(line.startswith("# ") and len(line) <= 96 for line in typed.source.splitlines())
    assert len(typed.source.splitlines()) == 2 and "Sum the first three" in typed.source
    assert hidden.source == "# Plot them" and "jupyter" not in hidden.metadata  # nothing to fold
    assert bare.source.startswith("# ")
    assert problems == [
        "a code cell has neither a :workshop: comment nor a tag workshop-keep or workshop-given ('y = 1')"
    ]
    # the complete notebook keeps its code and loses the comments, which only the workshop needs
    assert complete.cells[5].source == "x = np.arange(3)\nx.sum()"
    assert all("workshop" not in c.metadata for c in complete.cells + ours.cells)


def test_archive_holds_the_folder_under_one_name_and_is_the_same_when_rebuilt(tmp_path):
    folder = tmp_path / "branch"
    (folder / "book").mkdir(parents=True)
    (folder / "book" / "a.ipynb").write_text("{}")
    (folder / "README.md").write_text("read me")
    archive = tmp_path / "site" / workshop.ARCHIVE
    archive.parent.mkdir()
    names = branch.write_archive(folder, archive)
    assert names == ["dlbook-notebooks/README.md", "dlbook-notebooks/book/a.ipynb"]
    first = archive.read_bytes()
    os.utime(folder / "README.md", (0, 0))
    branch.write_archive(folder, archive)
    assert archive.read_bytes() == first
    assert sorted(p.name for p in archive.parent.iterdir()) == [workshop.ARCHIVE]  # no temporary file


def _front_matter_gpu(docname: str) -> bool:
    return bool(Page(REPO / f"{docname}.md").lesson.get("gpu"))


@pytest.mark.slow
def test_published_notebooks_ask_colab_for_a_gpu_exactly_on_the_pages_that_train_convolutional_networks(
    built_book,
):
    """Every notebook the branch publishes: Colab's GPU metadata and the first cell's note on
    exactly the pages whose front matter asks for a GPU, and those are exactly the pages whose
    code (exercises aside) trains with convolutional networks, where a GPU buys minutes. Pages
    that train small dense networks on tables (episodes 1 to 3, 6) gain too little from one to be
    worth a runtime switch. Each GPU page says so once, with how long its code ran."""
    folder = built_book.root / "_build" / "notebooks"
    for docname in PAGES:
        gpu = _front_matter_gpu(docname)
        code = "\n".join(s for role, s in code_cells_with_roles(REPO / f"{docname}.md") if role != "solution")
        convolutional = ".fit(" in code and bool(re.search(r"Conv2D|keras\.applications\.", code))
        assert gpu == convolutional, f"{docname}: front matter gpu={gpu}, trains a CNN={convolutional}"
        paths = [folder / f"{docname}.ipynb"] + (
            [folder / f"{docname}-workshop.ipynb"] if docname.startswith("book/episodes/") else []
        )
        for path in paths:
            notebook = nbformat.read(path, as_version=4)
            assert (notebook.metadata.get("accelerator") == "GPU") == gpu, path.name
            assert (notebook.metadata["colab"].get("gpuType") == "T4") == gpu, path.name
            assert ("expect_gpu=True" in notebook.cells[1].source) == gpu, path.name
        html = (built_book.html_dir / f"{docname}.html").read_text()
        assert html.count("On Colab, a GPU helps.") == (1 if gpu else 0), docname
        if gpu:
            ran = re.search(r"on a CPU, this page.s code ran for (\d+\.\d) minutes([^.]*\.[^.]*\.)", html)
            assert ran and float(ran.group(1)) > 0, docname
            # the build runs pages side by side: the minutes say so (see dlbook_tools.execution)
            beside = "Up to one other page ran at the same time, sharing the CPU" in ran.group(2)
            assert beside == ((os.cpu_count() or 1) >= 2), ran.group(0)
    assert any(_front_matter_gpu(d) for d in PAGES)


@pytest.mark.slow
@pytest.mark.parametrize("docname", EPISODES)
def test_workshop_notebook_is_the_complete_one_with_the_live_coded_cells_empty(built_book, docname):
    folder = built_book.root / "_build" / "notebooks"
    complete = nbformat.read(folder / f"{docname}.ipynb", as_version=4)
    ours = nbformat.read(folder / f"{docname}-workshop.ipynb", as_version=4)
    nbformat.validate(ours)
    assert ours.metadata["dlbook"]["workshop"] is True
    assert [c.cell_type for c in ours.cells] == [c.cell_type for c in complete.cells]
    # prose, figures and exercises (solutions included) exactly as in the complete notebook
    for theirs, mine in zip(complete.cells[1:], ours.cells[1:], strict=True):
        if theirs.cell_type == "markdown":
            assert mine.source == theirs.source
    kept = typed = 0
    comments = []
    for theirs, mine in zip(complete.cells[1:], ours.cells[1:], strict=True):
        if theirs.cell_type != "code":
            continue
        if workshop.is_live_coded(theirs, notebooks.SETUP_TAG):
            typed += 1
            lines = mine.source.splitlines()
            assert lines and all(line.startswith("# ") for line in lines), mine.source
            comments.append(mine.source)
        else:
            kept += 1
            assert mine.source == theirs.source
    assert kept >= 1 and typed >= kept, (kept, typed)
    assert len(set(comments)) == len(comments), "two empty cells say the same thing"
    assert not any("Type the code of this cell from the page" in c for c in comments)


@pytest.mark.slow
@pytest.mark.parametrize("docname", EPISODES)
def test_workshop_notebook_runs_as_handed_out_in_the_learner_environment(learner_runs, docname):
    """What a learner gets before typing anything: the first cell, the kept cells (imports, data,
    helper figures) and the empty ones; every ``workshop-keep`` cell must run without the typed
    ones (the ``workshop-given`` cells need them: the complete notebook's run executes those)."""
    result = learner_runs.result("workshop", docname)
    print(f"{docname} workshop notebook: {result['seconds']:.1f} s in the learner environment")
    assert result["error"] is None, result["error"]


def test_setup_and_landing_page_name_the_episodes_whose_notebooks_open_on_a_gpu():
    """The pages that tell a reader where Colab gives a GPU name what the front matter says."""
    numbers = [
        Path(d).name.split("-")[0] for d in PAGES if d.startswith("book/episodes/") and _front_matter_gpu(d)
    ]
    assert numbers, "no episode asks Colab for a GPU"
    named = (
        f"episodes {', '.join(numbers[:-1])} and {numbers[-1]}"
        if len(numbers) > 1
        else f"episode {numbers[0]}"
    )
    for page in ("book/setup.md", "book/index.md"):
        text = " ".join((REPO / page).read_text().split())
        sentences = [s for s in re.split(r"(?<=\.)\s", text) if "GPU" in s]
        said = {m.rstrip(",") for s in sentences for m in re.findall(r"episodes? \d+(?:(?:, | and )\d+)*", s)}
        assert said == {named}, (page, named, said)
        assert any(named in s and "Colab" in s for s in sentences), (page, named)


@pytest.mark.slow
def test_site_archive_holds_every_notebook_and_installs_the_helpers_without_git(built_book):
    import zipfile

    archive = zipfile.ZipFile(built_book.html_dir / workshop.ARCHIVE)
    names = set(archive.namelist())
    built = built_book.root / "_build" / "notebooks"
    notebooks_built = sorted(built.rglob("*.ipynb"))
    assert len(notebooks_built) == len(PAGES) + len(
        EPISODES
    )  # a complete one each, a workshop one each episode
    for path in notebooks_built:
        name = f"{branch.ARCHIVE_FOLDER}/{path.relative_to(built).as_posix()}"
        assert archive.read(name) == path.read_bytes(), name
    requirements = archive.read(f"{branch.ARCHIVE_FOLDER}/requirements.txt").decode()
    assert requirements.startswith(_learner_requirements())
    assert requirements.rstrip().splitlines()[-1] == f"./{branch.HELPERS}" and "git+" not in requirements
    for inside in ("pyproject.toml", "dlbook/__init__.py", "dlbook/environment.py", "requirements.txt"):
        assert f"{branch.ARCHIVE_FOLDER}/{branch.HELPERS}/{inside}" in names, inside
    readme = archive.read(f"{branch.ARCHIVE_FOLDER}/README.md").decode()
    assert "python -m dlbook.prefetch --mirror FOLDER" in readme and "DLBOOK_DATA_MIRROR" in readme
    assert "setup.html#setup-workshop-notebooks" in readme
