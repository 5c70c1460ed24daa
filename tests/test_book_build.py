"""The whole book builds, and what it publishes is what a reader needs.

The ``built_book`` tests share one full cold build (see conftest.py). The mini-book tests
build a two-page book in a temporary folder with the project's own configuration to prove
that a failing cell fails the build and that the cache re-executes only what changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from dlbook_tools import notebooks
from dlbook_tools.pages import Page, toc_files

REPO = Path(__file__).resolve().parents[1]

NOISE = [
    "Traceback (most recent call last)",
    "All log messages before absl::InitializeLog",
    "oneDNN custom operations",
    "cpu_feature_guard",
    "I0000 00:00",
    "UserWarning",
    "DeprecationWarning",
    "FutureWarning",
    "WARNING:tensorflow",
    "WARNING:absl",
    "retracing",
]


def toc_docnames() -> list[str]:
    return toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))


def executable_docnames() -> list[str]:
    return [d for d in toc_docnames() if Page(REPO / f"{d}.md").is_executable]


def repo_slug() -> str:
    url = notebooks.repository_url()
    return re.match(r"https://github\.com/(.+)$", url).group(1)


def notebooks_branch() -> str:
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    return config["sphinx"]["config"]["dlbook_notebooks_branch"]


@pytest.mark.slow
@pytest.mark.parametrize("docname", executable_docnames())
def test_executable_page_launches_its_learner_notebook_on_colab_and_binder(built_book, docname):
    html = built_book.html(docname)
    slug, branch = repo_slug(), notebooks_branch()
    colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/{docname}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/{docname}.ipynb"
    assert colab in html, f"no Colab button to {colab}"
    assert binder in html, f"no Binder button to {binder}"
    # what the buttons name is what the build wrote (the deploy pushes _build/notebooks as is)
    assert (built_book.root / "_build" / "notebooks" / f"{docname}.ipynb").is_file()
    assert not re.search(r'(colab\.research\.google\.com|mybinder\.org)[^"]*\.md"', html), (
        "a button opens a .md"
    )


@pytest.mark.slow
def test_landing_page_has_no_launch_buttons(built_book):
    html = built_book.html("book/index")
    assert "colab.research.google.com" not in html
    assert "mybinder.org/v2" not in html


@pytest.mark.slow
@pytest.mark.parametrize("docname", executable_docnames())
def test_outputs_carry_no_traceback_or_framework_noise(built_book, docname):
    nb = built_book.notebook(docname)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {index} raised"
            assert output.get("name") != "stderr", (
                f"cell {index} wrote to stderr: {output.get('text', '')[:300]}"
            )
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for marker in NOISE:
                assert marker not in text, f"cell {index} output contains {marker!r}"


@pytest.mark.slow
@pytest.mark.parametrize("docname", toc_docnames())
def test_exercises_are_numbered_and_solutions_hidden_in_dropdowns(built_book, docname):
    html = built_book.html(docname)
    exercises = re.findall(
        r'<div class="exercise admonition" id="([^"]+)">\s*<p class="admonition-title">'
        r'<span class="caption-number">Exercise (\d+(?:\.\d+)?) </span>',
        html,
    )
    ids = re.findall(r'<div class="exercise admonition" id="([^"]+)"', html)
    assert len(exercises) == len(ids), "an exercise has no number"
    numbers = [tuple(int(part) for part in n.split(".")) for _, n in exercises]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for label, _ in exercises:
        assert label.startswith("ex-"), f"exercise {label} has no explicit ex-... label"
    solutions = re.findall(r'<div class="solution([^"]*)" id=', html)
    for classes in solutions:
        assert "dropdown" in classes.split(), "a solution is shown open instead of in a dropdown"
    if ids:
        assert len(solutions) >= len(ids), "an exercise has no solution"


@pytest.mark.slow
def test_standin_note_is_visible_where_standin_data_is_used(built_book):
    html = built_book.html("book/data")
    nb = built_book.notebook("book/data")
    used_standin = any(
        "dlbook-standin" in str(o.get("data", {})) for c in nb.cells for o in c.get("outputs", [])
    )
    assert used_standin == ("dlbook-standin" in html)
    assert "Stand-in data" in html if used_standin else True


@pytest.mark.slow
def test_warm_rebuild_executes_nothing(built_book):
    if built_book.warm_log is None:
        pytest.skip("needs the session's own cold build")
    assert re.search(r"executing \d+ pages", built_book.log), "the cold build executed nothing"
    for executed in ("executing ", "Executing notebook"):
        assert executed not in built_book.warm_log, "a page was re-executed although nothing changed"
    print(f"cold build {built_book.seconds:.1f} s, warm rebuild {built_book.warm_seconds:.1f} s")


@pytest.mark.slow
def test_every_executed_page_keeps_its_seconds_and_each_cells_in_the_cache(built_book):
    """What ``make bench`` prints: the page's seconds and each code cell's, kept in the record of
    the execution cache, not in the notebook (whose cells must stay as the page has them)."""
    from jupyter_cache import get_cache

    if built_book.warm_log is None:
        pytest.skip("needs the session's own cold build")
    cache = get_cache(built_book.root / "_build" / ".jupyter_cache")
    records = cache.list_cache_records()
    pages = {Path(r.uri).resolve().relative_to(REPO).with_suffix("").as_posix() for r in records}
    assert pages == set(executable_docnames())
    for record in records:
        code = [c for c in cache.get_cache_bundle(record.pk).nb.cells if c.cell_type == "code"]
        seconds = record.data["cell_seconds"]
        assert len(seconds) == len(code)
        for cell, cell_seconds in zip(code, seconds, strict=True):
            if "skip-execution" in cell.metadata.get("tags", []):  # nbclient runs nothing there
                assert cell_seconds is None
            else:
                assert isinstance(cell_seconds, float) and cell_seconds >= 0, cell.source
        assert sum(s or 0 for s in seconds) <= record.data["execution_seconds"]
        assert record.data["jobs"] == min(2, os.cpu_count() or 1)
        assert not any("execution" in c.metadata for c in code)


@pytest.mark.slow
def test_the_build_leaves_nothing_in_the_temporary_folder(built_book):
    if built_book.warm_log is None:
        pytest.skip("needs the session's own cold build")
    assert built_book.temp_left == [], "the build left these in the system's temporary folder"


# --- mini books: the project's configuration on two tiny pages ---------------------------

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# {title}

```{{code-cell}} ipython3
{code}
```
"""


