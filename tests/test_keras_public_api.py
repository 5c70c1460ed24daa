"""Learner code uses the Keras 3 public API only, so every page runs under the TensorFlow,
JAX or PyTorch backend alike.

Reads the code cells of every page (jupytext, as the build does) and inspects them with
``ast``: no ``import tensorflow`` / ``from tensorflow ...``, no ``tf.`` (nor ``tf_keras``,
``keras.src`` or ``keras._tf_keras``), no imports of those through ``importlib`` or
``__import__``, and no ``.numpy()`` on tensors (a TensorFlow-only habit; use
``keras.ops.convert_to_numpy``). The one exception: the installation check of episode 1 and
of the setup page may print TensorFlow's version with ``importlib.metadata.version``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (REPO / "book").rglob("*.md") if "_build" not in p.parts)
# Pages whose installation check may name TensorFlow in importlib.metadata calls.
VERSION_CHECK_PAGES = {"book/episodes/1-introduction.md", "book/setup.md"}
FORBIDDEN_MODULES = re.compile(r"^(tensorflow|tf_keras|keras\.src|keras\._tf_keras)(\.|$)")
METADATA_CALLS = {"version", "metadata", "distribution", "requires", "files"}


def code_cells(path: Path) -> list[tuple[int, str]]:
    """(cell number, source) of the page's code cells, IPython magics and shell lines blanked."""
    notebook = jupytext.read(path, fmt="md:myst")
    cells = []
    for number, cell in enumerate(notebook.cells, 1):
        if cell.cell_type != "code":
            continue
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()]
        cells.append((number, "\n".join(lines)))
    return cells


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _first_string(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def violations(source: str, allow_version_check: bool = False) -> list[str]:
    """What in this code is not the Keras 3 public API (empty when all is well)."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if FORBIDDEN_MODULES.match(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if FORBIDDEN_MODULES.match(module):
                found.append(f"{where}: from {module} import ...")
            elif module == "keras" and any(a.name == "src" for a in node.names):
                found.append(f"{where}: from keras import src")
        elif isinstance(node, ast.Name) and node.id == "tf":
            found.append(f"{where}: uses `tf`")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ("src", "_tf_keras")
            and isinstance(node.value, ast.Name)
            and node.value.id == "keras"
        ):
            found.append(f"{where}: keras.{node.attr} is private")
        elif isinstance(node, ast.Call):
            name = _call_name(node.func)
            text = _first_string(node) or ""
            if name in ("import_module", "__import__") and FORBIDDEN_MODULES.match(text):
                found.append(f"{where}: {name}({text!r})")
            elif name in METADATA_CALLS and text.startswith("tensorflow") and not allow_version_check:
                found.append(f"{where}: {name}({text!r}) outside the installation check")
            elif (
                name == "numpy"
                and isinstance(node.func, ast.Attribute)
                and not node.args
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy"))
            ):
                found.append(f"{where}: .numpy() is TensorFlow-only; use keras.ops.convert_to_numpy")
    return found


def test_there_are_pages_with_code():
    assert any(code_cells(p) for p in PAGES)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_learner_code_uses_only_the_keras_public_api(path):
    page = path.relative_to(REPO).as_posix()
    problems = []
    for number, source in code_cells(path):
        try:
            found = violations(source, allow_version_check=page in VERSION_CHECK_PAGES)
        except SyntaxError as error:
            found = [f"does not parse: {error}"]
        problems += [f"cell {number}: {p}" for p in found]
    assert not problems, f"{page}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "code",
    [
        "import tensorflow as tf",
        "import tensorflow.keras",
        "from tensorflow import keras",
        "from tensorflow.keras import layers",
        "x = tf.constant(1)",
        "import tf_keras",
        "from keras.src import layers",
        "import importlib\nimportlib.import_module('tensorflow')",
        "__import__('tensorflow')",
        "from importlib.metadata import version\nprint(version('tensorflow'))",
        "y = model(x).numpy()",
    ],
)
def test_the_checker_catches(code):
    assert violations(code)


@pytest.mark.parametrize(
    "code",
    [
        "import keras\nmodel = keras.Sequential([keras.layers.Dense(3)])",
        "from keras import layers, ops\nx = ops.convert_to_numpy(ops.ones(3))",
        "import numpy as np\nnp.float32(1).item()",
        "import os\nos.environ['KERAS_BACKEND'] = 'jax'",
        "print(keras.backend.backend())",
    ],
)
def test_the_checker_lets_the_public_api_through(code):
    assert violations(code) == []


def test_the_installation_check_may_print_tensorflows_version():
    code = "from importlib.metadata import version\nprint(version('tensorflow'))"
    assert violations(code, allow_version_check=True) == []
