/* The book's learner and instructor layer (added to every page by dlbook_tools.assets).
 *
 * - "Instructor view": a toggle button in the page's header that shows the instructor
 *   notes (hidden in the learner view). Its state lives in localStorage, so it survives
 *   navigation and reloads. The <html> element gets its class before the body renders,
 *   so hidden notes never flash into view.
 * - "Copy link": a small button next to each section heading and exercise title that
 *   copies the full URL of that section or exercise (with its stable #anchor).
 * - Renamed anchors (the `redirects` of dlbook_tools/anchors.json) keep old links working.
 * - Small repairs of markup that an axe-core audit flags (see repairMarkup).
 */
(function () {
  "use strict";
  var KEY = "dlbook-instructor-view";
  var root = document.documentElement;

  function stored() {
    try { return window.localStorage.getItem(KEY) === "on"; } catch (e) { return false; }
  }
  function store(on) {
    try { window.localStorage.setItem(KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
  }

  root.classList.add("dlbook-js");
  root.classList.toggle("dlbook-instructor-view", stored());

  // pydata-sphinx-theme reads the colour mode from localStorage and, on a first visit (no
  // stored mode), logs "Got invalid theme mode" as a console error. Start from its default.
  if (!root.dataset.mode) { root.dataset.mode = root.dataset.defaultMode || "auto"; }

  // ------------------------------------------------------------------ live announcements
  var live = null;
  function announce(text) {
    if (!live) {
      live = document.createElement("div");
      live.className = "dlbook-visually-hidden";
      live.setAttribute("role", "status");
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  // ---------------------------------------------------------------------- instructor view
  function setView(on, quiet) {
    root.classList.toggle("dlbook-instructor-view", on);
    var buttons = document.querySelectorAll(".dlbook-instructor-toggle");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", on ? "true" : "false");
    }
    store(on);
    if (!quiet) {
      var count = document.querySelectorAll(".instructor-note").length;
      announce(on ? "Instructor view on: " + count + " instructor note" + (count === 1 ? "" : "s") + " shown."
                  : "Instructor view off: instructor notes hidden.");
    }
  }

  function addToggle() {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm dlbook-instructor-toggle";
    button.setAttribute("aria-pressed", stored() ? "true" : "false");
    button.title = "Show or hide the notes for instructors";
    button.innerHTML = '<i class="fa-solid fa-chalkboard-user" aria-hidden="true"></i>' +
                       '<span class="dlbook-toggle-text">Instructor view</span>';
    button.addEventListener("click", function () {
      setView(button.getAttribute("aria-pressed") !== "true");
    });
    var bar = document.querySelector(".article-header-buttons");
    if (bar) {
      bar.insertBefore(button, bar.firstChild);
    } else {
      button.classList.add("dlbook-floating");
      document.body.appendChild(button);
    }
  }

  // Another tab switched the view: follow it.
  window.addEventListener("storage", function (event) {
    if (event.key === KEY) { setView(event.newValue === "on", true); }
  });

  // ---------------------------------------------------------------------------- copy link
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "dlbook-visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function urlFor(anchor) {
    return window.location.origin + window.location.pathname + window.location.search + "#" + anchor;
  }

  function makeCopyButton(anchor, what, title) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "dlbook-copy-link";
    button.setAttribute("data-anchor", anchor);
    var label = "Copy link to this " + what + (title ? ": " + title : "");
    button.setAttribute("aria-label", label);
    button.title = "Copy link to this " + what;
    button.innerHTML = '<i class="fa-solid fa-link" aria-hidden="true"></i>';
    button.addEventListener("click", function (event) {
      event.preventDefault();
      event.stopPropagation();
      var url = urlFor(anchor);
      copyText(url).then(function () {
        button.classList.add("dlbook-copied");
        button.setAttribute("data-copied", url);
        announce("Link copied: " + url);
        window.setTimeout(function () { button.classList.remove("dlbook-copied"); }, 2000);
      }, function () {
        window.prompt("Copy this link:", url);
      });
    });
    return button;
  }

  function headingText(heading) {
    var clone = heading.cloneNode(true);
    var extra = clone.querySelectorAll(".headerlink, .dlbook-copy-link");
    for (var i = 0; i < extra.length; i++) { extra[i].remove(); }
    return clone.textContent.replace(/\s+/g, " ").trim();
  }

  function addCopyLinks() {
    var article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
    var headings = article.querySelectorAll("section[id] > h2, section[id] > h3, section[id] > h4");
    for (var i = 0; i < headings.length; i++) {
      var h = headings[i];
      h.appendChild(makeCopyButton(h.parentElement.id, "section", headingText(h)));
    }
    // Exercises (sphinx-exercise): the admonition carries the exercise's :label: as id.
    var exercises = article.querySelectorAll(".exercise[id] > .admonition-title");
    for (var j = 0; j < exercises.length; j++) {
      var t = exercises[j];
      t.appendChild(makeCopyButton(t.parentElement.id, "exercise", headingText(t)));
    }
  }

  // ---------------------------------------------------------------------------- redirects
  function followRedirect() {
    var hash = decodeURIComponent(window.location.hash.slice(1));
    if (!hash || document.getElementById(hash)) { return; }
    var target = (window.DLBOOK_REDIRECTS || {})[hash];
    if (target) { window.location.replace(target); }
  }

  // ------------------------------------------------------------------- markup repairs
  // Repairs of markup that axe-core reports as serious or critical (WCAG 2.5.3 label in
  // name; landmarks; ARIA list structure) where no configuration reaches: myst-nb's HTML
  // writer, the theme's page layout, pandas' table output and docutils' bibliography. The
  // theme's search and colour-mode buttons are fixed in templates/ instead. Each repair is
  // harmless once its source is fixed; tests/test_theme_repairs.py says when that happens.
  function repairMarkup() {
    // myst-nb's "Show code cell source" toggles: aria-label "Toggle hidden content" hides
    // their visible text; without it the name is the visible text.
    var summaries = document.querySelectorAll('details.hide > summary[aria-label]');
    for (var s = 0; s < summaries.length; s++) { summaries[s].removeAttribute("aria-label"); }
    // The book's title at the top of the sidebar lies outside every landmark: make the
    // sidebar one (axe-core "region").
    var sidebar = document.querySelector(".bd-sidebar-primary");
    if (sidebar && !sidebar.hasAttribute("role") && sidebar.tagName !== "DIALOG") {
      sidebar.setAttribute("role", "complementary");
      sidebar.setAttribute("aria-label", "Book navigation");
    }
    // pandas tables leave the header cell above the row labels empty: name it for screen
    // readers (axe-core "empty-table-header").
    var corners = document.querySelectorAll(".cell_output table thead th");
    for (var c = 0; c < corners.length; c++) {
      if (!corners[c].textContent.trim() && !corners[c].querySelector(".dlbook-visually-hidden")) {
        var name = document.createElement("span");
        name.className = "dlbook-visually-hidden";
        name.textContent = "Row";
        corners[c].appendChild(name);
      }
    }
    // Bibliography: docutils writes role="list" with role="doc-biblioentry" items, which
    // is not a valid list (and doc-biblioentry is deprecated).
    var entries = document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]');
    for (var m = 0; m < entries.length; m++) { entries[m].setAttribute("role", "listitem"); }
  }

  // Content that a reader opens (a solution, a hidden cell) can hold code wider than the
  // page. The theme gives scrollable blocks a tab stop at load time only, and tabindex=-1 to
  // those hidden then; give them one once they are shown, so the keyboard reaches them
  // (WCAG 2.1.1).
  function addTabStops() {
    var blocks = document.querySelectorAll(".bd-article pre, .bd-article .cell_output .output");
    for (var i = 0; i < blocks.length; i++) {
      var el = blocks[i];
      if (el.tabIndex < 0 && el.scrollWidth > el.clientWidth && el.offsetParent !== null) {
        el.setAttribute("tabindex", "0");
      }
    }
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".toggle-button, .admonition-title, summary")) {
      window.setTimeout(addTabStops, 400);
    }
  });

  function init() {
    repairMarkup();
    window.addEventListener("load", repairMarkup);
    window.addEventListener("load", addTabStops);
    addToggle();
    addCopyLinks();
    followRedirect();
    window.addEventListener("hashchange", followRedirect);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
