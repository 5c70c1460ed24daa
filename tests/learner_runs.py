"""Runs of the learner notebooks in environments of their own, in the background (tests only).

Each learner notebook runs once per test session in a fresh kernel of a virtual environment
that holds only the learner environment (the complete notebooks with the page's hidden glue
cells put back, and the workshop notebooks as handed out), and episode 2 once more where only
what Colab ships is installed. Those runs take minutes and each keeps about one core busy, so
:class:`LearnerRuns` starts them all, two at a time, as soon as the book is built
(``conftest.built_book``), longest first, while the other tests go on; a test waits for the run
it checks. ``tests/test_canary.py`` uses the same helpers with the newest releases.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from colab import COLAB_SHIPS, make_colab_like

from dlbook_tools import workshop
from helpers import code_cells_with_roles

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data"
# Two runs at a time: each keeps about one core busy (the book's learners have two or more).
WORKERS = 2

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


def has_solution_code(page: Path) -> bool:
    """Whether an exercise's solution on the page holds code cells. Only then does the learner
    notebook, run with every exercise skipped, run other code than the build ran: a page without
    one runs once, in the build (its learner notebook holds the same code cells, the test checks)."""
    return any(role == "solution" for role, _ in code_cells_with_roles(page))


def learner_python(folder: Path) -> Path:
    """A virtual environment with the learner environment and the book's helpers, nothing else."""
    requirements = str(REPO / "code" / "learner" / "requirements.txt")
    return make_venv(folder / "venv", "-r", requirements, str(learner_package(folder)))


def run_complete(python: Future, built: Path, docname: str, folder: Path) -> dict:
    """The complete learner notebook with the page's hidden cells put back, in the learner
    environment; a stand-in ``myst_nb`` records what the hidden cells glue."""
    notebook = nbformat.read(built / "_build" / "notebooks" / f"{docname}.ipynb", as_version=4)
    runnable = folder / "run.ipynb"
    nbformat.write(with_hidden_cells(notebook, REPO / f"{docname}.md"), runnable)
    stub = folder / "stub" / "myst_nb"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(GLUE_STUB)
    env = learner_env(folder)
    env.update(PYTHONPATH=str(stub.parent), DLBOOK_GLUE_RECORD=str(folder / "glue.json"))
    result = run_notebook(python.result(), runnable, folder / "work", env)
    record = folder / "glue.json"
    result["glued"] = json.loads(record.read_text()) if record.is_file() else {}
    result["executed"] = runnable
    return result


def run_workshop(python: Future, built: Path, docname: str, folder: Path) -> dict:
    """The workshop notebook as handed out, its ``workshop-given`` cells left out (they use what
    the typed cells make; the complete notebook's run covers them)."""
    notebook = nbformat.read(built / "_build" / "notebooks" / f"{docname}-workshop.ipynb", as_version=4)
    for cell in notebook.cells:
        if workshop.GIVEN_TAG in cell.metadata.get("tags", []):
            cell.source = "# given: runs once the cells above are typed"
    runnable = folder / "workshop.ipynb"
    nbformat.write(notebook, runnable)
    return run_notebook(python.result(), runnable, folder / "work", learner_env(folder))


def run_colab_episode_2(built: Path, folder: Path) -> dict:
    """Episode 2's notebook where only what Colab ships is installed (pinned), its first cell
    installing the rest; whether the helpers were importable before and after the run."""
    pins = {}
    for line in (REPO / "code" / "learner" / "requirements.txt").read_text().splitlines():
        match = re.match(r"([\w-]+)==([^;\s]+)", line)
        if match:
            pins.setdefault(match.group(1), line.split(";")[0].strip())
    python = make_venv(folder / "colab", *(pins[p] for p in COLAB_SHIPS), pins["ipykernel"], "nbclient")
    make_colab_like(python)  # google.colab is imported at start-up: the first cell takes it for Colab
    env = learner_env(folder)
    before = subprocess.run([str(python), "-c", "import dlbook"], capture_output=True, env=env).returncode
    env["DLBOOK_PACKAGE"] = str(learner_package(folder))  # the documented override: a checkout
    start = time.perf_counter()
    built_notebook = built / "_build" / "notebooks" / "book" / "episodes" / "2-keras.ipynb"
    notebook = Path(shutil.copy(built_notebook, folder))  # the runner writes outputs into the copy
    result = run_notebook(python, notebook, folder / "work", env)
    result["seconds_with_install"] = time.perf_counter() - start
    result["importable_before"] = before == 0
    after = subprocess.run([str(python), "-c", "import dlbook"], capture_output=True, env=env).returncode
    result["importable_after"] = after == 0
    return result


def build_seconds(built: Path) -> dict[str, float]:
    """Seconds each page ran in the build (from its execution cache): the longest runs go first."""
    from jupyter_cache import get_cache

    seconds = {}
    for record in get_cache(built / "_build" / ".jupyter_cache").list_cache_records():
        page = Path(record.uri).resolve().relative_to(REPO).with_suffix("").as_posix()
        seconds[page] = float(record.data.get("execution_seconds") or 0)
    return seconds


class LearnerRuns:
    """Every learner-notebook run of the session, started at once on a pool of ``WORKERS``."""

    def __init__(self, built: Path, folder: Path, pages: list[str], episodes: list[str]):
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="learner-run")
        self._runs: dict[tuple[str, str], Future] = {}
        python = self._pool.submit(learner_python, folder / "learner-env")
        self._runs["colab", "book/episodes/2-keras"] = self._pool.submit(
            run_colab_episode_2, built, self._folder(folder, "colab")
        )
        cost = build_seconds(built)
        with_solutions = [d for d in pages if has_solution_code(REPO / f"{d}.md")]
        for docname in sorted(with_solutions, key=lambda d: cost.get(d, 0.0), reverse=True):
            self._runs["complete", docname] = self._pool.submit(
                run_complete, python, built, docname, self._folder(folder, "complete-" + docname)
            )
        for docname in episodes:
            self._runs["workshop", docname] = self._pool.submit(
                run_workshop, python, built, docname, self._folder(folder, "workshop-" + docname)
            )

    @staticmethod
    def _folder(root: Path, name: str) -> Path:
        folder = root / re.sub(r"\W+", "-", name)
        folder.mkdir(parents=True)
        return folder

    def result(self, kind: str, docname: str) -> dict:
        """The run's result (``seconds``, ``error``, ...); raises what the run raised."""
        return self._runs[kind, docname].result(timeout=3600)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
