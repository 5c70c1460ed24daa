"""The download layer against a real HTTP server on 127.0.0.1 (no other network).

Guards the promises of ``dlbook.fetch``: a file reaches the cache only complete and verified,
a file that fails its checksum is refused, kept aside in ``rejected/`` and tried once more, an
interrupted transfer leaves no half file, an unreachable server lets the loader fall back to a
stand-in, and Zenodo files are verified by the md5 the record publishes (remembered in the
reader's private record, never in a file beside the data, and checked by later look-ups).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from pathlib import Path

import pytest

from dlbook import catalog, data, fetch, integrity, transfer
from dlbook.catalog import DataSet, RemoteFile
from dlbook.fetch import ChecksumMismatchError, DownloadError, Settings
from http_server import LocalServer, Truncated

GOOD = bytes(range(256)) * 1000  # 256 kB: several read blocks of fetch.CHUNK
BAD = GOOD[:-1] + b"\x00"  # same length, one byte different


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


# Every test starts with no mirror, no flags, an empty cache and Keras home.
pytestmark = pytest.mark.usefixtures("isolated_data_env")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", mirror=None, strict=False, offline=False)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_file_dataset(remote: RemoteFile, key: str = "testset") -> DataSet:
    return DataSet(key=key, title="Test data set", files=(remote,), licence="-", citation="-", shape="-")


def leftovers(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.rglob(pattern)) if folder.exists() else []


# --- checksum match -----------------------------------------------------------------------


def test_verified_download_lands_in_cache_without_part_file(server, tmp_path):
    url = server.serve("/blob.bin", GOOD)
    remote = RemoteFile("blob.bin", url, sha256=sha256(GOOD))
    dest = tmp_path / "cache" / "testset"

    path = fetch.download(remote, dest, progress=False)

    assert path == dest / "blob.bin"
    assert path.read_bytes() == GOOD
    assert leftovers(dest, "*.part") == []
    assert leftovers(dest / "rejected", "*") == []
    assert server.hits["/blob.bin"] == 1


def test_locate_downloads_once_then_reads_the_cache(server, settings):
    url = server.serve("/blob.bin", GOOD)
    dataset = one_file_dataset(RemoteFile("blob.bin", url, sha256=sha256(GOOD)))

    first = fetch.locate(dataset, settings, progress=False)
    second = fetch.locate(dataset, settings, progress=False)

    assert first is not None and first.source == "download"
    assert first.paths["blob.bin"] == settings.cache_dir / "testset" / "blob.bin"
    assert second is not None and second.source == "cache"
    assert second.paths["blob.bin"].read_bytes() == GOOD
    assert server.hits["/blob.bin"] == 1, "a verified cached file must not be downloaded again"


def test_download_with_progress_bar_still_verifies(server, tmp_path, capsys):
    url = server.serve("/blob.bin", GOOD)
    remote = RemoteFile("blob.bin", url, sha256=sha256(GOOD))

    path = fetch.download(remote, tmp_path / "dl", progress=True)

    assert path.read_bytes() == GOOD
    assert "blob.bin" in capsys.readouterr().err  # tqdm writes its bar to stderr


# --- checksum mismatch ---------------------------------------------------------------------


def test_corrupt_download_is_refused_and_kept_aside(server, tmp_path, capsys):
    url = server.serve("/blob.bin", BAD)
    remote = RemoteFile("blob.bin", url, sha256=sha256(GOOD))
    dest = tmp_path / "cache" / "testset"

    with pytest.raises(ChecksumMismatchError) as info:
        fetch.download(remote, dest, progress=False)

    assert server.hits["/blob.bin"] == 2, "a bad checksum is retried exactly once"
    assert not (dest / "blob.bin").exists(), "a refused file must never sit at the target path"
    assert leftovers(dest, "*.part") == []
    rejected = leftovers(dest / "rejected", "*")
    assert len(rejected) == 1, "the same bad bytes, received twice, are kept once"
    assert rejected[0].read_bytes() == BAD, "the bad copy is kept as received"
    message = str(info.value)
    assert "blob.bin" in message and url in message
    assert "sha256" in message
    assert str(rejected[0].parent) in message, "the message says where the bad copy is"
    assert "DLBOOK_DATA_MIRROR" in message, "the message says what to do"
    assert "Trying once more" in capsys.readouterr().err


def test_corrupt_download_is_an_error_for_the_loader_not_a_standin(server, settings):
    url = server.serve("/blob.bin", BAD)
    dataset = one_file_dataset(RemoteFile("blob.bin", url, sha256=sha256(GOOD)))

    with pytest.raises(ChecksumMismatchError):
        fetch.locate(dataset, settings, progress=False)
    assert not (settings.cache_dir / "testset" / "blob.bin").exists()


def test_mismatch_once_then_good_download_succeeds_with_one_rejected_copy(server, tmp_path, capsys):
    url = server.serve("/blob.bin", BAD, GOOD)
    remote = RemoteFile("blob.bin", url, sha256=sha256(GOOD))
    dest = tmp_path / "cache" / "testset"

    path = fetch.download(remote, dest, progress=False)

    assert path.read_bytes() == GOOD
    assert server.hits["/blob.bin"] == 2
    rejected = leftovers(dest / "rejected", "*")
    assert len(rejected) == 1 and rejected[0].read_bytes() == BAD
    assert leftovers(dest, "*.part") == []
    err = capsys.readouterr().err
    assert "does not match" in err and "Trying once more" in err


def test_corrupt_cache_file_is_an_error_kept_aside_and_the_next_run_downloads(server, settings):
    url = server.serve("/blob.bin", GOOD)
    second = RemoteFile("other.bin", server.serve("/other.bin", b"other"), sha256=sha256(b"other"))
    dataset = DataSet(
        key="testset",
        title="Test data set",
        licence="-",
        citation="-",
        shape="-",
        files=(RemoteFile("blob.bin", url, sha256=sha256(GOOD)), second),
    )
    folder = settings.cache_dir / "testset"
    folder.mkdir(parents=True)
    (folder / "blob.bin").write_bytes(BAD)  # other.bin missing: the cache is incomplete

    # Issue 12, case 1: a present file that fails its check is an error, whatever is missing,
    # and it is kept in rejected/, not overwritten by the download.
    with pytest.raises(fetch.ChecksumMismatchError, match=r"moved to .*rejected"):
        fetch.locate(dataset, settings, progress=False)
    assert [p.read_bytes() for p in (folder / "rejected").iterdir()] == [BAD]
    assert not (folder / "other.bin").exists(), "nothing is downloaded past a corrupt file"

    located = fetch.locate(dataset, settings, progress=False)  # the next run
    assert located.source == "download"
    assert (folder / "blob.bin").read_bytes() == GOOD
    assert (folder / "other.bin").read_bytes() == b"other"


# --- interrupted transfer ------------------------------------------------------------------


def test_interrupted_download_raises_and_leaves_no_half_file(server, tmp_path):
    url = server.serve("/blob.bin", Truncated(GOOD[:70_000], declared=len(GOOD)))
    remote = RemoteFile("blob.bin", url, sha256=sha256(GOOD))
    dest = tmp_path / "cache" / "testset"

    with pytest.raises(DownloadError) as info:
        fetch.download(remote, dest, progress=False)

    assert not (dest / "blob.bin").exists()
    assert leftovers(dest, "*.part") == []
    assert leftovers(dest / "rejected", "*") == [], "an interrupted transfer is not a bad checksum"
    assert url in str(info.value)


def test_interrupted_download_without_checksum_leaves_no_half_file(server, tmp_path):
    # Without a checksum only the length check can notice the cut: it must.
    url = server.serve("/blob.bin", Truncated(GOOD[:1000], declared=len(GOOD)))
    dest = tmp_path / "cache" / "testset"

    with pytest.raises(DownloadError):
        fetch.download(RemoteFile("blob.bin", url), dest, progress=False)

    assert list(dest.iterdir()) == []


def test_interrupted_download_makes_locate_raise_with_url_and_cause(server, settings):
    url = server.serve("/blob.bin", Truncated(GOOD[:1000], declared=len(GOOD)))
    dataset = one_file_dataset(RemoteFile("blob.bin", url, sha256=sha256(GOOD)))

    with pytest.raises(DownloadError, match=re.escape(url)):
        fetch.locate(dataset, settings, progress=False)
    assert leftovers(settings.cache_dir, "blob.bin*") == []


# --- unreachable server --------------------------------------------------------------------


def test_unreachable_server_makes_locate_raise_with_url_and_cause(settings):
    url = f"http://127.0.0.1:{closed_port()}/blob.bin"
    dataset = one_file_dataset(RemoteFile("blob.bin", url, sha256=sha256(GOOD)))

    with pytest.raises(DownloadError, match=re.escape(url) + ".*could not be reached"):
        fetch.locate(dataset, settings, progress=False)
    assert leftovers(settings.cache_dir, "blob.bin*") == []


@pytest.fixture
def unreachable_weather(isolated_data_env, monkeypatch) -> str:
    """The weather data set's files on a port where nothing listens; returns one of its URLs."""
    port = closed_port()
    weather = catalog.CATALOG["weather"]
    unreachable = tuple(
        RemoteFile(f.name, f"http://127.0.0.1:{port}/{f.name}", sha256=f.sha256) for f in weather.files
    )
    monkeypatch.setitem(
        catalog.CATALOG,
        "weather",
        DataSet(
            key="weather",
            title=weather.title,
            files=unreachable,
            licence=weather.licence,
            citation=weather.citation,
            shape=weather.shape,
        ),
    )
    return unreachable[0].url


