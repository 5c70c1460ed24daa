"""Issue 20: the data layer under faults and hostile input, each finding reproduced for real.

Real files and processes, the server on 127.0.0.1 (:mod:`http_server`), a small tmpfs where a disk
must fill or be read-only, and user nobody where a permission matters (root ignores permissions).
What needs root skips without it. All 27 failed on the layer before issue 20, each on its finding
(measured with bridges to that layer's names, since removed).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import test_data_download
from test_data_download import BAD, GOOD, closed_port, leftovers, md5, one_file_dataset, sha256
from test_data_fail_closed import CONCURRENT, settings

import dlbook
from dlbook import catalog, data, fetch, prefetch, pretrained, transfer
from dlbook.catalog import RemoteFile
from dlbook.fetch import DataError, DownloadError
from http_server import Endless, SlowHeaders, Status, Trickle, TrickleHeaders

pytestmark = pytest.mark.usefixtures("isolated_data_env")
server = test_data_download.server  # the fixture: a LocalServer for one test

LEARNER = Path(dlbook.__file__).resolve().parents[1]  # the dlbook under test, for subprocesses
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


# --- bridges and helpers -------------------------------------------------------------------------


def limit(monkeypatch, **values: float) -> None:
    """Set transfer limits (``TOTAL_LIMIT_S=2``...) for one test."""
    for name, value in values.items():
        monkeypatch.setattr(transfer, name, value)


def point_zenodo_at(monkeypatch, api: str) -> None:
    """Zenodo's record API at ``api`` + record."""
    monkeypatch.setattr(transfer, "ZENODO_API", api)


def publish_on_zenodo(server, record: str, contents: dict[str, bytes]) -> None:
    listing = {"files": [{"key": name, "checksum": f"md5:{md5(c)}"} for name, c in contents.items()]}
    server.serve(f"/api/records/{record}", json.dumps(listing).encode())


def publish(server, monkeypatch, key: str, contents: dict[str, bytes]) -> None:
    """Serve ``contents`` as the files of data set ``key`` (see ``local_catalog``), with their
    checksums where the layer finds them: Zenodo's file list, or else the catalog's sha256."""
    entry = catalog.CATALOG[key]
    for name, content in contents.items():
        server.serve(f"/{key}/{name}", content)
    records = {f.zenodo_record for f in entry.files if f.zenodo_record}
    for record in records:
        publish_on_zenodo(server, record, contents)
    if not records:
        files = tuple(dataclasses.replace(f, sha256=sha256(contents[f.name])) for f in entry.files)
        monkeypatch.setitem(catalog.CATALOG, key, dataclasses.replace(entry, files=files))


def dollar_street_files(seed: int = 0, n_train: int = 5, n_val: int = 5) -> dict[str, bytes]:
    """The four Dollar Street files (.npy bytes) with ``n_train`` and ``n_val`` random images."""
    rng, files = np.random.default_rng(seed), {}
    for split, n in (("train", n_train), ("test", n_val)):
        arrays = {
            "images": rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8),
            "labels": rng.integers(0, 10, n),
        }
        for kind, array in arrays.items():
            np.save(buffer := io.BytesIO(), array)
            files[f"{split}_{kind}.npy"] = buffer.getvalue()
    return files


WEATHER_FILES = {"weather_prediction_dataset.csv": b"DATE,MONTH\n20000101,1\n", "metadata.txt": b"-\n"}


