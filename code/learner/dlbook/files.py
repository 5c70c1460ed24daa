"""Writing next to a data file without ever leaving a half file, or following a planted link.

Everything written beside a target goes first to a temporary file made by
:func:`tempfile.mkstemp` in the same folder (a fresh, unpredictable name, created exclusively,
so a link planted in a shared folder is never followed), then replaces the target in one step.
The temporary name carries the writer's process id: a file left by a process that was killed
(SIGKILL, power cut) is removed by the next run that looks in that folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".dlbook-"
TEMP_SUFFIX = ".part"
KEEP_REJECTED = 3  # bad copies kept per file name in rejected/, the newest ones


def pooch():
    """pooch, imported without the warning its progress-bar library prints in a Jupyter kernel
    that lacks ipywidgets (on stderr, in the learner's cell); its bar is not used there."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import pooch as module
    return module


def temporary_file(folder: Path, name: str) -> tuple[int, Path]:
    """A new, empty file in ``folder`` that nobody else has a name for: (open descriptor, path)."""
    fd, path = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-{name}-", suffix=TEMP_SUFFIX, dir=folder)
    return fd, Path(path)


@contextlib.contextmanager
def replacing(target: Path, mode: str = "wb") -> Iterator:
    """An open temporary file that replaces ``target`` in one step if the block succeeds:
    ``target`` is always either its old self or whole, never half written."""
    fd, tmp = temporary_file(target.parent, target.name)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: Path, text: str) -> None:
    with replacing(target, "w") as handle:
        handle.write(text)


def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file (raises OSError)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, replacing(target) as out:
        shutil.copyfileobj(src, out)


def sweep(folder: Path, older_than_s: float) -> None:
    """Remove temporary files in ``folder`` whose writer is gone (or that are older than any
    transfer may take): what a killed process left behind."""
    try:
        leftovers = list(folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))
    except OSError:
        return
    now = time.time()
    for path in leftovers:
        pid = path.name.removeprefix(TEMP_PREFIX).partition("-")[0]
        with contextlib.suppress(OSError, ValueError):
            if not _alive(int(pid)) or now - path.lstat().st_mtime > older_than_s:
                path.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else (or Windows): assume alive
        return True
    return True


def set_aside(path: Path, target: Path) -> Path:
    """Move ``path`` (a bad copy of ``target``) into ``rejected/`` beside ``target``.

    Copies are named by their content, so the same bad bytes are kept once, and only the
    newest ``KEEP_REJECTED`` copies of each file name are kept.
    """
    rejected_dir = target.parent / "rejected"
    rejected_dir.mkdir(exist_ok=True)
    rejected = rejected_dir / f"{target.name}.sha256-{pooch().file_hash(str(path))[:16]}"
    os.replace(path, rejected)
    os.utime(rejected)
    copies = sorted(rejected_dir.glob(f"{target.name}.sha256-*"), key=lambda p: p.stat().st_mtime)
    for old in copies[:-KEEP_REJECTED]:
        old.unlink(missing_ok=True)
    return rejected