def test_unreachable_server_lets_the_build_use_the_standin_and_say_why(
    unreachable_weather, monkeypatch, capsys
):
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")  # what the book's build kernels set
    frame = data.load_weather()

    assert data.is_standin(frame)
    assert frame.shape == (3654, 165)
    note = capsys.readouterr().err
    assert "stand-in" in note.lower()
    assert unreachable_weather in note and "could not be reached" in note, "the note says why"


def test_unreachable_server_is_an_error_for_a_learner_with_the_two_fixes(unreachable_weather):
    with pytest.raises(fetch.DataUnavailableError) as info:
        data.load_weather()
    message = str(info.value)
    assert unreachable_weather in message and "could not be reached" in message
    assert "internet access" in message, "fix 1: retry online"
    assert "python -m dlbook.prefetch weather" in message, "fix 2: prefetch or place by hand"
    assert str(fetch.Settings.from_env().cache_dir / "weather") in message, "the exact folder"
    assert "DLBOOK_ALLOW_STANDINS=1" in message


def test_http_error_is_a_download_error(server, tmp_path):
    url = server.url + "/missing.bin"  # the server answers 404
    with pytest.raises(DownloadError) as info:
        fetch.download(RemoteFile("missing.bin", url), tmp_path / "dl", progress=False)
    assert "404" in str(info.value)
    assert leftovers(tmp_path / "dl", "missing.bin*") == []


