"""The built book in a real browser: Debian's Chromium, driven by Playwright.

Serves the built HTML on 127.0.0.1 and visits every page of the table of contents once (fresh
browser context, learner view): console errors, the sidebar, the launch buttons, exercise
solutions, images' alt text and an axe-core audit. Then the instructor-view toggle across
pages, the copy-link buttons and screenshots for a person to look at.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``make test`` installs it as root),
the ``playwright`` Python package (requirements.txt; it drives the system Chromium, no browser
download) and ``node_modules/axe-core`` (``npm ci``). Without them these tests skip and say
which one is missing. Requests that leave 127.0.0.1 are answered with an empty response: the
tests must not depend on the network, and neither must the book (MathJax comes with the site).

Writes ``artifacts/axe-report.json`` (per-page axe summary) and
``artifacts/screenshots/*.png``. ``DLBOOK_TEST_TOC`` names another table of contents than
``_toc.yml`` (for a build made with ``jupyter-book build --toc``).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from dlbook_tools import anchors
from dlbook_tools.pages import Page, toc_files

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("DLBOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TOC = Path(os.environ.get("DLBOOK_TEST_TOC") or REPO / "_toc.yml")
PAGES = toc_files(yaml.safe_load(TOC.read_text()))
ROOT = PAGES[0]


def missing_browser_tools() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -r requirements.txt)"
    if not CHROMIUM.is_file():
        return (
            f"no Chromium at {CHROMIUM}: run `apt-get install chromium` (as root; "
            "`make test` does it when it can) or set DLBOOK_CHROMIUM"
        )
    if not AXE.is_file():
        return f"{AXE.relative_to(REPO)} is missing: run `npm ci` in the repository root"
    return None


def repository() -> tuple[str, str]:
    """(org/repo, notebooks branch) from _config.yml, where both are configured once."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    match = re.match(r"https://github\.com/([^/]+/[^/]+?)/?$", config["repository"]["url"])
    return match.group(1), config["sphinx"]["config"]["dlbook_notebooks_branch"]


def expected_launch_urls(docname: str) -> dict[str, str]:
    slug, branch = repository()
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    prefix = (config["repository"].get("path_to_book") or "").strip("/")
    path = f"{prefix}/{docname}.ipynb" if prefix else f"{docname}.ipynb"
    return {
        "colab": f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}",
        "binder": f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/{path}",
    }


