"""What the setup page says about the reader's machine follows from the pins, and the
environment report (``dlbook.environment``) tells a reader what to fix.

The Python range is derived here from the installed packages' own metadata, so the page, the
report and the conda file cannot drift from ``code/learner/requirements.txt`` again.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from dlbook import environment

REPO = Path(__file__).resolve().parents[1]
LEARNER = REPO / "code" / "learner"
PY_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)$")


def _minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def pinned_distributions() -> list[metadata.Distribution]:
    return [metadata.distribution(name) for name in environment.pins()]


def derived_python_range() -> tuple[tuple[int, int], tuple[int, int]]:
    """Lowest: the highest ``Requires-Python`` lower bound of the pins. Highest: the lowest of the
    newest Python versions that the pins with compiled code (per-Python wheels) list."""
    lows, highs = [], []
    candidates = [(3, minor) for minor in range(8, 20)]
    for dist in pinned_distributions():
        spec = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        supported = [v for v in candidates if f"{v[0]}.{v[1]}" in spec]
        lows.append(min(supported))
        purelib = "Root-Is-Purelib: true" in (dist.read_text("WHEEL") or "")
        listed = [
            _minor(m.group(1))
            for c in dist.metadata.get_all("Classifier") or []
            if (m := PY_CLASSIFIER.match(c))
        ]
        if not purelib and listed:
            highs.append(max(listed))
    return max(lows), min(highs)


def test_python_range_of_the_report_is_what_the_pinned_packages_support():
    assert derived_python_range() == environment.PYTHON_RANGE


def test_setup_page_states_the_python_range_of_the_pins():
    low, high = derived_python_range()
    versions = [f"{low[0]}.{m}" for m in range(low[1], high[1] + 1)]
    stated = ", ".join(versions[:-1]) + f" or {versions[-1]}"
    text = " ".join((REPO / "book" / "setup.md").read_text().split())
    assert f"**Python {stated}.**" in text
    assert f"outside {versions[0]} to {versions[-1]}" in text  # the troubleshooting section
    assert "3.10 or newer" not in text


def test_helper_package_and_conda_file_ask_for_a_python_in_the_range():
    low, high = derived_python_range()
    project = (LEARNER / "pyproject.toml").read_text()
    assert f'requires-python = ">={low[0]}.{low[1]}"' in project
    conda = yaml.safe_load((LEARNER / "environment.yml").read_text())
    python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert low <= _minor(python.split("=")[1]) <= high
    assert "graphviz" in conda["dependencies"]
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert "-r requirements.txt" in pip  # the same pins as the venv route


def test_pins_read_from_the_packages_metadata_are_those_of_the_requirements_file():
    from_file = environment.pins(LEARNER / "requirements.txt")
    assert environment.pins() == from_file
    assert from_file["keras"] and ("tensorflow-cpu" in from_file or "tensorflow" in from_file)


def _report(capsys, monkeypatch, versions: dict[str, str | None], packages=None) -> tuple[bool, list[str]]:
    real = environment.installed_version
    monkeypatch.setattr(environment, "installed_version", lambda name: versions.get(name, real(name)))
    monkeypatch.setattr(environment, "device", lambda: "CPU")
    assert environment.check_environment(packages) is None  # nothing for a notebook to echo
    lines = capsys.readouterr().out.strip().splitlines()
    return lines[-1].startswith("All good"), lines


def test_report_says_all_good_when_the_versions_match(capsys, monkeypatch):
    ok, lines = _report(capsys, monkeypatch, {})
    assert ok
    assert lines[0].startswith("Python ") and lines[1].startswith("Backend  Keras ")
    assert lines[2] == "Device   CPU"
    assert lines[-1].startswith("All good")
    table = [line.split() for line in lines if line.split() and line.split()[0] in environment.pins()]
    assert {row[0] for row in table} == set(environment.pins())
    assert all(row[1] == row[2] for row in table)


def test_report_flags_a_different_minor_version_and_says_how_to_fix_it(capsys, monkeypatch):
    major, minor = _minor(environment.pins()["pandas"])
    ok, lines = _report(capsys, monkeypatch, {"pandas": f"{major}.{minor + 1}.0", "numpy": None})
    assert not ok
    row = next(line for line in lines if line.startswith("pandas "))
    assert row.endswith("<- a different major or minor version")
    assert next(line for line in lines if line.startswith("numpy ")).endswith("<- not installed")
    numpy = environment.pins()["numpy"]  # numpy comes before pandas in the table
    assert lines[-2] == (
        f'Fix numpy: not installed (and 1 more flagged above). Run: python -m pip install "numpy=={numpy}"'
    )


def test_in_a_notebook_the_fix_is_a_pip_magic_and_a_restart(capsys, monkeypatch):
    """A notebook's report names what works in a cell (``%pip`` installs into the kernel's own
    environment) and the restart that makes the new version count, with Colab's menu on Colab."""
    numpy = environment.pins()["numpy"]
    monkeypatch.setattr(environment, "in_notebook", lambda: True)
    for colab, restart in ((False, "Kernel > Restart Kernel"), (True, "Runtime > Restart session")):
        monkeypatch.setattr(environment, "on_colab", lambda colab=colab: colab)
        ok, lines = _report(capsys, monkeypatch, {"numpy": None})
        assert not ok
        assert lines[-2] == (
            f'Fix numpy: not installed. Run: %pip install "numpy=={numpy}" in a new cell, '
            f"then restart ({restart})"
        )