# --- Zenodo checksums ------------------------------------------------------------------------


def test_zenodo_checksum_is_read_from_the_record_api(server, monkeypatch):
    listing = {
        "files": [
            {"key": "train_images.npy", "checksum": "md5:" + "1" * 32},
            {"key": "train_labels.npy", "checksum": "md5:" + md5(GOOD)},
        ]
    }
    server.serve("/api/records/10970014", json.dumps(listing).encode())
    monkeypatch.setattr(transfer, "ZENODO_API", server.url + "/api/records/")

    assert fetch.zenodo_checksum("10970014", "train_labels.npy") == ("md5", md5(GOOD))
    assert server.hits["/api/records/10970014"] == 1
    with pytest.raises(DownloadError, match="file named"):
        fetch.zenodo_checksum("10970014", "nonexistent.npy")


def test_zenodo_checksum_unreachable_is_a_download_error(monkeypatch):
    monkeypatch.setattr(transfer, "ZENODO_API", f"http://127.0.0.1:{closed_port()}/api/records/")
    with pytest.raises(DownloadError, match="10970014"):
        fetch.zenodo_checksum("10970014", "train_labels.npy")


@pytest.fixture
def zenodo_md5(monkeypatch):
    """Make ``fetch.zenodo_checksum`` answer with the md5 of GOOD, counting the calls."""
    calls = []

    def fake(record, name):
        calls.append((record, name))
        return "md5", md5(GOOD)

    monkeypatch.setattr(fetch, "zenodo_checksum", fake)
    return calls


