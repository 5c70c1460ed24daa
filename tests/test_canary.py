"""The canary: the learner notebooks of episodes 2 and 4 on the newest releases, as on Colab.

Colab upgrades what it preinstalls on its own schedule, and a learner who opens a notebook there
gets whatever Colab holds that week, not the book's pins. This test installs the newest releases
on PyPI of those packages (no pins) into a fresh environment that the notebooks' first cell takes
for Colab, runs the two notebooks top to bottom (their first cell installs the book's helpers
and keras-tuner, as on Colab), and checks that the first cell's report flags every package whose
major or minor version is no longer the pinned one.

It needs PyPI and several minutes, so a plain ``pytest`` skips it; ``make canary`` runs it (and a
weekly workflow, .github/workflows/canary.yml). It prints the versions it got (``pytest -s``)
and writes them, with each notebook's seconds and verdict, to ``versions.json`` in its temporary
folder.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from colab import COLAB_SHIPS, installed, make_colab_like, normalise
from learner_runs import learner_env, learner_package, make_venv, run_notebook
from packaging.version import InvalidVersion, Version

from dlbook.environment import TWINS, pins

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["book/episodes/2-keras", "book/episodes/4-advanced-layer-types"]
# What Colab preinstalls, and the kernel and client that run a notebook there.
NEWEST = [*COLAB_SHIPS, "ipykernel", "nbclient"]
FLAG = "a different major or minor version"
# A row of the report's table: package, installed version, the book's version, maybe a flag.
ROW = re.compile(r"^(?P<name>[\w.-]+) +(?P<installed>\S+) +(?P<pinned>\S+)(?: +<- (?P<problem>.+))?$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _major_minor(version: str) -> tuple[int, ...] | str:
    try:
        return Version(version).release[:2]
    except InvalidVersion:
        return version


def first_line(cell: nbformat.NotebookNode) -> str:
    lines = cell.source.strip().splitlines()
    return lines[0] if lines else "(empty)"


def where_it_failed(executed: nbformat.NotebookNode, error: str) -> str:
    """The failing cell (index among the notebook's cells, first line of its source) and the
    error, read from the executed notebook; a timeout or a dead kernel leaves no error output,
    so then the last cell that started, and the runner's message."""
    for index, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                trace = ANSI.sub("", "\n".join(output.get("traceback", [])))
                return (
                    f"cell {index} ({first_line(cell)}): {output.ename}: {output.evalue[:2000]}\n"
                    f"Traceback, last lines:\n{trace[-2000:]}"
                )
    started = [
        index
        for index, cell in enumerate(executed.cells)
        if cell.cell_type == "code" and "iopub.execute_input" in cell.metadata.get("execution", {})
    ]
    if started:
        index = started[-1]
        return f"cell {index} ({first_line(executed.cells[index])}): {error}"
    return f"before any cell ran: {error}"


def report_rows(executed: nbformat.NotebookNode) -> dict[str, dict[str, str | None]]:
    """The rows of the report that the notebook's first code cell printed, one for each package
    that its check_environment call names."""
    cell = next(c for c in executed.cells if c.cell_type == "code")
    text = ANSI.sub("", "".join(o.get("text", "") for o in cell.get("outputs", []) if "text" in o))
    lines = text.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if line.split() == ["package", "installed", "book"]), None
    )
    assert header is not None, f"the first cell printed no report:\n{text[-2000:]}"
    rows = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        match = ROW.match(line)
        assert match, f"not a row of the report: {line!r}"
        rows[normalise(match["name"])] = match.groupdict()
    call = re.search(r"check_environment\(\[([^\]]*)\]", cell.source)
    asked = [normalise(name) for name in re.findall(r"[\"']([^\"']+)[\"']", call[1])] if call else []
    missing = [name for name in asked if name not in rows and TWINS.get(name) not in rows]
    assert not missing, f"the first cell asks about {missing}, and its report has no row for them"
    return rows


def untruths(rows: dict[str, dict[str, str | None]], have: dict[str, str], want: dict[str, str]) -> list[str]:
    """Where the report disagrees with what is installed: a wrong version, or a flag that is
    missing (the installed major.minor is not the pinned one) or wrong (it is)."""
    wrong = []
    for name, row in rows.items():
        actual, pinned = have.get(name), want.get(name)
        if row["installed"] != (actual or "-") or row["pinned"] != pinned:
            wrong.append(
                f"{name}: the report says {row['installed']} (book {row['pinned']}), "
                f"installed is {actual} (pin {pinned})"
            )
            continue
        if actual is None:
            if row["problem"] != "not installed":
                wrong.append(f"{name}: not installed, yet the report says {row['problem']!r}")
            continue
        moved = _major_minor(actual) != _major_minor(pinned)
        if moved and row["problem"] != FLAG:
            wrong.append(
                f"{name}: {actual} is not the pinned {pinned}'s major.minor, yet no "
                f"'<- {FLAG}' (says {row['problem']!r})"
            )
        elif not moved and row["problem"] is not None:
            wrong.append(
                f"{name}: {actual} matches the pinned {pinned}'s major.minor, yet flagged '{row['problem']}'"
            )
    return wrong


