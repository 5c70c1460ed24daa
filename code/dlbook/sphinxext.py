"""Sphinx extension for the book build (listed in ``_config.yml``).

- Gives every notebook kernel started by the build an IPython startup file that imports
  TensorFlow with its C++ start-up notices muted (see ``ipython_startup/``).
- Warns (an error under ``-W``) when an executable page's ``.ipynb`` twin is missing or out
  of date, so the Colab and Binder buttons never open a stale notebook.
- Directives for the lesson structure, fed by each episode's front matter (``lesson:`` with
  ``teaching``/``exercises`` minutes, ``questions``, ``objectives``, ``keypoints``) so that
  times and key points are written once: ``{lesson-overview}``, ``{lesson-keypoints}``;
  and ``{instructor-note}`` for notes meant for the person teaching the episode.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import notebooks

logger = logging.getLogger(__name__)
STARTUP = Path(__file__).parent / "ipython_startup"


def _prepare_kernels(app: Sphinx) -> None:
    ipython_dir = Path(app.outdir).parent / ".ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    for script in STARTUP.glob("*.py"):
        shutil.copy2(script, startup / script.name)
    # Kernels are child processes of the build and inherit its environment.
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def _check_twins(app: Sphinx) -> None:
    srcdir = Path(app.srcdir)
    url = notebooks.repository_url(srcdir / "_config.yml") if (srcdir / "_config.yml").is_file() else None
    if url is None:
        return
    for page in notebooks.executable_pages(srcdir / "book"):
        why = notebooks.drift(page, url)
        if why:
            logger.warning(
                "%s: %s; run `make notebooks` to regenerate the Colab/Binder notebooks",
                page.relative_to(srcdir), why, type="dlbook", subtype="notebook-twin",
            )


def front_matter(path: Path) -> dict:
    """The YAML front matter of a page (empty when it has none)."""
    text = Path(path).read_text()
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text.split("---", 2)[1]) or {}


LESSON_KEYS = ("teaching", "exercises", "questions", "objectives", "keypoints")


def lesson_info(path: Path) -> dict:
    """The ``lesson:`` block of a page's front matter (empty when it has none)."""
    return front_matter(path).get("lesson") or {}


class _LessonDirective(SphinxDirective):
    has_content = False
    required_arguments = 0

    def lesson(self) -> dict | None:
        path = Path(self.env.doc2path(self.env.docname))
        lesson = lesson_info(path)
        missing = [key for key in LESSON_KEYS if key not in lesson]
        if missing:
            logger.warning("%s: the front matter's `lesson:` block lacks %s", self.env.docname,
                           ", ".join(missing), location=self.get_location(), type="dlbook",
                           subtype="lesson")
            return None
        return lesson

    def admonition(self, title: str, css: str, body_md: str) -> list[nodes.Node]:
        node = nodes.admonition(classes=["admonition", css])
        node += nodes.title(text=title)
        self.state.nested_parse(self._lines(body_md), self.content_offset, node)
        return [node]

    @staticmethod
    def _lines(markdown: str):
        from docutils.statemachine import StringList

        return StringList(markdown.splitlines(), source="lesson front matter")


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
    app.connect("builder-inited", _prepare_kernels)
    app.connect("builder-inited", _check_twins)
    app.add_directive("lesson-overview", LessonOverview)
    app.add_directive("lesson-keypoints", LessonKeypoints)
    app.add_directive("instructor-note", InstructorNote)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
