"""The code reads as two packages with one job each, and the tree stays lint- and format-clean.

- ``code/learner`` (:mod:`dlbook`) is what pages import and Colab installs; it must not need the
  book's build tooling.
- ``code/tools`` (:mod:`dlbook_tools`) builds and checks the book; every Sphinx extension that
  ``_config.yml`` lists is one of its modules.
- ruff (configured in ``pyproject.toml``) passes on the whole tree; pre-commit and the
  pull-request workflow run the same checks.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LEARNER = REPO / "code" / "learner"
TOOLS = REPO / "code" / "tools"
RUFF = Path(sys.executable).with_name("ruff")


def imported_modules(package: Path) -> set[str]:
    """Top-level names of every module that the package's files import (relative ones left out)."""
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def declared(pyproject: Path) -> dict:
    return tomllib.loads(pyproject.read_text())["project"]


IMPORT_NAMES = {"pyyaml": "yaml"}  # distributions whose import name differs


def requirement_names(requirements: list[str]) -> set[str]:
    """The import names of the distributions in a ``dependencies`` list."""
    names = {re.split(r"[<>=;\[ ]", r, maxsplit=1)[0].strip().lower() for r in requirements}
    return {IMPORT_NAMES.get(n, n.replace("-", "_")) for n in names}


def test_the_learner_package_needs_none_of_the_build_tooling():
    imports = imported_modules(LEARNER / "dlbook")
    tooling = {
        "dlbook_tools",
        "sphinx",
        "docutils",
        "myst_nb",
        "jupytext",
        "nbformat",
        "yaml",
        "jupyter_book",
    }
    assert not imports & tooling, f"dlbook imports build tooling: {sorted(imports & tooling)}"


def test_the_learner_modules_stay_small_with_one_job_each():
    # issue 20: the data layer was one 507-line module with five jobs
    sizes = {path.name: len(path.read_text().splitlines()) for path in (LEARNER / "dlbook").glob("*.py")}
    assert sizes["fetch.py"] < 250, sizes
    assert max(sizes.values()) <= 300, {name: n for name, n in sizes.items() if n > 300}


def test_each_package_declares_the_third_party_packages_it_imports():
    # Imported only where they are sure to be present: IPython and Keras inside a page's kernel,
    # TensorFlow by the start-up script of the build's kernels; the environment report asks
    # whichever backend Keras runs on (TensorFlow, JAX or PyTorch) for its GPU.
    optional = {"dlbook": {"IPython", "keras", "tensorflow", "jax", "torch"}, "dlbook_tools": {"tensorflow"}}
    for folder, package in ((LEARNER, "dlbook"), (TOOLS, "dlbook_tools")):
        project = declared(folder / "pyproject.toml")
        third_party = imported_modules(folder / package) - set(sys.stdlib_module_names)
        third_party -= optional[package] | {package}
        missing = {m for m in third_party if m.lower() not in requirement_names(project["dependencies"])}
        assert not missing, f"{package} imports {sorted(missing)} but does not declare them"


def test_requirements_install_both_packages_and_colab_installs_only_the_learner_one():
    requirements = (REPO / "requirements.txt").read_text()
    assert "-e ./code/learner" in requirements and "-e ./code/tools" in requirements
    assert declared(LEARNER / "pyproject.toml")["name"] == "dlbook"
    assert declared(TOOLS / "pyproject.toml")["name"] == "dlbook-tools"


def test_every_extension_in_the_config_is_a_tooling_module_with_a_setup():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    ours = [e for e in config["sphinx"]["extra_extensions"] if e.startswith("dlbook")]
    assert ours, "the config lists none of the book's extensions"
    for name in ours:
        assert name.startswith("dlbook_tools."), f"{name}: extensions belong to the tooling package"
        module = TOOLS / Path(*name.split(".")).with_suffix(".py")
        tree = ast.parse(module.read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "setup" for n in tree.body), name
    # Jupyter Book loads sphinx_design itself; listing it again is noise.
    assert "sphinx_design" not in config["sphinx"]["extra_extensions"]


def test_the_anchor_manifest_lives_with_the_tooling():
    from dlbook_tools import anchors

    assert anchors.MANIFEST == TOOLS / "dlbook_tools" / "anchors.json"
    assert anchors.MANIFEST.is_file()
    assert not (REPO / "tests" / "anchors.json").exists()


@pytest.mark.parametrize("command", [["check", "--output-format", "concise"], ["format", "--check"]])
def test_ruff_is_clean_on_the_whole_tree(command):
    proc = subprocess.run([str(RUFF), *command, "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pre_commit_runs_the_pinned_ruff():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    pinned = re.search(r"^ruff==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    for name in ("ruff-check", "ruff-format"):
        assert hooks[name]["additional_dependencies"] == [f"ruff=={pinned}"]
    assert "notebook-twins" not in hooks, "the notebooks are built, not committed: nothing to check"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("pre-commit")), "validate-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pull_request_workflow_runs_ruff_and_the_fast_tests():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pull-request.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML reads the key `on` as True
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("ruff check" in r for r in runs)
    assert any("ruff format --check" in r for r in runs)
    assert any(re.search(r"pytest -m [\"']not slow[\"']", r) for r in runs)


def test_pull_request_workflow_builds_the_book_from_the_cache_and_uploads_the_site():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pull-request.yml").read_text())
    book = workflow["jobs"]["book"]["steps"]
    restored = [s["with"]["path"] for s in book if "actions/cache/restore@" in s.get("uses", "")]
    assert "_build/.jupyter_cache" in restored, "only the pages whose code changed should execute"
    assert any(s.get("run") == "make book" for s in book)
    upload = next(s for s in book if "actions/upload-artifact@" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html" and upload["with"]["name"] == "site"
