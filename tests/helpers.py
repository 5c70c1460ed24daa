"""Facts and checks that several test modules share (import as ``from helpers import ...``)."""

from __future__ import annotations

import re

from dlbook.learner_layer import markdown_lines

# The 10 steps of the deep-learning workflow, as episode 1 defines them (workflow-step-N).
WORKFLOW_STEPS = [
    "Formulate the problem",
    "Identify inputs and outputs",
    "Prepare the data",
    "Choose a pre-trained model or build a new architecture",
    "Choose a loss function and optimizer",
    "Train the model",
    "Perform a prediction/classification",
    "Measure performance",
    "Refine the model",
    "Save and share the model",
]
STEP_TITLES = dict(enumerate(WORKFLOW_STEPS, start=1))


def check_exercises(html: str, expected: set[str]) -> None:
    """The page has exactly the ``expected`` exercises, each with one solution in a dropdown."""
    found = set(re.findall(r'<div class="exercise admonition" id="([^"]+)"', html))
    assert found == expected
    assert html.count('class="solution dropdown admonition"') == len(expected)


def check_figures(html: str, prefix: str, expected: set[str]) -> None:
    """Every figure named ``prefix...`` is one of ``expected`` and has alt text and a caption."""
    figures = re.findall(rf'<figure class="[^"]*" id="({prefix}[^"]+)">(.*?)</figure>', html, re.S)
    assert {name for name, _ in figures} == expected
    for name, body in figures:
        alt = re.search(r'<img alt="([^"]*)"', body)
        assert alt and len(alt.group(1)) > 30, f"{name}: missing or short alt text"
        caption = re.search(r"<figcaption>(.*?)</figcaption>", body, re.S)
        assert caption and re.sub(r"<[^>]+>", "", caption.group(1)).strip(), f"{name}: no caption"


def headings_with_labels(text: str) -> list[tuple[str, str | None]]:
    """Every ``##``/``###`` heading outside fenced blocks, with the label right above it."""
    found, previous = [], None
    for line, in_code in markdown_lines(text):
        stripped = line.strip()
        if in_code:
            previous = None
            continue
        if not stripped:
            continue
        if re.match(r"^#{2,3} ", stripped):
            label = re.fullmatch(r"\((.+)\)=", previous or "")
            found.append((stripped, label.group(1) if label else None))
        previous = stripped
    return found