def make_mini_book(root: Path, pages: dict[str, str]) -> None:
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["sphinx"]["extra_extensions"] = [
        "dlbook_tools.kernels",
        "dlbook_tools.execution",
        "dlbook_tools.notebooks",
        "dlbook_tools.lesson",
    ]
    config.pop("bibtex_bibfiles", None)
    config["sphinx"]["config"].pop("bibtex_reference_style", None)
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    (root / "book").mkdir()
    (root / "book" / "index.md").write_text("# Mini\n\nA test book.\n")
    toc = {
        "format": "jb-book",
        "root": "book/index",
        "chapters": [{"file": f"book/{name}"} for name in pages],
    }
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    for name, code in pages.items():
        (root / "book" / f"{name}.md").write_text(PAGE.format(title=name, code=code))


def jb_build(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "-W", "-n", "--keep-going"],
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_failing_cell_fails_the_build_and_names_the_page(tmp_path):
    make_mini_book(tmp_path, {"fine": "print('ok')", "broken": "1 / 0"})
    result = jb_build(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode != 0, "a cell error did not fail the build"
    assert "broken" in log and "ZeroDivisionError" in log


SLEEPER = "# {name}\nimport time\nstart = time.time()\ntime.sleep(2)\nprint(start, time.time())"


def test_pages_run_side_by_side_on_local_sockets_and_a_rebuild_runs_only_the_changed_one(tmp_path):
    """Two pages that each take two seconds: their kernels run at the same time, neither kernel
    warns that it talks over TCP (they use local sockets), and after one page changes, only that
    page runs again. (Different code on each page: identical code would share one cache entry.)"""
    from jupyter_cache import get_cache

    make_mini_book(tmp_path, {name: SLEEPER.format(name=name) for name in ("first", "second")})
    result = jb_build(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "executing 2 pages, 2 at a time" in log
    cache = get_cache(tmp_path / "_build" / ".jupyter_cache")
    spans = []
    for record in cache.list_cache_records():  # the executed notebooks, with their outputs
        cells = cache.get_cache_bundle(record.pk).nb.cells
        text = "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))
        spans.append([float(x) for x in text.split()])
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end and b_start < a_end, f"the pages ran one after the other: {spans}"
    if sys.platform != "win32":
        assert "Kernel is running over TCP" not in log

    second = tmp_path / "book" / "second.md"
    second.write_text(second.read_text().replace("time.sleep(2)", "time.sleep(1)"))
    result = jb_build(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    executed = re.findall(r"^book/(\w+): executed in", log, re.M)
    assert executed == ["second"], f"re-executed {executed}"
    assert "Executing notebook" not in log, "myst-nb executed a page itself"


def test_build_jobs_come_from_the_environment_and_a_bad_value_says_what_is_wanted():
    from dlbook_tools.execution import jobs

    assert jobs({"DLBOOK_BUILD_JOBS": "3"}) == 3
    assert jobs({}) == min(2, os.cpu_count() or 1)
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="DLBOOK_BUILD_JOBS must be a whole number of pages"):
            jobs({"DLBOOK_BUILD_JOBS": bad})


def test_build_writes_each_pages_learner_notebook_and_restores_a_deleted_one(tmp_path):
    make_mini_book(tmp_path, {"page": "print(6 * 7)"})
    assert jb_build(tmp_path).returncode == 0
    written = tmp_path / "_build" / "notebooks" / "book" / "page.ipynb"
    assert written.is_file()
    assert sorted(p.name for p in written.parent.iterdir()) == ["page.ipynb"], "index has no code"
    cells = nbformat.read(written, as_version=4).cells
    assert [c.source for c in cells if c.cell_type == "code"][1:] == ["print(6 * 7)"]

    written.unlink()  # a cleaned notebooks folder: the next (warm) build writes it again
    result = jb_build(tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert written.is_file()


def test_lesson_overview_without_its_front_matter_fails_the_build(tmp_path):
    make_mini_book(tmp_path, {"page": "print(1)"})
    page = tmp_path / "book" / "page.md"
    page.write_text(page.read_text().replace("# page\n", "# page\n\n```{lesson-overview}\n```\n"))
    result = jb_build(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "lesson:` block lacks teaching, exercises" in log


EPISODES = [d for d in executable_docnames() if d.startswith("book/episodes/")]


@pytest.mark.slow
@pytest.mark.parametrize("docname", EPISODES)
def test_exercises_and_figures_are_numbered_within_their_episode(built_book, docname):
    """Episode 2's exercises read 2.1, 2.2, ... on the web page, as in its notebook."""
    episode = re.match(r"book/episodes/(\d+)-", docname).group(1)
    html = built_book.html(docname)
    assert f'<h1><span class="section-number">{episode}. </span>' in html
    for kind in ("Exercise", "Fig."):
        numbers = re.findall(rf'<span class="caption-number">{re.escape(kind)} ([\d.]+) ?</span>', html)
        expected = [f"{episode}.{i}" for i in range(1, len(numbers) + 1)]
        assert numbers == expected, kind
    assert re.findall(r'<span class="caption-number">Exercise ', html), "the episode has exercises"


@pytest.mark.slow
def test_the_build_leaves_the_source_tree_clean(built_book):
    """Pages run in a temporary folder: saved models and diagrams never land in book/."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "book"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if status.returncode != 0:
        pytest.skip("not a git checkout")
    written = [line for line in status.stdout.splitlines() if line[:2] in ("??", "!!")]
    assert written == [], "files the build wrote into the sources (untracked or ignored)"


@pytest.mark.slow
def test_mathjax_is_served_from_the_site_not_a_cdn(built_book):
    """Formulas must render offline: every page loads MathJax from _static/mathjax/."""
    assert (built_book.html_dir / "_static" / "mathjax" / "tex-chtml.js").is_file()
    html = built_book.html("book/episodes/1-introduction")
    assert re.search(r'<script[^>]+src="(\.\./)+_static/mathjax/tex-chtml\.js', html)
    for path in built_book.html_dir.rglob("*.html"):
        assert "cdn.jsdelivr.net/npm/mathjax" not in path.read_text(), path


def test_build_kernels_import_tensorflow_quietly_and_only_when_a_page_needs_it():
    """The kernels' start-up script: no TensorFlow import up front (pages without Keras start
    seconds faster); the first `import keras` runs with TensorFlow's C++ notices muted."""
    startup = REPO / "code/tools/dlbook_tools/ipython_startup/00-quiet-tensorflow.py"
    script = (
        f"exec(open({str(startup)!r}).read())\n"
        "import sys\n"
        "import numpy, pandas\n"
        "assert 'tensorflow' not in sys.modules\n"
        "import keras\n"
        "print(keras.ops.sum(keras.ops.ones(3)))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "3.0" in done.stdout


def test_build_stops_at_once_and_says_what_to_install_when_graphviz_is_missing(monkeypatch):
    from sphinx.errors import ExtensionError

    from dlbook_tools import kernels

    monkeypatch.setattr(kernels.shutil, "which", lambda name: None)
    with pytest.raises(ExtensionError, match=r"(?s)Graphviz.s `dot`.*apt install graphviz"):
        kernels.check_programs()


def test_relative_data_folders_mean_the_folder_the_build_was_started_in(tmp_path):
    from dlbook_tools import kernels

    environ = {"DLBOOK_DATA_MIRROR": "../shared/data", "DLBOOK_DATA_DIR": "/abs/cache", "OTHER": "x"}
    kernels.absolute_paths(environ, cwd=tmp_path / "repo")
    assert environ == {
        "DLBOOK_DATA_MIRROR": str(tmp_path / "repo" / ".." / "shared" / "data"),
        "DLBOOK_DATA_DIR": "/abs/cache",
        "OTHER": "x",
    }
