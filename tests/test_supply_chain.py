"""What the build installs and runs is pinned: a hash-checked lock, actions pinned to commits,
workflows with the least privilege each job needs (audited by zizmor)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements-lock.txt"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements file, following ``-r`` includes."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += requirement_lines(path.parent / line[3:].strip())
        elif line and not line.startswith("-"):
            lines.append(line)
    return lines


def locked() -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, hashes)}`` of the lock."""
    entries = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)", block)
        if match:
            entries[match[1].lower()] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_lock_agrees_with_the_requirements():
    lock = locked()
    for line in requirement_lines(REPO / "requirements.txt"):
        req = Requirement(line)
        (pin,) = [s.version for s in req.specifier if s.operator == "=="]
        assert req.name.lower() in lock, f"{req.name} is pinned but not in the lock: run make lock"
        assert lock[req.name.lower()][0] == pin, (
            f"{req.name}: {pin} pinned, {lock[req.name.lower()][0]} locked"
        )


def test_learner_pins_are_the_locked_versions():
    """Colab and Binder install the learner pins, the build installs the lock: same versions."""
    lock = locked()
    for line in requirement_lines(REPO / "code" / "learner" / "requirements.txt"):
        req = Requirement(line)
        assert lock[req.name.lower()][0] in req.specifier


def test_every_locked_package_has_hashes_and_the_lock_is_made_as_make_lock_makes_it():
    lock = locked()
    assert len(lock) > 100, "the lock holds the transitive packages too"
    assert all(hashes for _, hashes in lock.values())
    command = re.search(r"^#\s+(uv pip compile .*)$", LOCK.read_text(), re.M)[1]
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^LOCK_COMMAND := (.*?)(?<!\\)$", makefile, re.M | re.S)[1]
    recipe = " ".join(recipe.replace("\\\n", " ").replace("$(LOCK)", LOCK.name).split())
    assert command == recipe.replace(" --quiet", "")


def test_make_install_checks_every_hash():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile[makefile.index("$(STAMP):") :].split("\n\n")[0]
    assert "pip install --quiet --require-hashes -r $(LOCK)" in recipe
    assert "-r requirements.txt" not in recipe  # nothing unhashed from the list people edit
    assert "--no-deps --no-build-isolation -e ./code/learner -e ./code/tools" in recipe


@pytest.mark.slow
def test_a_tampered_hash_makes_pip_refuse_the_file(tmp_path):
    name = "six" if "six" in locked() else sorted(locked())[0]
    version, _ = locked()[name]
    tampered = tmp_path / "lock.txt"
    tampered.write_text(f"{name}=={version} --hash=sha256:{'0' * 64}\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(tmp_path / "venv" / "bin" / "python"),
            "install",
            "--no-deps",
            "--require-hashes",
            "-r",
            str(tampered),
        ],
        capture_output=True,
        text=True,
    )
    if "Could not find a version" in proc.stderr or "No matching distribution" in proc.stderr:
        pytest.skip("no package index reachable")
    assert proc.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in proc.stderr


# -- the workflows -------------------------------------------------------------------------------


def _steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commits_with_their_version_named(path):
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_grant_write_access_only_to_the_jobs_that_need_it(path):
    workflow = yaml.safe_load(path.read_text())
    top = workflow.get("permissions")
    assert top in ({}, {"contents": "read"}), f"workflow-wide permissions {top}"
    for name, job in workflow["jobs"].items():
        writes = {k for k, v in (job.get("permissions") or {}).items() if v == "write"}
        runs_book_code = any(
            "make " in s.get("run", "") or "dlbook" in s.get("run", "") for s in job.get("steps", [])
        )
        assert not (writes and runs_book_code), f"job {name} runs the book's code with {writes} write access"
    for _, _, step in _steps(workflow):
        assert "github.token" not in step.get("run", "") and "secrets." not in step.get("run", "")


def test_zizmor_finds_nothing_unexplained():
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    if not Path(zizmor).exists():
        pytest.skip("zizmor is not installed (make install installs it)")
    proc = subprocess.run(
        [zizmor, "--offline", str(REPO / ".github" / "workflows")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr
