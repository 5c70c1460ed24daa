"""The data loaders the book's pages call: one line each, real data whenever it can be had.

>>> from dlbook import data
>>> penguins = data.load_penguins()
>>> weather = data.load_weather()
>>> dollar_street = data.load_dollar_street()

Each loader reads the data mirror (``DLBOOK_DATA_MIRROR``) first, then the local cache, then
downloads and verifies the canonical files. With none of these available it returns a
generated stand-in of the same shape and shows a note saying so, or raises
:class:`DataUnavailableError` when ``DLBOOK_STRICT=1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import standins
from .catalog import CATALOG, DOLLAR_STREET_CLASSES, DataSet
from .fetch import DataError, DataUnavailableError, Located, Settings, locate

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
    for images, labels, name in ((x_train, y_train, "train"), (x_val, y_val, "test")):
        _check_images(images, labels, name, located)
    return DollarStreet((x_train, y_train), (x_val, y_val), DOLLAR_STREET_CLASSES, located.source)


def _load_npy(path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(
            f"{path} is not a readable NumPy file ({exc}). Delete it and load again to download a fresh copy."
        ) from exc


def _check_images(images: np.ndarray, labels: np.ndarray, name: str, located: Located) -> None:
    problem = None
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3):
        problem = f"{name}_images has shape {images.shape}, expected (n, 64, 64, 3)"
    elif images.dtype != np.uint8:
        problem = f"{name}_images has dtype {images.dtype}, expected uint8"
    elif labels.shape != (images.shape[0],):
        problem = f"{name}_labels has shape {labels.shape}, expected ({images.shape[0]},)"
    elif labels.size and (labels.min() < 0 or labels.max() > 9):
        problem = f"{name}_labels has values outside 0-9"
    if problem:
        folder = next(iter(located.paths.values())).parent
        raise DataError(
            f"The Dollar Street files in {folder} ({located.source}) are not the expected "
            f"data set: {problem}. Replace them with the files of Zenodo record 10970014."
        )


def is_standin(obj) -> bool:
    """True when ``obj`` (a DataFrame or :class:`DollarStreet`) holds generated stand-in data."""
    if isinstance(obj, DollarStreet):
        return obj.is_standin
    return getattr(obj, "attrs", {}).get("source") == "stand-in"


def _locate_or_standin(dataset: DataSet) -> Located | None:
    settings = Settings.from_env()
    located = locate(dataset, settings)
    if located is not None:
        return located
    if settings.strict:
        raise DataUnavailableError(_unavailable_message(dataset, settings))
    standins.announce("Stand-in data", standin_note(dataset))
    return None


def _unavailable_message(dataset: DataSet, settings: Settings) -> str:
    urls = "\n".join(f"  {f.url}" for f in dataset.files)
    where = f"the mirror {settings.mirror / dataset.key} or " if settings.mirror else ""
    return (
        f"The {dataset.title} data could not be found in {where}the cache "
        f"{settings.cache_dir / dataset.key}, and could not be downloaded"
        + (" (DLBOOK_OFFLINE is set)" if settings.offline else "")
        + f". Its files are:\n{urls}\n"
        "Connect to the internet, or download them elsewhere with "
        "`python -m dlbook.prefetch --mirror FOLDER` and point DLBOOK_DATA_MIRROR at FOLDER. "
        "DLBOOK_STRICT=1 forbids generated stand-in data, so the book stops here."
    )


def standin_note(dataset: DataSet) -> str:
    """The text of the note shown on a page that runs on stand-in data."""
    return (
        f"{dataset.title}: the real files could not be obtained (no network connection and no "
        "data mirror), so this page runs on a generated stand-in with the same shapes. Every "
        "number and figure below comes from the stand-in, not from the real data set. "
        "Run the page with internet access to see the real results."
    )
