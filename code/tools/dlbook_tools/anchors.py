"""The book's stable anchors and their manifest, ``anchors.json`` beside this module.

Instructors share links such as ``.../book/episodes/2-keras.html#episode-keras-step-3``, so a
published anchor must keep working. The manifest lists, page by page, every explicit MyST label
(``(name)=``) and every exercise ``:label:`` of the pages in the table of contents;
``tests/test_anchors.py`` fails when one of them is missing from the built book, unless a
``redirects`` entry maps it (``"page#old": "page#new"``) to an anchor that exists. The book's
JavaScript follows those redirects, so old links keep landing in the right place.

    python -m dlbook_tools.anchors --update             # add the sources' new anchors to the manifest
    python -m dlbook_tools.anchors --check _build/html  # list the manifest's anchors missing there
    python -m dlbook_tools.anchors --reset              # rewrite it from the sources (before the
                                                        # book's first publication only)

``--update`` never removes an anchor: once published, an anchor stays in the manifest. It
prints the anchors that disappeared from the sources and exits 1 while any of them has no
redirect.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .pages import toc_pages

REPO = Path(__file__).resolve().parents[3]
MANIFEST = Path(__file__).with_name("anchors.json")
COMMENT = (
    "Published anchors of the book, page by page (explicit MyST labels and exercise labels). "
    'Never remove one: after a rename or move, add a redirect "page#old": "page#new". '
    "Add new ones with `python -m dlbook_tools.anchors --update`."
)


def source_anchors(repo: Path = REPO, toc: Path | None = None) -> dict[str, list[str]]:
    """``docname -> anchors`` for every MyST page of the table of contents."""
    return {docname: page.anchors for docname, page in toc_pages(repo, toc).items()}


def html_ids(html_dir: Path, docname: str) -> set[str] | None:
    """Every ``id`` in the built page, or None when the page was not built."""
    path = Path(html_dir) / f"{docname}.html"
    if not path.is_file():
        return None
    return set(re.findall(r'\bid="([^"]+)"', path.read_text()))


def load(path: Path = MANIFEST) -> dict:
    if not path.is_file():
        return {"comment": COMMENT, "anchors": {}, "redirects": {}}
    return json.loads(path.read_text())


def save(manifest: dict, path: Path = MANIFEST) -> None:
    manifest = {
        "comment": manifest.get("comment", COMMENT),
        "anchors": {page: list(labels) for page, labels in manifest["anchors"].items()},
        "redirects": dict(sorted((manifest.get("redirects") or {}).items())),
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def merge(manifest: dict, current: dict[str, list[str]]) -> tuple[dict, list[str], list[str]]:
    """Add the current anchors to the manifest; return it, the added and the vanished ones."""
    anchors = {page: list(labels) for page, labels in manifest.get("anchors", {}).items()}
    added, vanished = [], []
    for page, labels in current.items():
        known = anchors.setdefault(page, [])
        for label in labels:
            if label not in known:
                known.append(label)
                added.append(f"{page}#{label}")
    for page, labels in anchors.items():
        now = set(current.get(page, []))
        vanished += [f"{page}#{label}" for label in labels if label not in now]
    return {**manifest, "anchors": anchors}, added, vanished


def redirect_target(manifest: dict, page: str, anchor: str) -> str | None:
    """Where ``page#anchor`` now lives according to the manifest's redirects (followed
    through chains of renames), or None."""
    redirects = manifest.get("redirects") or {}
    key, seen = f"{page}#{anchor}", set()
    while key in redirects and key not in seen:
        seen.add(key)
        key = redirects[key]
    return key if seen else None


def missing_anchors(manifest: dict, html_dir: Path) -> list[str]:
    """The manifest's anchors that the built book lacks and no redirect rescues, with why."""
    problems = []
    cache: dict[str, set[str] | None] = {}

    def exists(page: str, anchor: str) -> bool:
        if page not in cache:
            cache[page] = html_ids(html_dir, page)
        return cache[page] is not None and anchor in cache[page]

    for page, labels in manifest.get("anchors", {}).items():
        for anchor in labels:
            if exists(page, anchor):
                continue
            target = redirect_target(manifest, page, anchor)
            if target is None:
                why = "page not built" if cache.get(page) is None else "anchor gone"
                problems.append(f"{page}#{anchor} ({why}; add a redirect to its new place)")
            else:
                new_page, _, new_anchor = target.partition("#")
                if not exists(new_page, new_anchor):
                    problems.append(f"{page}#{anchor} (redirect target {target} does not exist)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update", action="store_true", help="add the anchors of the sources to the manifest"
    )
    parser.add_argument(
        "--check",
        type=Path,
        metavar="HTML_DIR",
        help="list the manifest's anchors missing from this built book",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="rewrite the manifest from the sources, dropping vanished anchors "
        "(only while nothing has been published)",
    )
    parser.add_argument("--toc", type=Path, help="table of contents (default: _toc.yml)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    args = parser.parse_args(argv)
    if not (args.update or args.reset or args.check):
        parser.error("give --update, --reset or --check HTML_DIR")
    status = 0
    if args.update or args.reset:
        old = load(args.manifest)
        if args.reset:
            old = {**old, "anchors": {}}
        manifest, added, vanished = merge(old, source_anchors(REPO, args.toc))
        save(manifest, args.manifest)
        print(f"{args.manifest}: {sum(map(len, manifest['anchors'].values()))} anchors, {len(added)} new")
        for item in added:
            print(f"  + {item}")
        unresolved = [v for v in vanished if redirect_target(manifest, *v.split("#", 1)) is None]
        if unresolved:
            print(
                "These published anchors are gone from the sources; put them back or add a "
                'redirect ("page#old": "page#new") to the manifest\'s `redirects`:'
            )
            for item in unresolved:
                print(f"  - {item}")
            status = 1
    if args.check:
        problems = missing_anchors(load(args.manifest), args.check)
        for problem in problems:
            print(f"missing: {problem}")
        print(f"{len(problems)} missing anchors")
        status = status or (1 if problems else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
