"""Sphinx extension: the learner and instructor layer around the episodes (``_config.yml``).

- Adds ``static/learner-layer.js`` and ``.css`` to every page: the "Instructor view" toggle
  (a real ``<button aria-pressed>``, state kept in ``localStorage`` across pages) that shows
  the ``{instructor-note}`` admonitions, hidden in the learner view; and a "copy link"
  button next to every section heading and exercise title, which copies the full URL with
  the section's stable anchor.
- Makes each section's explicit label (``(episode-keras-step-3)=``) its primary HTML id, so
  the theme's own ``#`` permalinks and the "On this page" links use the stable anchor and not
  the one derived from the title (which changes whenever the title does). The title-derived
  id stays on the page too.
- Renames recorded in ``tests/anchors.json`` (``redirects``, ``"page#old": "page#new"``) keep
  old links working: a page opened at an anchor that no longer exists jumps to its new place.
- Directives that assemble pages from the episodes at build time, so nothing is copied by
  hand (one source of truth: each episode's front matter and its "Further reading" section):
  ``{workshop-schedule}``, ``{keypoints-summary}`` and ``{resources-summary}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from .sphinxext import lesson_info

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MANIFEST = Path("tests") / "anchors.json"

# ---------------------------------------------------------------------------------------------
# The episodes, in the order of the table of contents
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    number: int  # 1-based position among the episodes of the toc
    docname: str  # e.g. "book/episodes/2-keras"
    path: Path
    title: str
    label: str | None  # the page's own label, e.g. "episode-keras"
    lesson: dict

    @property
    def teaching(self) -> int:
        return int(self.lesson.get("teaching") or 0)

    @property
    def exercises(self) -> int:
        return int(self.lesson.get("exercises") or 0)

    @property
    def minutes(self) -> int:
        return self.teaching + self.exercises


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` of a Jupyter Book ``_toc.yml`` (root first), in reading order."""
    found: list[str] = []

    def walk(entry) -> None:
        if isinstance(entry, dict):
            for key in ("root", "file"):
                if isinstance(entry.get(key), str):
                    found.append(re.sub(r"\.(md|ipynb|rst)$", "", entry[key]))
            for key in ("parts", "chapters", "sections"):
                for child in entry.get(key) or []:
                    walk(child)
        elif isinstance(entry, list):
            for child in entry:
                walk(child)

    walk(toc)
    return found


_LABEL = re.compile(r"^\(([^()\s]+)\)=\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})")


def markdown_lines(text: str):
    """Yield ``(line, in_code)`` for the lines of a MyST page, skipping its front matter.

    ``in_code`` is true on and inside fenced blocks (code cells, code examples, directives
    such as exercises), where a ``#`` line is a comment and never a section heading.
    """
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                start = i + 1
                break
    stack: list[str] = []  # open fences
    for line in lines[start:]:
        match = _FENCE.match(line)
        if match:
            fence = match.group(2)
            if stack and fence[0] == stack[-1][0] and len(fence) >= len(stack[-1]) \
                    and not line.strip()[len(fence):].strip():
                stack.pop()
                yield line, True
                continue
            if line.strip()[len(fence):].strip() or not stack:
                stack.append(fence)
                yield line, True
                continue
        yield line, bool(stack)


def page_title_and_label(path: Path) -> tuple[str, str | None]:
    """The first ``#`` heading of a page and the label right above it."""
    previous_label = None
    for line, in_code in markdown_lines(path.read_text()):
        if in_code:
            continue
        label = _LABEL.match(line)
        if label:
            previous_label = label.group(1)
            continue
        heading = _HEADING.match(line)
        if heading and len(heading.group(1)) == 1:
            return heading.group(2), previous_label
        if line.strip():
            previous_label = None
    return path.stem, None


def episodes(srcdir: Path, toc_path: Path) -> list[Episode]:
    """The pages of the toc whose front matter has a ``lesson:`` block, in toc order."""
    toc = yaml.safe_load(Path(toc_path).read_text()) or {}
    found = []
    for docname in toc_files(toc):
        path = srcdir / f"{docname}.md"
        if not path.is_file():
            continue
        lesson = lesson_info(path)
        if not lesson:
            continue
        title, label = page_title_and_label(path)
        found.append(Episode(len(found) + 1, docname, path, title, label, lesson))
    return found


