"""Sphinx extension: the learner layer's assets on every HTML page, two theme components
without the accessibility faults of the originals, and a workaround for a duplicated script in
the theme's output.

``static/learner-layer.js`` and ``.css`` provide the "Instructor view" toggle (a real
``<button aria-pressed>``, state kept in ``localStorage`` across pages) that shows the
``{instructor-note}`` admonitions, a "copy link" button next to every section heading and
exercise title, the jump from a renamed anchor to its new place, and the few repairs of
markup that no configuration reaches (see ``repairMarkup`` there).

``templates/`` overrides two components of pydata-sphinx-theme (the search button and the
colour-mode button) so that their accessible names match their visible text; the tests compare
them with the theme's originals, so that a theme upgrade is noticed.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


def _register_paths(app: Sphinx, config: Config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    # Before the theme's own templates: ours replace its components of the same name.
    config.templates_path = [str(TEMPLATES), *config.templates_path]


def _add_assets(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    # Not deferred: it runs in <head>, before the body renders, so that hidden instructor
    # notes never flash into view.
    app.add_js_file("learner-layer.js", priority=401)
    app.add_css_file("learner-layer.css")


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Drop repeated copies of one script from the page.

    sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) after the HTML
    builder has started; Sphinx 7.4 then lists it twice (once with the file name ``None``,
    once with ``""``), and the second copy re-declares a ``const``, an uncaught error in
    every page's console.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (
            getattr(script, "filename", None) or "",
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())),
        )
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _register_paths)
    app.connect("builder-inited", _add_assets)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