def executable(docname: str) -> bool:
    path = REPO / f"{docname}.md"
    return path.is_file() and Page(path).is_executable


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    reason = missing_browser_tools()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """Base URL of the built book, served on 127.0.0.1 from a thread."""
    handler = functools.partial(_QuietHandler, directory=str(built_book.html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def new_context(browser, base: str, **options):
    context = browser.new_context(viewport=options.pop("viewport", DESKTOP), **options)

    def route(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:  # no network in tests: external scripts and styles get an empty answer
            kind = route.request.resource_type
            types = {"script": "application/javascript", "stylesheet": "text/css"}
            route.fulfill(status=200, body="", content_type=types.get(kind, "text/plain"))

    context.route("**/*", route)
    context.set_default_timeout(15_000)
    return context


def docname_of(url: str, base: str) -> str:
    path = urlsplit(url).path
    return re.sub(r"\.html$", "", path[len(urlsplit(base).path) :])


@dataclass
class Visit:
    docname: str
    console_errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    sidebar: list[str] = field(default_factory=list)
    toggles: list[dict] = field(default_factory=list)
    launch: dict[str, list[str]] = field(default_factory=dict)
    launch_visible: dict[str, bool] = field(default_factory=dict)
    images_without_alt: list[str] = field(default_factory=list)
    solutions: list[dict] = field(default_factory=list)
    instructor_notes: int = 0
    axe: list[dict] = field(default_factory=list)
    axe_instructor_view: list[dict] = field(default_factory=list)


AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
    targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
  }));
}"""


def audit(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN)


def visit_page(browser, base: str, docname: str) -> Visit:
    visit = Visit(docname)
    context = new_context(browser, base)
    page = context.new_page()
    page.on("console", lambda m: visit.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.console_errors.append(f"uncaught: {e}"))
    page.on(
        "request",
        lambda r: (
            visit.external.append(r.url)
            if not r.url.startswith(base) and not r.url.startswith("data:")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: visit.console_errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    page.goto(base + docname + ".html", wait_until="load")
    page.wait_for_timeout(300)  # let the deferred theme scripts settle

    visit.sidebar = [
        docname_of(href, base)
        for href in page.eval_on_selector_all(
            "nav.bd-docs-nav a.reference", "links => links.map(a => a.href.split('#')[0])"
        )
    ]
    visit.toggles = page.eval_on_selector_all(
        ".dlbook-instructor-toggle",
        "els => els.map(e => ({tag: e.tagName, pressed: e.getAttribute('aria-pressed'),"
        " name: e.textContent.trim() || e.getAttribute('aria-label'),"
        " visible: !!(e.offsetWidth || e.offsetHeight)}))",
    )
    for service, host in (("colab", "colab.research.google.com"), ("binder", "mybinder.org")):
        visit.launch[service] = page.eval_on_selector_all(  # not the setup page's list of notebooks
            f'a[href*="{host}"]:not(.workshop-notebooks *)', "links => links.map(a => a.href)"
        )
    menu = page.locator(".dropdown-launch-buttons > button")
    if menu.count():
        menu.first.click()
        for service, host in (("colab", "colab.research.google.com"), ("binder", "mybinder.org")):
            link = page.locator(f'.dropdown-launch-buttons a[href*="{host}"]')
            visit.launch_visible[service] = link.count() > 0 and link.first.is_visible()
        page.keyboard.press("Escape")
    visit.images_without_alt = page.eval_on_selector_all(
        "img", "imgs => imgs.filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src)"
    )
    visit.instructor_notes = page.locator(".instructor-note").count()
    visit.axe = audit(page)

    # Exercise solutions: collapsed at first, open on a click on their title.
    solutions = page.locator(".solution")
    for i in range(solutions.count()):
        solution = solutions.nth(i)
        body = solution.locator(":scope > :not(.admonition-title)").first
        state = {"id": solution.get_attribute("id"), "hidden_at_first": not body.is_visible()}
        # sphinx-togglebutton's button in the title (the rest of the title links to the
        # exercise).
        button = solution.locator(":scope > .admonition-title button.toggle-button")
        if not solution.is_visible():  # e.g. inside an instructor note, hidden in this view
            continue
        if not button.count():
            state["visible_after_click"] = False
            visit.solutions.append(state)
            continue
        button.click()
        with contextlib.suppress(Exception):  # the state after the wait is what is recorded
            body.wait_for(state="visible", timeout=3000)
        state["visible_after_click"] = body.is_visible()
        visit.solutions.append(state)

    if visit.instructor_notes:  # audit the notes too, with the instructor view on
        page.locator(".dlbook-instructor-toggle").first.click()
        page.mouse.move(0, 0)  # audit the pressed button, not its hover state
        page.wait_for_timeout(300)
        visit.axe_instructor_view = audit(page)
    context.close()
    return visit


@pytest.fixture(scope="module")
def visits(browser, site):
    """Every toc page visited once; writes the per-page axe summary at the end."""
    results = {docname: visit_page(browser, site, docname) for docname in PAGES}
    yield results
    report = {}
    for docname, v in results.items():
        worst = [x for x in v.axe + v.axe_instructor_view if x["impact"] in ("serious", "critical")]
        report[docname] = {
            "violations": v.axe,
            "violations_with_instructor_view": v.axe_instructor_view,
            "serious_or_critical": len(worst),
            "summary": ", ".join(f"{x['id']} ({x['impact']}, {x['nodes']})" for x in v.axe) or "none",
        }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe-report.json").write_text(json.dumps(report, indent=2) + "\n")


# ---------------------------------------------------------------------------------- tests


def test_every_toc_page_was_built(built_book):
    missing = [d for d in PAGES if not (built_book.html_dir / f"{d}.html").is_file()]
    assert not missing, f"pages of {TOC.name} missing from the build: {missing}"


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders_without_console_errors(visits, docname):
    assert visits[docname].console_errors == []


@pytest.mark.parametrize("docname", PAGES)
def test_sidebar_lists_every_page_in_toc_order(visits, docname):
    assert visits[docname].sidebar == PAGES


@pytest.mark.parametrize("docname", PAGES)
def test_instructor_toggle_is_one_real_button_on_every_page(visits, docname):
    toggles = visits[docname].toggles
    assert len(toggles) == 1, toggles
    assert toggles[0]["tag"] == "BUTTON"
    assert toggles[0]["pressed"] == "false"  # learner view by default
    assert toggles[0]["visible"]
    assert "Instructor view" in toggles[0]["name"]


@pytest.mark.parametrize("docname", PAGES)
def test_launch_buttons_only_on_executable_pages(visits, built_book, docname):
    visit = visits[docname]
    if executable(docname):
        expected = expected_launch_urls(docname)
        assert visit.launch == {k: [v] for k, v in expected.items()}
        assert visit.launch_visible == {"colab": True, "binder": True}
        built = built_book.root / "_build" / "notebooks" / f"{docname}.ipynb"
        assert built.is_file(), "the launch buttons open a notebook the build did not write"
    else:
        assert visit.launch == {"colab": [], "binder": []}
        assert visit.launch_visible == {}


def test_landing_page_has_no_launch_buttons(visits):
    assert visits[ROOT].launch == {"colab": [], "binder": []}


@pytest.mark.parametrize("docname", PAGES)
def test_exercise_solutions_are_collapsed_and_open_on_click(visits, docname):
    for solution in visits[docname].solutions:
        assert solution["hidden_at_first"], f"{solution['id']} is open before any click"
        assert solution["visible_after_click"], f"{solution['id']} does not open on a click"


def test_the_solution_checks_saw_solutions(visits):
    episodes = [d for d in PAGES if "/episodes/" in d]
    if episodes:
        assert sum(len(visits[d].solutions) for d in episodes) > 0


@pytest.mark.parametrize("docname", PAGES)
def test_no_serious_or_critical_accessibility_violations(visits, docname):
    visit = visits[docname]
    worst = [v for v in visit.axe + visit.axe_instructor_view if v["impact"] in ("serious", "critical")]
    assert not worst, json.dumps(worst, indent=1)


@pytest.mark.parametrize("docname", PAGES)
def test_every_image_has_alt_text(visits, docname):
    assert visits[docname].images_without_alt == []


def test_pages_request_nothing_outside_the_site_but_known_cdns(visits):
    allowed = ("https://unpkg.com/thebe",)  # only once a reader starts live code
    stray = {d: [u for u in v.external if not u.startswith(allowed)] for d, v in visits.items()}
    assert not {d: u for d, u in stray.items() if u}


def pages_with_notes(built_book) -> list[str]:
    return [d for d in PAGES if 'class="admonition instructor-note' in built_book.html(d)]


def test_instructor_view_hides_and_shows_notes_and_survives_navigation(browser, site, built_book):
    noted = pages_with_notes(built_book)
    if not noted:
        pytest.skip("no page of this build has an instructor note")
    first = noted[0]
    second = noted[1] if len(noted) > 1 else next(d for d in PAGES if d != first)
    context = new_context(browser, site)
    page = context.new_page()
    toggle = page.locator(".dlbook-instructor-toggle")
    notes = page.locator(".instructor-note")

    def all_notes(visible: bool) -> bool:
        return all(notes.nth(i).is_visible() == visible for i in range(notes.count()))

    page.goto(site + first + ".html")
    assert notes.count() > 0
    assert toggle.get_attribute("aria-pressed") == "false"
    assert all_notes(visible=False), "instructor notes show in the learner view"

    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert all_notes(visible=True)

    # Navigate like a reader: through the sidebar, then reload.
    page.locator(f'nav.bd-docs-nav a.reference[href$="{Path(second).name}.html"]').first.click()
    page.wait_for_load_state("load")
    assert docname_of(page.url, site) == second
    assert toggle.get_attribute("aria-pressed") == "true", "the instructor view was lost"
    assert all_notes(visible=True)
    page.reload()
    assert toggle.get_attribute("aria-pressed") == "true"

    # Keyboard: it is a real button, Space toggles it.
    toggle.focus()
    page.keyboard.press("Space")
    assert toggle.get_attribute("aria-pressed") == "false"
    assert all_notes(visible=False)
    page.goto(site + first + ".html")
    assert toggle.get_attribute("aria-pressed") == "false"
    assert all_notes(visible=False)
    context.close()


def test_copy_link_buttons_copy_the_full_url_with_the_stable_anchor(browser, site, built_book):
    manifest = anchors.load()["anchors"]
    target = next((d for d in PAGES if "/episodes/" in d), None) or PAGES[1]
    origin = site.rstrip("/")
    context = new_context(browser, site, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(site + target + ".html")
    buttons = page.locator("button.dlbook-copy-link")
    assert buttons.count() > 0
    copied = [buttons.nth(i).get_attribute("data-anchor") for i in range(buttons.count())]
    # Every section and exercise link uses the label from the sources, not a title slug.
    published = set(manifest.get(target, []))
    assert published and set(copied) <= published, sorted(set(copied) - published)
    for kind in ("section", "exercise"):
        button = page.locator(f'button.dlbook-copy-link[aria-label^="Copy link to this {kind}"]')
        if not button.count():
            assert kind == "exercise", "no copy-link button next to a section heading"
            continue
        button.first.click()
        anchor = button.first.get_attribute("data-anchor")
        expected = f"{origin}/{target}.html#{anchor}"
        assert page.evaluate("navigator.clipboard.readText()") == expected
        # The copied link opens the page at that anchor.
        page.goto(expected)
        assert page.evaluate("location.hash") == f"#{anchor}"
        assert page.locator(f'[id="{anchor}"]').count() == 1
    context.close()


def test_screenshots_of_landing_page_and_an_episode(browser, site):
    folder = ARTIFACTS / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    episode = next((d for d in PAGES if "/episodes/" in d), PAGES[-1])
    written = []
    for name, docname in (("landing", ROOT), (Path(episode).name, episode)):
        for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = new_context(browser, site, viewport=viewport)
            page = context.new_page()
            page.goto(site + docname + ".html", wait_until="load")
            page.wait_for_timeout(300)
            path = folder / f"{name}-{width}.png"
            page.screenshot(path=str(path))
            written.append(path)
            context.close()
    # The episode with the instructor view on, at its first instructor note.
    context = new_context(browser, site, viewport=DESKTOP)
    page = context.new_page()
    page.goto(site + episode + ".html", wait_until="load")
    page.locator(".dlbook-instructor-toggle").click()
    notes = page.locator(".instructor-note")
    if notes.count():
        notes.first.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -120)")
    path = folder / f"{Path(episode).name}-desktop-instructor-view.png"
    page.screenshot(path=str(path))
    written.append(path)
    context.close()
    assert all(p.stat().st_size > 10_000 for p in written)


def test_a_renamed_anchor_lands_on_its_new_place(browser, site):
    """The page's script follows ``window.DLBOOK_REDIRECTS`` (written by the extension from
    the manifest's redirects) when the URL's anchor no longer exists."""
    page_name = next((d for d in PAGES if "/episodes/" in d), PAGES[1])
    manifest = anchors.load()["anchors"]
    target = manifest[page_name][1]  # a section label of that page
    other = next(d for d in PAGES if d != page_name)
    context = new_context(browser, site)
    context.add_init_script(
        "window.DLBOOK_REDIRECTS = window.DLBOOK_REDIRECTS || "
        + json.dumps(
            {
                "an-old-name": f"#{target}",
                "moved-away": f"{Path(os.path.relpath(other, Path(page_name).parent)).as_posix()}.html#top",
            }
        )
    )
    page = context.new_page()
    page.goto(f"{site}{page_name}.html#an-old-name")
    page.wait_for_function(f"location.hash === '#{target}'", timeout=5000)
    page.goto(f"{site}{page_name}.html#moved-away")
    page.wait_for_url(f"{site}{other}.html#top", timeout=5000)
    context.close()


MATH_PAGE = "book/episodes/1-introduction"  # inline and display formulas


def rendered_formulas(page) -> dict:
    """How many formulas MathJax has typeset, and which ``.math`` elements still show TeX."""
    page.wait_for_selector("mjx-container", timeout=15_000)
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    return page.evaluate(
        """() => ({
          typeset: document.querySelectorAll('mjx-container').length,
          math: document.querySelectorAll('.math').length,
          raw: [...document.querySelectorAll('.math')]
                 .filter(e => !e.querySelector('mjx-container'))
                 .map(e => e.textContent.slice(0, 40)),
        })"""
    )


def test_formulas_render_without_the_network(browser, site, built_book):
    """Every request outside the site is refused, and MathJax still typesets every formula."""
    assert MATH_PAGE in PAGES and "\\(" in built_book.html(MATH_PAGE), "the page has formulas"
    context = new_context(browser, site)
    page = context.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site) else None)
    page.goto(site + MATH_PAGE + ".html", wait_until="load")
    result = rendered_formulas(page)
    context.close()
    assert result["math"] >= 5 and result["raw"] == []
    assert result["typeset"] >= result["math"]
    assert not [u for u in outside if "mathjax" in u.lower()]


def test_formulas_render_from_the_build_folder_opened_as_files(browser, built_book):
    """A reader who opens _build/html/... straight from disk (file://) sees formulas too."""
    context = browser.new_context(viewport=DESKTOP)
    context.route("http*://**/*", lambda route: route.abort())  # offline
    page = context.new_page()
    page.goto((built_book.html_dir / f"{MATH_PAGE}.html").as_uri(), wait_until="load")
    result = rendered_formulas(page)
    context.close()
    assert result["math"] >= 5 and result["raw"] == []


def test_setup_page_links_the_archive_of_every_notebook_and_each_workshop_notebook(browser, site, built_book):
    """The links a workshop learner follows from the setup page: the archive (fetched through
    the page's own link; it must hold every notebook the build wrote) and, per episode, the
    workshop notebook on Colab, whose file the build wrote."""
    import io
    import zipfile

    context = new_context(browser, site)
    page = context.new_page()
    page.goto(site + "book/setup.html")
    archive = page.locator("a.notebooks-archive")
    assert archive.count() == 1 and archive.first.is_visible()
    answer = page.request.get(archive.first.evaluate("a => a.href"))
    assert answer.ok, answer.status
    names = set(zipfile.ZipFile(io.BytesIO(answer.body())).namelist())
    built = built_book.root / "_build" / "notebooks"
    notebooks = {f"dlbook-notebooks/{p.relative_to(built).as_posix()}" for p in built.rglob("*.ipynb")}
    assert notebooks and notebooks <= names, sorted(notebooks - names)
    assert {"dlbook-notebooks/README.md", "dlbook-notebooks/requirements.txt"} <= names
    assert any(n.endswith("-workshop.ipynb") for n in names)

    colab = page.eval_on_selector_all(
        ".workshop-notebooks a[href*='colab']", "links => links.map(a => a.href)"
    )
    episodes = [d for d in PAGES if d.startswith("book/episodes/")]
    wanted = [expected_launch_urls(f"{d}-workshop")["colab"] for d in episodes]
    assert [url for url in colab if url.endswith("-workshop.ipynb")] == wanted
    for docname in episodes:
        assert (built / f"{docname}-workshop.ipynb").is_file(), docname
    # the landing page's advice and the schedule's instructor notes lead to the same section
    for docname in ("book/index", "book/schedule"):
        if docname in PAGES:
            page.goto(site + docname + ".html")
            assert page.locator("a[href$='setup.html#setup-workshop-notebooks']").count() >= 1, docname
    context.close()
