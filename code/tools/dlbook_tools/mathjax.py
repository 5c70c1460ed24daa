"""Sphinx extension: MathJax comes with the built site instead of from a CDN.

Sphinx loads MathJax from cdn.jsdelivr.net by default, so a book opened offline (from
``_build/html``, or at a venue with poor Wi-Fi) shows raw ``\\(x_1 + x_2\\)`` instead of
formulas. MathJax 3 is taken from the ``sphinx-mathjax-offline`` package (pinned in
requirements.txt; its files are MathJax's own, Apache 2.0) and served as ``_static/mathjax/``.
The package's own Sphinx extension is not used: it would copy the files after every build
without being declared safe for parallel builds.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

PACKAGE = "sphinx-mathjax-offline"  # the module's name has hyphens, as published
ENTRY = "mathjax/tex-chtml.js"  # TeX input, HTML output: what Sphinx's own default loads


def static_folder() -> Path:
    """The package's folder that holds ``mathjax/``."""
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            f"The {PACKAGE} package is missing, and without it formulas would need the network. "
            "Install the book's requirements: `make install` (or pip install -r requirements.txt)."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (folder / ENTRY).is_file():
        raise ExtensionError(f"{folder / ENTRY} is missing: reinstall {PACKAGE}.")
    return folder


def _serve_locally(app: Sphinx, config: Config) -> None:
    config.html_static_path = [*config.html_static_path, str(static_folder())]
    # A relative path is served from the site's _static folder.
    config.mathjax_path = ENTRY


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _serve_locally)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
