"""Getting files onto disk: mirror first, then the local cache, then the canonical URL.

Every file is verified by checksum before anything reads it, and the rules fail closed:

- a file that is present but fails its check is an error, whatever else is missing; in the
  cache it is moved to ``rejected/`` (never deleted: someone may want to inspect it), in the
  mirror it is left alone and named;
- a download (by pooch, under a name of the downloading process's own) is renamed onto the
  real name only once it is complete and verified, and must finish within a total time limit
  at a minimum average rate;
  copies (into a mirror, into Keras's cache) go to a temporary name first, so a full disk never
  leaves a half file where a loader would pick it up;
- a file whose checksum cannot be known offline (no pinned checksum, no sidecar written when it
  was downloaded) is reported as unverified, and strict mode refuses it;
- every failure surfaces as a :class:`DataError` whose message names the file or URL, the cause
  and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
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
    """No real copy could be found and stand-ins are not allowed."""


class ConfigurationError(DataError):
    """An environment variable of the data layer has a value it cannot use."""


class UnverifiedDataError(DataError):
    """Strict mode refuses files whose checksum cannot be checked."""


class DamagedFileError(DataError):
    """A file is present but cannot be read or used (permissions, damaged sidecar, bad content)."""


ON = {"1", "true", "yes", "on"}
OFF = {"", "0", "false", "no", "off"}


def flag(name: str, environ=None) -> bool:
    """The on/off value of an environment variable; anything ambiguous is an error, not "off"."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ConfigurationError(
        f"{name}={raw!r} is neither on ({', '.join(sorted(ON))}) nor off "
        f"({', '.join(sorted(OFF - {''}))}, or unset). Set {name}=1 or {name}=0."
    )


@dataclass(frozen=True)
class Settings:
    """Configuration read once from the environment (see the README's data section)."""

    cache_dir: Path
    mirror: Path | None
    strict: bool
    offline: bool
    allow_standins: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        raw = os.environ.get("DLBOOK_DATA_MIRROR", "")
        mirror = check_mirror(Path(raw).expanduser().resolve()) if raw.strip() else None
        strict = flag("DLBOOK_STRICT")
        return cls(
            cache_dir=Path(os.environ.get("DLBOOK_DATA_DIR") or default_cache_dir()).expanduser(),
            mirror=mirror,
            strict=strict,
            offline=flag("DLBOOK_OFFLINE"),
            allow_standins=flag("DLBOOK_ALLOW_STANDINS") and not strict,
        )


def check_mirror(mirror: Path) -> Path:
    """``mirror`` if it is a readable folder laid out as a mirror; else a ConfigurationError."""
    layout = "a folder with one sub-folder per data set (weather/, dollar_street/, ...)"
    if not mirror.exists():
        problem = "does not exist"
    elif not mirror.is_dir():
        problem = "is a file, not a folder"
    elif not os.access(mirror, os.R_OK | os.X_OK):
        problem = "cannot be read (permission denied)"
    elif mirror.name in CATALOG or any(
        (mirror / f.name).is_file() for ds in CATALOG.values() for f in ds.files
    ):
        raise ConfigurationError(
            f"DLBOOK_DATA_MIRROR={mirror} looks like the folder of one data set. Point it at "
            f"{layout}: probably {mirror.parent}."
        )
    else:
        return mirror
    raise ConfigurationError(
        f"DLBOOK_DATA_MIRROR={mirror} {problem}. Point it at {layout}, or unset it to use the "
        "cache and the download."
    )


def default_cache_dir() -> Path:
    """``data/`` of the repository when run from a checkout, else ``~/.cache/dlbook``."""
    repo_data = Path(__file__).resolve().parents[3] / "data"
    if (repo_data / "README.md").is_file():
        return repo_data
    return Path.home() / ".cache" / "dlbook"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
    except OSError as exc:
        raise DamagedFileError(
            f"Cannot read {path}: {exc.strerror or exc}. Check its permissions, or delete or replace it."
        ) from exc
    return h.hexdigest()


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


