"""Issue 12: the data layer fails closed under bad inputs, each case reproduced for real.

Files on disk, a server on 127.0.0.1 that misbehaves, and (where a disk cannot be filled or
made unreadable for root) an ``OSError`` raised where the operating system would raise it.
Every failure must be a :class:`dlbook.fetch.DataError` whose message names the file or URL,
the cause and what to do; no bad file is ever replaced by a stand-in.
"""

from __future__ import annotations

import errno
import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dlbook import catalog, data, fetch, files, integrity, prefetch, transfer
from dlbook.catalog import DataSet, RemoteFile
from dlbook.fetch import (
    ChecksumMismatchError,
    ConfigurationError,
    DamagedFileError,
    DataError,
    DownloadError,
    Settings,
    UnverifiedDataError,
)
from http_server import ChunkedDrop, LocalServer, Status, Trickle

pytestmark = pytest.mark.usefixtures("isolated_data_env")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GOOD = bytes(range(256)) * 400


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


def one_file(url: str, sha: str | None = None, key: str = "testset") -> DataSet:
    remote = RemoteFile("blob.bin", url, sha256=sha)
    return DataSet(key=key, title="Test data", files=(remote,), licence="-", citation="-", shape="-")


def settings(tmp_path: Path, **kw) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", mirror=None, strict=False, offline=False, **kw)


def weather_mirror(tmp_path: Path) -> Path:
    """A mirror folder whose weather CSV is truncated and whose metadata.txt is missing."""
    mirror = tmp_path / "mirror"
    (mirror / "weather").mkdir(parents=True)
    (mirror / "weather" / "weather_prediction_dataset.csv").write_text("DATE,MONTH\n20000101,1\n")
    return mirror


