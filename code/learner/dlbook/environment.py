"""Is this the environment the book was built with? ``check_environment()`` prints a short report.

It shows the Python version, the Keras backend, the device (GPU name or CPU) and, for each
package, the installed version beside the one the book was built with (the pins of
``code/learner/requirements.txt``, which the helper package carries in its metadata as the extra
``pinned``). A different major or minor version is flagged with the command that fixes it; the
last line says "All good" or what to fix first. The setup page and every learner notebook's first
cell run it.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

# The Python versions that every pinned package supports: the lowest is the highest
# ``Requires-Python`` of the pins, the highest is the newest Python that TensorFlow publishes
# wheels for. tests/test_environment_check.py derives both from the packages' own metadata.
PYTHON_RANGE = ((3, 11), (3, 13))


@dataclass(frozen=True)
class PackageCheck:
    """One package: the version the book pins, the one installed (None: missing), and a verdict."""

    name: str
    pinned: str
    installed: str | None

    @property
    def problem(self) -> str | None:
        """What is wrong, or None when the installed version is close enough (same major.minor)."""
        if self.installed is None:
            return "not installed"
        try:
            have, want = Version(self.installed), Version(self.pinned)
        except InvalidVersion:
            return None if self.installed == self.pinned else "a different version"
        if have.release[:2] != want.release[:2]:
            return "a different major or minor version"
        return None


def pins(requirements: Path | None = None) -> dict[str, str]:
    """``{package: version}`` for the pins that apply on this platform.

    Read from the helper package's metadata, or from ``requirements`` (default: the
    requirements file beside the package, when it runs from a checkout without being installed).
    """
    lines: Iterable[str]
    try:
        lines = metadata.requires("dlbook") or []
    except metadata.PackageNotFoundError:
        lines = []
    lines = [line for line in lines if "pinned" in line]
    if requirements is not None or not lines:
        path = requirements or Path(__file__).resolve().parents[1] / "requirements.txt"
        lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
    found = {}
    for line in lines:
        if not line.strip():
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": "pinned"}):
            continue
        exact = [spec.version for spec in req.specifier if spec.operator == "=="]
        if exact:
            found[req.name.lower()] = exact[0]
    return found


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# Either build of TensorFlow will do: the pins name the CPU-only build where one exists, while
# Colab and GPU machines have the full one.
TWINS = {"tensorflow-cpu": "tensorflow", "tensorflow": "tensorflow-cpu"}


def package_checks(packages: Iterable[str] | None = None) -> list[PackageCheck]:
    """A check for each pinned package (or only those named in ``packages``)."""
    wanted = pins()
    names = list(wanted) if packages is None else [p.lower() for p in packages]
    names = [n if n in wanted or n not in TWINS else TWINS[n] for n in names]
    checks = []
    for name in dict.fromkeys(n for n in names if n in wanted):
        installed = installed_version(name)
        if installed is None and name in TWINS and installed_version(TWINS[name]):
            name, installed = TWINS[name], installed_version(TWINS[name])
        checks.append(PackageCheck(name, wanted.get(name) or wanted[TWINS[name]], installed))
    return checks


def python_problem(version: tuple[int, int] | None = None) -> str | None:
    """Why this Python cannot run the pinned packages, or None."""
    version = version or sys.version_info[:2]
    low, high = PYTHON_RANGE
    if low <= version <= high:
        return None
    return (
        f"Python {version[0]}.{version[1]} is outside {low[0]}.{low[1]}-{high[0]}.{high[1]}, "
        "the versions that every package the book pins supports"
    )


def import_keras_quietly():
    """Import Keras (and its backend) with the C++ start-up notices muted; return the module.

    TensorFlow's core writes a few informational lines ("oneDNN custom operations are on", ...)
    straight to the process's standard error while it is imported; in a notebook they show up
    in red and look like errors. They come only once per process, so importing here, first,
    keeps them out of the learner's way. Python warnings are not affected.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no real file descriptor 2 (some embedded interpreters)
        import keras

        return keras
    sys.stderr.flush()
    os.dup2(null, 2)
    try:
        import keras
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)
    return keras