def _expected(remote: RemoteFile, sidecar: Path | None = None) -> tuple[str, str] | None:
    """The (algorithm, hex digest) a file must match, if we know one without the network."""
    if remote.sha256:
        return "sha256", remote.sha256
    if remote.md5:
        return "md5", remote.md5
    if sidecar is not None and sidecar.is_file():
        try:
            text = sidecar.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            text = f"<unreadable: {exc}>"
        try:
            return parse_checksum(text, f"The checksum file {sidecar}")
        except DamagedFileError as exc:
            raise DamagedFileError(
                f"{exc} Delete it together with {sidecar.name.removesuffix('.checksum')}; the next "
                "run downloads and verifies a fresh copy."
            ) from None
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
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise DownloadError(f"could not read the file list of Zenodo record {record} ({url}): {exc}") from exc
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, list):
        raise DownloadError(f"the file list of Zenodo record {record} ({url}) is not in the expected format")
    for entry in files:
        if isinstance(entry, dict) and entry.get("key") == name:
            checksum = entry.get("checksum")
            if not isinstance(checksum, str):
                break
            try:
                return parse_checksum(checksum, f"Zenodo's entry for {name} in record {record}")
            except DamagedFileError as exc:
                raise DownloadError(str(exc)) from None
        # entries for other files are skipped
    raise DownloadError(f"Zenodo record {record} ({url}) lists no usable checksum for a file named {name!r}")


def download(
    remote: RemoteFile,
    dest_dir: Path,
    *,
    progress: bool | None = None,
    expected: tuple[str, str] | None = None,
) -> Path:
    """Download one file into ``dest_dir`` and verify it; retry once after a bad checksum.

    A file that fails verification is moved to ``dest_dir/rejected/`` for inspection.
    Raises :class:`DownloadError` when the file cannot be downloaded (the message names the URL
    and the cause) and :class:`ChecksumMismatchError` when two downloads in a row do not match.
    """
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"could not create the folder {dest_dir} for {remote.name}: {exc}") from exc
    target = dest_dir / remote.name
    if expected is None:
        expected = _expected(remote)
    if expected is None and remote.zenodo_record:
        expected = zenodo_checksum(remote.zenodo_record, remote.name)
    for attempt in (1, 2):
        part = _transfer(remote.url, target, progress)
        if verify(part, expected):
            part.replace(target)  # atomic: a concurrent process replaces it with the same bytes
            if expected is not None and not (remote.sha256 or remote.md5):
                _write_atomic(_sidecar(target), f"{expected[0]}:{expected[1]}\n")
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


def _set_aside(path: Path, target: Path) -> Path:
    """Move ``path`` (a bad copy of ``target``) into ``rejected/`` beside ``target``."""
    rejected_dir = target.parent / "rejected"
    rejected_dir.mkdir(exist_ok=True)
    rejected = rejected_dir / f"{target.name}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    n = 0
    while rejected.exists():
        n += 1
        rejected = rejected.with_name(f"{rejected.name}.{n}")
    path.replace(rejected)
    return rejected


def _transfer(url: str, target: Path, progress: bool | None) -> Path:
    """Download ``url`` next to ``target`` under a name of this process's own; return its path.

    pooch does the transfer's bookkeeping: it streams into a temporary file in the same folder
    and renames it only when the transfer completed, removing it otherwise. The name is
    per process, so two processes that download the same file never write into each other's
    copy; each verifies its own and renames it onto ``target`` (an atomic replace).
    """
    with warnings.catch_warnings():
        # pooch imports tqdm.auto, which warns inside a Jupyter kernel without ipywidgets (on
        # stderr, in the learner's cell); pooch's own progress bar is not used here anyway.
        warnings.filterwarnings("ignore", message="IProgress not found")
        import pooch

    name = f".{target.name}.{os.getpid()}.download"
    (target.parent / name).unlink(missing_ok=True)  # left by a crashed process of the same id
    if progress is None:
        progress = sys.stderr.isatty()
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch would announce every download and print its hash
    try:
        path = pooch.retrieve(url, None, fname=name, path=target.parent, downloader=_Downloader(progress))
    except DataError:
        raise
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise DownloadError(f"could not download {url}: {_cause(exc)}") from exc
    finally:
        logger.setLevel(level)
    return Path(path)


# A download must finish within TOTAL_LIMIT_S and, once GRACE_S have passed, keep an average of
# at least MIN_RATE bytes per second; each read may wait TIMEOUT_S. A server that trickles a
# byte every few seconds passes every read's timeout, but not these.
TOTAL_LIMIT_S = 30 * 60
MIN_RATE = 10_000
GRACE_S = 30


