"""The notebooks branch and the site's archive of every notebook.

``python -m dlbook_tools.branch FOLDER`` fills FOLDER with what the ``notebooks`` branch holds
(the deploy workflow commits it there): every complete and workshop notebook of a build at its
page path, the learner environment for Binder and a README for learners. The build writes the
same files, with the book's helper package inside instead of a git requirement, as
``dlbook-notebooks.zip`` at the root of the site, which the setup page links.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .notebooks import LEARNER_REQUIREMENTS, REPO, book_url, helper_requirement, repository_url, revision

ARCHIVE_FOLDER = "dlbook-notebooks"  # what the archive unpacks into
HELPERS = "dlbook-helpers"  # the helper package's folder inside the archive

BRANCH_README = """\
# Notebooks of *Introduction to Deep Learning*

The notebooks of the book {book_url}, one folder per part as in the book:

- `book/setup.ipynb`: start here; its check reports whether your installation is complete.
- `book/episodes/2-keras.ipynb` and the other episodes: the *complete* notebooks, with every
  line of code of their page (the rocket button of a page opens it on Colab or Binder).
- `book/episodes/2-keras-workshop.ipynb` and so on: the *workshop* notebooks, to type along.
  The code cells that an instructor types live are empty, with a comment that says what to type;
  the book's setup page lists them with links that open them on Colab
  ({book_url}book/setup.html#setup-workshop-notebooks).
- `requirements.txt`: the learner environment, the versions the book was built with
  (Python 3.11 to 3.13); `apt.txt` and `runtime.txt` tell Binder what to install.

## Install and start

In a terminal opened in this folder, on macOS and Linux (write `python3.13` instead of
`python3` when `python3 --version` shows a version outside 3.11 to 3.13):

    python3 -m venv .venv
    source .venv/bin/activate
    python -m pip install -r requirements.txt
    jupyter lab

On Windows, in PowerShell (`py -3.13` instead of `python` in the first line if `python` is not
3.11 to 3.13):

    python -m venv .venv
    .venv\\Scripts\\Activate.ps1
    python -m pip install -r requirements.txt
    jupyter lab

Run the activation line (the second) again in every new terminal. The setup page has help when
something fails: {book_url}book/setup.html

## A venue without network

The notebooks download their data sets the first time they need them. Where the network is poor,
fetch everything beforehand on a computer with a good connection, in the environment above, into
a folder you can copy (a USB stick, a shared drive):

    python -m dlbook.prefetch --mirror FOLDER

On each learner's computer, point the environment variable `DLBOOK_DATA_MIRROR` at the copied
folder before starting JupyterLab: `export DLBOOK_DATA_MIRROR=/path/to/FOLDER` on macOS and
Linux, `$env:DLBOOK_DATA_MIRROR = "D:\\FOLDER"` in PowerShell. The Dollar Street images then
load with a note that they are unverified (that computer has not seen the checksums published
online); that is expected. Episode 5's pre-trained weights are read from Keras's own folder:
copy `FOLDER/densenet121/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5` into
`.keras/models/` in the home folder. Details: {book_url}book/setup.html#setup-trouble-network

---
Generated from commit `{rev}` of {repo_url}; to change a notebook, change the book's page.
"""


def branch_files(source: Path, target: Path, repo_url: str, rev: str) -> list[Path]:
    """Fill ``target`` with what the notebooks branch holds; return the notebooks copied.

    The notebooks of ``source`` (a build's ``_build/notebooks``) at their page paths, the learner
    environment for Binder (``requirements.txt`` with the helper package pinned to ``rev``,
    ``apt.txt``, ``runtime.txt``), and a README that says where they come from.
    """
    notebooks = sorted(source.rglob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks under {source}: build the book first (make book)")
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in notebooks:
        dest = target / nb.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb, dest)
        copied.append(dest)
    requirements = LEARNER_REQUIREMENTS.read_text() + f"\n{helper_requirement(repo_url, rev)}\n"
    (target / "requirements.txt").write_text(requirements)
    for name in ("apt.txt", "runtime.txt"):  # Graphviz for plot_model; the Python the book uses
        shutil.copyfile(REPO / name, target / name)
    readme = BRANCH_README.format(rev=rev, repo_url=repo_url, book_url=book_url())
    (target / "README.md").write_text(readme)
    return copied


def write_site_archive(source: Path, archive: Path, repo_url: str, rev: str) -> list[str]:
    """The archive of the notebooks of ``source`` (a build's ``_build/notebooks``) with what the
    notebooks branch holds; its ``requirements.txt`` installs the helper package from the folder
    inside it, so that installing needs no git."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        branch_files(source, folder, repo_url, rev)
        shutil.copytree(
            LEARNER_REQUIREMENTS.parent,
            folder / HELPERS,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "environment.yml"),
        )
        (folder / "requirements.txt").write_text(LEARNER_REQUIREMENTS.read_text() + f"\n./{HELPERS}\n")
        return write_archive(folder, archive)


def write_archive(folder: Path, archive: Path) -> list[str]:
    """Zip ``folder`` (what the notebooks branch holds) into ``archive`` under one top folder.

    The same files give the same bytes: fixed timestamps and order, so a rebuild that changes
    nothing leaves the archive as it was. Returns the names inside it.
    """
    names = []
    tmp = archive.with_name(f".{archive.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = f"{ARCHIVE_FOLDER}/{path.relative_to(folder).as_posix()}"
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
            names.append(name)
    if archive.is_file() and archive.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        tmp.replace(archive)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assemble the notebooks branch from a built book.")
    parser.add_argument("target", type=Path, help="empty folder to fill")
    parser.add_argument("--built", type=Path, default=REPO, help="folder that holds _build/ (default: repo)")
    args = parser.parse_args(argv)
    try:
        copied = branch_files(args.built / "_build" / "notebooks", args.target, repository_url(), revision())
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps([str(p.relative_to(args.target)) for p in copied], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
