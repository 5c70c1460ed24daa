"""The errors a reader can meet while the book gets its data; every one is a :class:`DataError`.

Each message names the file, folder or URL, the cause, and what to do. ``DownloadError.cause``
says which fix applies: ``"offline"`` (``DLBOOK_OFFLINE`` is set), ``"network"`` (no connection,
a timeout), ``"server"`` (the server answered with an error, or sent something other than the
file) or ``"limit"`` (too slow, too big, past the deadline).
"""

from __future__ import annotations


class DataError(Exception):
    """Base class of every error a reader can hit while getting data."""


class DownloadError(DataError):
    """The file could not be downloaded (no network, server error, interrupted transfer)."""

    def __init__(self, message: str, *, cause: str = "network"):
        super().__init__(message)
        self.cause = cause


class ChecksumMismatchError(DataError):
    """A file's content does not match its published checksum."""


class DataUnavailableError(DataError):
    """No real copy could be found and stand-ins are not allowed."""


class ConfigurationError(DataError):
    """An environment variable of the data layer has a value it cannot use."""


class UnverifiedDataError(DataError):
    """Strict mode refuses files whose checksum cannot be checked."""


class DamagedFileError(DataError):
    """A file is present but cannot be read or used (permissions, bad content)."""


class StorageError(DamagedFileError):
    """A folder cannot be read or written: permissions, a full disk, a read-only file system."""


def storage_error(exc: OSError, doing: str, setting: str = "DLBOOK_DATA_DIR") -> StorageError:
    """An OSError met while ``doing`` something with a file, as a StorageError that says what to
    do; ``setting`` is the environment variable that chooses the folder concerned."""
    where = exc.filename if isinstance(exc.filename, str) and exc.filename else "the folder"
    elsewhere = (
        f"or choose another {setting}" if setting.startswith("--") else f"or set {setting} to another folder"
    )
    if exc.errno == 28:  # ENOSPC
        fix = f"the disk that holds {where} is full. Free some space, {elsewhere} on another disk"
    elif exc.errno == 30:  # EROFS
        fix = f"{where} is on a read-only file system. Set {setting} to a folder you can write"
    elif exc.errno in (13, 1):  # EACCES, EPERM
        fix = f"{where} cannot be used ({exc.strerror}). Allow yourself to read and write it, {elsewhere}"
    elif exc.errno == 21:  # EISDIR
        fix = f"{where} is a folder where a data file should be. Move it away and run again"
    else:
        fix = f"{exc.strerror or exc} ({where}). Check the folder, {elsewhere}"
    return StorageError(f"Could not {doing}: {fix}.")
