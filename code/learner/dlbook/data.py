"""The data loaders the book's pages call: one line each, real data whenever it can be had.

>>> from dlbook import data
>>> penguins = data.load_penguins()
>>> weather = data.load_weather()
>>> dollar_street = data.load_dollar_street()

Each loader reads the data mirror (``DLBOOK_DATA_MIRROR``) first, then the local cache, then
downloads and verifies the canonical files. When none of these has the data, it raises
:class:`DataUnavailableError` with the cause and the fixes; only where generated stand-ins are
allowed (``DLBOOK_ALLOW_STANDINS=1``, which the book's build sets) does it return a stand-in of
the same shape instead, with a note saying so. ``DLBOOK_STRICT=1`` (publishing) forbids
stand-ins and files that cannot be verified.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import standins
from .advice import standin_note, strict_unverified_message, unavailable_message, unverified_note
from .catalog import CATALOG, DOLLAR_STREET_CLASSES, DataSet
from .errors import (
    DamagedFileError,
    DataError,
    DataUnavailableError,
    DownloadError,
    UnverifiedDataError,
)
from .fetch import Located, locate
from .settings import Settings

__all__ = [
    "DOLLAR_STREET_CLASSES",
    "DataError",
    "DataUnavailableError",
    "DollarStreet",
    "is_standin",
    "load_dollar_street",
    "load_penguins",
    "load_weather",
]


def load_penguins() -> pd.DataFrame:
    """The Palmer penguins table (344 rows), as shipped by the ``palmerpenguins`` package."""
    try:
        from palmerpenguins import load_penguins as _load
    except ImportError as exc:
        raise DataError(
            "The penguin data comes with the 'palmerpenguins' package, which is not installed. "
            "Install it with:  pip install palmerpenguins"
        ) from exc
    frame = _load()
    frame.attrs["source"] = "palmerpenguins package"
    return frame


def load_weather() -> pd.DataFrame:
    """The weather prediction data set: 3654 days x 165 columns (18 European stations)."""
    located = _locate_or_standin(CATALOG["weather"])
    if located is None:
        frame = standins.weather()
        frame.attrs["source"] = "stand-in"
        return frame
    path = located.paths["weather_prediction_dataset.csv"]
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"Could not read {path} as CSV ({exc}). Delete it and load again.") from exc
    _announce_unverified(CATALOG["weather"], located)
    frame.attrs["source"] = located.source
    return frame


@dataclass(frozen=True)
class DollarStreet:
    """Dollar Street 10: training and validation images with their labels.

    ``train`` and ``val`` are ``(images, labels)`` pairs; images are uint8 arrays of shape
    (n, 64, 64, 3) and labels integers 0-9 that index ``class_names``.
    """

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]
    source: str
    unverified: tuple[str, ...] = ()  # files no checksum could check (see the page's note)

    @property
    def is_standin(self) -> bool:
        return self.source == "stand-in"


def load_dollar_street() -> DollarStreet:
    """Dollar Street 10 (64x64 RGB, 10 classes); the record's test files serve as validation set."""
    dataset = CATALOG["dollar_street"]
    located = _locate_or_standin(dataset)
    if located is None:
        x_train, y_train, x_val, y_val = standins.dollar_street()
        return DollarStreet((x_train, y_train), (x_val, y_val), DOLLAR_STREET_CLASSES, "stand-in")
    arrays = {name: _load_npy(path) for name, path in located.paths.items()}
    x_train, y_train = arrays["train_images.npy"], arrays["train_labels.npy"]
    x_val, y_val = arrays["test_images.npy"], arrays["test_labels.npy"]
    for images, labels, name, n in (
        (x_train, y_train, "train", dataset.extra["n_train"]),
        (x_val, y_val, "test", dataset.extra["n_val"]),
    ):
        _check_images(images, labels, name, (n, *dataset.extra["image_shape"]), located)
    _announce_unverified(dataset, located)
    return DollarStreet(
        (x_train, y_train), (x_val, y_val), DOLLAR_STREET_CLASSES, located.source, located.unverified
    )


def _load_npy(path) -> np.ndarray:
    """A plain .npy array, checked before it is read: no pickles, no archive, no absurd size."""
    fix = "Delete it (or replace it with the file from Zenodo record 10970014) and load again."
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = read_header(f)
            offset = f.tell()
        size = os.path.getsize(path)
    except (ValueError, OSError, EOFError) as exc:
        raise DamagedFileError(f"{path} is not a NumPy .npy file ({exc}). {fix}") from exc
    if dtype.hasobject:
        raise DamagedFileError(f"{path} holds Python objects, not numbers. {fix}")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != expected:
        raise DamagedFileError(
            f"{path} says it holds an array of shape {shape} ({dtype}), which needs {expected} "
            f"bytes, but the file has {size}. {fix}"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as exc:
        raise DamagedFileError(
            f"{path} could not be read as a NumPy array ({type(exc).__name__}: {exc}). {fix}"
        ) from exc
    if not isinstance(array, np.ndarray):
        raise DamagedFileError(f"{path} is not a single NumPy array. {fix}")
    return array


def _check_images(images: np.ndarray, labels: np.ndarray, name: str, shape: tuple, located: Located) -> None:
    problem = None
    if images.shape != shape:
        problem = f"{name}_images has shape {images.shape}, expected {shape}: {shape[0]} images"
    elif images.dtype != np.uint8:
        problem = f"{name}_images has dtype {images.dtype}, expected uint8"
    elif labels.shape != (images.shape[0],):
        problem = f"{name}_labels has shape {labels.shape}, expected ({images.shape[0]},)"
    elif not np.issubdtype(labels.dtype, np.integer):
        problem = f"{name}_labels holds {labels.dtype} values, expected integers 0-9"
    elif labels.size and (labels.min() < 0 or labels.max() > 9):
        problem = f"{name}_labels has values outside 0-9"
    if problem:
        folder = next(iter(located.paths.values())).parent
        raise DamagedFileError(
            f"The Dollar Street files in {folder} ({located.source}) are not the expected "
            f"data set: {problem}. Replace them with the files of Zenodo record 10970014."
        )


def is_standin(obj) -> bool:
    """True when ``obj`` (a DataFrame or :class:`DollarStreet`) holds generated stand-in data."""
    if isinstance(obj, DollarStreet):
        return obj.is_standin
    return getattr(obj, "attrs", {}).get("source") == "stand-in"


def _locate_or_standin(dataset: DataSet) -> Located | None:
    """The located files, or None where a stand-in may take their place (and is announced)."""
    settings = Settings.from_env()
    try:
        located = locate(dataset, settings)
    except DownloadError as exc:  # files absent and not downloadable; a corrupt file raises on
        if settings.allow_standins:
            standins.announce("Stand-in data", standin_note(dataset, str(exc)))
            return None
        raise DataUnavailableError(unavailable_message(dataset, settings, exc)) from exc
    if located.unverified and settings.strict:
        raise UnverifiedDataError(strict_unverified_message(dataset, located))
    return located


def _announce_unverified(dataset: DataSet, located: Located) -> None:
    """The note for files no checksum could check, once the loader has found them usable."""
    if located.unverified:
        standins.announce("Unverified data", unverified_note(dataset, located))