def further_reading_markdown(path: Path) -> str | None:
    """The bullet list of the page's ``(episode-<slug>-further-reading)=`` section, as MyST.

    Returns None when the page has no such section. Only the list items are kept (an
    introductory sentence would speak of "this episode"), up to the next heading, label or
    directive.
    """
    lines = list(markdown_lines(path.read_text()))
    start = None
    for i, (line, in_code) in enumerate(lines):
        label = _LABEL.match(line)
        if not in_code and label and label.group(1).endswith("-further-reading"):
            start = i + 1
            break
    if start is None:
        return None
    # skip the heading that follows the label
    while start < len(lines) and not _HEADING.match(lines[start][0]):
        start += 1
    start += 1
    items: list[str] = []
    in_item = False
    for line, in_code in lines[start:]:
        if not in_code and (_HEADING.match(line) or _LABEL.match(line)):
            break
        if _FENCE.match(line) and not line.startswith((" ", "\t")):
            break  # a directive (the key points) or a code cell ends the list
        if re.match(r"^([-*+]|\d+[.)])\s+", line):
            in_item = True
            items.append(line)
        elif in_item and (line.startswith((" ", "\t")) or not line.strip()):
            items.append(line)
        elif line.strip():
            in_item = False
    return "\n".join(items).strip() or None


# ---------------------------------------------------------------------------------------------
# Workshop schedule
# ---------------------------------------------------------------------------------------------


@dataclass
class Slot:
    kind: str  # "episode" | "break" | "lunch"
    minutes: int
    episode: Episode | None = None
    continued: bool = False  # a later piece of an episode split by a break or a day's end


def _round5(minutes: float) -> int:
    return max(5, int(5 * round(minutes / 5)))


def split_sessions(eps: list[Episode], sessions: int, slack: int = 30) -> list[list[Slot]]:
    """Share the episodes out over ``sessions`` sessions of about equal length, in order.

    An episode that does not fit what is left of a session (beyond ``slack`` minutes) is
    split; a session that is within ``slack`` of its share ends before the next episode.
    """
    total = sum(e.minutes for e in eps)
    target = total / sessions
    plan: list[list[Slot]] = [[]]
    used = 0.0
    for ep in eps:
        remaining = ep.minutes
        while remaining > 0:
            last = len(plan) == sessions
            room = target - used
            if last or remaining <= room + slack:
                take = remaining
            elif room <= slack:
                plan.append([])
                used = 0.0
                continue
            else:
                take = min(remaining, _round5(room))
            plan[-1].append(Slot("episode", take, ep))
            used += take
            remaining -= take
            if not last and used >= target - slack / 2 and remaining > 0:
                plan.append([])
                used = 0.0
    return [s for s in plan if s]


def add_breaks(session: list[Slot], every: int = 90, tolerance: int = 15,
               break_minutes: int = 15, lunch_minutes: int = 0, early: int = 30) -> list[Slot]:
    """Insert a break about every ``every`` minutes of teaching: after an episode that ends
    within ``tolerance`` of that mark, before one that would run past it when the mark is at
    most ``early`` minutes away, else inside the episode. With ``lunch_minutes`` the break
    nearest the middle of the session becomes lunch."""
    out: list[Slot] = []
    since = 0
    queue = [Slot(s.kind, s.minutes, s.episode) for s in session]
    content_left = sum(s.minutes for s in queue)
    for slot in queue:
        remaining = slot.minutes
        while remaining > 0:
            room = every - since
            at_start = remaining == slot.minutes
            if remaining <= room + tolerance:
                take = remaining
            elif room <= tolerance or (at_start and room <= early and since > 0):
                out.append(Slot("break", break_minutes))
                since = 0
                continue
            else:
                take = _round5(room)
            out.append(Slot("episode", take, slot.episode))
            since += take
            remaining -= take
            content_left -= take
            if content_left > 0 and since >= every - tolerance:
                out.append(Slot("break", break_minutes))
                since = 0
    if lunch_minutes:
        breaks = [i for i, s in enumerate(out) if s.kind == "break"]
        if breaks:
            total = sum(s.minutes for s in out if s.kind == "episode")
            done, best, best_gap = 0, None, None
            for i, s in enumerate(out):
                if s.kind == "episode":
                    done += s.minutes
                elif best_gap is None or abs(done - total / 2) < best_gap:
                    best, best_gap = i, abs(done - total / 2)
            out[best] = Slot("lunch", lunch_minutes)
    return out


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_clock(text: str) -> int:
    hours, minutes = str(text).split(":")
    return int(hours) * 60 + int(minutes)


