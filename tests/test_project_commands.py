"""The README's two commands are the project's real entry points, and CI uses the test one."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_command(section: str) -> str:
    readme = (REPO / "README.md").read_text()
    body = readme.split(f"## {section}", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", body, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = readme_command("Run the tests")
    lines = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[-1] == command


def test_readme_commands_are_make_targets_that_install_first():
    makefile = (REPO / "Makefile").read_text()
    for section in ("Build the book", "Run the tests"):
        target = readme_command(section).split()[1]
        match = re.search(rf"^{target}:(.*)$", makefile, re.M)
        assert match, f"no make target {target!r}"
        assert "$(STAMP)" in match.group(1), f"make {target} does not install the requirements first"


def test_ci_points_the_mirror_at_shared_data_when_present():
    script = (REPO / ".ci" / "run").read_text()
    assert "DLBOOK_DATA_MIRROR" in script and "../shared/data" in script


def test_make_test_installs_every_tool_before_it_runs_pytest_once():
    """The tests run last, after Graphviz, Chromium and axe-core are in place (make -n shows it)."""
    import subprocess

    plan = subprocess.run(["make", "-n", "-B", "test"], cwd=REPO, capture_output=True, text=True).stdout
    pytest_at = [i for i, line in enumerate(plan.splitlines()) if "-m pytest" in line]
    assert len(pytest_at) == 1, plan
    for tool in ("command -v dot", "npm ci"):
        tool_at = next(i for i, line in enumerate(plan.splitlines()) if tool in line)
        assert tool_at < pytest_at[0], f"{tool!r} comes after pytest in `make test`"
