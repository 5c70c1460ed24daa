"""The one list of every data set and pre-trained model the book uses.

Each entry says where the canonical files live, how to verify them, under which licence they
are published, how to cite them and what shape the loaded data has. Loaders, the prefetch
command, the tests and ``data/README.md`` all read this list; nothing else repeats it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its canonical URL and the checksum that proves it intact.

    ``sha256`` is pinned where we know it. For files we have never been able to download on
    the authors' machines (Zenodo records), ``zenodo_record`` lets the downloader fetch the
    checksum the archive itself publishes, so the file is still verified, never trusted blindly.
    ``max_bytes`` caps the file's size: no download or copy on disk may be larger.
    """

    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    zenodo_record: str | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class DataSet:
    """A data set (or set of pre-trained weights) as the book uses it."""

    key: str
    title: str
    files: tuple[RemoteFile, ...]
    licence: str
    citation: str
    shape: str
    doi: str | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)


PENGUINS = DataSet(
    key="penguins",
    title="Palmer penguins",
    files=(),  # shipped inside the `palmerpenguins` package: nothing to download
    licence="CC0 1.0",
    citation=(
        "Horst, A. M., Hill, A. P. & Gorman, K. B. (2020). palmerpenguins: Palmer Archipelago "
        "(Antarctica) penguin data. R package version 0.1.0. doi:10.5281/zenodo.3960218"
    ),
    shape="344 rows x 8 columns (species, island, 4 measurements, sex, year)",
    doi="10.5281/zenodo.3960218",
    notes="Read from the palmerpenguins Python package, which ships the CSV.",
)

_WEATHER_RAW = "https://raw.githubusercontent.com/florian-huber/weather_prediction_dataset/main/dataset/"

WEATHER = DataSet(
    key="weather",
    title="Weather prediction dataset",
    files=(
        RemoteFile(
            "weather_prediction_dataset.csv",
            _WEATHER_RAW + "weather_prediction_dataset.csv",
            sha256="6d5bf0b2cc53292603e710f2562f0296f9b1bd6782ecdfd70e3d6df07c358363",
            max_bytes=2_770_160,
        ),
        RemoteFile(
            "metadata.txt",
            _WEATHER_RAW + "metadata.txt",
            sha256="d9caa71716cbb1be36f46da49c9f1db624564a01c0bc1944ad3c0745a88625a4",
            max_bytes=4_580,
        ),
    ),
    licence="MIT (data set); observations from ECA&D, to be acknowledged (Klein Tank et al. 2002)",
    citation=("Huber, F. et al. (2022). Weather prediction dataset. Zenodo. doi:10.5281/zenodo.4770936"),
    shape="3654 rows (daily, 2000-01-01 to 2010-01-01) x 165 columns: DATE, MONTH and 163 "
    "features of 18 European stations",
    doi="10.5281/zenodo.4770936",
)

DOLLAR_STREET_CLASSES = (
    "day bed",
    "dishrag",
    "plate",
    "running shoe",
    "soap dispenser",
    "street sign",
    "table lamp",
    "tile roof",
    "toilet seat",
    "washing machine",
)

_ZENODO_DS = "https://zenodo.org/records/10970014/files/"
_DS_COUNTS = {"train": 878, "test": 293}
_DS_IMAGE = (64, 64, 3)
_NPY_HEADER_MAX = 4096  # a .npy header is 128 bytes for these arrays; allow room


def _npy_cap(values: int, itemsize: int) -> int:
    """The largest a .npy file of ``values`` numbers of ``itemsize`` bytes may be."""
    return values * itemsize + _NPY_HEADER_MAX


DOLLAR_STREET = DataSet(
    key="dollar_street",
    title="Dollar Street 10",
    files=tuple(
        RemoteFile(
            f"{part}_{kind}.npy",
            f"{_ZENODO_DS}{part}_{kind}.npy",
            zenodo_record="10970014",
            # images are uint8; labels are integers of at most 8 bytes
            max_bytes=_npy_cap(n * math.prod(_DS_IMAGE), 1) if kind == "images" else _npy_cap(n, 8),
        )
        for part, n in _DS_COUNTS.items()
        for kind in ("images", "labels")
    ),
    licence="CC BY 4.0 (images from Gapminder's Dollar Street)",
    citation=(
        "van der Burg, S. (2024). Dollar Street 10 (64x64x3). Zenodo. doi:10.5281/zenodo.10970014; "
        "from Gaviria Rojas, W. et al. (2022). The Dollar Street Dataset: Images Representing the "
        "Geographic and Socioeconomic Diversity of the World. NeurIPS Datasets and Benchmarks."
    ),
    shape="878 training and 293 validation (test-file) images of 64x64x3 uint8, labels 0-9",
    doi="10.5281/zenodo.10970014",
    extra={
        "n_train": _DS_COUNTS["train"],
        "n_val": _DS_COUNTS["test"],
        "image_shape": _DS_IMAGE,
        "classes": DOLLAR_STREET_CLASSES,
    },
)

DENSENET121 = DataSet(
    key="densenet121",
    title="DenseNet121 ImageNet weights (without the classification top)",
    files=(
        RemoteFile(
            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
            # The checksum Keras itself pins for this file (keras.applications.densenet).
            md5="30ee3e1110167f948a6b9946edeeb738",
            max_bytes=40_000_000,  # about 29 MB: 7.0 million float32 weights plus HDF5 structure
        ),
    ),
    licence="Weights distributed with Keras Applications (Apache 2.0); trained on ImageNet",
    citation=(
        "Huang, G., Liu, Z., van der Maaten, L. & Weinberger, K. Q. (2017). Densely connected "
        "convolutional networks. CVPR."
    ),
    shape="HDF5 weights for keras.applications.DenseNet121(include_top=False)",
    notes="Kept in the book's cache (or mirror) and loaded from there by path, not from Keras's cache.",
)

CATALOG: dict[str, DataSet] = {ds.key: ds for ds in (PENGUINS, WEATHER, DOLLAR_STREET, DENSENET121)}