class _EpisodesDirective(SphinxDirective):
    """Base: the episodes of the toc, with the dependencies noted so that the page is
    rebuilt when an episode's front matter changes."""

    has_content = False

    def episodes(self) -> list[Episode]:
        srcdir = Path(self.env.srcdir)
        toc_path = getattr(self.config, "external_toc_path", None) or "_toc.yml"
        toc_path = Path(toc_path)
        if not toc_path.is_absolute():
            toc_path = srcdir / toc_path
        self.env.note_dependency(str(toc_path))
        eps = episodes(srcdir, toc_path)
        for ep in eps:
            self.env.note_dependency(str(ep.path))
        if not eps:
            logger.info("%s: the table of contents lists no episode yet", self.env.docname)
        return eps

    def doc_link(self, ep: Episode, text: str | None = None) -> nodes.Node:
        ref = addnodes.pending_xref(
            "", refdomain="std", reftype="doc", reftarget="/" + ep.docname,
            refexplicit=True, refdoc=self.env.docname, refwarn=True,
        )
        ref += nodes.inline(text=text or ep.title)
        return ref

    def parse_markdown(self, markdown: str, into: nodes.Element, source: str) -> None:
        self.state.nested_parse(StringList(markdown.splitlines(), source=source),
                                self.content_offset, into)

    def empty_note(self) -> list[nodes.Node]:
        return [nodes.paragraph(text="No episode is listed in the table of contents yet.")]


class WorkshopSchedule(_EpisodesDirective):
    """A timetable for a workshop of ``:sessions:`` days or half days, derived from the
    teaching and exercise minutes in every episode's front matter."""

    option_spec = {
        "sessions": directives.positive_int,
        "session-name": directives.unchanged,  # "Day" or "Half day"
        "start": directives.unchanged,  # "09:00"
        "break-every": directives.positive_int,  # minutes of teaching between breaks
        "break": directives.positive_int,  # minutes
        "lunch": directives.nonnegative_int,  # minutes; 0 for none
    }

    def run(self) -> list[nodes.Node]:
        eps = self.episodes()
        if not eps:
            return self.empty_note()
        sessions = self.options.get("sessions", 2)
        name = self.options.get("session-name", "Day")
        start = _parse_clock(self.options.get("start", "09:00"))
        plan = split_sessions(eps, sessions)
        result: list[nodes.Node] = []
        teaching = sum(e.teaching for e in eps)
        exercises = sum(e.exercises for e in eps)
        summary = nodes.paragraph()
        summary += nodes.Text(
            f"{len(eps)} episodes: {teaching} min of teaching and {exercises} min of exercises "
            f"({teaching + exercises} min, about {(teaching + exercises) / 60:.1f} h), shared "
            f"over {len(plan)} {name.lower()}s of about "
            f"{(teaching + exercises) / max(len(plan), 1) / 60:.1f} h each, plus a "
            f"{self.options.get('break', 15)}-minute break about every "
            f"{self.options.get('break-every', 90)} minutes"
            + (f" and {self.options['lunch']} minutes for lunch." if self.options.get("lunch")
               else ".")
        )
        result.append(summary)
        seen: set[str] = set()
        for number, session in enumerate(plan, 1):
            slots = add_breaks(session, every=self.options.get("break-every", 90),
                               break_minutes=self.options.get("break", 15),
                               lunch_minutes=self.options.get("lunch", 0))
            for slot in slots:
                if slot.episode is not None:
                    slot.continued = slot.episode.docname in seen
                    seen.add(slot.episode.docname)
            result.append(self.table(f"{name} {number}", start, slots))
        return result

    def table(self, caption: str, start: int, slots: list[Slot]) -> nodes.table:
        end = start + sum(s.minutes for s in slots)
        table = nodes.table(classes=["dlbook-schedule"])
        table += nodes.title(text=f"{caption}: {_clock(start)}–{_clock(end)}")
        group = nodes.tgroup(cols=3)
        table += group
        for width in (15, 65, 20):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self.row([nodes.Text("Time"), nodes.Text("What"), nodes.Text("Minutes")])
        body = nodes.tbody()
        group += body
        clock = start
        for slot in slots:
            if slot.kind == "episode":
                what = nodes.inline()
                what += nodes.Text(f"Episode {slot.episode.number}: ")
                what += self.doc_link(slot.episode)
                if slot.continued:
                    what += nodes.Text(" (continued)")
                body += self.row([nodes.Text(_clock(clock)), what, nodes.Text(str(slot.minutes))])
            else:
                label = "Lunch" if slot.kind == "lunch" else "Break"
                body += self.row([nodes.Text(_clock(clock)), nodes.emphasis(text=label),
                                  nodes.Text(str(slot.minutes))], classes=["dlbook-break"])
            clock += slot.minutes
        body += self.row([nodes.Text(_clock(clock)), nodes.emphasis(text="End"), nodes.Text("")])
        return table

    @staticmethod
    def row(cells: list[nodes.Node], classes: list[str] | None = None) -> nodes.row:
        row = nodes.row(classes=classes or [])
        for cell in cells:
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            paragraph += cell
            entry += paragraph
            row += entry
        return row


