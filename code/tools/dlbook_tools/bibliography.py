"""Sphinx extension: the page that prints the bibliography is read again when a ``.bib`` file
changes. sphinxcontrib-bibtex does not record that dependency, so an incremental build after a
new entry failed with a bare ``KeyError`` for the new citation key (a cold build was fine)."""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx


def note_bib_files(app: Sphinx, docname: str, source: list[str]) -> None:
    """A page with a ``{bibliography}`` directive depends on every configured ``.bib`` file."""
    if re.search(r"^`{3,}\{bibliography\}", source[0], re.MULTILINE):
        for bib in app.config.bibtex_bibfiles:
            app.env.note_dependency(str(Path(app.srcdir) / bib))


def setup(app: Sphinx) -> dict:
    app.connect("source-read", note_bib_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
