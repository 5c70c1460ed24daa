"""Benchmark the build (``make bench``): cold build, warm rebuild, per-page execution time.

The cold build runs in a fresh temporary folder (empty execution cache), the warm rebuild
repeats it with nothing changed; per-page seconds come from the execution cache's records.
Prints a Markdown table; it measures, it does not assert.
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


def page_seconds(out: Path) -> dict[str, float]:
    """Execution seconds per page, from the jupyter-cache records of a build in ``out``."""
    from jupyter_cache import get_cache

    cache = get_cache(out / "_build" / ".jupyter_cache")
    seconds = {}
    for record in cache.list_cache_records():
        page = Path(record.uri).resolve().relative_to(REPO).as_posix()
        seconds[page] = float(record.data.get("execution_seconds", float("nan")))
    return seconds


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
    executed = len(re.findall(r"Executing notebook", log.read_text()))
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
    print("\n| page | execution seconds (cold) |\n| --- | --- |")
    per_page = page_seconds(out)
    for page, seconds in sorted(per_page.items()):
        print(f"| {page} | {seconds:.1f} |")
    print(f"| total | {sum(per_page.values()):.1f} |")
    print(f"\nBuild folder and logs: {out}")
    return 0 if all(r[1] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