def restore(python: Path, before: dict[str, str]) -> None:
    """Put the environment back to what it held before a notebook's first cell installed into
    it, so that each notebook starts from a fresh runtime's packages, as on Colab."""
    now = installed(python)
    added = sorted(set(now) - set(before))
    if added:
        subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "--yes", *added], check=True)
    back = [f"{name}=={version}" for name, version in before.items() if now.get(name) != version]
    if back:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", *back], check=True
        )
    assert installed(python) == before, "could not restore the Colab-like environment"


def run_as_on_colab(python: Path, built: Path, docname: str, folder: Path) -> dict:
    """Run one learner notebook in the Colab-like environment; return its seconds, the report's
    rows, what its first cell installed, and what failed (None when nothing did)."""
    folder.mkdir(parents=True)
    env = learner_env(folder)
    check = subprocess.run([str(python), "-c", "import dlbook"], capture_output=True, env=env)
    assert check.returncode != 0, "the Colab-like environment must not hold the book's helpers yet"
    env["DLBOOK_PACKAGE"] = str(learner_package(folder))  # the documented override: a checkout
    notebook = folder / "run.ipynb"  # the runner writes the outputs into it: never the build's copy
    shutil.copyfile(built / "_build" / "notebooks" / f"{docname}.ipynb", notebook)
    result = run_notebook(python, notebook, folder / "work", env)
    executed = nbformat.read(notebook, as_version=4)
    outcome = {"seconds": round(result["seconds"], 1), "error": None, "report": {}, "untrue": []}
    if result["error"] is not None:
        outcome["error"] = where_it_failed(executed, result["error"])
    try:
        outcome["report"] = report_rows(executed)
    except AssertionError as problem:
        outcome["untrue"] = [str(problem)]
    return outcome


@pytest.mark.canary
def test_episodes_2_and_4_run_on_colab_with_the_newest_releases_and_the_report_flags_what_moved(
    built_book, tmp_path
):
    want = pins(REPO / "code" / "learner" / "requirements.txt")
    start = time.perf_counter()
    # --upgrade: whatever PyPI offers today, dependencies included (pip's cache only saves downloads)
    python = make_venv(tmp_path / "newest", "--upgrade", "--upgrade-strategy", "eager", *NEWEST)
    make_colab_like(python)
    colab = installed(python)
    python_version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    record = {
        "python": python_version,
        "environment_seconds": round(time.perf_counter() - start, 1),
        "newest": {name: colab.get(normalise(name)) for name in NEWEST},
        "pinned": {name: want.get(normalise(name)) for name in NEWEST},
        "installed": colab,
        "notebooks": {},
    }
    versions = tmp_path / "versions.json"
    versions.write_text(json.dumps(record, indent=1))
    print(f"\nThe newest releases (Python {python_version}; {record['environment_seconds']} s to install):")
    for name in NEWEST:
        pinned = record["pinned"][name]
        print(f"  {name:<15} {record['newest'][name] or '-':<12} book: {pinned or '-'}")

    failures = []
    for docname in NOTEBOOKS:
        outcome = run_as_on_colab(python, built_book.root, docname, tmp_path / Path(docname).name)
        have = installed(python)  # with what the first cell installed (dlbook, keras-tuner)
        outcome["untrue"] += untruths(outcome["report"], have, want)
        outcome["first_cell_installed"] = {n: v for n, v in have.items() if colab.get(n) != v}
        outcome["flagged"] = sorted(n for n, row in outcome["report"].items() if row["problem"])
        record["notebooks"][docname] = outcome
        verdict = "FAILED" if outcome["error"] else "ran"
        print(f"{docname}: {verdict} in {outcome['seconds']} s (the first cell's install included)")
        print(f"  its report flags: {', '.join(outcome['flagged']) or 'nothing'}")
        if outcome["error"]:
            failures.append(f"{docname}, {outcome['error']}")
        if outcome["untrue"]:
            failures.append(
                f"{docname}: the first cell's report is not true:\n  " + "\n  ".join(outcome["untrue"])
            )
        restore(python, colab)
    versions.write_text(json.dumps(record, indent=1))
    print(f"versions and results: {versions}")
    assert not failures, "\n\n".join(failures)
