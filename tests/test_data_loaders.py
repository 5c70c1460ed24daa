"""The learner-facing loaders: mirror first, cache next, strict mode's error text.

``DLBOOK_DATA_MIRROR`` names a folder laid out like ``../shared/data``
(``<mirror>/weather/weather_prediction_dataset.csv``...). A loader reads it before anything
else; a corrupt file there is an error that names the file and what to do, never a reason to
fall back to a stand-in. ``DLBOOK_STRICT=1`` turns "no data" into an error that tells the
reader where the data comes from and how to provide it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlbook import catalog, data, fetch, integrity, pretrained, standins
from dlbook.catalog import DataSet, RemoteFile
from dlbook.fetch import ChecksumMismatchError, DataError, DataUnavailableError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_MIRROR = SHARED if (SHARED / "weather" / "weather_prediction_dataset.csv").is_file() else None
needs_real_mirror = pytest.mark.skipif(REAL_MIRROR is None, reason="no ../shared/data mirror here")

WEATHER_CSV = "weather_prediction_dataset.csv"


# Every test starts with no mirror, no flags, an empty cache and Keras home.
pytestmark = pytest.mark.usefixtures("isolated_data_env")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small_weather_mirror(tmp_path, monkeypatch) -> Path:
    """A mirror folder with a 12-day weather CSV (real columns) and a catalog entry pinning it.

    Works without ../shared/data: the catalog's weather entry is swapped for one whose
    checksums are those of the files written here.
    """
    mirror = tmp_path / "mirror"
    folder = mirror / "weather"
    folder.mkdir(parents=True)
    frame = standins.weather().head(12)
    frame.to_csv(folder / WEATHER_CSV, index=False)
    (folder / "metadata.txt").write_text("test metadata\n")
    real = catalog.CATALOG["weather"]
    files = tuple(RemoteFile(f.name, f.url, sha256=sha256(folder / f.name)) for f in real.files)
    monkeypatch.setitem(
        catalog.CATALOG,
        "weather",
        DataSet(
            key="weather",
            title=real.title,
            files=files,
            licence=real.licence,
            citation=real.citation,
            shape=real.shape,
        ),
    )
    return mirror


# --- mirror ---------------------------------------------------------------------------------


def test_loader_reads_the_mirror_first(small_weather_mirror, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(small_weather_mirror))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    frame = data.load_weather()

    assert frame.shape == (12, 165)
    assert frame.attrs["source"] == "mirror"
    assert not data.is_standin(frame)
    assert list(frame.columns) == standins.weather_columns()
    assert "stand-in" not in capsys.readouterr().err.lower()
    assert not (tmp_path / "cache" / "weather" / WEATHER_CSV).exists(), "a mirror is read in place"


def test_mirror_wins_over_the_cache(small_weather_mirror, monkeypatch, tmp_path):
    cache = tmp_path / "cache" / "weather"
    shutil.copytree(small_weather_mirror / "weather", cache)
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(small_weather_mirror))

    assert data.load_weather().attrs["source"] == "mirror"

    monkeypatch.delenv("DLBOOK_DATA_MIRROR")
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    frame = data.load_weather()
    assert frame.attrs["source"] == "cache"
    assert frame.shape == (12, 165)


def test_incomplete_mirror_falls_through_to_the_cache(small_weather_mirror, monkeypatch, tmp_path):
    shutil.copytree(small_weather_mirror / "weather", tmp_path / "cache" / "weather")
    (small_weather_mirror / "weather" / "metadata.txt").unlink()
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(small_weather_mirror))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    assert data.load_weather().attrs["source"] == "cache"


def test_corrupt_mirror_file_is_an_error_naming_the_file_never_a_standin(
    small_weather_mirror, monkeypatch, capsys
):
    path = small_weather_mirror / "weather" / WEATHER_CSV
    content = path.read_bytes()
    path.write_bytes(content[:-3] + (b"8" if content[-3:-2] == b"9" else b"9") + content[-2:])
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(small_weather_mirror))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")  # a stand-in would be allowed: it must not be used

    with pytest.raises(ChecksumMismatchError) as info:
        data.load_weather()

    message = str(info.value)
    assert str(path) in message, "the message names the corrupt file"
    assert "mirror" in message
    assert "Delete or replace" in message and "DLBOOK_DATA_MIRROR" in message, "and what to do"
    assert "stand-in" not in capsys.readouterr().err.lower()


@needs_real_mirror
def test_copy_of_the_real_mirror_loads_with_source_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    shutil.copytree(REAL_MIRROR / "weather", mirror / "weather")
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    frame = data.load_weather()

    assert frame.attrs["source"] == "mirror"
    assert frame.shape == (3654, 165)


@needs_real_mirror
def test_real_shared_mirror_loads_3654_by_165_with_the_published_checksums(monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(REAL_MIRROR))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_STRICT", "1")  # the real data, or an error

    frame = data.load_weather()

    assert frame.shape == (3654, 165)
    assert frame.attrs["source"] == "mirror"
    assert not data.is_standin(frame)
    assert frame.notna().all().all()
    assert (frame["DATE"].iloc[0], frame["DATE"].iloc[-1]) == (20000101, 20100101)
    assert list(frame.columns) == standins.weather_columns()
    # The catalog pins the checksums that the mirror's README publishes, and the files match.
    readme = (REAL_MIRROR / "README.md").read_text()
    for remote in catalog.CATALOG["weather"].files:
        assert remote.sha256 in readme, remote.name
        assert fetch.file_digest(REAL_MIRROR / "weather" / remote.name) == remote.sha256


def test_cache_folder_loads_when_offline(small_weather_mirror, monkeypatch, tmp_path):
    shutil.copytree(small_weather_mirror / "weather", tmp_path / "cache" / "weather")
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_STRICT", "1")

    frame = data.load_weather()
    assert frame.attrs["source"] == "cache" and frame.shape == (12, 165)


# --- Dollar Street from a mirror -----------------------------------------------------------


def write_dollar_street_mirror(mirror: Path, *, n_train=20, n_val=10, image_shape=(64, 64, 3)):
    """Small Dollar Street files in a mirror, their md5 in the reader's record (as after a
    download from Zenodo); ``small_dollar_street`` makes the loader expect these counts."""
    folder = mirror / "dollar_street"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images.npy": rng.integers(0, 256, (n_train, *image_shape), dtype=np.uint8),
        "train_labels.npy": np.arange(n_train) % 10,
        "test_images.npy": rng.integers(0, 256, (n_val, *image_shape), dtype=np.uint8),
        "test_labels.npy": np.arange(n_val) % 10,
    }
    for name, array in arrays.items():
        np.save(folder / name, array)
        remote = next(r for r in catalog.DOLLAR_STREET.files if r.name == name)
        integrity.record_checksum(remote, ("md5", hashlib.md5((folder / name).read_bytes()).hexdigest()))
    return arrays


@pytest.fixture
def small_dollar_street(monkeypatch):
    monkeypatch.setitem(catalog.DOLLAR_STREET.extra, "n_train", 20)
    monkeypatch.setitem(catalog.DOLLAR_STREET.extra, "n_val", 10)


def test_dollar_street_reads_the_mirror(tmp_path, monkeypatch, small_dollar_street):
    arrays = write_dollar_street_mirror(tmp_path / "mirror")
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    ds = data.load_dollar_street()

    assert ds.source == "mirror" and not data.is_standin(ds) and ds.unverified == ()
    np.testing.assert_array_equal(ds.train[0], arrays["train_images.npy"])
    np.testing.assert_array_equal(ds.val[1], arrays["test_labels.npy"])
    assert ds.class_names == catalog.DOLLAR_STREET_CLASSES and len(ds.class_names) == 10


def test_dollar_street_file_failing_its_recorded_checksum_is_an_error(tmp_path, monkeypatch):
    write_dollar_street_mirror(tmp_path / "mirror")
    labels = tmp_path / "mirror" / "dollar_street" / "train_labels.npy"
    np.save(labels, np.zeros(20, dtype=np.int64))
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    with pytest.raises(ChecksumMismatchError, match=r"train_labels\.npy"):
        data.load_dollar_street()


def test_dollar_street_files_of_the_wrong_shape_are_refused(tmp_path, monkeypatch, small_dollar_street):
    write_dollar_street_mirror(tmp_path / "mirror", image_shape=(32, 32, 3))
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    with pytest.raises(DataError, match="expected"):
        data.load_dollar_street()


# --- strict mode ------------------------------------------------------------------------------


def test_strict_mode_without_data_names_data_set_urls_mirror_and_prefetch(monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    with pytest.raises(DataUnavailableError) as info:
        data.load_weather()

    message = str(info.value)
    weather = catalog.CATALOG["weather"]
    assert weather.title in message
    for remote in weather.files:
        assert remote.url in message
    assert "DLBOOK_DATA_MIRROR" in message
    assert "python -m dlbook.prefetch" in message
    assert "stand-in" not in capsys.readouterr().err.lower(), "strict mode shows no stand-in note"


def test_strict_mode_names_the_empty_mirror_it_looked_in(tmp_path, monkeypatch):
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    with pytest.raises(DataUnavailableError) as info:
        data.load_dollar_street()

    message = str(info.value)
    assert "Dollar Street" in message
    assert str(tmp_path / "empty-mirror" / "dollar_street") in message
    for remote in catalog.CATALOG["dollar_street"].files:
        assert remote.url in message
    assert "python -m dlbook.prefetch" in message


@needs_real_mirror
def test_strict_mode_is_satisfied_by_the_real_mirror(monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(REAL_MIRROR))
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    assert data.load_weather().shape == (3654, 165)


def test_densenet_weights_in_strict_offline_mode_raise(monkeypatch):
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    with pytest.raises(DataUnavailableError) as info:
        pretrained.densenet121_weights()

    message = str(info.value)
    assert catalog.DENSENET121.files[0].url in message
    assert "dlbook.prefetch" in message


def test_densenet_weights_offline_are_none_where_standins_are_allowed(monkeypatch):
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")
    assert pretrained.densenet121_weights() is None


def test_densenet_weights_offline_for_a_learner_are_an_error_with_the_fixes(monkeypatch, tmp_path):
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    with pytest.raises(fetch.DataUnavailableError) as info:
        pretrained.densenet121_weights()
    message = str(info.value)
    assert "internet access" in message and "python -m dlbook.prefetch densenet121" in message
    assert str(tmp_path / "cache" / "densenet121") in message and "DLBOOK_OFFLINE is set" in message


def test_corrupt_cached_densenet_weights_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    cached = tmp_path / "cache" / "densenet121" / catalog.DENSENET121.files[0].name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not really HDF5")

    with pytest.raises(pretrained.CorruptWeightsError) as info:
        pretrained.densenet121_weights()
    assert str(cached) in str(info.value)
    assert isinstance(info.value, ChecksumMismatchError)
    assert not cached.exists() and len(list((cached.parent / "rejected").iterdir())) == 1, "kept aside"


def test_densenet_weights_are_used_from_the_mirror_where_they_lie(tmp_path, monkeypatch):
    content = b"pretend weights"
    name = catalog.DENSENET121.files[0].name
    fake = DataSet(
        key="densenet121",
        title="DenseNet121 test",
        licence="-",
        citation="-",
        shape="-",
        files=(RemoteFile(name, "http://127.0.0.1:9/none", md5=hashlib.md5(content).hexdigest()),),
    )
    monkeypatch.setattr(pretrained, "DENSENET121", fake)
    (tmp_path / "mirror" / "densenet121").mkdir(parents=True)
    (tmp_path / "mirror" / "densenet121" / name).write_bytes(content)
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_STRICT", "1")

    path = pretrained.densenet121_weights()

    assert path == str(tmp_path / "mirror" / "densenet121" / name)
    assert not (tmp_path / "keras").exists(), "nothing is copied into Keras's folder"


def test_penguins_come_from_the_package():
    frame = data.load_penguins()
    assert frame.shape == (344, 8)
    assert frame["species"].nunique() == 3
    assert not data.is_standin(frame)


def test_loaders_write_nothing_to_stderr_when_real_data_is_there(small_weather_mirror, monkeypatch, capsys):
    # The book build fails on any stderr output (warnings included).
    import warnings

    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(small_weather_mirror))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_weather()
        data.load_penguins()
    assert capsys.readouterr().err == ""
    assert isinstance(data.load_weather(), pd.DataFrame)


@needs_real_mirror
def test_loading_in_a_fresh_jupyter_kernel_writes_nothing_to_stderr(monkeypatch):
    # Inside a kernel, importing pooch's progress-bar library warns on stderr when ipywidgets is
    # missing; in-process tests cannot see it (pooch is imported once per process, outside a kernel).
    import nbclient
    import nbformat

    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(REAL_MIRROR))
    cell = nbformat.v4.new_code_cell("from dlbook import data\nprint(data.load_weather().shape)")
    notebook = nbformat.v4.new_notebook(cells=[cell])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    streams = {o.name: o.text for o in cell.outputs if o.output_type == "stream"}
    assert streams == {"stdout": "(3654, 165)\n"}, streams


# --- settings -----------------------------------------------------------------------------------


def test_settings_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DLBOOK_DATA_DIR", "~/dlbook-cache")
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", "~/usb-mirror")
    (tmp_path / "home" / "usb-mirror").mkdir(parents=True)
    monkeypatch.setenv("DLBOOK_STRICT", "true")
    monkeypatch.setenv("DLBOOK_OFFLINE", "0")

    settings = fetch.Settings.from_env()

    assert settings.cache_dir == tmp_path / "home" / "dlbook-cache", "~ means the home folder"
    assert settings.mirror == (tmp_path / "home" / "usb-mirror").resolve()
    assert settings.strict is True and settings.offline is False


def test_empty_mirror_variable_means_no_mirror(monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", "")
    assert fetch.Settings.from_env().mirror is None
