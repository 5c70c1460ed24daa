"""The learner and instructor layer (``dlbook_tools``' lesson, summaries, stable_anchors and
assets extensions): the pages assembled from the episodes (schedule, key points, resources),
the stable section ids and the assets added to every page.

Fast tests build a tiny book of two fake episodes in-process; the slow ones read the real
built book (``built_book``).
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from dlbook_tools.pages import Episode, Page, episodes, toc_files
from dlbook_tools.schedule import Slot, add_breaks, frame_sessions, split_sessions

REPO = Path(__file__).resolve().parents[1]

# Teaching + exercise minutes of the six episodes in the syllabus.
SYLLABUS = [(50, 30), (60, 50), (120, 80), (70, 70), (20, 30), (20, 20)]


def fake_episodes(minutes=SYLLABUS) -> list[Episode]:
    return [
        Episode(
            i,
            f"book/episodes/{i}-ep",
            Page(
                f"{i}.md",
                text=(
                    f"---\nlesson:\n  teaching: {t}\n  exercises: {e}\n---\n(episode-{i})=\n# Episode {i}\n"
                ),
            ),
        )
        for i, (t, e) in enumerate(minutes, 1)
    ]


# --------------------------------------------------------------------------- schedule maths


@pytest.mark.parametrize("sessions", [2, 4])
def test_sessions_keep_every_minute_in_order_and_are_about_equal(sessions):
    eps = fake_episodes()
    plan = split_sessions(eps, sessions)
    assert len(plan) == sessions
    flat = [slot for session in plan for slot in session]
    per_episode = {}
    for slot in flat:
        per_episode[slot.episode.number] = per_episode.get(slot.episode.number, 0) + slot.minutes
    assert per_episode == {e.number: e.minutes for e in eps}
    assert [s.episode.number for s in flat] == sorted(s.episode.number for s in flat)
    target = sum(e.minutes for e in eps) / sessions
    for session in plan:
        assert abs(sum(s.minutes for s in session) - target) <= 30


@pytest.mark.parametrize("lunch", [0, 60])
def test_breaks_come_about_every_90_minutes(lunch):
    for session in split_sessions(fake_episodes(), 2 if lunch else 4):
        slots = add_breaks(session, every=90, tolerance=15, lunch_minutes=lunch)
        assert sum(s.minutes for s in slots if s.kind == "episode") == sum(s.minutes for s in session)
        stretch, stretches = 0, []
        for slot in slots:
            if slot.kind == "episode":
                stretch += slot.minutes
            else:
                stretches.append(stretch)
                stretch = 0
        stretches.append(stretch)
        assert max(stretches) <= 105, stretches
        assert slots[0].kind == "episode" and slots[-1].kind == "episode"
        assert sum(s.kind == "lunch" for s in slots) == (1 if lunch else 0)


def test_a_short_workshop_needs_no_split():
    plan = split_sessions(fake_episodes([(30, 20), (30, 20)]), 2)
    assert [[s.episode.number for s in session] for session in plan] == [[1], [2]]


# ------------------------------------------------------------------------ reading the pages


def test_toc_files_follow_parts_chapters_and_sections():
    toc = {
        "root": "book/index",
        "parts": [
            {"caption": "A", "chapters": [{"file": "a"}, {"file": "b.md", "sections": [{"file": "b1"}]}]},
            {"caption": "B", "chapters": [{"file": "c"}]},
        ],
    }
    assert toc_files(toc) == ["book/index", "a", "b", "b1", "c"]


EPISODE = textwrap.dedent("""\
    ---
    kernelspec:
      name: python3
    lesson:
      teaching: 30
      exercises: 20
      questions: ["What?"]
      objectives: [Do it.]
      keypoints:
        - The first *point*.
        - The second point.
    ---

    (episode-demo)=
    # A demo episode

    (episode-demo-part)=
    ## A part

    ```{instructor-note}
    Go slowly here.
    ```

    ```{code-cell} ipython3
    # a comment
    x = 1
    ```

    (episode-demo-further-reading)=
    ## Further reading

    Some intro sentence.

    - [Keras](https://keras.io/), the documentation.
    - A paper, with a line that
      continues here: [arXiv](https://arxiv.org/abs/1412.6980).

    ```{lesson-keypoints}
    ```
    """)


def test_further_reading_bullets_are_extracted(tmp_path):
    page = Page(tmp_path / "ep.md", text=EPISODE)
    assert page.further_reading() == (
        "- [Keras](https://keras.io/), the documentation.\n"
        "- A paper, with a line that\n  continues here: [arXiv](https://arxiv.org/abs/1412.6980)."
    )
    assert (page.title, page.label) == ("A demo episode", "episode-demo")
    without = Page(tmp_path / "ep.md", text=EPISODE.replace("(episode-demo-further-reading)=\n", ""))
    assert without.further_reading() is None


# ------------------------------------------------------------------------- a tiny book build


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    """Two episodes and the three assembled pages, built in-process with Sphinx."""
    src = tmp_path_factory.mktemp("tiny")
    (src / "book" / "episodes").mkdir(parents=True)
    (src / "book" / "episodes" / "1-demo.md").write_text(EPISODE)
    (src / "book" / "episodes" / "2-other.md").write_text(
        EPISODE.replace("demo", "other").replace("teaching: 30", "teaching: 100")
    )
    (src / "book" / "index.md").write_text(
        "(home)=\n# Home\n\n```{toctree}\nepisodes/1-demo\nepisodes/2-other\nschedule\n"
        "keypoints\nresources\n```\n"
    )
    for name in ("schedule", "keypoints", "resources"):
        (src / "book" / f"{name}.md").write_text(
            (REPO / "book" / f"{name}.md")
            .read_text()
            .replace("{ref}`setup`", "setup")
            .replace("{ref}`references`", "the references")
        )
    (src / "_toc.yml").write_text(
        yaml.safe_dump(
            {
                "format": "jb-book",
                "root": "book/index",
                "chapters": [{"file": "book/episodes/1-demo"}, {"file": "book/episodes/2-other"}],
            }
        )
    )
    (src / "anchors.json").write_text(
        json.dumps(
            {
                "anchors": {},
                "redirects": {
                    "book/episodes/1-demo#old-part": "book/episodes/1-demo#episode-demo-part",
                    "book/episodes/1-demo#moved": "book/episodes/2-other#episode-other-part",
                },
            }
        )
    )
    (src / "conf.py").write_text(
        "extensions = ['myst_parser', 'dlbook_tools.kernels', 'dlbook_tools.lesson',\n"
        "              'dlbook_tools.summaries', 'dlbook_tools.stable_anchors', 'dlbook_tools.assets']\n"
        "dlbook_anchor_manifest = 'anchors.json'\n"
        "root_doc = 'book/index'\nexclude_patterns = ['_build']\n"
        "myst_enable_extensions = ['colon_fence']\n"
    )
    build_tiny(src, fresh=True)
    out = src / "_build" / "html"
    page = lambda doc: BeautifulSoup((out / f"{doc}.html").read_text(), "html.parser")  # noqa: E731
    page.src = src
    return page


def build_tiny(src: Path, fresh: bool) -> None:
    from sphinx.application import Sphinx

    saved = dict(os.environ)  # dlbook_tools.kernels points kernels at the build's IPython dir
    try:
        app = Sphinx(
            str(src),
            str(src),
            str(src / "_build" / "html"),
            str(src / "_build" / "doctrees"),
            "html",
            status=None,
            warning=None,
            freshenv=fresh,
        )
        app.build()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_sections_use_their_explicit_label_as_id_and_permalink(tiny_book):
    page = tiny_book("book/episodes/1-demo")
    section = page.find("section", id="episode-demo-part")
    assert section is not None
    assert section.find("a", class_="headerlink")["href"] == "#episode-demo-part"
    assert page.find(id="a-part") is not None  # the title-derived id still works


def test_every_page_gets_the_layer_once(tiny_book):
    for doc in ("book/index", "book/episodes/1-demo", "book/schedule"):
        page = tiny_book(doc)
        scripts = [s.get("src", "") for s in page.find_all("script")]
        assert sum("learner-layer.js" in s for s in scripts) == 1
        links = [link.get("href", "") for link in page.find_all("link")]
        assert sum("learner-layer.css" in h for h in links) == 1


def test_instructor_notes_carry_the_class_the_toggle_hides(tiny_book):
    notes = tiny_book("book/episodes/1-demo").select("div.admonition.instructor-note")
    assert len(notes) == 1 and "Go slowly here." in notes[0].get_text()


def test_schedule_is_derived_from_the_front_matter(tiny_book):
    page = tiny_book("book/schedule")
    two_days = page.find("section", id="schedule-two-days").select("table.dlbook-schedule")
    half_days = page.find("section", id="schedule-four-half-days").select("table.dlbook-schedule")
    assert len(two_days) == 2 and len(half_days) == 4
    assert "Day 1: 09:00" in two_days[0].caption.get_text()
    minutes = {}
    for row in two_days[0].select("tbody tr") + two_days[1].select("tbody tr"):
        cells = [c.get_text(" ", strip=True) for c in row.find_all("td")]
        link = row.find("a")
        if link:
            minutes[link["href"]] = minutes.get(link["href"], 0) + int(cells[2])
    assert minutes == {"episodes/1-demo.html": 50, "episodes/2-other.html": 120}


def test_keypoints_page_collects_every_episodes_keypoints(tiny_book):
    page = tiny_book("book/keypoints")
    items = [" ".join(li.get_text().split()) for li in page.select("section li")]
    assert items == ["The first point.", "The second point."] * 2
    assert page.find(id="keypoints-episode-demo").find("p").find("a")["href"] == "episodes/1-demo.html"


def test_resources_page_collects_every_further_reading_list(tiny_book):
    page = tiny_book("book/resources")
    section = page.find(id="resources-episode-other")
    hrefs = [a["href"] for a in section.select("li a")]
    assert hrefs == ["https://keras.io/", "https://arxiv.org/abs/1412.6980"]
    assert "Some intro sentence" not in page.get_text()


def test_renamed_anchors_get_a_redirect_on_their_page(tiny_book):
    scripts = " ".join(s.get_text() for s in tiny_book("book/episodes/1-demo").find_all("script"))
    match = re.search(r"window\.DLBOOK_REDIRECTS = (\{.*?\});", scripts)
    assert match
    assert json.loads(match.group(1)) == {
        "old-part": "#episode-demo-part",
        "moved": "2-other.html#episode-other-part",
    }
    other = " ".join(s.get_text() for s in tiny_book("book/episodes/2-other").find_all("script"))
    assert "DLBOOK_REDIRECTS" not in other


def test_a_new_redirect_rewrites_its_page_on_an_incremental_build(tiny_book):
    manifest = tiny_book.src / "anchors.json"
    before = manifest.read_text()
    data = json.loads(before)
    data["redirects"]["book/episodes/2-other#gone"] = "book/episodes/2-other#episode-other-part"
    manifest.write_text(json.dumps(data))
    try:
        build_tiny(tiny_book.src, fresh=False)
        scripts = " ".join(s.get_text() for s in tiny_book("book/episodes/2-other").find_all("script"))
        assert '"gone": "#episode-other-part"' in scripts
    finally:
        manifest.write_text(before)
        build_tiny(tiny_book.src, fresh=False)


# ------------------------------------------------------------------------ the real book


def toc_episodes() -> list[Episode]:
    """The episodes of the built book's toc (``DLBOOK_TEST_TOC`` for a ``--toc`` build)."""
    return episodes(REPO, Path(os.environ.get("DLBOOK_TEST_TOC") or REPO / "_toc.yml"))


@pytest.mark.slow
def test_real_schedule_covers_every_episode_minute(built_book):
    eps = toc_episodes()
    if not eps:
        pytest.skip("the table of contents lists no episode yet")
    page = BeautifulSoup(built_book.html("book/schedule"), "html.parser")
    for section_id, tables in (("schedule-two-days", 2), ("schedule-four-half-days", 4)):
        found = page.find("section", id=section_id).select("table.dlbook-schedule")
        assert len(found) == len(split_sessions(eps, tables))
        minutes = {}
        for row in [r for t in found for r in t.select("tbody tr")]:
            link = row.find("a")
            if link:
                doc = re.sub(r"\.html$", "", link["href"])
                minutes[doc] = minutes.get(doc, 0) + int(row.find_all("td")[2].get_text())
        assert minutes == {os.path.relpath(e.docname, "book"): e.minutes for e in eps}


@pytest.mark.slow
def test_real_keypoints_page_has_every_episodes_keypoints(built_book):
    page = BeautifulSoup(built_book.html("book/keypoints"), "html.parser")
    for ep in toc_episodes():
        section = page.find("section", id=f"keypoints-{ep.label}")
        assert section is not None, ep.docname
        assert len(section.select("li")) == len(ep.lesson["keypoints"])


@pytest.mark.slow
def test_real_resources_page_has_every_episodes_further_reading(built_book):
    page = BeautifulSoup(built_book.html("book/resources"), "html.parser")
    for ep in toc_episodes():
        episode = BeautifulSoup(built_book.html(ep.docname), "html.parser")
        reading = episode.find("section", id=f"{ep.label}-further-reading")
        assert reading is not None, f"{ep.docname}: no further-reading section"
        collected = page.find("section", id=f"resources-{ep.label}")
        external = lambda s: [a["href"] for a in s.select("li a.reference.external")]  # noqa: E731
        assert external(collected) == external(reading)


def test_sessions_open_with_a_welcome_or_a_recap_and_the_workshop_closes_with_a_wrap_up():
    plan = split_sessions(fake_episodes(), 2)
    frame_sessions(plan, opening=30, recap=15, closing=15)
    assert [session[0].kind for session in plan] == ["opening", "recap"]
    assert plan[-1][-1].kind == "closing"
    # an episode that ends near the 90-minute mark is followed by the wrap-up, not by a break
    ep = fake_episodes()[0]
    last = add_breaks([Slot("episode", 80, ep), Slot("closing", 15)], every=90, tolerance=15)
    assert [s.kind for s in last] == ["episode", "closing"]
    slots = add_breaks(plan[0], every=90, tolerance=15, lunch_minutes=60)
    assert slots[0].kind == "opening" and slots[0].minutes == 30  # never split by a break
    stretch = 0
    for slot in slots:  # the welcome counts towards the first 90 minutes
        stretch = 0 if slot.kind in ("break", "lunch") else stretch + slot.minutes
        assert stretch <= 105