def write(folder: Path, contents: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def cache_dir(key: str) -> Path:
    return Path(os.environ["DLBOOK_DATA_DIR"]) / key


def python_env(**extra: str) -> dict[str, str]:
    """This process's environment for a fresh interpreter that imports the dlbook under test."""
    return {**os.environ, "PYTHONPATH": str(LEARNER), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_python(code: str, *args, env: dict, cwd: Path, python: str = sys.executable, user=()):
    """Run ``code`` in a fresh interpreter; return the JSON it printed after ``RESULT``."""
    command = [*user, python, "-c", code, *map(str, args)]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    results = [line[len("RESULT ") :] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and results, f"exit {done.returncode}; stderr ends:\n{done.stderr[-3000:]}"
    return json.loads(results[-1])


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to mount a tmpfs or to act as user nobody (as in a container)")


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def local_catalog(server, monkeypatch):
    """Every catalog file at ``<server>/<data set>/<file>`` (404 until served) and Zenodo's API
    on the same server: nothing reaches the internet."""
    for key, entry in list(catalog.CATALOG.items()):
        files = tuple(dataclasses.replace(f, url=f"{server.url}/{key}/{f.name}") for f in entry.files)
        monkeypatch.setitem(catalog.CATALOG, key, dataclasses.replace(entry, files=files))
    monkeypatch.setattr(pretrained, "DENSENET121", catalog.CATALOG["densenet121"])
    point_zenodo_at(monkeypatch, f"{server.url}/api/records/")
    return server


@pytest.fixture
def small_counts(monkeypatch):
    """The loader expects 5 training and 5 validation images instead of 878 and 293."""
    monkeypatch.setitem(catalog.DOLLAR_STREET.extra, "n_train", 5)
    monkeypatch.setitem(catalog.DOLLAR_STREET.extra, "n_val", 5)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size, *options)``: a new tmpfs mounted in tmp_path, unmounted after the test."""
    mounted = []

    def mount(size: str, *options: str) -> Path:
        needs_root()
        point = tmp_path / f"tmpfs-{len(mounted)}"
        point.mkdir()
        how = ",".join([f"size={size}", *options])
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", how, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


@pytest.fixture
def shared_tmp():
    """A folder that user nobody can reach (tmp_path sits inside a 0700 folder), with a home for
    nobody in it; removed after the test."""
    needs_root()
    folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="dlbook-faults-"))
    folder.chmod(0o755)
    (folder / "nobody").mkdir()
    os.chown(folder / "nobody", 65534, 65534)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def nobody_python() -> str:
    """A Python that user nobody can run with this environment's packages (a venv's interpreter
    may be a link into /root)."""
    needs_root()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")):
        env = nobody_env(Path("/"), HOME="/")
        if python and subprocess.run([*NOBODY, python, "-c", "import numpy, pooch"], env=env).returncode == 0:
            return python
    pytest.skip("no Python that user nobody can run with this environment's packages")


def nobody_env(shared: Path, **extra: str) -> dict[str, str]:
    home = shared / "nobody"
    site = sysconfig.get_paths()["purelib"]  # this environment's packages
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / "mpl"),
        "XDG_STATE_HOME": str(home / "state"),
        "PYTHONPATH": f"{LEARNER}{os.pathsep}{site}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **extra,
    }


# --- finding 1: prefetch damaged a verified mirror and reported unverified files as verified -----


@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
def test_prefetch_never_overwrites_a_verified_mirror_file_with_an_unverified_copy(
    offline, local_catalog, small_counts, monkeypatch, tmp_path, capsys
):
    # a venue mirror with the good files (and the checksum files the old layer trusted), a cache
    # with different copies and no checksum, the good files on the server
    good, bad = dollar_street_files(seed=0), dollar_street_files(seed=1)
    publish(local_catalog, monkeypatch, "dollar_street", good)
    mirror = tmp_path / "venue-mirror"
    write(mirror / "dollar_street", good)
    for name, content in good.items():
        (mirror / "dollar_street" / f"{name}.checksum").write_text(f"md5:{md5(content)}\n")
    write(cache_dir("dollar_street"), bad)
    if offline:
        monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    before = snapshot(mirror)

    status = prefetch.main(["dollar_street", "--mirror", str(mirror)])

    out = capsys.readouterr().out
    after = snapshot(mirror)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert changed == [], f"prefetch (exit {status}) changed the verified mirror:\n{out}"
    assert status == (1 if offline else 0), out  # offline, nothing can verify the cache's copies
    if not offline:
        cache = cache_dir("dollar_street")
        assert {name: (cache / name).read_bytes() for name in good} == good, "the cache now holds good files"
        kept = {p.read_bytes() for p in (cache / "rejected").iterdir()}
        assert set(bad.values()) <= kept, "the different copies are kept in rejected/"
    else:
        assert "1 of 1 fetched and verified" not in out, out


@pytest.mark.parametrize("cached", ["good copies", "different copies"])
def test_the_strict_mode_advice_to_run_prefetch_makes_the_strict_load_succeed(
    cached, local_catalog, small_counts, monkeypatch, capsys
):
    good = dollar_street_files(seed=0)
    publish(local_catalog, monkeypatch, "dollar_street", good)
    write(cache_dir("dollar_street"), good if cached == "good copies" else dollar_street_files(seed=1))
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    with pytest.raises(fetch.UnverifiedDataError) as info:
        data.load_dollar_street()
    command = re.search(r"`python -m dlbook\.prefetch([^`]*)`", str(info.value))
    assert command, f"the error names no prefetch command: {info.value}"

    prefetch.main(command.group(1).split())  # what the error says, with the server up

    out = capsys.readouterr().out
    try:
        loaded = data.load_dollar_street()
    except DataError as exc:
        pytest.fail(
            f"after `python -m dlbook.prefetch{command.group(1)}` (output below) strict mode still "
            f"refuses the data: {exc}\n{out}"
        )
    assert loaded.unverified == ()
    assert np.array_equal(loaded.train[0], np.load(io.BytesIO(good["train_images.npy"])))


# --- finding 2: a Zenodo download was renamed into place before its checksum was kept ------------

VERIFIED_IN_A_FRESH_PROCESS = """
import json
from dlbook import fetch
from dlbook.catalog import DataSet, RemoteFile
remote = RemoteFile("blob.npy", "http://127.0.0.1:9/blob.npy", zenodo_record="1")
located = fetch.locate(DataSet("testset", "Test data", (remote,), "-", "-", "-"))
print("RESULT " + json.dumps([located.source, list(located.unverified)]))
"""


@pytest.mark.parametrize("size", ["128k", "64k"], ids=["room-for-the-file-only", "room-for-half-the-file"])
def test_a_download_that_fills_the_disk_is_verified_or_a_data_error_naming_the_full_folder(
    size, tmpfs, server, monkeypatch, tmp_path
):
    disk = tmpfs(size)
    content = GOOD[: 128 * 1024]  # exactly the first tmpfs
    url = server.serve("/blob.npy", content)
    publish_on_zenodo(server, "1", {"blob.npy": content})
    point_zenodo_at(monkeypatch, f"{server.url}/api/records/")
    folder = disk / "testset"
    try:
        fetch.download(RemoteFile("blob.npy", url, zenodo_record="1"), folder, progress=False)
    except DataError as exc:  # anything else (a bare OSError) fails the test
        assert str(folder) in str(exc) and "full" in str(exc), exc
        assert leftovers(folder, "*") == [], "neither the file nor a temporary file is left"
        return
    env = python_env(DLBOOK_DATA_DIR=str(disk), DLBOOK_STRICT="1", DLBOOK_OFFLINE="1")
    assert run_python(VERIFIED_IN_A_FRESH_PROCESS, env=env, cwd=tmp_path) == ["cache", []]


# --- finding 3: Dollar Street files with too few images were accepted ---------------------------


@pytest.mark.parametrize(
    ("n_train", "n_val", "expected"),
    [(0, 293, "878"), (5, 293, "878"), (878, 5, "293")],
    ids=["no-training-images", "five-training-images", "five-validation-images"],
)
def test_dollar_street_with_the_wrong_number_of_images_is_refused_before_any_note(
    n_train, n_val, expected, tmp_path, monkeypatch, capsys
):
    write(tmp_path / "mirror" / "dollar_street", dollar_street_files(n_train=n_train, n_val=n_val))
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    with pytest.raises(fetch.DamagedFileError, match=rf"\b{expected}\b"):
        data.load_dollar_street()
    assert "Unverified data" not in capsys.readouterr().err, "no note about files that were refused"


# --- finding 4: temporary files under predictable names, followed when they are links -----------


def plant_links(folder: Path, names, victim: Path) -> None:
    """Links to ``victim`` at every temporary name the old layer used for ``names`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    for name in names:
        for planted in (f".{name}.{pid}.tmp", f".{name}.checksum.{pid}.tmp", f".{name}.{pid}.download"):
            (folder / planted).symlink_to(victim)


def test_a_copy_does_not_follow_a_link_planted_at_a_predictable_temporary_name(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the victim's own file")
    source, target = tmp_path / "source.bin", tmp_path / "shared" / "blob.bin"
    source.write_bytes(GOOD)
    plant_links(target.parent, [target.name], victim)

    fetch.copy_atomic(source, target)

    assert victim.read_bytes() == b"the victim's own file", "the copy wrote through the planted link"
    assert not target.is_symlink() and target.read_bytes() == GOOD


def test_prefetch_into_a_mirror_does_not_follow_links_planted_at_temporary_names(
    local_catalog, small_counts, monkeypatch, tmp_path, capsys
):
    good = dollar_street_files()
    publish(local_catalog, monkeypatch, "dollar_street", good)
    write(cache_dir("dollar_street"), good)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the victim's own file")
    mirror = tmp_path / "mirror"
    plant_links(mirror / "dollar_street", good, victim)

    status = prefetch.main(["dollar_street", "--mirror", str(mirror)])

    assert victim.read_bytes() == b"the victim's own file", "prefetch wrote through a planted link"
    assert status == 0, capsys.readouterr().out
    for name, content in good.items():
        assert not (mirror / "dollar_street" / name).is_symlink()
        assert (mirror / "dollar_street" / name).read_bytes() == content


# --- finding 5: no bound on size or time where it matters ----------------------------------------

RECORD = json.dumps({"files": [{"key": "blob.bin", "checksum": f"md5:{md5(GOOD[:1000])}"}]}).encode()


@pytest.mark.parametrize("misbehaviour", ["endless body", "slow headers", "trickled headers"])
@pytest.mark.parametrize("request_for", ["file", "zenodo checksum"])
def test_a_request_ends_within_its_deadline_and_size_cap_whatever_the_server_does(
    request_for, misbehaviour, server, monkeypatch, tmp_path
):
    body = GOOD[:1000] if request_for == "file" else RECORD
    answer = {
        "endless body": Endless(),
        "slow headers": SlowHeaders(body, delay=6),
        "trickled headers": TrickleHeaders(body, delay=0.05),  # 6 s in all
    }[misbehaviour]
    limit(monkeypatch, TOTAL_LIMIT_S=2)
    point_zenodo_at(monkeypatch, f"{server.url}/api/records/")
    if request_for == "file":
        url = server.serve("/blob.bin", answer)
        remote = RemoteFile("blob.bin", url, sha256=sha256(body), max_bytes=100_000)
        call = functools.partial(fetch.download, remote, tmp_path / "dl", progress=False)
    else:
        server.serve("/api/records/1", answer)
        call = functools.partial(fetch.zenodo_checksum, "1", "blob.bin")

    start = time.monotonic()
    try:
        outcome = call()
    except Exception as exc:
        outcome = exc
    elapsed = time.monotonic() - start

    assert elapsed < 4, f"the request took {elapsed:.1f} s under a limit of 2 s ({outcome!r})"
    if isinstance(answer, Endless):
        assert answer.sent < 16 << 20, f"the server got to send {answer.sent >> 20} MB ({outcome!r})"
    assert isinstance(outcome, DownloadError), outcome
    assert leftovers(tmp_path / "dl", "*") == []


# --- finding 6: DenseNet weights were put where Keras does not look ------------------------------

GENERATE_WEIGHTS = """
import sys, h5py, keras, numpy as np
from keras.src.legacy.saving import legacy_h5_format
model = keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3))
with h5py.File(sys.argv[1], "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
print("RESULT", float(np.sum(model.get_layer("conv1_conv").get_weights()[0])))
"""

BUILD_DENSENET = """
import dataclasses, json, sys
import numpy as np
from dlbook import catalog, pretrained
entry = catalog.DENSENET121
entry = dataclasses.replace(entry, files=(dataclasses.replace(entry.files[0], md5=sys.argv[1]),))
catalog.CATALOG["densenet121"] = catalog.DENSENET121 = pretrained.DENSENET121 = entry
ready = pretrained.prepare_densenet121()
import keras
model = keras.applications.DenseNet121(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
print("RESULT " + json.dumps([ready, float(np.sum(model.get_layer("conv1_conv").get_weights()[0]))]))
"""


@pytest.fixture(scope="session")
def densenet_mirror():
    """A mirror that every user can read, holding DenseNet121 weights (random, no top) in Keras's
    legacy HDF5 format: (mirror, md5, a fingerprint of the weights)."""
    mirror = Path(tempfile.mkdtemp(dir="/tmp", prefix="dlbook-densenet-"))
    mirror.chmod(0o755)
    weights = mirror / "densenet121" / catalog.DENSENET121.files[0].name
    weights.parent.mkdir(mode=0o755)
    fingerprint = run_python(GENERATE_WEIGHTS, weights, env=python_env(), cwd=mirror)
    weights.chmod(0o644)
    yield mirror, md5(weights.read_bytes()), fingerprint
    shutil.rmtree(mirror, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("who", ["KERAS_HOME=~/kh", "nobody, home not writable, TMPDIR set"])
def test_prepared_densenet_weights_are_the_ones_keras_loads_offline(who, densenet_mirror, tmp_path, request):
    mirror, digest, fingerprint = densenet_mirror
    offline = {"DLBOOK_DATA_MIRROR": str(mirror), "DLBOOK_OFFLINE": "1"}
    no_internet = f"http://127.0.0.1:{closed_port()}"  # Keras too: every request goes to a closed port
    offline |= dict.fromkeys(("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"), no_internet)
    if who.startswith("KERAS_HOME"):
        work = tmp_path / "work"
        (tmp_path / "home").mkdir()
        work.mkdir()
        env = python_env(KERAS_HOME="~/kh", HOME=str(tmp_path / "home"), **offline)
        result = run_python(BUILD_DENSENET, digest, env=env, cwd=work)
        # Keras itself makes the folder ~/kh in the current folder; the weights must not go there.
        assert list(work.rglob("*.h5")) == [], "weights copied under a literal ~ folder"
    else:
        shared, python = request.getfixturevalue("shared_tmp"), request.getfixturevalue("nobody_python")
        work, home = shared / "nobody" / "tmp", shared / "home"
        work.mkdir()
        os.chown(work, 65534, 65534)
        home.mkdir()  # root's: nobody cannot write it
        keras_tmp = Path("/tmp/.keras")  # where Keras goes when the home cannot be written
        had_keras_tmp = keras_tmp.exists()
        env = nobody_env(shared, HOME=str(home), TMPDIR=str(work), DLBOOK_DATA_DIR=str(work), **offline)
        try:
            result = run_python(BUILD_DENSENET, digest, env=env, cwd=work, python=python, user=NOBODY)
        finally:
            if not had_keras_tmp:
                shutil.rmtree(keras_tmp, ignore_errors=True)
    assert result == [True, fingerprint], "Keras built DenseNet121 with the prepared weights"


# --- finding 7: raw tracebacks for folders that cannot be read or are in a file's place ----------

NOBODY_LOADS_WEATHER = """
import json, os
from dlbook import data
outcomes = {}
for standins in ("0", "1"):
    os.environ["DLBOOK_ALLOW_STANDINS"] = standins
    try:
        outcomes[standins] = ["loaded", data.load_weather().attrs.get("source")]
    except data.DataError as exc:
        outcomes[standins] = ["DataError", str(exc)]
    except Exception as exc:
        outcomes[standins] = [type(exc).__name__, str(exc)]
print("RESULT " + json.dumps(outcomes))
"""


@pytest.mark.parametrize("where", ["mirror", "cache"])
def test_a_folder_the_user_cannot_read_is_a_data_error_naming_it_even_with_standins_allowed(
    where, shared_tmp, nobody_python
):
    mirror, cache = shared_tmp / "mirror", shared_tmp / "nobody" / "cache"
    (mirror / "weather").mkdir(parents=True)
    (cache / "weather").mkdir(parents=True)
    locked = (mirror if where == "mirror" else cache) / "weather"
    locked.chmod(0)
    env = nobody_env(shared_tmp, DLBOOK_DATA_DIR=str(cache), DLBOOK_OFFLINE="1")
    if where == "mirror":
        env["DLBOOK_DATA_MIRROR"] = str(mirror)

    outcomes = run_python(NOBODY_LOADS_WEATHER, env=env, cwd=shared_tmp, python=nobody_python, user=NOBODY)

    kinds = {f"DLBOOK_ALLOW_STANDINS={flag}": kind for flag, (kind, _) in outcomes.items()}
    assert set(kinds.values()) == {"DataError"}, outcomes
    assert all(str(locked) in message for _, message in outcomes.values()), outcomes


def test_a_folder_in_place_of_a_data_file_is_a_data_error_and_no_download_is_left_beside_it(
    local_catalog, monkeypatch
):
    publish(local_catalog, monkeypatch, "weather", WEATHER_FILES)
    in_the_way = cache_dir("weather") / "weather_prediction_dataset.csv"
    in_the_way.mkdir(parents=True)

    with pytest.raises(DataError, match=re.escape(str(in_the_way))):
        data.load_weather()
    assert [p.name for p in in_the_way.parent.iterdir()] == [in_the_way.name], "nothing left beside it"


# --- finding 9: wording and housekeeping ---------------------------------------------------------


@pytest.mark.parametrize("code", [404, 500])
def test_an_http_error_is_reported_as_the_servers_answer_not_as_missing_internet(code, local_catalog):
    for remote in catalog.CATALOG["weather"].files:
        local_catalog.serve(f"/weather/{remote.name}", Status(code))
    with pytest.raises(fetch.DataUnavailableError) as info:
        data.load_weather()
    assert f"HTTP {code}" in str(info.value)
    assert "internet access" not in str(info.value)


def test_a_read_only_cache_is_named_with_its_fix_not_blamed_on_the_network(tmpfs, local_catalog, monkeypatch):
    cache = tmpfs("1m", "ro")
    publish(local_catalog, monkeypatch, "weather", WEATHER_FILES)
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(cache))
    with pytest.raises(DataError) as info:
        data.load_weather()
    message = str(info.value)
    assert "internet access" not in message, message
    assert str(cache) in message and "DLBOOK_DATA_DIR" in message, message
    assert re.search(r"read-only|cannot be written", message, re.IGNORECASE), message


def test_a_download_killed_mid_transfer_leaves_a_file_that_the_next_run_removes(server, tmp_path):
    body = GOOD[:4000]
    url = server.serve("/blob.bin", Trickle(body, delay=0.005), body)  # 20 s the first time, then at once
    folder = tmp_path / "cache" / "testset"
    command = [sys.executable, "-c", CONCURRENT, url, sha256(body), str(tmp_path / "cache")]
    proc = subprocess.Popen(command, env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not leftovers(folder, "*"):  # the download's file appears as the transfer starts
        assert proc.poll() is None and time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    time.sleep(0.5)  # some bytes on their way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert leftovers(folder, "*") and not (folder / "blob.bin").exists(), "killed mid-transfer, a file left"

    dataset = one_file_dataset(RemoteFile("blob.bin", url, sha256=sha256(body)))
    fetch.locate(dataset, settings(tmp_path), progress=False)

    assert [p.name for p in folder.iterdir()] == ["blob.bin"], "the next run removed the partial file"


def test_runs_failing_with_the_same_bad_bytes_keep_one_rejected_copy(server, tmp_path):
    url = server.serve("/blob.bin", BAD)
    dataset = one_file_dataset(RemoteFile("blob.bin", url, sha256=sha256(GOOD)))
    for _ in range(5):
        with pytest.raises(fetch.ChecksumMismatchError):
            fetch.locate(dataset, settings(tmp_path), progress=False)
    rejected = leftovers(tmp_path / "cache" / "testset" / "rejected", "*")
    assert len(rejected) <= 1, f"{len(rejected)} copies of the same bad bytes in rejected/"
