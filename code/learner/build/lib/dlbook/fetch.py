"""Getting files onto disk: mirror first, then the local cache, then the canonical URL.

Every file is verified by checksum before anything reads it. A download goes to a ``.part``
file and is renamed only once it is complete and verified, so an interrupted download never
leaves a half file where a loader would pick it up. A file whose checksum does not match is
moved aside (never deleted: someone may want to inspect it) and the download is tried once more.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .catalog import CATALOG, DataSet, RemoteFile

TIMEOUT_S = 30
CHUNK = 1 << 16


class DataError(Exception):
    """Base class of every error a reader can hit while getting data."""


class DownloadError(DataError):
    """The file could not be downloaded (no network, server error, interrupted transfer)."""


class ChecksumMismatchError(DataError):
    """A file's content does not match its published checksum."""


class DataUnavailableError(DataError):
    """No real copy could be found and stand-ins are not allowed (strict mode)."""


@dataclass(frozen=True)
class Settings:
    """Configuration read once from the environment (see the README)."""

    cache_dir: Path
    mirror: Path | None
    strict: bool
    offline: bool

    @classmethod
    def from_env(cls) -> Settings:
        mirror = os.environ.get("DLBOOK_DATA_MIRROR") or None
        return cls(
            cache_dir=Path(os.environ.get("DLBOOK_DATA_DIR") or default_cache_dir()).expanduser(),
            mirror=Path(mirror).expanduser().resolve() if mirror else None,
            strict=_flag("DLBOOK_STRICT"),
            offline=_flag("DLBOOK_OFFLINE"),
        )


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def default_cache_dir() -> Path:
    """``data/`` of the repository when run from a checkout, else ``~/.cache/dlbook``."""
    repo_data = Path(__file__).resolve().parents[3] / "data"
    if (repo_data / "README.md").is_file():
        return repo_data
    return Path.home() / ".cache" / "dlbook"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _expected(remote: RemoteFile, sidecar: Path | None = None) -> tuple[str, str] | None:
    """The (algorithm, hex digest) a file must match, if we know one without the network."""
    if remote.sha256:
        return "sha256", remote.sha256
    if remote.md5:
        return "md5", remote.md5
    if sidecar is not None and sidecar.is_file():
        algorithm, _, digest = sidecar.read_text().strip().partition(":")
        return algorithm, digest
    return None


def verify(path: Path, expected: tuple[str, str] | None) -> bool:
    """True when ``path`` matches the expected checksum (or when none is known)."""
    if expected is None:
        return True
    algorithm, digest = expected
    return file_digest(path, algorithm) == digest.lower()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".checksum")


def zenodo_checksum(record: str, name: str, opener=urllib.request.urlopen) -> tuple[str, str]:
    """The checksum Zenodo publishes for one file of a record, e.g. ``("md5", "ab12…")``."""
    url = f"https://zenodo.org/api/records/{record}"
    try:
        with opener(url, timeout=TIMEOUT_S) as response:
            meta = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"could not read the file list of Zenodo record {record}: {exc}") from exc
    for entry in meta.get("files", []):
        if entry.get("key") == name:
            algorithm, _, digest = entry["checksum"].partition(":")
            return algorithm, digest
    raise DownloadError(f"Zenodo record {record} lists no file named {name!r}")


