"""Bounded requests: one deadline for the whole request and a size cap on every body.

pooch's HTTP downloader (built on requests: redirects, proxies, compressed transfers, a
body shorter than announced) does the transfer. It runs in a worker thread that the caller
waits for until the deadline, which covers everything: connecting, waiting for the answer's
headers, following redirects and receiving the body. The body goes through a guard that stops
at the size cap and at a pace below ``MIN_RATE``. A request past its deadline is abandoned
(the worker stops at its next read, within ``TIMEOUT_S``) and its temporary file removed.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from pathlib import Path

from .catalog import RemoteFile
from .errors import DataError, DownloadError, storage_error
from .files import pooch, temporary_file
from .integrity import parse_checksum

TIMEOUT_S = 30  # each wait for the server: to connect, and between two pieces of data
TOTAL_LIMIT_S = 30 * 60  # the longest any one request may take, from start to last byte
MIN_RATE = 10_000  # bytes per second on average, once GRACE_S have passed
GRACE_S = 30
ZENODO_API = "https://zenodo.org/api/records/"
ZENODO_MAX_BYTES = 1_000_000  # a record's JSON description is a few kilobytes
LATER = "try again later, or fetch the file elsewhere (python -m dlbook.prefetch)"


def deadline_for(max_bytes: int) -> float:
    """Seconds allowed for a body of up to ``max_bytes``: the grace period plus the minimum rate."""
    return min(TOTAL_LIMIT_S, GRACE_S + max_bytes / MIN_RATE)


class _Guard:
    """The file-like object pooch writes into: counts, caps and paces the body."""

    def __init__(self, handle, url: str, max_bytes: int, where=None):
        self.handle, self.url, self.max_bytes, self.where = handle, url, max_bytes, where
        self.received, self.start, self.cancelled = 0, time.monotonic(), False

    def write(self, block: bytes) -> None:
        if self.cancelled:
            raise DownloadError(f"the download of {self.url} was abandoned", cause="limit")
        self.received += len(block)
        if self.received > self.max_bytes:
            raise DownloadError(
                f"{self.url} sent more than {self.max_bytes} bytes, more than the file can hold; "
                "the transfer was stopped. The server may be misbehaving: try again later",
                cause="server",
            )
        elapsed = time.monotonic() - self.start
        if elapsed > GRACE_S and self.received / elapsed < MIN_RATE:
            raise DownloadError(
                f"the download of {self.url} fell below the minimum rate of {MIN_RATE:g} bytes/s "
                f"({self.received} bytes in {elapsed:.0f} s); {LATER}",
                cause="limit",
            )
        try:
            self.handle.write(block)
        except OSError as exc:
            exc.filename = str(self.where or exc.filename or "")
            raise storage_error(exc, f"write the download of {self.url}") from exc

    def flush(self) -> None:
        self.handle.flush()


class _Bar:
    """A tqdm bar named after the file, in the form pooch accepts as its progress bar."""

    def __init__(self, name: str):
        from tqdm import tqdm

        self.tqdm = tqdm(desc=name, unit="B", unit_scale=True, leave=True)

    def __bool__(self) -> bool:  # a tqdm bar without a total refuses bool()
        return True

    def __getattr__(self, name):
        return getattr(self.tqdm, name)

    def __setattr__(self, name, value):
        if name == "tqdm":
            object.__setattr__(self, name, value)
        else:
            setattr(self.tqdm, name, value)


def get(
    url: str, handle, *, max_bytes: int, progress: bool = False, deadline: float | None = None, where=None
) -> int:
    """Write the body of ``url`` into ``handle``; return its size. Raises DataError only."""
    deadline = deadline_for(max_bytes) if deadline is None else deadline
    guard = _Guard(handle, url, max_bytes, where)
    bar = _Bar(url.rsplit("/", 1)[-1]) if progress else False
    download = pooch().HTTPDownloader(progressbar=bar, chunk_size=1 << 16, timeout=min(TIMEOUT_S, deadline))
    failure: list[BaseException] = []

    def work() -> None:
        try:
            download(url, guard, None)
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=work, name=f"dlbook download {url}", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        guard.cancelled = True
        raise DownloadError(
            f"{url} did not arrive within the total time limit of {deadline:g} s (connecting, the "
            f"server's answer and {guard.received} bytes received); {LATER}",
            cause="limit",
        )
    if failure:
        exc = failure[0]
        if isinstance(exc, DataError):
            raise exc
        if isinstance(exc, OSError) and not _is_network(exc):
            raise storage_error(exc, f"save the download of {url}") from exc
        raise DownloadError(f"could not download {url}: {describe(exc)}", cause=_cause_kind(exc)) from exc
    return guard.received


def fetch_to_folder(remote: RemoteFile, folder: Path, progress: bool | None = None) -> Path:
    """Download ``remote`` into a new temporary file in ``folder``; return the file's path."""
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        fd, path = temporary_file(folder, remote.name)
    except OSError as exc:
        raise storage_error(exc, f"create a file in {folder} for {remote.name}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            get(remote.url, handle, max_bytes=remote.max_bytes or 1 << 30, progress=progress, where=folder)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def zenodo_checksum(record: str, name: str) -> tuple[str, str]:
    """The checksum Zenodo publishes for one file of a record, e.g. ``("md5", "ab12…")``."""
    url = f"{ZENODO_API}{record}"

    body = io.BytesIO()
    get(url, body, max_bytes=ZENODO_MAX_BYTES, deadline=min(TOTAL_LIMIT_S, TIMEOUT_S))
    try:
        files = json.loads(body.getvalue()).get("files")
    except (ValueError, AttributeError) as exc:
        raise DownloadError(
            f"the answer for Zenodo record {record} ({url}) is not a record's description ({exc})",
            cause="server",
        ) from exc
    for entry in files if isinstance(files, list) else ():
        if isinstance(entry, dict) and entry.get("key") == name and isinstance(entry.get("checksum"), str):
            try:
                return parse_checksum(entry["checksum"], f"Zenodo's entry for {name} in record {record}")
            except DataError as exc:
                raise DownloadError(str(exc), cause="server") from None
    raise DownloadError(
        f"Zenodo record {record} ({url}) lists no usable checksum for a file named {name!r}", cause="server"
    )


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _cause_kind(exc: BaseException) -> str:
    return "server" if _status(exc) is not None else "network"


def _is_network(exc: OSError) -> bool:
    """requests' errors are OSErrors too; a socket error is the network's, not the disk's."""
    import requests

    return (
        isinstance(exc, requests.RequestException)
        or exc.errno is None
        or isinstance(exc, ConnectionError | TimeoutError)
    )


def describe(exc: BaseException) -> str:
    """What went wrong, in words: HTTP status, DNS failure, timeout, dropped transfer."""
    import requests

    status = _status(exc)
    if isinstance(exc, requests.TooManyRedirects):
        return f"the server redirected too often, in a loop ({exc}; the last answer was HTTP {status})"
    if status is not None:
        return f"the server answered HTTP {status} ({exc.response.reason})"
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "the server stopped answering (timed out)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the transfer broke off before the end ({exc})"
    if isinstance(exc, requests.ConnectionError):
        return f"the server could not be reached ({exc})"
    return f"{type(exc).__name__}: {exc}"
