"""How to cite the book, the lesson it re-tells, and what the landing page promises.

``CITATION.cff`` is validated by cffconvert, the Citation File Format's own validator, in a
virtual environment of its own (its pinned jsonschema 3 cannot live beside Jupyter's).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from dlbook_tools.pages import episodes

REPO = Path(__file__).resolve().parents[1]
CITATION = REPO / "CITATION.cff"
LESSON_DOI = "10.5281/zenodo.8308392"


def citation() -> dict:
    return yaml.safe_load(CITATION.read_text())


@pytest.mark.slow
def test_citation_file_is_valid_cff(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "cff")], check=True)
    bin_dir = tmp_path / "cff" / "bin"
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "cffconvert==2.0.0"],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        pytest.skip(f"cffconvert could not be installed (no package index?): {install.stderr[-500:]}")
    check = subprocess.run(
        [str(bin_dir / "cffconvert"), "--validate", "--infile", str(CITATION)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_citation_names_the_book_its_version_and_the_lesson_it_retells():
    cff = citation()
    assert (
        cff["version"]
        == re.search(r'version = "([^"]+)"', (REPO / "code/learner/pyproject.toml").read_text())[1]
    )
    assert cff["repository-code"] in (REPO / "_config.yml").read_text()
    assert "# doi:" in CITATION.read_text()  # the place for the DOI of the first archived release
    assert [ref["doi"] for ref in cff["references"]] == [LESSON_DOI]


def test_landing_page_credits_the_lesson_and_cites_the_book_as_the_citation_file_does():
    index = (REPO / "book" / "index.md").read_text()
    bib = (REPO / "book" / "references.bib").read_text()
    key = re.search(r"\{cite:p\}`([^`]+)`", index[index.index("(home-credit)=") :])[1]
    entry = bib[bib.index(f"{{{key},") :]
    assert f"doi = {{{LESSON_DOI}}}" in entry[: entry.index("\n}")]
    cff = citation()
    quoted = " ".join(index[index.index("please cite it as") :].split())
    assert f"version {cff['version']}" in quoted and cff["url"] in quoted
    assert cff["title"].split(":")[0] in quoted


@pytest.mark.slow
def test_landing_page_lists_every_episode_with_its_minutes(built_book):
    page = BeautifulSoup(built_book.html("book/index"), "html.parser")
    items = page.select("section#home-what-you-learn .dlbook-episode-list li")
    eps = episodes(REPO)
    assert len(items) == len(eps)
    for item, ep in zip(items, eps, strict=True):
        text = " ".join(item.get_text().split())
        assert text.startswith(f"Episode {ep.number}: {ep.title} ({ep.minutes} min): ")
        assert len(text.split("min): ", 1)[1].split()) >= 8, "a line saying what the episode teaches"
        assert item.find("a")["href"].endswith(f"{Path(ep.docname).relative_to('book')}.html")
    links = {a["href"].split("#")[0] for a in page.select("section#home-what-you-learn a")}
    assert {"schedule.html", "keypoints.html", "glossary.html"} <= links
