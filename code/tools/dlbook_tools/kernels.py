"""Sphinx extension: every notebook kernel that the build starts imports TensorFlow, when a
page first needs it, with its C++ start-up notices muted (``ipython_startup/``), so that no
cell output carries log noise and ``nb_output_stderr: warn`` can treat any stderr output as a
build error.

The build's kernels may also use generated stand-in data where the real data cannot be had
(``DLBOOK_ALLOW_STANDINS=1``, each use announced on its page); a learner's own kernel may not,
and ``DLBOOK_STRICT=1`` (publishing) forbids them here too.

Before any page runs, the build checks for the programs pages need (Graphviz's ``dot``) and
makes the data folders that environment variables name absolute: each page runs in a temporary
working folder, where a relative path would point somewhere else.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

STARTUP = Path(__file__).parent / "ipython_startup"


GRAPHVIZ_MISSING = """\
The book's build needs Graphviz's `dot` program, and it is not on the PATH: episode 2 draws a
model diagram with keras.utils.plot_model, which calls it. Install Graphviz and build again:
  Debian/Ubuntu: sudo apt install graphviz     macOS: brew install graphviz
  conda: conda install -c conda-forge graphviz  Windows: winget install graphviz
(`make book` installs it itself where it runs as root.)"""

PATH_VARIABLES = ("DLBOOK_DATA_MIRROR", "DLBOOK_DATA_DIR", "KERAS_HOME")


def check_programs() -> None:
    """Fail at once, saying what to install, when a program that a page runs is missing."""
    if shutil.which("dot") is None:
        raise ExtensionError(GRAPHVIZ_MISSING)


def absolute_paths(environ=os.environ, cwd: Path | None = None) -> None:
    """Resolve relative folders in ``PATH_VARIABLES`` against where the build was started."""
    for name in PATH_VARIABLES:
        value = environ.get(name)
        if value:
            path = Path(value).expanduser()
            environ[name] = str(path if path.is_absolute() else (cwd or Path.cwd()) / path)


def prepare_kernels(app: Sphinx) -> None:
    """Point the build's kernels at an IPython profile that runs the start-up scripts."""
    check_programs()
    absolute_paths()
    ipython_dir = Path(app.outdir).parent / ".ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    for script in STARTUP.glob("*.py"):
        shutil.copy2(script, startup / script.name)
    # Kernels are child processes of the build and inherit its environment.
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ.setdefault("DLBOOK_ALLOW_STANDINS", "1")
    # Matplotlib's font cache of its own: a cache in the user's home that another installation
    # wrote (one since deleted, say) makes Matplotlib print "findfont" warnings on stderr.
    os.environ.setdefault("MPLCONFIGDIR", str(Path(app.outdir).parent / ".matplotlib"))


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", prepare_kernels)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
