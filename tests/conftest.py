"""Shared fixtures. The expensive one is ``built_book``: one full build per test session.

Set ``DLBOOK_TEST_BUILD=DIR`` to reuse a build that already exists in ``DIR`` (the folder that
holds ``_build``, e.g. ``.`` after ``make book`` or ``_build/pages/2-keras`` after a one-page
build) instead of building from cold; CI never sets it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
for _package in ("learner", "tools"):  # when the packages are not installed
    sys.path.insert(0, str(REPO / "code" / _package))


@dataclass
class BuiltBook:
    """A built copy of the book: HTML, executed notebooks and the build log."""

    root: Path  # the folder that holds _build/
    log: str = ""
    seconds: float = 0.0
    warm_log: str | None = None  # log of a rebuild with nothing changed, when this session made one
    warm_seconds: float = 0.0
    learner_runs: object = None  # learner_runs.LearnerRuns, when this session's tests use them
    temp_left: list[str] = field(default_factory=list)  # what the builds left in the temporary folder
    _glue_cache: dict = field(default_factory=dict)

    @property
    def html_dir(self) -> Path:
        return self.root / "_build" / "html"

    def html(self, docname: str) -> str:
        return (self.html_dir / f"{docname}.html").read_text()

    @property
    def executed_dir(self) -> Path:
        return self.root / "_build" / "jupyter_execute"

    def notebook(self, docname: str) -> nbformat.NotebookNode:
        """The executed notebook of a page, outputs included, from the execution cache (the
        newest record of the page). Pages come from the cache even in a cold build (they run
        side by side first, dlbook_tools.execution), and myst-nb then writes their notebook under
        jupyter_execute/ without outputs."""
        from jupyter_cache import get_cache

        cache = get_cache(self.root / "_build" / ".jupyter_cache")
        page = (REPO / f"{docname}.md").resolve()
        records = [r for r in cache.list_cache_records() if Path(r.uri).resolve() == page]
        if not records:
            raise LookupError(f"the execution cache of {self.root} holds no run of {docname}")
        return cache.get_cache_bundle(max(records, key=lambda r: r.created).pk).nb

    def glued(self, docname: str) -> dict[str, str]:
        """Every value the page glued, as its text representation."""
        if docname not in self._glue_cache:
            # myst-nb 1.x moves glue outputs out of the notebook into <doc>.glue.json.
            path = self.executed_dir / f"{docname}.glue.json"
            records = json.loads(path.read_text()) if path.is_file() else {}
            self._glue_cache[docname] = {
                name: output.get("data", {}).get("text/plain", "") for name, output in records.items()
            }
        return self._glue_cache[docname]

    def glued_value(self, docname: str, name: str):
        """A glued value parsed back into Python (numbers, strings, lists...)."""
        text = self.glued(docname)[name]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            # numpy scalars print as e.g. np.float64(0.5)
            match = re.fullmatch(r"np\.\w+\((.*)\)", text)
            if match:
                return ast.literal_eval(match.group(1))
            return text


def build_book(out: Path, flags=("-W", "-n", "--keep-going")) -> tuple[int, str, float]:
    """Build the whole book into ``out``; return (exit status, log, seconds)."""
    import subprocess

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dlbook_tools.build", "--out", str(out), *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start


@pytest.fixture(scope="session")
def built_book(request, tmp_path_factory) -> BuiltBook:
    reuse = os.environ.get("DLBOOK_TEST_BUILD")
    book = BuiltBook(Path(reuse).resolve(), log="(reused build)") if reuse else _build(tmp_path_factory)
    if any("learner_runs" in item.fixturenames for item in request.session.items):
        # the learner-notebook runs need this build and take minutes: start them now, in the
        # background, so that they run while the other tests do
        from learner_runs import LearnerRuns

        from dlbook_tools.pages import executable_pages

        pages = sorted(executable_pages(REPO))
        episodes = [d for d in pages if d.startswith("book/episodes/")]
        book.learner_runs = LearnerRuns(book.root, tmp_path_factory.mktemp("learner-runs"), pages, episodes)
        request.addfinalizer(book.learner_runs.close)
    return book


@pytest.fixture(scope="session")
def learner_runs(built_book):
    """The session's runs of the learner notebooks (``tests/learner_runs.py``), started when the
    book was built."""
    return built_book.learner_runs


def _build(tmp_path_factory) -> BuiltBook:
    out = tmp_path_factory.mktemp("book")
    temp = Path(tempfile.gettempdir())
    before = set(temp.iterdir())
    status, log, seconds = build_book(out)
    (out / "build.log").write_text(log)
    if status != 0:
        pytest.fail(f"the book build failed (exit {status}); log tail:\n{log[-6000:]}")
    # Rebuild at once with nothing changed: the tests read whether anything re-executed.
    warm_status, warm_log, warm_seconds = build_book(out)
    (out / "warm-build.log").write_text(warm_log)
    book = BuiltBook(out, log=log, seconds=seconds, warm_log=warm_log, warm_seconds=warm_seconds)
    book.temp_left = sorted(p.name for p in set(temp.iterdir()) - before)
    if warm_status != 0:
        pytest.fail(f"the warm rebuild failed (exit {warm_status}); log tail:\n{warm_log[-6000:]}")
    return book


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No mirror, no strict/offline/stand-in flags, empty cache and Keras home: only what a test
    sets counts."""
    for name in ("DLBOOK_DATA_MIRROR", "DLBOOK_STRICT", "DLBOOK_OFFLINE", "DLBOOK_ALLOW_STANDINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # where verified checksums are recorded


def pytest_addoption(parser):
    parser.addoption(
        "--canary",
        action="store_true",
        help="run the canary: the learner notebooks on the newest releases from PyPI (make canary)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs the full book build, or runs a whole page (minutes)")
    config.addinivalue_line("markers", "canary: needs PyPI and minutes, runs only with --canary")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--canary"):
        return
    skip = pytest.mark.skip(reason="the canary needs PyPI and minutes: run it with `make canary`")
    for item in items:
        if item.get_closest_marker("canary"):
            item.add_marker(skip)
