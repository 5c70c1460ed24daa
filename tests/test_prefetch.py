"""``python -m dlbook.prefetch``: fetch ahead of time, optionally laid out as a mirror.

An instructor runs it before a workshop; the lead runs it to build a mirror. It must copy
verified files into ``FOLDER/<key>/``, print a summary of what was verified, and fail clearly
(non-zero exit, a message) for an unknown data set or data it cannot get.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlbook import catalog, data, integrity, prefetch
from dlbook.fetch import file_digest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_MIRROR = SHARED if (SHARED / "weather" / "weather_prediction_dataset.csv").is_file() else None


# Every test starts with no mirror, no flags, an empty cache and Keras home.
pytestmark = pytest.mark.usefixtures("isolated_data_env")


def run_prefetch(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlbook.prefetch", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(REAL_MIRROR is None, reason="no ../shared/data mirror here")
def test_prefetch_weather_from_the_mirror_into_a_new_mirror_folder(tmp_path, monkeypatch):
    out = tmp_path / "venue-mirror"

    proc = run_prefetch(
        "weather", "--mirror", str(out), DLBOOK_DATA_MIRROR=str(REAL_MIRROR), DLBOOK_OFFLINE="1"
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 of 1 fetched and verified" in proc.stdout
    assert "Weather prediction dataset" in proc.stdout and "ok" in proc.stdout
    for remote in catalog.WEATHER.files:
        copied = out / "weather" / remote.name
        assert copied.is_file(), remote.name
        assert file_digest(copied) == remote.sha256
    # The folder it wrote is a working mirror.
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(out))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    frame = data.load_weather()
    assert frame.attrs["source"] == "mirror" and frame.shape == (3654, 165)


def test_unknown_data_set_exits_2_with_a_message():
    proc = run_prefetch("weathr", DLBOOK_OFFLINE="1")

    assert proc.returncode == 2
    assert "unknown data set" in proc.stderr and "weathr" in proc.stderr
    assert "weather" in proc.stderr.replace("weathr", ""), "the message lists the valid names"


def test_prefetch_without_any_source_reports_failure(tmp_path):
    proc = run_prefetch("weather", "--mirror", str(tmp_path / "out"), DLBOOK_OFFLINE="1")

    assert proc.returncode == 1
    assert "FAILED" in proc.stdout
    assert "0 of 1 fetched and verified" in proc.stdout
    assert not (tmp_path / "out" / "weather" / "weather_prediction_dataset.csv").exists()


def test_prefetch_of_weights_offline_is_a_failed_row_not_a_crash(monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    status = prefetch.main(["densenet121", "penguins"])

    out = capsys.readouterr().out
    assert status == 1
    assert "1 of 2 fetched and verified" in out
    assert "DenseNet121" in out and "FAILED" in out


def test_prefetch_copies_verified_zenodo_files_and_nothing_beside_them(tmp_path, monkeypatch, capsys):
    source = tmp_path / "source" / "dollar_street"
    source.mkdir(parents=True)
    for name in ("train_images.npy", "test_images.npy"):
        np.save(source / name, np.zeros((3, 64, 64, 3), dtype=np.uint8))
    for name in ("train_labels.npy", "test_labels.npy"):
        np.save(source / name, np.arange(3))
    for remote in catalog.DOLLAR_STREET.files:
        digest = hashlib.md5((source / remote.name).read_bytes()).hexdigest()
        integrity.record_checksum(remote, ("md5", digest))  # as a download from Zenodo would
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "source"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")

    status = prefetch.main(["dollar_street", "--mirror", str(tmp_path / "out")])

    assert status == 0
    assert "1 of 1 fetched and verified" in capsys.readouterr().out
    for remote in catalog.DOLLAR_STREET.files:
        copied = tmp_path / "out" / "dollar_street" / remote.name
        assert copied.read_bytes() == (source / remote.name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "out" / "dollar_street").iterdir()) == sorted(
        r.name for r in catalog.DOLLAR_STREET.files
    ), "no checksum files: they would prove nothing to whoever reads the mirror"