def device() -> str:
    """The GPU Keras will use (its name), or "CPU"."""
    keras = import_keras_quietly()
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"GPU: {details.get('device_name', gpus[0].name)}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"GPU: {torch.cuda.get_device_name(0)}"
        elif backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                return f"GPU: {gpus[0].device_kind}"
    except Exception as error:  # a broken GPU setup should not stop the report
        return f"CPU (asking {backend} for a GPU failed: {error})"
    return "CPU"


def on_colab() -> bool:
    return "google.colab" in sys.modules or bool(os.environ.get("COLAB_RELEASE_TAG"))


def gpu_note() -> str:
    """What to do about a notebook that trains for minutes on a CPU."""
    if on_colab():
        return (
            "Note: no GPU. This notebook trains for minutes and runs faster on a GPU: choose "
            "Runtime > Change runtime type, pick a GPU, then run the notebook again from the top. "
            "If Colab has no GPU for you, carry on: it runs on a CPU too."
        )
    return (
        "Note: no GPU found. The training cells of this notebook take a few minutes on a CPU; that is fine."
    )


def timed_on() -> str:
    """How this kernel's timings were measured, for a page to quote after its seconds: the device
    and, in the book's build, how many other pages ran at the same time (the build says so in
    ``DLBOOK_PAGES_AT_ONCE``; a learner's kernel has nobody beside it)."""
    what = device()
    if what.startswith("CPU"):  # also when asking for a GPU failed: no error text in the prose
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        what = f"{cores} CPU core{'s' if cores != 1 else ''}"
    try:
        others = max(int(os.environ.get("DLBOOK_PAGES_AT_ONCE") or 1) - 1, 0)
    except ValueError:
        others = 0
    if others:
        pages = "one other page" if others == 1 else f"{others} other pages"
        what += f", shared with up to {pages} of the book running at the same time"
    return what


def in_notebook() -> bool:
    """Whether this runs in a notebook's kernel (Jupyter's, or Colab's own shell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return type(shell).__name__ in {"ZMQInteractiveShell", "Shell"}


def _fix(check: PackageCheck) -> str:
    requirement = f'"{check.name}=={check.pinned}"'
    if in_notebook():  # into this kernel's environment; the new version counts after a restart
        restart = "Runtime > Restart session" if on_colab() else "Kernel > Restart Kernel"
        return f"%pip install {requirement} in a new cell, then restart ({restart})"
    return f"python -m pip install {requirement}"


def check_environment(packages: Iterable[str] | None = None, expect_gpu: bool = False) -> None:
    """Print the report (its last line says whether anything needs fixing).

    ``packages`` limits the table to what a page imports; ``expect_gpu`` adds a note (not a
    failure) when the notebook runs on a CPU although its page trains long enough for a GPU to
    help: on Colab, how to switch the runtime.
    """
    try:
        keras = import_keras_quietly()
        backend = f"Keras {keras.__version__} on {keras.backend.backend()}"
        where = device()
    except ImportError as error:
        backend, where = f"Keras cannot be imported ({error})", "unknown"
    print(f"Python   {platform.python_version()}")
    print(f"Backend  {backend}")
    print(f"Device   {where}")
    graphviz = "found" if shutil.which("dot") else "not found (only episode 2's model diagram needs it)"
    print(f"Graphviz {graphviz}")
    checks = package_checks(packages)
    width = max([len(c.name) for c in checks] + [7])
    print(f"\n{'package':<{width}}  {'installed':<10} book")
    for check in checks:
        flag = f"  <- {check.problem}" if check.problem else ""
        print(f"{check.name:<{width}}  {check.installed or '-':<10} {check.pinned}{flag}")
    problems = [c for c in checks if c.problem]
    python = python_problem()
    if expect_gpu and where.startswith("CPU"):
        print(f"\n{gpu_note()}")
    if python:
        print(f"\nFix Python first: {python}. See the setup page for a supported Python.")
    elif problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more flagged above)" if len(problems) > 1 else ""
        print(f"\nFix {first.name}: {first.problem}{more}. Run: {_fix(first)}")
        print("Outputs may then differ from the book's, or a cell may fail.")
    else:
        print("\nAll good: the versions match the ones the book was built with.")
