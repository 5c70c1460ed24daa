"""Sphinx extension: pages assembled from the episodes at build time, so nothing is copied
by hand (one source of truth: each episode's front matter and its "Further reading" section).

- ``{workshop-schedule}``: a timetable derived from every episode's teaching and exercise
  minutes (the arithmetic is in :mod:`dlbook_tools.schedule`);
- ``{keypoints-summary}``: every episode's key points;
- ``{resources-summary}``: every episode's "Further reading" list;
- ``{episode-list}``: one line per episode (title, link, minutes), each followed by the words
  the page gives it in the directive's content (``N: what you learn``).
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from .pages import Episode, episodes
from .schedule import SLOT_NAMES, Slot, add_breaks, format_clock, frame_sessions, read_clock, split_sessions

logger = logging.getLogger(__name__)


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
            "",
            refdomain="std",
            reftype="doc",
            reftarget="/" + ep.docname,
            refexplicit=True,
            refdoc=self.env.docname,
            refwarn=True,
        )
        ref += nodes.inline(text=text or ep.title)
        return ref

    def parse_markdown(self, markdown: str, into: nodes.Element, source: str) -> None:
        self.state.nested_parse(StringList(markdown.splitlines(), source=source), self.content_offset, into)

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
        "opening": directives.nonnegative_int,  # minutes of welcome and setup check
        "recap": directives.nonnegative_int,  # minutes of recap at the start of later sessions
        "closing": directives.nonnegative_int,  # minutes of wrap-up at the very end
    }

    def run(self) -> list[nodes.Node]:
        eps = self.episodes()
        if not eps:
            return self.empty_note()
        sessions = self.options.get("sessions", 2)
        name = self.options.get("session-name", "Day")
        start = read_clock(self.options.get("start", "09:00"))
        plan = split_sessions(eps, sessions)
        framing = {k: self.options.get(k, 0) for k in ("opening", "recap", "closing")}
        frame_sessions(plan, **framing)
        result: list[nodes.Node] = []
        teaching = sum(e.teaching for e in eps)
        exercises = sum(e.exercises for e in eps)
        extras = [
            f"{minutes} min for {SLOT_NAMES[kind][0].lower() + SLOT_NAMES[kind][1:]}"
            for kind, minutes in framing.items()
            if minutes
        ]
        summary = nodes.paragraph()
        summary += nodes.Text(
            f"{len(eps)} episodes: {teaching} min of teaching and {exercises} min of core exercises "
            f"({teaching + exercises} min, about {(teaching + exercises) / 60:.1f} h), shared "
            f"over {len(plan)} {name.lower()}s"
            + (f", with {'; '.join(extras)}" if extras else "")
            + f"; a {self.options.get('break', 15)}-minute break comes about every "
            f"{self.options.get('break-every', 90)} minutes"
            + (f" and {self.options['lunch']} minutes for lunch." if self.options.get("lunch") else ".")
        )
        result.append(summary)
        seen: set[str] = set()
        for number, session in enumerate(plan, 1):
            slots = add_breaks(
                session,
                every=self.options.get("break-every", 90),
                break_minutes=self.options.get("break", 15),
                lunch_minutes=self.options.get("lunch", 0),
            )
            for slot in slots:
                if slot.episode is not None:
                    slot.continued = slot.episode.docname in seen
                    seen.add(slot.episode.docname)
            result.append(self.table(f"{name} {number}", start, slots))
        return result

    def table(self, caption: str, start: int, slots: list[Slot]) -> nodes.table:
        end = start + sum(s.minutes for s in slots)
        table = nodes.table(classes=["dlbook-schedule"])
        table += nodes.title(text=f"{caption}: {format_clock(start)}–{format_clock(end)}")
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
                body += self.row([nodes.Text(format_clock(clock)), what, nodes.Text(str(slot.minutes))])
            else:
                label = SLOT_NAMES[slot.kind]
                body += self.row(
                    [
                        nodes.Text(format_clock(clock)),
                        nodes.emphasis(text=label),
                        nodes.Text(str(slot.minutes)),
                    ],
                    classes=["dlbook-break"],
                )
            clock += slot.minutes
        body += self.row([nodes.Text(format_clock(clock)), nodes.emphasis(text="End"), nodes.Text("")])
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


class EpisodeList(_EpisodesDirective):
    """A bullet list of the episodes with their minutes; the content gives each its line."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        eps = self.episodes()
        if not eps:
            return self.empty_note()
        lines = {}
        for line in self.content:
            number, _, text = line.partition(":")
            if number.strip().isdigit():
                lines[int(number)] = text.strip()
        markdown = []
        for ep in eps:
            if ep.number not in lines:
                logger.warning(
                    "episode %s has no line in {episode-list}",
                    ep.number,
                    location=self.get_location(),
                    type="dlbook",
                    subtype="episode-list",
                )
            markdown.append(
                f"- {{doc}}`Episode {ep.number}: {ep.title} </{ep.docname}>` "
                f"({ep.minutes} min): {lines.get(ep.number, '')}"
            )
        container = nodes.container(classes=["dlbook-episode-list"])
        self.parse_markdown("\n".join(markdown), container, "{episode-list}")
        return [container]


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
                logger.warning(
                    "%s: " + self.warning,
                    ep.docname,
                    location=self.get_location(),
                    type="dlbook",
                    subtype=self.prefix,
                )
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
        return (
            "From ",
            f" ({ep.teaching} min teaching, {ep.exercises} min exercises):",
            "\n".join(f"- {p}" for p in points),
            f"{ep.path} (lesson.keypoints)",
        )


class ResourcesSummary(_EpisodeSummary):
    """Every episode's "Further reading" list, in toc order."""

    prefix = "resources"
    warning = (
        "no `(episode-<slug>-further-reading)=` section with a bullet list to collect on the resources page"
    )

    def episode_content(self, ep: Episode) -> tuple[str, str, str, str] | None:
        markdown = ep.page.further_reading()
        if markdown is None:
            return None
        return "Further reading for ", ":", markdown, f"{ep.path} (Further reading)"


def setup(app: Sphinx) -> dict:
    app.add_directive("workshop-schedule", WorkshopSchedule)
    app.add_directive("keypoints-summary", KeypointsSummary)
    app.add_directive("resources-summary", ResourcesSummary)
    app.add_directive("episode-list", EpisodeList)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
