"""Benchmark the build (``make bench``): cold build, warm rebuild, seconds per page and per cell.

The cold build runs in a fresh temporary folder (empty execution cache), the warm rebuild
repeats it with nothing changed; the seconds of each page and of each code cell come from the
execution cache's records (``dlbook_tools.execution`` keeps nbclient's cell timings there).
Prints Markdown tables and marks what is over the budget (a cell a reader runs: 30 s; a page:
90 s); it measures, it does not assert. ``DLBOOK_BUILD_JOBS`` sets how many pages run at a time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .build import REPO

FLAGS = ["-W", "-n", "--keep-going"]
CELL_BUDGET = 30  # seconds, for a cell a reader runs (visible or in a solution)
PAGE_BUDGET = 90  # seconds, for a whole page


def records(out: Path):
    """(page, cache record, executed notebook) of every page in the execution cache of ``out``."""
    from jupyter_cache import get_cache

    cache = get_cache(out / "_build" / ".jupyter_cache")
    for record in cache.list_cache_records():
        page = Path(record.uri).resolve().relative_to(REPO).as_posix()
        yield page, record, cache.get_cache_bundle(record.pk).nb


def over_cell(role: str, seconds: float) -> str:
    return " **over 30 s**" if role != "hidden" and seconds > CELL_BUDGET else ""


def cell_table(out: Path, slowest: int = 3) -> list[str]:
    """Markdown rows: each page's seconds and its slowest cells, budgets marked."""
    from .execution import timed_cells

    rows = ["| page | seconds | slowest cells: seconds, cell, role, first line |", "| --- | --- | --- |"]
    total = 0.0
    for page, record, notebook in sorted(records(out), key=lambda r: r[0]):
        seconds = float(record.data.get("execution_seconds", float("nan")))
        total += seconds
        cells = timed_cells(record, notebook)
        shown = [c for c in cells if c[2] != "hidden" and c[0] > CELL_BUDGET]
        shown += [c for c in cells[:slowest] if c not in shown]
        text = "<br>".join(
            f"{s:.1f} s, #{n}, {role}{over_cell(role, s)}: `{line}`" for s, n, role, line in shown
        )
        over = " **over 90 s**" if seconds > PAGE_BUDGET else ""
        jobs = record.data.get("jobs", "?")
        rows.append(f"| {page} | {seconds:.1f}{over} ({jobs} at a time) | {text or 'no cell timings'} |")
    rows.append(f"| total | {total:.1f} | |")
    return rows


def timed_build(out: Path, log: Path) -> tuple[int, float, int]:
    """Build into ``out``, log to ``log``; return (status, seconds, pages executed)."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        status = subprocess.call(
            [sys.executable, "-m", "dlbook_tools.build", "--out", str(out), *FLAGS],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - start
    # pages run side by side (dlbook_tools.execution), or by myst-nb itself
    executed = len(re.findall(r"^\S+: executed in |Executing notebook", log.read_text(), re.M))
    return status, seconds, executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="build folder (default: a new temporary one)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="dlbook-bench-"))
    rows = []
    for kind in ("cold build", "warm rebuild"):
        status, seconds, executed = timed_build(out, out / f"{kind.replace(' ', '-')}.log")
        rows.append((kind, status, seconds, executed))
        if status != 0:
            print(f"{kind} failed (exit {status}); log: {out}")
            break
    print("| build | exit | seconds | pages executed |\n| --- | --- | --- | --- |")
    for kind, status, seconds, executed in rows:
        print(f"| {kind} | {status} | {seconds:.1f} | {executed} |")
    print("\nExecution in the cold build:\n")
    print(*cell_table(out), sep="\n")
    print(f"\nBuild folder and logs: {out}")
    return 0 if all(r[1] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
