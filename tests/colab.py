"""A virtual environment that the learner notebooks' first cell takes for Colab (tests only).

The first cell installs the book's helpers and keras-tuner only where ``google.colab`` has been
imported, as it is in every Colab kernel. Two tests build such an environment: one with the
book's pins (tests/test_learner_notebooks.py) and the canary with the newest releases
(tests/test_canary.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

# What Colab preinstalls among the learner environment's packages (and the Graphviz program that
# episode 2's plot_model uses); not dlbook, keras-tuner. TensorBoard is no dependency of TensorFlow
# any more, but Colab ships it, and keras-tuner's search (episode 4) cannot run without it.
COLAB_SHIPS = [
    "tensorflow-cpu",
    "tensorboard",
    "keras",
    "pandas",
    "seaborn",
    "scikit-learn",
    "matplotlib",
    "numpy",
    "pydot",
]


def make_colab_like(python: Path) -> None:
    """Make the environment of ``python`` look like Colab to the first cell: a stand-in
    ``google.colab`` package, imported at start-up by a ``.pth`` file as Colab's kernel does."""
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s own package."""\n')
    (site / "fake_colab.pth").write_text("import google.colab\n")


def installed(python: Path) -> dict[str, str]:
    """``{distribution: version}`` of everything installed in the environment of ``python``,
    names normalised as pip compares them (lower case, ``-`` for ``_`` and ``.``)."""
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {normalise(p["name"]): p["version"] for p in json.loads(listing)}


def normalise(name: str) -> str:
    """A distribution name as pip compares them: ``Keras_Tuner`` and ``keras-tuner`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()
