"""Sphinx extension: stable anchors that instructors can share.

- Each section's explicit label (``(episode-keras-step-3)=``) becomes its primary HTML id, so
  the theme's ``#`` permalinks and the "On this page" links use the stable anchor, not the
  one derived from the title (which changes whenever the title does). The title-derived id
  stays on the page too.
- Renames recorded in the anchor manifest (:mod:`dlbook_tools.anchors`; its ``redirects``,
  ``"page#old": "page#new"``) keep old links working: each page gets the renames of its own
  anchors, and ``learner-layer.js`` jumps from an old anchor to its new place.

The manifest is the config value ``dlbook_anchor_manifest`` (a path, relative to the source
folder; by default the one that ships with this package).
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

from .anchors import MANIFEST


def _stable_section_ids(app: Sphinx, doctree: nodes.document) -> None:
    """Put a section's explicit label first among its ids (its HTML id and permalink)."""
    for section in doctree.findall(nodes.section):
        explicit = [doctree.nameids.get(name) for name in section["names"] if doctree.nametypes.get(name)]
        explicit = [i for i in explicit if i and i in section["ids"]]
        if explicit and section["ids"][0] != explicit[0]:
            section["ids"].remove(explicit[0])
            section["ids"].insert(0, explicit[0])


def _load_redirects(app: Sphinx) -> None:
    """Read the renames recorded in the anchors manifest (``"page#old": "page#new"``), and
    note the pages whose renames changed since the last build: they are written again."""
    path = Path(app.srcdir) / app.config.dlbook_anchor_manifest
    redirects = {}
    if path.is_file():
        redirects = json.loads(path.read_text()).get("redirects") or {}
    previous = getattr(app.env, "dlbook_redirects", None) or {}
    changed = set(previous.items()) ^ set(redirects.items())
    app.env.dlbook_redirects = redirects  # type: ignore[attr-defined]
    app.env.dlbook_redirected_pages = {old.partition("#")[0] for old, _ in changed}  # type: ignore[attr-defined]


def _pages_with_new_redirects(app: Sphinx, env, added, changed, removed) -> list[str]:
    pages = getattr(env, "dlbook_redirected_pages", set())
    return sorted(page for page in pages if page in env.found_docs)


def _page_redirects(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Give each page the renames of its own anchors, as URLs relative to that page."""
    if app.builder.format != "html":
        return
    here = {}
    for old, new in (getattr(app.env, "dlbook_redirects", None) or {}).items():
        page, _, anchor = old.partition("#")
        if page != pagename:
            continue
        new_page, _, new_anchor = new.partition("#")
        uri = "" if new_page == pagename else app.builder.get_relative_uri(pagename, new_page)
        here[anchor] = f"{uri}#{new_anchor}"
    if here:
        app.add_js_file(
            None, body=f"window.DLBOOK_REDIRECTS = {json.dumps(here, sort_keys=True)};", priority=400
        )


def setup(app: Sphinx) -> dict:
    app.add_config_value("dlbook_anchor_manifest", str(MANIFEST), "env", [str])
    app.connect("builder-inited", _load_redirects)
    app.connect("env-get-outdated", _pages_with_new_redirects)
    app.connect("html-page-context", _page_redirects)
    # Before Sphinx's toc collector (priority 500) reads the section ids.
    app.connect("doctree-read", _stable_section_ids, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