class _Downloader:
    """pooch's downloader protocol: fetch ``url`` into ``output_file``, within the time limits."""

    def __init__(self, progress: bool):
        self.progress = progress

    def __call__(self, url: str, output_file, pooch_instance=None, check_only: bool = False) -> None:
        start = time.monotonic()
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(output_file, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(total, Path(url).name) if self.progress else None
            received = 0
            while block := response.read1(CHUNK):  # whatever has arrived, at most CHUNK
                out.write(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
                _check_pace(url, received, total, time.monotonic() - start)
            if bar is not None:
                bar.close()
        if total is not None and received != total:
            raise DownloadError(f"the download of {url} stopped after {received} of {total} bytes")


def _check_pace(url: str, received: int, total: int | None, elapsed: float) -> None:
    of = f" of {total}" if total else ""
    if elapsed > TOTAL_LIMIT_S:
        raise DownloadError(
            f"the download of {url} hit the total time limit of {TOTAL_LIMIT_S:g} s after "
            f"{received}{of} bytes; try again later, or fetch the file elsewhere (python -m dlbook.prefetch)"
        )
    if elapsed > GRACE_S and received / elapsed < MIN_RATE:
        raise DownloadError(
            f"the download of {url} fell below the minimum rate of {MIN_RATE:g} bytes/s "
            f"({received}{of} bytes in {elapsed:.0f} s); try again later, or fetch the file elsewhere "
            "(python -m dlbook.prefetch)"
        )


def _cause(exc: BaseException) -> str:
    """What went wrong, in words: HTTP status, DNS failure, full disk, timeout, dropped transfer."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} ({exc.reason})"
    if isinstance(exc, urllib.error.URLError):
        return f"the server could not be reached ({exc.reason})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the transfer broke off after {len(exc.partial)} bytes"
    if isinstance(exc, TimeoutError):
        return "the server stopped sending data (timed out)"
    if isinstance(exc, OSError) and exc.errno == 28:
        return f"the disk is full ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _progress_bar(total: int | None, name: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=True)


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
    dest_dir: Path | None = None,
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
    cache = dest_dir or settings.cache_dir / dataset.key
    found, missing, unverified = _scan(dataset, cache, where="cache")
    if not missing:
        return Located(found, "cache", unverified)
    names = ", ".join(r.name for r in missing)
    if settings.offline:
        raise DownloadError(f"{names} not in the mirror or the cache, and DLBOOK_OFFLINE is set")
    for remote in missing:
        found[remote.name] = download(remote, cache, progress=progress)
    return Located(found, "download", unverified)


def _scan(dataset: DataSet, folder: Path, *, where: str) -> tuple[dict[str, Path], list[RemoteFile], tuple]:
    """Check every file of ``dataset`` present in ``folder``; return (verified, missing, unverified).

    A present file that fails its check is an error. In the cache it is moved to ``rejected/``
    first, so that the next run downloads a fresh copy; the mirror is never modified.
    """
    found, missing, unverified = {}, [], []
    for remote in dataset.files:
        path = folder / remote.name
        if not path.is_file():
            missing.append(remote)
            continue
        expected = _expected(remote, _sidecar(path))
        if verify(path, expected):
            found[remote.name] = path
            if expected is None:
                unverified.append(remote.name)
            continue
        if where == "mirror":
            raise ChecksumMismatchError(
                f"{path} (in the data mirror) does not match the published {expected[0]} checksum "
                f"of {remote.name}. Delete or replace it with a verified copy (python -m "
                "dlbook.prefetch --mirror FOLDER writes one), or unset DLBOOK_DATA_MIRROR."
            )
        try:
            kept = _set_aside(path, path)
            where_kept = f"it was moved to {kept} for inspection; run again to download a fresh copy."
        except OSError as exc:
            where_kept = f"it could not be moved aside ({exc}); delete it and run again."
        raise ChecksumMismatchError(
            f"{path} (in the cache) does not match the published {expected[0]} checksum of "
            f"{remote.name}: {where_kept}"
        )
    return found, missing, tuple(unverified)


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary name beside ``target`` that replaces it in one step if the block succeeds:
    ``target`` is always either its old self or whole, never half written."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomic(target: Path, text: str) -> None:
    with _replacing(target) as tmp:
        tmp.write_text(text)


def copy_atomic(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` through a temporary name: ``target`` is whole or absent."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _replacing(target) as tmp:
            shutil.copyfile(source, tmp)
    except OSError as exc:
        raise DamagedFileError(f"Could not copy {source} to {target}: {_cause(exc)}.") from exc
    return target


def copy_to(dataset: DataSet | str, located: Located, folder: Path) -> list[Path]:
    """Copy located files (and their checksum sidecars) into ``folder/<dataset key>/``."""
    if isinstance(dataset, str):
        dataset = CATALOG[dataset]
    out = folder / dataset.key
    copied = []
    for name, path in located.paths.items():
        target = out / name
        if path.resolve() != target.resolve():
            copy_atomic(path, target)
            if _sidecar(path).is_file():
                copy_atomic(_sidecar(path), _sidecar(target))
        copied.append(target)
    return copied