def download(
    remote: RemoteFile,
    dest_dir: Path,
    *,
    progress: bool | None = None,
    expected: tuple[str, str] | None = None,
) -> Path:
    """Download one file into ``dest_dir`` and verify it; retry once after a bad checksum.

    A file that fails verification is moved to ``dest_dir/rejected/`` for inspection.
    Raises :class:`DownloadError` when the server cannot be reached and
    :class:`ChecksumMismatchError` when two downloads in a row do not match.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / remote.name
    if expected is None:
        expected = _expected(remote)
    if expected is None and remote.zenodo_record:
        expected = zenodo_checksum(remote.zenodo_record, remote.name)
    for attempt in (1, 2):
        part = _transfer(remote.url, target, progress)
        if verify(part, expected):
            part.replace(target)
            if expected is not None and not (remote.sha256 or remote.md5):
                _sidecar(target).write_text(f"{expected[0]}:{expected[1]}\n")
            return target
        rejected = _set_aside(part, target)
        message = (
            f"The download of {remote.name} from {remote.url} does not match its published "
            f"{expected[0]} checksum; the file was kept at {rejected} for inspection."
        )
        if attempt == 1:
            print(message + " Trying once more.", file=sys.stderr)
    raise ChecksumMismatchError(
        message + " Two downloads in a row failed verification: the file on the server may "
        "have changed, or a proxy may be altering it. Please report this at the book's issue "
        "tracker, or place a verified copy in the folder named by DLBOOK_DATA_MIRROR."
    )


def _set_aside(part: Path, target: Path) -> Path:
    rejected_dir = target.parent / "rejected"
    rejected_dir.mkdir(exist_ok=True)
    rejected = rejected_dir / f"{target.name}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    n = 0
    while rejected.exists():
        n += 1
        rejected = rejected.with_name(f"{rejected.name}.{n}")
    part.replace(rejected)
    return rejected


def _transfer(url: str, target: Path, progress: bool | None) -> Path:
    """Stream ``url`` into ``target.part``; remove the partial file on any failure."""
    part = target.with_name(target.name + ".part")
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(total, target.name) if progress else None
            received = 0
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        if total is not None and received != total:
            raise DownloadError(f"the download of {url} stopped after {received} of {total} bytes")
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, DataError):
            raise
        if isinstance(exc, (urllib.error.URLError, OSError, ValueError)):
            raise DownloadError(f"could not download {url}: {exc}") from exc
        raise
    return part


def _progress_bar(total: int | None, name: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=True)


@dataclass(frozen=True)
class Located:
    """Where the files of a data set were found."""

    paths: dict[str, Path]
    source: str  # "mirror", "cache" or "download"


def locate(
    dataset: DataSet | str,
    settings: Settings | None = None,
    *,
    progress: bool | None = None,
    dest_dir: Path | None = None,
) -> Located | None:
    """Find every file of ``dataset``: mirror, then cache, then download into the cache.

    Returns ``None`` when the files are in neither place and cannot be downloaded; the caller
    decides whether a stand-in may take their place. A file that exists but is corrupt is an
    error, never a silent fallback.
    """
    if isinstance(dataset, str):
        dataset = CATALOG[dataset]
    settings = settings or Settings.from_env()
    if settings.mirror is not None:
        found = _from_folder(dataset, settings.mirror / dataset.key, where="mirror")
        if found is not None:
            return Located(found, "mirror")
    cache = dest_dir or settings.cache_dir / dataset.key
    found = _from_folder(dataset, cache, where="cache")
    if found is not None:
        return Located(found, "cache")
    if settings.offline:
        return None
    paths = {}
    try:
        for remote in dataset.files:
            target = cache / remote.name
            if target.is_file() and verify(target, _expected(remote, _sidecar(target))):
                paths[remote.name] = target
            else:
                paths[remote.name] = download(remote, cache, progress=progress)
    except DownloadError:
        return None
    return Located(paths, "download")


def _from_folder(dataset: DataSet, folder: Path, *, where: str) -> dict[str, Path] | None:
    """All files of ``dataset`` from ``folder`` if every one is there and verified."""
    paths = {r.name: folder / r.name for r in dataset.files}
    if not all(p.is_file() for p in paths.values()):
        return None
    for remote in dataset.files:
        path = paths[remote.name]
        if not verify(path, _expected(remote, _sidecar(path))):
            raise ChecksumMismatchError(
                f"{path} (in the data {where}) does not match the published checksum of "
                f"{remote.name}. Delete or replace that file"
                + (" or unset DLBOOK_DATA_MIRROR" if where == "mirror" else "")
                + "; the loader will then download a fresh copy."
            )
    return paths


def copy_to(dataset: DataSet | str, located: Located, folder: Path) -> list[Path]:
    """Copy located files into ``folder/<dataset key>/`` (to build a mirror)."""
    if isinstance(dataset, str):
        dataset = CATALOG[dataset]
    out = folder / dataset.key
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, path in located.paths.items():
        target = out / name
        if path.resolve() != target.resolve():
            shutil.copy2(path, target)
            if _sidecar(path).is_file():
                shutil.copy2(_sidecar(path), _sidecar(target))
        copied.append(target)
    return copied