def _section(ids: str, title: str) -> nodes.section:
    section = nodes.section(ids=[ids], names=[nodes.fully_normalize_name(ids)])
    section += nodes.title(text=title)
    return section


def _anchor_slug(ep: Episode) -> str:
    return ep.label or Path(ep.docname).name


class _EpisodeSummary(_EpisodesDirective):
    """A directive that gives each episode a section: a linked intro line, then Markdown.

    Subclasses say what each episode contributes (``episode_content``) and how the section is named;
    an episode without content is reported as a warning and left out.
    """

    prefix = ""
    warning = ""

    def episode_content(self, ep: Episode) -> tuple[str, str, str, str] | None:
        """(text before the link, text after it, Markdown body, source name), or None."""
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        eps = self.episodes()
        if not eps:
            return self.empty_note()
        result = []
        for ep in eps:
            found = self.episode_content(ep)
            if found is None:
                logger.warning("%s: " + self.warning, ep.docname, location=self.get_location(),
                               type="dlbook", subtype=self.prefix)
                continue
            before, after, markdown, source = found
            section = _section(f"{self.prefix}-{_anchor_slug(ep)}", f"{ep.number}. {ep.title}")
            intro = nodes.paragraph()
            intro += nodes.Text(before)
            intro += self.doc_link(ep)
            intro += nodes.Text(after)
            section += intro
            self.parse_markdown(markdown, section, source)
            result.append(section)
        return result


class KeypointsSummary(_EpisodeSummary):
    """Every episode's key points (front matter ``lesson.keypoints``), in toc order."""

    prefix = "keypoints"
    warning = "no key points in the front matter (lesson.keypoints)"

    def episode_content(self, ep: Episode) -> tuple[str, str, str, str] | None:
        points = ep.lesson.get("keypoints") or []
        if not points:
            return None
        return ("From ", f" ({ep.teaching} min teaching, {ep.exercises} min exercises):",
                "\n".join(f"- {p}" for p in points), f"{ep.path} (lesson.keypoints)")


class ResourcesSummary(_EpisodeSummary):
    """Every episode's "Further reading" list, in toc order."""

    prefix = "resources"
    warning = ("no `(episode-<slug>-further-reading)=` section with a bullet list to collect "
               "on the resources page")

    def episode_content(self, ep: Episode) -> tuple[str, str, str, str] | None:
        markdown = further_reading_markdown(ep.path)
        if markdown is None:
            return None
        return "Further reading for ", ":", markdown, f"{ep.path} (Further reading)"


# ---------------------------------------------------------------------------------------------
# Stable anchors
# ---------------------------------------------------------------------------------------------


def _stable_section_ids(app: Sphinx, doctree: nodes.document) -> None:
    """Put a section's explicit label first among its ids (its HTML id and permalink)."""
    for section in doctree.findall(nodes.section):
        explicit = [doctree.nameids.get(name) for name in section["names"]
                    if doctree.nametypes.get(name)]
        explicit = [i for i in explicit if i and i in section["ids"]]
        if explicit and section["ids"][0] != explicit[0]:
            section["ids"].remove(explicit[0])
            section["ids"].insert(0, explicit[0])


def _load_redirects(app: Sphinx) -> None:
    """Read the renames recorded in the anchors manifest (``"page#old": "page#new"``), and
    note the pages whose renames changed since the last build: they are written again."""
    path = Path(app.srcdir) / MANIFEST
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


def _page_redirects(app: Sphinx, pagename: str, templatename: str, context: dict,
                    doctree) -> None:
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
        app.add_js_file(None, body=f"window.DLBOOK_REDIRECTS = {json.dumps(here, sort_keys=True)};",
                        priority=400)


# ---------------------------------------------------------------------------------------------
# Static files
# ---------------------------------------------------------------------------------------------


def _register_static(app: Sphinx, config: Config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def _add_assets(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    _load_redirects(app)
    # Not deferred: it runs in <head>, before the body renders, so that hidden instructor
    # notes never flash into view.
    app.add_js_file("learner-layer.js", priority=401)
    app.add_css_file("learner-layer.css")


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                    doctree) -> None:
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
        key = (getattr(script, "filename", None) or "",
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _register_static)
    app.connect("builder-inited", _add_assets)
    app.connect("html-page-context", _page_redirects)
    app.connect("env-get-outdated", _pages_with_new_redirects)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # Before Sphinx's toc collector (priority 500) reads the section ids.
    app.connect("doctree-read", _stable_section_ids, priority=100)
    app.add_directive("workshop-schedule", WorkshopSchedule)
    app.add_directive("keypoints-summary", KeypointsSummary)
    app.add_directive("resources-summary", ResourcesSummary)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
