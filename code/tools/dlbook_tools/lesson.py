"""Sphinx extension: the lesson structure of an episode, fed by its front matter
(``lesson:`` with ``teaching``/``exercises`` minutes, ``questions``, ``objectives``,
``keypoints``, and ``gpu: true`` where a GPU helps) so that times and key points are written once.

- ``{lesson-overview}``: questions, objectives and times at the top of an episode;
- ``{lesson-keypoints}``: the key points that close it;
- ``{instructor-note}``: a note for the person teaching, hidden in the learner view.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from .pages import Page

logger = logging.getLogger(__name__)

LESSON_KEYS = ("teaching", "exercises", "questions", "objectives", "keypoints")
# Said once on each page whose front matter sets ``lesson: gpu: true`` (its notebook then asks
# Colab for a GPU runtime, see notebooks.py), with how long the page's code ran in this build.
GPU_ADVICE = (
    "**On Colab, a GPU helps.** {ran}Both notebooks of this page, the complete one and the "
    "workshop one, open on a GPU runtime in Colab, where those cells finish sooner. If the "
    "notebook's first cell reports a CPU, switch before you start typing: *Runtime → Change "
    "runtime type*, pick a GPU, then run the notebook again from the top (the cells you typed "
    "stay, their results do not). If Colab has no GPU for you, carry on without one: the page "
    "runs on a CPU too. On your own computer a CPU is enough."
)
RAN = (
    "When the book was built, on a CPU, this page's code ran for {minutes:.1f} minutes, most of "
    "it in the cells that train or run convolutional networks.{beside} "
)
BESIDE = " Up to {others} ran at the same time, sharing the CPU, so this time is on the long side."


def page_run(document: nodes.document) -> tuple[float | None, int]:
    """Seconds that the page's code ran when the book was built (myst-nb measured it, now or in
    the run whose outputs the execution cache holds; None when the page was not executed), and
    how many pages that build ran at a time (``dlbook_tools.execution`` keeps it in the cache)."""
    renderer = document.attributes.get("nb_renderer")
    try:
        client = renderer.renderer.nb_client
        data = client.exec_metadata
    except (AttributeError, KeyError):
        return None, 1
    if not data:
        return None, 1
    jobs = 1
    try:
        from jupyter_cache import get_cache

        cache = get_cache(client.nb_config.execution_cache_path or ".jupyter_cache")
        jobs = int(cache.match_cache_notebook(client.notebook).data.get("jobs", 1))
    except (KeyError, AttributeError, TypeError, ValueError):
        pass  # executed by myst-nb itself, one page at a time
    return data.get("runtime"), jobs


def gpu_advice(document: nodes.document) -> str:
    seconds, jobs = page_run(document)
    others = "" if jobs < 2 else "one other page" if jobs == 2 else f"{jobs - 1} other pages"
    beside = BESIDE.format(others=others) if others else ""
    ran = RAN.format(minutes=seconds / 60, beside=beside) if seconds else ""
    return GPU_ADVICE.format(ran=ran)


class _LessonDirective(SphinxDirective):
    has_content = False
    required_arguments = 0

    def lesson(self) -> dict | None:
        lesson = Page(Path(self.env.doc2path(self.env.docname))).lesson
        missing = [key for key in LESSON_KEYS if key not in lesson]
        if missing:
            logger.warning(
                "%s: the front matter's `lesson:` block lacks %s",
                self.env.docname,
                ", ".join(missing),
                location=self.get_location(),
                type="dlbook",
                subtype="lesson",
            )
            return None
        return lesson

    def admonition(self, title: str, css: str, body_md: str) -> list[nodes.Node]:
        node = nodes.admonition(classes=["admonition", css])
        node += nodes.title(text=title)
        lines = StringList(body_md.splitlines(), source="lesson front matter")
        self.state.nested_parse(lines, self.content_offset, node)
        return [node]


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


class LessonOverview(_LessonDirective):
    """Questions, objectives and time estimates at the top of an episode."""

    def run(self) -> list[nodes.Node]:
        lesson = self.lesson()
        if lesson is None:
            return []
        body = (
            f"**Teaching:** {lesson['teaching']} min · **Exercises:** {lesson['exercises']} min\n\n"
            f"**Questions**\n\n{_bullets(lesson['questions'])}\n\n"
            f"**Objectives**\n\n{_bullets(lesson['objectives'])}"
        )
        if lesson.get("gpu"):
            body += "\n\n" + gpu_advice(self.state.document)
        return self.admonition("Overview", "lesson-overview", body)


class LessonKeypoints(_LessonDirective):
    """The key points that close an episode."""

    def run(self) -> list[nodes.Node]:
        lesson = self.lesson()
        if lesson is None:
            return []
        return self.admonition("Key points", "lesson-keypoints", _bullets(lesson["keypoints"]))


class InstructorNote(SphinxDirective):
    """A note for the person teaching the episode, hidden in the learner view."""

    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        title = self.arguments[0] if self.arguments else "Instructor note"
        node = nodes.admonition(classes=["admonition", "instructor-note", *self.options.get("class", [])])
        node += nodes.title(text=title)
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def setup(app: Sphinx) -> dict:
    app.add_directive("lesson-overview", LessonOverview)
    app.add_directive("lesson-keypoints", LessonKeypoints)
    app.add_directive("instructor-note", InstructorNote)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