def test_report_accepts_another_patch_release_and_either_build_of_tensorflow(capsys, monkeypatch):
    pins = environment.pins()
    cpu = "tensorflow-cpu" if "tensorflow-cpu" in pins else "tensorflow"
    twin = environment.TWINS[cpu]
    major, minor = _minor(pins["keras"])
    versions = {"keras": f"{major}.{minor}.99", cpu: None, twin: pins[cpu]}
    ok, lines = _report(capsys, monkeypatch, versions, ["tensorflow", "keras"])
    assert ok, lines
    header = next(i for i, line in enumerate(lines) if line.startswith("package "))
    assert [line.split()[0] for line in lines[header + 1 : header + 3]] == [twin, "keras"]


@pytest.mark.parametrize(
    ("version", "fine"), [((3, 10), False), ((3, 11), True), ((3, 13), True), ((3, 14), False)]
)
def test_python_outside_the_range_is_reported_first(version, fine):
    assert (environment.python_problem(version) is None) == fine


def test_setup_page_and_first_notebook_cell_use_the_same_check():
    setup = (REPO / "book" / "setup.md").read_text()
    assert "from dlbook.environment import check_environment\n\ncheck_environment()" in setup
    from dlbook_tools import notebooks

    assert "check_environment([" in notebooks.setup_cell_source(notebooks.repository_url(), "abc")


def test_timings_say_where_they_were_measured_and_whether_other_pages_ran_beside(monkeypatch):
    """Pages quote seconds measured in their build; the build runs pages side by side."""
    monkeypatch.setattr(environment, "device", lambda: "CPU")
    monkeypatch.setattr(environment.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(environment.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.delenv("DLBOOK_PAGES_AT_ONCE", raising=False)
    assert environment.timed_on() == "2 CPU cores"
    monkeypatch.setenv("DLBOOK_PAGES_AT_ONCE", "2")
    assert (
        environment.timed_on()
        == "2 CPU cores, shared with up to one other page of the book running at the same time"
    )
    monkeypatch.setenv("DLBOOK_PAGES_AT_ONCE", "3")
    assert environment.timed_on().endswith("up to 2 other pages of the book running at the same time")
    monkeypatch.setattr(environment, "device", lambda: "CPU (asking tensorflow for a GPU failed: boom)")
    assert "boom" not in environment.timed_on()
    monkeypatch.setattr(environment, "device", lambda: "GPU: Tesla T4")
    monkeypatch.setenv("DLBOOK_PAGES_AT_ONCE", "1")
    assert environment.timed_on() == "GPU: Tesla T4"