def test_zenodo_file_is_verified_by_md5_and_remembered_in_the_private_record(server, settings, zenodo_md5):
    url = server.serve("/train_labels.npy", GOOD)
    dataset = one_file_dataset(RemoteFile("train_labels.npy", url, zenodo_record="10970014"))

    located = fetch.locate(dataset, settings, progress=False)

    assert located is not None and located.source == "download"
    path = located.paths["train_labels.npy"]
    assert path.read_bytes() == GOOD
    assert zenodo_md5 == [("10970014", "train_labels.npy")]
    assert sorted(p.name for p in path.parent.iterdir()) == ["train_labels.npy"], "nothing beside the data"
    assert integrity.expected_checksum(dataset.files[0]) == ("md5", md5(GOOD))
    assert str(integrity.record_dir()).startswith(str(Path(os.environ["XDG_STATE_HOME"])))

    again = fetch.locate(dataset, settings, progress=False)
    assert again is not None and again.source == "cache"
    assert server.hits["/train_labels.npy"] == 1
    assert len(zenodo_md5) == 1, "a cached file is verified against the record, offline"


def test_cached_zenodo_file_that_no_longer_matches_its_record_is_an_error(server, settings, zenodo_md5):
    url = server.serve("/train_labels.npy", GOOD)
    dataset = one_file_dataset(RemoteFile("train_labels.npy", url, zenodo_record="10970014"))
    path = fetch.locate(dataset, settings, progress=False).paths["train_labels.npy"]

    path.write_bytes(BAD)  # e.g. a disk error or a hand edit after the download

    with pytest.raises(ChecksumMismatchError) as info:
        fetch.locate(dataset, settings, progress=False)
    assert str(path) in str(info.value)


def test_zenodo_file_with_wrong_md5_is_refused(server, tmp_path, zenodo_md5):
    url = server.serve("/train_labels.npy", BAD)
    remote = RemoteFile("train_labels.npy", url, zenodo_record="10970014")
    dest = tmp_path / "cache" / "dollar_street"

    with pytest.raises(ChecksumMismatchError, match="md5"):
        fetch.download(remote, dest, progress=False)

    assert not (dest / "train_labels.npy").exists()
    assert len(leftovers(dest / "rejected", "*")) == 1


def test_explicit_expected_md5_is_verified(server, tmp_path):
    url = server.serve("/weights.h5", GOOD)
    remote = RemoteFile("weights.h5", url)  # no pinned checksum: the caller supplies one

    path = fetch.download(remote, tmp_path / "dl", progress=False, expected=("md5", md5(GOOD)))
    assert path.read_bytes() == GOOD
    assert sorted(p.name for p in path.parent.iterdir()) == ["weights.h5"]

    with pytest.raises(ChecksumMismatchError):
        fetch.download(
            RemoteFile("other.h5", url), tmp_path / "dl", progress=False, expected=("md5", md5(BAD))
        )