def dollar_street_folder(folder: Path, labels=None, images=None, recorded: bool = False) -> Path:
    """The four Dollar Street files (a few images each) in ``folder``; with ``recorded``, their md5
    in the reader's record, as if Zenodo had published them (the ``small_counts`` fixture makes
    the loader expect 5 images)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(5, 64, 64, 3), dtype=np.uint8) if images is None else images
    y = np.arange(5) % 10 if labels is None else labels
    for split in ("train", "test"):
        np.save(folder / f"{split}_images.npy", x)
        np.save(folder / f"{split}_labels.npy", y)
    if recorded:
        for remote in catalog.DOLLAR_STREET.files:
            integrity.record_checksum(
                remote, ("md5", hashlib.md5((folder / remote.name).read_bytes()).hexdigest())
            )
    return folder


# --- case 1: a corrupt file never becomes a stand-in -------------------------------------------


def test_1_corrupt_mirror_file_with_another_missing_is_an_error_not_a_standin(tmp_path, monkeypatch):
    mirror = weather_mirror(tmp_path)
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")  # even where stand-ins are allowed
    before = (mirror / "weather" / "weather_prediction_dataset.csv").read_bytes()

    with pytest.raises(ChecksumMismatchError, match=r"weather_prediction_dataset\.csv.*in the data mirror"):
        data.load_weather()
    assert (mirror / "weather" / "weather_prediction_dataset.csv").read_bytes() == before, "mirror untouched"


# --- case 2: flags fail closed -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["DLBOOK_STRICT", "DLBOOK_OFFLINE", "DLBOOK_ALLOW_STANDINS"])
@pytest.mark.parametrize("value", ["y", "2", "enabled", "1x"])
def test_2_an_ambiguous_flag_is_an_error_that_names_the_variable(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"{name}='{value}'"):
        data.load_weather()


@pytest.mark.parametrize(
    ("value", "on"),
    [
        ("", False),
        ("0", False),
        ("No", False),
        (" off ", False),
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
    ],
)
def test_2_clear_flag_values_are_read_as_on_or_off(value, on, monkeypatch):
    monkeypatch.setenv("DLBOOK_STRICT", value)
    assert fetch.flag("DLBOOK_STRICT") is on
    assert Settings.from_env().strict is on


def test_2_strict_mode_never_allows_standins(monkeypatch):
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")
    assert Settings.from_env().allow_standins is False


# --- case 3: a mistyped mirror -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "file", "data set folder"])
def test_3_a_mirror_that_is_not_a_mirror_folder_is_an_error_naming_the_path(kind, tmp_path, monkeypatch):
    path = {"missing": tmp_path / "nonexistent", "file": tmp_path / "a-file", "data set folder": None}[kind]
    if kind == "file":
        path.write_text("not a folder")
    if kind == "data set folder":
        path = SHARED / "weather" if (SHARED / "weather").is_dir() else weather_mirror(tmp_path) / "weather"
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(path))
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")
    with pytest.raises(ConfigurationError) as info:
        data.load_weather()
    message = str(info.value)
    assert str(path) in message
    assert {"missing": "does not exist", "file": "not a folder", "data set folder": str(path.parent)}[
        kind
    ] in message


# --- case 4: copies are atomic; prefetch reports every data set --------------------------------


def _disk_full_after(nbytes: int):
    """A shutil.copyfileobj that writes ``nbytes`` of the target and then fails as a full disk does."""

    def copyfileobj(src, dst):
        dst.write(src.read(nbytes))
        raise OSError(errno.ENOSPC, "No space left on device", dst.name)

    return copyfileobj


def test_4_a_copy_that_fills_the_disk_leaves_no_half_file(tmp_path, monkeypatch):
    source = tmp_path / "source.bin"
    source.write_bytes(GOOD)
    target = tmp_path / "mirror" / "weather" / "source.bin"
    monkeypatch.setattr(files.shutil, "copyfileobj", _disk_full_after(1000))

    with pytest.raises(DamagedFileError, match="is full"):
        fetch.copy_atomic(source, target)
    assert list(target.parent.iterdir()) == [], "neither the target nor a temporary file is left"


@pytest.mark.skipif(not (SHARED / "weather").is_dir(), reason="needs the ../shared/data mirror")
def test_4_prefetch_into_an_unwritable_mirror_reports_each_data_set_and_exits_non_zero(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(SHARED))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the mirror's folder should go")

    status = prefetch.main(["penguins", "weather", "dollar_street", "--mirror", str(blocked / "mirror")])

    out = capsys.readouterr().out
    assert status != 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "ok" in rows["Palmer"]
    assert "FAILED" in rows["Weather"] and str(blocked) in out, "the reason names the folder"
    assert "FAILED" in rows["Dollar"], "later data sets are still tried and reported"
    assert "of 3 fetched and verified" in out


# --- case 5: the reason a download failed is kept ----------------------------------------------


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (Status(404), "HTTP 404"),
        (Status(500), "HTTP 500"),
        (Status(302, {"Location": "/blob.bin", "Connection": "close"}), "redirected too often"),  # a loop
    ],
)
def test_5_http_failures_name_the_url_and_the_status(answer, cause, server, tmp_path):
    url = server.serve("/blob.bin", answer)
    with pytest.raises(DownloadError) as info:
        fetch.locate(one_file(url, hashlib.sha256(GOOD).hexdigest()), settings(tmp_path), progress=False)
    assert url in str(info.value) and cause in str(info.value)


def test_5_a_full_disk_during_a_download_says_so(server, tmp_path, monkeypatch):
    # simulated, so that it runs without root; test_data_faults.py fills a real tmpfs
    url = server.serve("/blob.bin", GOOD)
    real_fdopen = transfer.os.fdopen

    def fdopen_full(fd, mode="r", *args, **kw):
        handle = real_fdopen(fd, mode, *args, **kw)

        def write(_):
            raise OSError(errno.ENOSPC, "No space left on device", handle.name)

        handle.write = write
        return handle

    monkeypatch.setattr(transfer.os, "fdopen", fdopen_full)
    with pytest.raises(fetch.StorageError, match="is full") as info:
        fetch.download(RemoteFile("blob.bin", url), tmp_path / "dl", progress=False)
    assert url in str(info.value)
    assert list((tmp_path / "dl").iterdir()) == []


def test_5_the_learners_error_and_the_standin_note_carry_the_cause(server, monkeypatch, capsys):
    weather = catalog.CATALOG["weather"]
    files = tuple(
        RemoteFile(f.name, server.serve(f"/{f.name}", Status(503)), sha256=f.sha256) for f in weather.files
    )
    monkeypatch.setitem(catalog.CATALOG, "weather", DataSet("weather", weather.title, files, "-", "-", "-"))

    with pytest.raises(fetch.DataUnavailableError, match="HTTP 503"):
        data.load_weather()
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")
    data.load_weather()
    assert "HTTP 503" in capsys.readouterr().err


# --- case 7: every error is a DataError --------------------------------------------------------


def test_7_a_chunked_transfer_that_drops_is_a_download_error(server, tmp_path):
    url = server.serve("/blob.bin", ChunkedDrop(GOOD[:500], announce=5000))
    with pytest.raises(DownloadError, match=re.escape(url)):
        fetch.download(RemoteFile("blob.bin", url), tmp_path / "dl", progress=False)
    assert list((tmp_path / "dl").iterdir()) == []


@pytest.fixture
def small_counts(monkeypatch):
    """The loader expects 5 training and 5 validation images instead of 878 and 293."""
    monkeypatch.setitem(catalog.DOLLAR_STREET.extra, "n_train", 5)
    monkeypatch.setitem(catalog.DOLLAR_STREET.extra, "n_val", 5)


@pytest.fixture
def ds_mirror(tmp_path, monkeypatch, small_counts) -> Path:
    """An (unverified) Dollar Street mirror folder that the loader reads."""
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    return tmp_path / "mirror" / "dollar_street"


def test_7_npz_bytes_under_an_npy_name_are_a_data_error(ds_mirror):
    dollar_street_folder(ds_mirror)
    np.savez(ds_mirror / "archive.npz", x=np.zeros(3))
    (ds_mirror / "archive.npz").replace(ds_mirror / "train_images.npy")
    with pytest.raises(DamagedFileError, match=r"train_images\.npy"):
        data.load_dollar_street()


@pytest.mark.parametrize("labels", [np.array(["plate"] * 5), np.array([0.0, 1.0, np.nan, 3.0, 4.0])])
def test_7_8_labels_that_are_not_integers_are_a_data_error(labels, ds_mirror):
    dollar_street_folder(ds_mirror, labels=labels)
    with pytest.raises(DamagedFileError, match="expected integers 0-9"):
        data.load_dollar_street()


def test_8_labels_outside_0_to_9_are_a_data_error(ds_mirror):
    dollar_street_folder(ds_mirror, labels=np.array([0, 1, 2, 3, 10]))
    with pytest.raises(DamagedFileError, match="outside 0-9"):
        data.load_dollar_street()


def test_7_an_npy_header_that_claims_a_terabyte_is_a_data_error_not_a_memory_error(ds_mirror):
    dollar_street_folder(ds_mirror)
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**12,)}
    with open(ds_mirror / "train_labels.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 100)
    with pytest.raises(DamagedFileError, match=r"needs .* bytes, but the file has"):
        data.load_dollar_street()


def test_7_a_garbled_checksum_record_is_a_data_error_naming_it(ds_mirror):
    dollar_street_folder(ds_mirror, recorded=True)
    record = next(integrity.record_dir().rglob("test_labels.npy.checksum"))
    record.write_text("md5:not-hex\n")
    with pytest.raises(DamagedFileError, match=r"test_labels\.npy\.checksum"):
        data.load_dollar_street()


@pytest.mark.parametrize(
    "listing",
    [
        b"[1, 2]",
        b'{"files": "oops"}',
        b'{"files": [{"key": "a.npy"}]}',
        b'{"files": [{"key": "a.npy", "checksum": "md5:xyz"}]}',
        b"not json",
    ],
)
def test_7_a_malformed_zenodo_file_list_is_a_download_error(listing, server, monkeypatch):
    server.serve("/api/records/1", listing)
    monkeypatch.setattr(transfer, "ZENODO_API", server.url + "/api/records/")
    with pytest.raises(DownloadError, match="record 1"):
        fetch.zenodo_checksum("1", "a.npy")


# --- case 8: unverified files are marked, and refused in strict mode ---------------------------


def test_8_dollar_street_without_checksums_is_marked_unverified_with_a_note(ds_mirror, capsys):
    dollar_street_folder(ds_mirror)
    loaded = data.load_dollar_street()
    assert loaded.source == "mirror"
    assert sorted(loaded.unverified) == sorted(f.name for f in catalog.DOLLAR_STREET.files)
    assert "Unverified data" in capsys.readouterr().err


def test_8_strict_mode_refuses_unverified_files(ds_mirror, monkeypatch):
    dollar_street_folder(ds_mirror)
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    with pytest.raises(UnverifiedDataError, match=r"python -m dlbook\.prefetch"):
        data.load_dollar_street()


def test_8_files_with_their_checksums_recorded_are_verified(ds_mirror, capsys):
    dollar_street_folder(ds_mirror, recorded=True)
    assert data.load_dollar_street().unverified == ()
    assert "Unverified" not in capsys.readouterr().err


# --- case 10: prefetch's whole reason; a read-only home ----------------------------------------


def test_10_prefetch_prints_the_whole_multi_line_reason(monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    status = prefetch.main(["weather"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in out and "DLBOOK_OFFLINE is set" in out


def test_every_error_class_is_a_data_error():
    for error in (
        ChecksumMismatchError,
        ConfigurationError,
        DamagedFileError,
        DownloadError,
        UnverifiedDataError,
    ):
        assert issubclass(error, DataError)


# --- case 6: two processes load the same file into an empty cache --------------------------------

CONCURRENT = """
import sys
from pathlib import Path
from dlbook import fetch
from dlbook.catalog import DataSet, RemoteFile
url, sha, cache = sys.argv[1:4]
dataset = DataSet("testset", "Test data", (RemoteFile("blob.bin", url, sha256=sha),), "-", "-", "-")
settings = fetch.Settings(cache_dir=Path(cache), mirror=None, strict=False, offline=False)
print(fetch.locate(dataset, settings, progress=False).paths["blob.bin"])
"""


def test_6_two_processes_downloading_the_same_file_both_end_with_one_verified_file(server, tmp_path):
    body = GOOD[:3000]
    url = server.serve("/blob.bin", Trickle(body, delay=0.0005))  # slow enough to overlap
    cache = tmp_path / "cache"
    command = [sys.executable, "-c", CONCURRENT, url, hashlib.sha256(body).hexdigest(), str(cache)]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in (1, 2)
    ]
    results = [p.communicate(timeout=120) for p in procs]

    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == str(cache / "testset" / "blob.bin")
    assert server.hits["/blob.bin"] == 2, "both really downloaded at the same time"
    assert (cache / "testset" / "blob.bin").read_bytes() == body
    assert sorted(p.name for p in (cache / "testset").iterdir()) == ["blob.bin"], "no leftovers"


# --- case 9: a total time limit and a minimum rate -----------------------------------------------


def test_9_a_trickling_server_hits_the_total_time_limit(server, tmp_path, monkeypatch):
    url = server.serve("/blob.bin", Trickle(GOOD[:400], delay=0.02))  # 8 s at full length
    monkeypatch.setattr(transfer, "TOTAL_LIMIT_S", 0.5)
    monkeypatch.setattr(transfer, "GRACE_S", 100)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"total time limit of 0\.5 s") as info:
        fetch.download(RemoteFile("blob.bin", url), tmp_path / "dl", progress=False)
    assert time.monotonic() - start < 5
    assert url in str(info.value)
    assert list((tmp_path / "dl").iterdir()) == []


def test_9_a_trickling_server_falls_below_the_minimum_rate(server, tmp_path, monkeypatch):
    url = server.serve("/blob.bin", Trickle(GOOD[:400], delay=0.02))  # about 50 bytes/s
    monkeypatch.setattr(transfer, "GRACE_S", 0.3)
    monkeypatch.setattr(transfer, "MIN_RATE", 1000)
    with pytest.raises(DownloadError, match="minimum rate of 1000 bytes/s"):
        fetch.download(RemoteFile("blob.bin", url), tmp_path / "dl", progress=False)
    assert list((tmp_path / "dl").iterdir()) == []
