"""Build the book (``make book``): ``jupyter-book build`` plus the checks it lacks.

Jupyter Book can exit 0 after a cell failed; this wrapper also fails when the build left
execution reports behind, and prints where they are.

``python -m dlbook_tools.build --page book/episodes/2-keras.md`` builds a small book of the landing
page, that one page and the reference pages into ``_build/pages/<page>/`` with its own
execution cache: for writing one page without rebuilding the rest. References to labels on
pages left out show up there as warnings; the full build must have none.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .kernels import absolute_paths

REPO = Path(__file__).resolve().parents[3]


def build(flags: list[str], output: Path | None = None, toc: Path | None = None) -> int:
    """Run ``jupyter-book build`` on the repository; return its exit status (non-zero on failure)."""
    out_dir = output or REPO
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(REPO),
        "--path-output",
        str(out_dir),
        *flags,
    ]
    if toc is not None:
        command += ["--toc", str(toc)]
    status = subprocess.call(command, cwd=REPO)
    reports = sorted((out_dir / "_build" / "html" / "reports").rglob("*.err.log"))
    if reports:
        print("Execution failed on these pages; see the logs:", *reports, sep="\n  ")
        return status or 1
    return status


def page_toc(page: Path) -> dict:
    chapters = [{"file": page.with_suffix("").as_posix()}]
    for extra in ("book/glossary", "book/references"):
        if (REPO / f"{extra}.md").is_file():
            chapters.append({"file": extra})
    return {"format": "jb-book", "root": "book/index", "chapters": chapters}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=Path, help="build only this page (with the landing page)")
    parser.add_argument("--out", type=Path, help="folder to hold _build/ (default: the repository)")
    args, flags = parser.parse_known_args(argv)
    absolute_paths()  # relative data folders mean the folder this command was started in
    if args.page is None:
        return build(flags, output=args.out.resolve() if args.out else None)
    page = args.page.resolve().relative_to(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        toc = Path(tmp) / "_toc.yml"
        toc.write_text(yaml.safe_dump(page_toc(page)))
        return build(flags, output=REPO / "_build" / "pages" / page.stem, toc=toc)


if __name__ == "__main__":
    sys.exit(main())
