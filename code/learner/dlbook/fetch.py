"""Getting files onto disk: mirror first, then the local cache, then the canonical URL.

Every file is checked before anything reads it (see :mod:`dlbook.integrity` for what the
checks trust), and the rules fail closed:

- a file that is present but fails its check is an error, whatever else is missing; in the
  cache it is moved to ``rejected/`` (never deleted: someone may want to inspect it), in the
  mirror it is left alone and named;
- a download goes to a temporary file of its own (:mod:`dlbook.files`) and replaces the real
  name only once it is complete and verified, within one deadline and a size cap
  (:mod:`dlbook.transfer`);
- a file whose checksum cannot be known offline is reported as unverified, and strict mode
  refuses it;
- every failure is a :class:`DataError` whose message names the file or URL, the cause and
  what to do; no ``OSError`` gets out.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .advice import ISSUES
from .catalog import CATALOG, DataSet, RemoteFile
from .errors import (
    ChecksumMismatchError,
    ConfigurationError,
    DamagedFileError,
    DataError,
    DataUnavailableError,
    DownloadError,
    StorageError,
    UnverifiedDataError,
    storage_error,
)
from .files import copy_file, set_aside, sweep
from .integrity import expected_checksum, file_digest, record_checksum, verify
from .settings import Settings, flag
from .transfer import TOTAL_LIMIT_S, fetch_to_folder, zenodo_checksum

__all__ = [
    "ChecksumMismatchError",
    "ConfigurationError",
    "DamagedFileError",
    "DataError",
    "DataUnavailableError",
    "DownloadError",
    "Located",
    "Settings",
    "StorageError",
    "UnverifiedDataError",
    "copy_atomic",
    "copy_to",
    "download",
    "file_digest",
    "flag",
    "locate",
    "verify",
    "zenodo_checksum",
]


def download(
    remote: RemoteFile,
    dest_dir: Path,
    *,
    progress: bool | None = None,
    expected: tuple[str, str] | None = None,
) -> Path:
    """Download one file into ``dest_dir`` and verify it; retry once after a bad checksum.

    A Zenodo file's checksum is read from Zenodo first and recorded (see
    :mod:`dlbook.integrity`) before the file is renamed into place, so a verified file is
    never seen as unverified. A download that fails verification is moved to
    ``dest_dir/rejected/``. Raises :class:`DownloadError` when the file cannot be downloaded
    and :class:`ChecksumMismatchError` when two downloads in a row do not match.
    """
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, f"create the folder {dest_dir} for {remote.name}") from exc
    target = dest_dir / remote.name
    if expected is None:
        pinned = remote.sha256 or remote.md5
        expected = (
            published_checksum(remote) if remote.zenodo_record and not pinned else expected_checksum(remote)
        )
    for attempt in (1, 2):
        part = fetch_to_folder(remote, dest_dir, progress)
        try:
            if verify(part, expected):
                os.replace(part, target)  # atomic: a concurrent process replaces it with the same bytes
                return target
            rejected = set_aside(part, target)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise storage_error(exc, f"put the download of {remote.name} into {dest_dir}") from exc
        message = (
            f"The download of {remote.name} from {remote.url} does not match its published "
            f"{expected[0]} checksum; the file was kept at {rejected} for inspection."
        )
        if attempt == 1:
            print(message + " Trying once more.", file=sys.stderr)
    raise ChecksumMismatchError(
        message + " Two downloads in a row failed verification: the file on the server may "
        f"have changed, or a proxy may be altering it. Please report this at {ISSUES}, or place "
        "a verified copy in the folder named by DLBOOK_DATA_MIRROR."
    )


def published_checksum(remote: RemoteFile) -> tuple[str, str]:
    """The checksum Zenodo publishes for ``remote`` now, kept in the reader's record (before
    any download is renamed into place, so a verified file is never seen as unverified)."""
    published = zenodo_checksum(remote.zenodo_record, remote.name)
    if published != expected_checksum(remote):
        record_checksum(remote, published)
    return published


@dataclass(frozen=True)
class Located:
    """Where the files of a data set were found, and which of them could not be verified."""

    paths: dict[str, Path]
    source: str  # "mirror", "cache" or "download"
    unverified: tuple[str, ...] = ()  # files with no checksum known offline


def locate(
    dataset: DataSet | str,
    settings: Settings | None = None,
    *,
    progress: bool | None = None,
) -> Located:
    """Find every file of ``dataset``: mirror, then cache, then download into the cache.

    Raises :class:`DownloadError` (with the URL and the cause) when some files are in neither
    place and cannot be downloaded; the caller decides whether a stand-in may take their place.
    A file that is present but fails its check raises :class:`ChecksumMismatchError` (or another
    :class:`DataError`) before anything is downloaded: a corrupt file is never papered over.
    """
    if isinstance(dataset, str):
        dataset = CATALOG[dataset]
    settings = settings or Settings.from_env()
    if settings.mirror is not None:
        found, missing, unverified = _scan(dataset, settings.mirror / dataset.key, where="mirror")
        if not missing:
            return Located(found, "mirror", unverified)
    cache = settings.cache_dir / dataset.key
    sweep(cache, older_than_s=TOTAL_LIMIT_S + 60)
    found, missing, unverified = _scan(dataset, cache, where="cache")
    if not missing:
        return Located(found, "cache", unverified)
    names = ", ".join(r.name for r in missing)
    if settings.offline:
        places = "the mirror or the cache" if settings.mirror else "the cache"
        raise DownloadError(f"{names} not in {places}, and DLBOOK_OFFLINE is set", cause="offline")
    for remote in missing:
        found[remote.name] = download(remote, cache, progress=progress)
    return Located(found, "download", unverified)


def _scan(dataset: DataSet, folder: Path, *, where: str) -> tuple[dict[str, Path], list[RemoteFile], tuple]:
    """Check every file of ``dataset`` present in ``folder``; return (verified, missing, unverified)."""
    found, missing, unverified = {}, [], []
    for remote in dataset.files:
        path = folder / remote.name
        try:
            present = path.exists()
            if present and not path.is_file():
                raise IsADirectoryError(21, "not a regular file", str(path))
            size = path.stat().st_size if present else 0
        except OSError as exc:
            setting = "DLBOOK_DATA_MIRROR" if where == "mirror" else "DLBOOK_DATA_DIR"
            raise storage_error(
                exc, f"look for {remote.name} in the {where} folder {folder}", setting
            ) from exc
        if not present:
            missing.append(remote)
            continue
        expected = expected_checksum(remote)
        if remote.max_bytes is not None and size > remote.max_bytes:
            _refuse(path, f"the size of {remote.name} (at most {remote.max_bytes} bytes)", where)
        if not verify(path, expected):
            _refuse(path, f"the published {expected[0]} checksum of {remote.name}", where)
        found[remote.name] = path
        if expected is None:
            unverified.append(remote.name)
    return found, missing, tuple(unverified)


def _refuse(path: Path, what: str, where: str):
    """Raise for a present file that fails its check; a cache copy is moved aside first."""
    if where == "mirror":
        raise ChecksumMismatchError(
            f"{path} (in the data mirror) does not match {what}. Delete or replace it with a "
            "verified copy (python -m dlbook.prefetch --mirror FOLDER writes one), or unset "
            "DLBOOK_DATA_MIRROR."
        )
    kept = None
    try:
        kept = set_aside(path, path)
        where_kept = f"it was moved to {kept} for inspection; run again to download a fresh copy."
    except OSError as exc:
        where_kept = f"it could not be moved aside ({exc.strerror}); delete it and run again."
    error = ChecksumMismatchError(f"{path} (in the cache) does not match {what}: {where_kept}")
    error.moved_to = kept
    raise error


def copy_atomic(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` through a temporary file: ``target`` is whole or absent."""
    try:
        copy_file(source, target)
    except OSError as exc:
        raise storage_error(exc, f"copy {source} to {target}", "--mirror FOLDER") from exc
    return target


def copy_to(dataset: DataSet | str, located: Located, folder: Path) -> list[Path]:
    """Copy verified located files into ``folder/<dataset key>/``; return the targets.

    Only files with a known checksum are copied, and a target that already verifies is left
    as it is: a verified file is never replaced by anything.
    """
    if isinstance(dataset, str):
        dataset = CATALOG[dataset]
    if located.unverified:
        raise UnverifiedDataError(
            f"Not copying {', '.join(located.unverified)} into {folder}: they could not be verified."
        )
    copied = []
    for remote in dataset.files:
        source, target = located.paths[remote.name], folder / dataset.key / remote.name
        expected = expected_checksum(remote)
        try:
            same = target.exists() and target.resolve() == source.resolve()
            keep = same or (target.is_file() and verify(target, expected))
        except OSError as exc:
            raise storage_error(exc, f"check {target}", "--mirror FOLDER") from exc
        if not keep:
            copy_atomic(source, target)
        copied.append(target)
    return copied
