"""A resolved Sphinx doctree of an executable page, rendered as the cells of a learner's notebook.

The build has already done the hard part by the time Sphinx emits ``doctree-resolved``: glued
values are text, cross-references and citations are resolved, exercises are numbered. What is
left is to write that tree as plain Jupyter Markdown and code cells:

- prose becomes Markdown with no MyST role or directive left; links point at the published
  book, citations read "Author (year)" and link to its references page;
- every code cell shown on the web page becomes a code cell without outputs; cells hidden on the
  web page (``remove-cell``) never reach the doctree, cells whose input is hidden there stay
  collapsed (JupyterLab's ``source_hidden``, Colab's form view);
- an exercise gets a heading ("Exercise 2.3: title", "(optional)" where the page marks it so);
  its solution, prose and code alike, is folded into ``<details>``: the code is shown there as
  a block to read or copy, not as a cell, so "Run all" never prints an answer under its
  exercise and nothing that follows can depend on a solution having run;
- a stand-in notice that a cell displayed when it ran on generated data becomes a block quote
  after the cell, since notebooks carry no outputs;
- instructor notes are left out; the lesson overview and key points are block quotes.

A node type this module does not know is reported (an error under ``-W``), so a new construct
in a page cannot silently vanish from its notebook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

import nbformat
from docutils import nodes
from sphinx import addnodes

INSTRUCTOR_CLASS = "instructor-note"
SOLUTION_TAG = "solution"
EXERCISE_LEVEL = 4  # "#### Exercise 2.3: ..."
OPTIONAL_CLASS = "optional"  # an exercise a workshop may skip (``:class: optional``)
STANDIN_CLASS = "dlbook-standin"  # the notice dlbook.standins.announce displays
HIDDEN_TAGS = {"hide-input", "remove-input"}
WORKSHOP_KEY = "workshop"  # a code cell's option: the comment its workshop copy holds
# Block-level admonition node types of docutils and their default titles.
_ADMONITION_TITLES = {
    nodes.attention: "Attention",
    nodes.caution: "Caution",
    nodes.danger: "Danger",
    nodes.error: "Error",
    nodes.hint: "Hint",
    nodes.important: "Important",
    nodes.note: "Note",
    nodes.tip: "Tip",
    nodes.warning: "Warning",
    addnodes.seealso: "See also",
}
# Inline node types that only group text; their content is rendered as is.
_TRANSPARENT_INLINE = (nodes.inline, nodes.abbreviation, nodes.acronym, nodes.generated)
# Nodes that carry nothing a reader of the notebook needs.
_SKIPPED = (nodes.target, nodes.comment, nodes.substitution_definition, nodes.system_message)


class CellBreak:
    """Marker: the Markdown that follows starts a new cell (before a heading)."""


BREAK = CellBreak()
Block = str | nbformat.NotebookNode | CellBreak


@dataclass
class PageContext:
    """What the renderer needs to know about the page beyond its doctree."""

    docname: str
    page_url: str  # absolute URL of the page in the published book
    number: Callable[[str, str], str | None]  # (figtype, node id) -> "2.3", as the web page shows it
    cell_sources: dict[int, str] = field(default_factory=dict)  # sources of remove-input cells
    problems: list[str] = field(default_factory=list)  # node types the renderer does not know


def _is_cell(node: nodes.Node) -> bool:
    return isinstance(node, nodes.container) and node.get("nb_element") == "cell_code"


def _node_kind(node: nodes.Node) -> str:
    return type(node).__name__


def _escape(text: str) -> str:
    """Plain text as Markdown: characters that Markdown (or MathJax) would interpret escaped."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"([`*_\[\]<>$|])", r"\\\1", text)
    return text.replace("\n", " ")


def _code_span(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _indent(text: str, prefix: str, first: str | None = None) -> str:
    lines = text.split("\n")
    first = prefix if first is None else first
    return "\n".join((first if i == 0 else prefix if line else "") + line for i, line in enumerate(lines))


class NotebookRenderer:
    """Turns one resolved doctree into notebook cells (see the module docstring)."""

    def __init__(self, context: PageContext):
        self.ctx = context

    # -- links ---------------------------------------------------------------------------------

    def url(self, node: nodes.Element) -> str:
        if "refuri" in node:
            return urljoin(self.ctx.page_url, node["refuri"])
        if "refid" in node:
            return f"{self.ctx.page_url}#{node['refid']}"
        return self.ctx.page_url

    # -- inline --------------------------------------------------------------------------------

    def inline(self, node: nodes.Node) -> str:
        return "".join(self._inline(child) for child in node.children)

    def _inline(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Text):
            return _escape(node.astext())
        if isinstance(node, nodes.emphasis):
            return f"*{self.inline(node).strip()}*"
        if isinstance(node, nodes.strong):
            return f"**{self.inline(node).strip()}**"
        if isinstance(node, nodes.literal):
            return _code_span(node.astext())
        if isinstance(node, nodes.math):
            return f"${node.astext()}$"
        if isinstance(node, nodes.reference):
            return f"[{self.inline(node).strip()}]({self.url(node)})"
        if isinstance(node, nodes.inline) and "bibtex-citation" in node["classes"]:
            # "[Horst et al., 2020]" / "DeVries et al. [2019]" -> round brackets, the link kept
            out = []
            for child in node.children:
                if isinstance(child, nodes.Text):
                    out.append(_escape(child.astext()).replace("\\[", "(").replace("\\]", ")"))
                else:
                    out.append(self._inline(child))
            return "".join(out)
        if isinstance(node, _TRANSPARENT_INLINE):
            return self.inline(node)
        if isinstance(node, nodes.raw) and node.get("format") == "html":
            return _standin_note(node.astext()) if STANDIN_CLASS in node.astext() else node.astext()
        if isinstance(node, nodes.image):
            return f"![{_escape(node.get('alt', ''))}]({urljoin(self.ctx.page_url, node['uri'])})"
        if isinstance(node, _SKIPPED):
            return ""
        if isinstance(node, (nodes.footnote_reference, nodes.citation_reference)):
            return f"[{_escape(node.astext())}]({self.url(node)})"
        self.ctx.problems.append(_node_kind(node))
        return _escape(node.astext())

    # -- blocks --------------------------------------------------------------------------------

    def blocks(self, node: nodes.Node, depth: int) -> Iterator[Block]:
        """The Markdown blocks and code cells of ``node``'s children, in document order."""
        for child in node.children:
            yield from self.block(child, depth)

    def block(self, node: nodes.Node, depth: int) -> Iterator[Block]:
        if _is_cell(node):
            yield from self.code_cell(node)
        elif isinstance(node, nodes.section):
            yield BREAK
            yield f"{'#' * min(depth, 6)} {self.inline(node[0]).strip()}"
            yield from self.blocks_after_title(node, depth + 1)
        elif _node_kind(node) == "exercise_enumerable_node":
            yield from self.exercise(node, depth)
        elif _node_kind(node) == "solution_node":
            yield from self.solution(node, depth)
        elif isinstance(node, nodes.admonition) and INSTRUCTOR_CLASS in node["classes"]:
            return
        elif isinstance(node, (nodes.admonition, *_ADMONITION_TITLES)):
            yield self.admonition(node, depth)
        elif isinstance(node, (nodes.compound, nodes.container)) and not node.get("nb_element"):
            yield from self.blocks(node, depth)
        elif isinstance(node, nodes.raw) and "<script" in node.astext():
            return  # the theme's Thebe configuration
        elif isinstance(node, _SKIPPED):
            return
        else:
            text = self.markdown(node, depth)
            if text:
                yield text

    def blocks_after_title(self, node: nodes.Element, depth: int) -> Iterator[Block]:
        for child in node.children:
            if not isinstance(child, nodes.title):
                yield from self.block(child, depth)

    def markdown(self, node: nodes.Node, depth: int = 3) -> str:
        """One block that cannot hold a code cell, as Markdown."""
        if isinstance(node, nodes.paragraph):
            return self.inline(node).strip()
        if isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            return self.list(node, depth)
        if isinstance(node, nodes.definition_list):
            return "\n".join(self.definition(item, depth) for item in node.children)
        if isinstance(node, nodes.literal_block):
            language = node.get("language", "")
            language = "python" if language in ("ipython3", "ipython") else language
            text = node.astext()
            fence = "````" if "```" in text else "```"
            return f"{fence}{language}\n{text}\n{fence}"
        if isinstance(node, nodes.math_block):
            return f"$$\n{node.astext().strip()}\n$$"
        if isinstance(node, nodes.block_quote):
            return _indent(self.join(self.blocks(node, depth)), "> ")
        if isinstance(node, nodes.table):
            return self.table(node)
        if isinstance(node, nodes.figure):
            return self.join(self.blocks(node, depth))
        if isinstance(node, nodes.caption):
            return f"*{self.inline(node).strip()}*"
        if isinstance(node, nodes.image):
            return self._inline(node)
        if isinstance(node, nodes.raw) and node.get("format") == "html":
            return _standin_note(node.astext()) if STANDIN_CLASS in node.astext() else node.astext()
        if isinstance(node, nodes.transition):
            return "---"
        if isinstance(node, (nodes.compound, nodes.container, nodes.legend)):
            return self.join(self.blocks(node, depth))
        if isinstance(node, nodes.line_block):
            return "  \n".join(self.inline(line).strip() for line in node.children)
        self.ctx.problems.append(_node_kind(node))
        return _escape(node.astext())

    def join(self, blocks: Iterator[Block]) -> str:
        parts = []
        for block in blocks:
            if isinstance(block, str):
                parts.append(block)
            elif not isinstance(block, CellBreak):  # a code cell where Markdown must be
                self.ctx.problems.append("code cell inside a Markdown block")
        return "\n\n".join(parts)

    def list(self, node: nodes.Element, depth: int) -> str:
        items = []
        start = int(node.get("start", 1))
        for i, item in enumerate(node.children):
            marker = f"{start + i}. " if isinstance(node, nodes.enumerated_list) else "- "
            body = self.join(self.blocks(item, depth))
            items.append(_indent(body, " " * len(marker), first=marker))
        tight = all(len(item.children) <= 1 for item in node.children)
        return ("\n" if tight else "\n\n").join(items)

    def definition(self, item: nodes.Element, depth: int) -> str:
        term = " ".join(self.inline(t).strip() for t in item.findall(nodes.term))
        body = "\n\n".join(self.join(self.blocks(d, depth)) for d in item.findall(nodes.definition))
        return _indent(f"**{term}**: {body}", "  ", first="- ")

    def table(self, node: nodes.table) -> str:
        rows = []
        for part in node.findall(lambda n: isinstance(n, (nodes.thead, nodes.tbody))):
            for row in part.children:
                cells = [
                    " ".join(self.inline(p).strip() for p in entry.children).replace("\n", " ")
                    for entry in row.children
                ]
                rows.append(cells)
                if isinstance(part, nodes.thead) and len(rows) == 1:
                    rows.append(["---"] * len(cells))
        if rows and rows[1:2] != [["---"] * len(rows[0])]:  # no header row: an empty one
            rows[:0] = [[" "] * len(rows[0]), ["---"] * len(rows[0])]
        titles = [f"*{self.inline(t).strip()}*\n\n" for t in node.children if isinstance(t, nodes.title)]
        return "".join(titles) + "\n".join("| " + " | ".join(cells) + " |" for cells in rows)

    def admonition(self, node: nodes.Element, depth: int) -> str:
        titles = [c for c in node.children if isinstance(c, nodes.title)]
        title = self.inline(titles[0]).strip() if titles else _ADMONITION_TITLES.get(type(node), "Note")
        body = self.join(self.blocks_after_title(node, depth))
        return _indent(f"**{title}**\n\n{body}", "> ").replace("\n\n", "\n>\n")

    # -- exercises -----------------------------------------------------------------------------

    def exercise_name(self, label: str) -> str:
        number = self.ctx.number("exercise", label)
        return f"Exercise {number}" if number else "Exercise"

    def exercise(self, node: nodes.Element, depth: int) -> Iterator[Block]:
        title = node.children[0] if node.children and isinstance(node[0], nodes.title) else None
        text = self.inline(title).strip() if title is not None else ""
        text = text[1:-1].strip() if text.startswith("(") and text.endswith(")") else text
        optional = " (optional)" if OPTIONAL_CLASS in node.get("classes", []) else ""
        heading = self.exercise_name(node["label"]) + optional + (f": {text}" if text else "")
        yield BREAK
        # the same level for every exercise, whatever the depth of its section
        yield f"{'#' * EXERCISE_LEVEL} {heading}"
        yield from self._body(node, depth)

    def _body(self, node: nodes.Element, depth: int) -> Iterator[Block]:
        """The blocks of an exercise or solution after its title."""
        for child in node.children[1:]:
            # sphinx-exercise wraps the body in a section node that has no title
            yield from (
                self.blocks(child, depth) if isinstance(child, nodes.section) else self.block(child, depth)
            )

    def solution(self, node: nodes.Element, depth: int) -> Iterator[Block]:
        """The whole solution folded into one ``<details>``: prose, and code as code blocks."""
        name = f"Solution to {self.exercise_name(node['target_label'])}"
        parts: list[str] = []
        for block in self._body(node, depth):
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, nbformat.NotebookNode) and block.cell_type == "code":
                source = re.sub(r"\A# @title [^\n]*\n", "", block.source)
                fence = "````" if "```" in source else "```"
                parts.append(f"{fence}python\n{source}\n{fence}")
            # a cell break inside a solution would split the <details>; ignore it
        yield (
            f'<details class="{SOLUTION_TAG}">\n<summary>{name}</summary>\n\n'
            + "\n\n".join(parts)
            + "\n\n</details>"
        )

    # -- code cells ----------------------------------------------------------------------------

    def code_cell(self, node: nodes.Element) -> Iterator[Block]:
        metadata = node.get("cell_metadata") or {}
        tags = list(metadata.get("tags", []))
        sources = [
            block.astext()
            for source in node.findall(nodes.container)
            if source.get("nb_element") == "cell_code_source"
            for block in source.findall(nodes.literal_block)
        ]
        if sources:
            source = sources[0]
        else:  # remove-input: the web page shows only the output
            source = self.ctx.cell_sources.get(int(node.get("cell_index", -1)))
            if source is None:
                self.ctx.problems.append(f"code cell {node.get('cell_index')} without a source")
                return
        hidden = bool(HIDDEN_TAGS & set(tags)) or any(
            _node_kind(n) == "HideCodeCellNode" for n in node.findall(nodes.Element)
        )
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        if metadata.get(WORKSHOP_KEY):  # what the workshop notebook's empty cell says to type
            cell.metadata[WORKSHOP_KEY] = str(metadata[WORKSHOP_KEY])
        if hidden:
            cell = _collapse(cell, "Code hidden on the book's page (expand the cell to see it)")
        yield cell
        for notice in node.findall(nodes.raw):
            if STANDIN_CLASS in notice.astext():
                yield _standin_note(notice.astext())
        for figure in node.findall(nodes.figure):
            captions = [c for c in figure.children if isinstance(c, nodes.caption)]
            if captions:
                number = next((self.ctx.number("figure", i) for i in figure["ids"]), None)
                label = f"Fig. {number}" if number else "Figure"
                yield f"*{label}: {self.inline(captions[0]).strip()}*"

    # -- the whole page ------------------------------------------------------------------------

    def cells(self, doctree: nodes.document) -> list[nbformat.NotebookNode]:
        cells: list[nbformat.NotebookNode] = []
        markdown: list[str] = []

        def flush() -> None:
            if markdown:
                cells.append(nbformat.v4.new_markdown_cell("\n\n".join(markdown)))
                markdown.clear()

        for block in self.blocks(doctree, 1):
            if isinstance(block, CellBreak):
                flush()
            elif isinstance(block, str):
                markdown.append(block)
            else:
                flush()
                cells.append(block)
        flush()
        return cells


def _standin_note(html: str) -> str:
    """A stand-in notice as a block quote that says it describes the book's own build: the
    numbers in the text come from that run, while a learner's run may well have the real data."""
    text = _escape(" ".join(_html_text(html).split()))
    return f"> **Note on the numbers in this text (from the run that built the book):** {text}"


def _html_text(html: str) -> str:
    """The text of a small HTML fragment (a notice), tags dropped and entities decoded."""
    import html as html_lib

    text = re.sub(r"</p>\s*<p[^>]*>", ": ", html, count=1)  # "Title: text"
    return html_lib.unescape(re.sub(r"<[^>]+>", "", text))


def _collapse(cell: nbformat.NotebookNode, title: str, tag: str | None = None) -> nbformat.NotebookNode:
    """``cell`` with its code collapsed in JupyterLab and shown as a titled form on Colab."""
    cell = nbformat.from_dict(dict(cell, metadata=dict(cell.metadata)))
    cell.metadata["jupyter"] = {"source_hidden": True}
    cell.metadata["cellView"] = "form"  # Colab: the code folds under the "# @title" line
    if tag:
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), tag]
    if not cell.source.startswith("# @title"):
        cell.source = f"# @title {title}\n{cell.source}"
    return cell
