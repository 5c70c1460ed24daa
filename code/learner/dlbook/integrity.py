"""What proves a file intact, and where that proof is allowed to come from.

The design trusts two sources and nothing else:

- the catalog (``dlbook/catalog.py``, part of the installed package): SHA-256 or MD5 checksums
  pinned for the files whose bytes we know, and a size cap for every file;
- Zenodo's record API, read over HTTPS when a file of a Zenodo record is downloaded or
  re-verified (``python -m dlbook.prefetch``). The checksum it publishes is then kept in a
  record of the reader's own (``$XDG_STATE_HOME/dlbook``, by default
  ``~/.local/state/dlbook``) that only the reader can write: a record that other users can
  write, or that belongs to someone else, is an error, not a proof.

A checksum file beside the data (in a shared mirror or cache) proves nothing, because whoever
can replace the data there can replace that file too, so none is read or written.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .catalog import RemoteFile
from .errors import DamagedFileError, storage_error
from .files import pooch, write_atomic

_DIGEST_LENGTH = {"md5": 32, "sha256": 64}


def parse_checksum(text: str, where: str) -> tuple[str, str]:
    """``"md5:ab12…"`` as ``("md5", "ab12…")``; anything else is a DamagedFileError naming ``where``."""
    algorithm, _, digest = text.strip().partition(":")
    algorithm, digest = algorithm.lower(), digest.lower()
    if _DIGEST_LENGTH.get(algorithm) != len(digest) or not re.fullmatch(r"[0-9a-f]+", digest):
        raise DamagedFileError(
            f"{where} does not hold a checksum (expected 'md5:<32 hex digits>' or "
            f"'sha256:<64 hex digits>', found {text.strip()[:80]!r})."
        )
    return algorithm, digest


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, computed by pooch; an unreadable file is a StorageError."""
    try:
        return pooch().file_hash(str(path), alg=algorithm)
    except OSError as exc:
        raise storage_error(exc, f"read {path}") from exc


def verify(path: Path, expected: tuple[str, str] | None) -> bool:
    """True when ``path`` matches the expected checksum (or when none is known)."""
    if expected is None:
        return True
    algorithm, digest = expected
    return file_digest(path, algorithm) == digest.lower()


def record_dir() -> Path:
    """The reader's own folder of checksums read from Zenodo."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    if os.name == "nt":
        base = base or os.environ.get("LOCALAPPDATA", "")
    root = Path(base).expanduser() if base else Path.home() / ".local" / "state"
    return root.absolute() / "dlbook" / "checksums"


def _record_path(remote: RemoteFile) -> Path:
    return record_dir() / f"zenodo-{remote.zenodo_record}" / f"{remote.name}.checksum"


def _check_private(path: Path) -> None:
    """Refuse a record (or its folder) that someone other than the reader could have written."""
    if os.name == "nt":  # Windows: the profile folder is private by default
        return
    info = path.lstat()
    if (
        info.st_uid != os.geteuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        or stat.S_ISLNK(info.st_mode)
    ):
        raise DamagedFileError(
            f"{path} can be written by someone other than you (or is a link), so the checksum it "
            "holds proves nothing. Delete it; `python -m dlbook.prefetch` records a fresh one."
        )


def expected_checksum(remote: RemoteFile) -> tuple[str, str] | None:
    """The (algorithm, hex digest) ``remote`` must match, if it is known without the network."""
    if remote.sha256:
        return "sha256", remote.sha256
    if remote.md5:
        return "md5", remote.md5
    if not remote.zenodo_record:
        return None
    path = _record_path(remote)
    try:
        if not path.is_file():
            return None
        for checked in (path.parent, path):
            _check_private(checked)
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedFileError(f"Cannot read the checksum record {path} ({exc}). Delete it.") from exc
    return parse_checksum(text, f"The checksum record {path}")


def record_checksum(remote: RemoteFile, checksum: tuple[str, str]) -> None:
    """Keep the checksum Zenodo published for ``remote`` in the reader's private record."""
    path = _record_path(remote)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, f"{checksum[0]}:{checksum[1]}\n")
    except OSError as exc:
        raise storage_error(
            exc, f"record the checksum of {remote.name} in {path.parent}", "XDG_STATE_HOME"
        ) from exc
