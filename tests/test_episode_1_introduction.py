"""Episode 1 (introduction): structure, anchors, figures, glued numbers and the glossary.

The numbers the page glues are checked against a direct recomputation here, from the values
that the exercises state, so a page edit that breaks a result (or the prose around it) fails.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

from dlbook_tools.pages import markdown_lines
from helpers import WORKFLOW_STEPS, check_exercises, check_figures

REPO = Path(__file__).resolve().parents[1]
DOC = "book/episodes/1-introduction"
SOURCE = REPO / f"{DOC}.md"
GLOSSARY = REPO / "book" / "glossary.md"

EXERCISES = {
    "ex-introduction-activations",
    "ex-introduction-neuron",
    "ex-introduction-xor",
    "ex-introduction-mse",
    "ex-introduction-huber",
    "ex-introduction-suitable-tasks",
    "ex-introduction-plan-your-problem",
}
FIGURES = {
    "fig-introduction-ai-ml-dl",
    "fig-introduction-neuron",
    "fig-introduction-activations",
    "fig-introduction-network",
    "fig-introduction-huber",
    "fig-introduction-loss-curve",
}
# The terms every writer may link to (the brief's list); each must be defined in the glossary.
GLOSSARY_TERMS = [
    "Artificial intelligence",
    "Machine learning",
    "Deep learning",
    "Neural network",
    "Neuron",
    "Activation function",
    "Layer",
    "Dense layer",
    "Weight",
    "Bias",
    "Loss function",
    "Optimizer",
    "Gradient descent",
    "Learning rate",
    "Epoch",
    "Batch",
    "Overfitting",
    "Underfitting",
    "Hyperparameter",
    "Training set",
    "Validation set",
    "Test set",
    "One-hot encoding",
    "Softmax",
    "Cross-entropy",
    "Convolutional layer",
    "Kernel",
    "Pooling",
    "Dropout",
    "Batch normalisation",
    "Transfer learning",
    "Baseline",
    "Embedding",
]

# The givens of the exercises, as the exercise texts state them.
NEURON_X = np.array([2.0, -1.0, 0.5])
NEURON_W = np.array([0.5, -0.2, 0.8])
NEURON_B = -0.3
SUN_TRUE = np.array([4.0, 6.5, 0.0, 8.0])
SUN_PRED = np.array([5.0, 6.0, 1.5, 7.0])
OUTLIER_TRUE, OUTLIER_PRED = 2.0, 12.0


# ---------------------------------------------------------------- helpers


def _glued(book) -> dict:
    """Name -> parsed value of everything the page glued.

    myst-nb 1.4 moves glue outputs out of the executed notebook into ``<page>.glue.json``;
    read that file, and fall back to the notebook outputs for other versions.
    """
    path = book.root / "_build" / "jupyter_execute" / f"{DOC}.glue.json"
    if path.is_file():
        raw = {name: out["data"]["text/plain"] for name, out in json.loads(path.read_text()).items()}
    else:
        raw = book.glued(DOC)
    return {name: ast.literal_eval(text) for name, text in raw.items()}


@pytest.fixture(scope="module")
def glued(built_book) -> dict:
    values = _glued(built_book)
    assert values, "the page glued nothing (or the glue store was not found)"
    return values


@pytest.fixture(scope="module")
def soup(built_book) -> BeautifulSoup:
    return BeautifulSoup(built_book.html(DOC), "html.parser")


def _main(soup: BeautifulSoup):
    return soup.find("main") or soup


def _huber(error, delta=1.0):
    """Huber loss written out independently of the page: quadratic inside, linear outside."""
    error = np.abs(np.asarray(error, dtype=float))
    out = np.empty_like(error)
    for i, e in enumerate(error):
        out[i] = 0.5 * e * e if e <= delta else delta * e - 0.5 * delta * delta
    return out


def _source_outside_code() -> list[str]:
    """The page's lines that are prose (not inside fenced code cells)."""
    lines, in_code = [], False
    for line, _ in markdown_lines(SOURCE.read_text()):
        if re.match(r"^```+\{code-cell\}", line):
            in_code = True
            continue
        if in_code and re.match(r"^```+\s*$", line):
            in_code = False
            continue
        if not in_code:
            lines.append(line)
    return lines


# ---------------------------------------------------------------- structure


@pytest.mark.slow
def test_overview_shows_the_syllabus_times_and_the_keypoints_close_the_page(soup):
    overview = _main(soup).find(class_="lesson-overview")
    assert overview is not None, "no {lesson-overview} block"
    text = overview.get_text(" ", strip=True)
    assert "Teaching: 50 min" in text and "Exercises: 30 min" in text
    keypoints = _main(soup).find_all(class_="lesson-keypoints")
    assert len(keypoints) == 1 and keypoints[0].find_all("li"), "no key points"


@pytest.mark.slow
def test_all_seven_exercises_are_present_with_their_labels_and_solutions(built_book):
    check_exercises(built_book.html(DOC), EXERCISES)


@pytest.mark.slow
def test_the_ten_workflow_steps_have_their_stable_anchors(soup):
    main = _main(soup)
    for number, name in enumerate(WORKFLOW_STEPS, start=1):
        anchor = main.find(id=f"workflow-step-{number}")
        assert anchor is not None, f"anchor workflow-step-{number} missing"
        section = anchor if anchor.name == "section" else anchor.find_parent("section")
        heading = section.find(["h2", "h3"]).get_text(strip=True).rstrip("#")
        assert heading == f"{number}. {name}", heading


def test_every_section_has_an_explicit_label_right_above_it():
    lines = _source_outside_code()
    labels = []
    for i, line in enumerate(lines):
        if re.match(r"^#{1,4} ", line):
            above = next(prev for prev in reversed(lines[:i]) if prev.strip())
            match = re.fullmatch(
                r"\((episode-introduction(?:-[a-z0-9-]+)?|workflow-step-\d+)\)=", above.strip()
            )
            assert match, f"heading {line!r} has no label above it (found {above!r})"
            labels.append(match.group(1))
    assert len(labels) == len(set(labels)), "duplicate labels"
    assert {f"workflow-step-{n}" for n in range(1, 11)} <= set(labels)
    assert "episode-introduction-further-reading" in labels


@pytest.mark.slow
def test_every_figure_has_alt_text_and_a_caption(built_book):
    check_figures(built_book.html(DOC), "fig-introduction-", FIGURES)


@pytest.mark.slow
def test_the_page_links_its_first_uses_of_the_core_terms_to_the_glossary(soup):
    linked = {
        a["href"].split("#term-")[1].replace("-", " ").lower()
        for a in _main(soup).select("a[href*='glossary.html#term-']")
    }
    for term in [
        "artificial intelligence",
        "machine learning",
        "deep learning",
        "neural network",
        "neuron",
        "activation function",
        "weight",
        "bias",
        "layer",
        "loss function",
        "optimizer",
        "gradient descent",
        "learning rate",
        "epoch",
        "overfitting",
    ]:
        assert term in linked, f"{term!r} is never linked to the glossary"


# ---------------------------------------------------------------- glued numbers


@pytest.mark.slow
def test_neuron_numbers_equal_a_direct_computation(glued, soup):
    products = NEURON_W * NEURON_X
    z = products.sum() + NEURON_B
    for i, product in enumerate(products, start=1):
        assert glued[f"neuron_product_{i}"] == pytest.approx(product)
    assert glued["neuron_z"] == pytest.approx(z)
    assert glued["neuron_relu"] == pytest.approx(max(0.0, z))
    assert glued["neuron_sigmoid"] == pytest.approx(1 / (1 + np.exp(-z)))
    # the exercise text states the same givens the test uses
    text = soup.find(id="ex-introduction-neuron").get_text(" ", strip=True)
    for given in ["2.0, -1.0, 0.5", "0.5, -0.2, 0.8", "-0.3"]:
        assert given in text


@pytest.mark.slow
def test_xor_network_with_the_given_weights_outputs_xor(glued):
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    hidden = np.maximum(0, inputs @ np.array([[1.0, 1.0], [1.0, 1.0]]) + np.array([0.0, -1.0]))
    direct = hidden @ np.array([1.0, -2.0])
    expected = [0.0, 1.0, 1.0, 0.0]
    assert direct.tolist() == expected  # the exercise's weights really compute XOR
    assert glued["xor_outputs"] == pytest.approx(expected)  # and so does the page's Keras model


@pytest.mark.slow
def test_mse_answer_equals_a_direct_computation(glued, soup):
    squared = (SUN_TRUE - SUN_PRED) ** 2
    assert glued["mse_sum"] == pytest.approx(squared.sum())
    assert glued["mse_value"] == pytest.approx(squared.mean())
    assert glued["rmse_value"] == pytest.approx(np.sqrt(squared.mean()))
    assert [float(v) for v in glued["mse_squared_errors"].split(",")] == pytest.approx(squared)
    assert f"{squared.mean():g}" in _main(soup).get_text(), "the MSE is not shown in the prose"


@pytest.mark.slow
def test_huber_answers_equal_a_direct_computation(glued):
    true5 = np.append(SUN_TRUE, OUTLIER_TRUE)
    pred5 = np.append(SUN_PRED, OUTLIER_PRED)
    squared, huber = (true5 - pred5) ** 2, _huber(true5 - pred5)
    assert glued["huber_outlier_error"] == pytest.approx(OUTLIER_TRUE - OUTLIER_PRED)
    assert glued["huber_outlier_squared"] == pytest.approx(squared[4])
    assert glued["huber_outlier_huber"] == pytest.approx(huber[4])
    assert glued["huber_max_small_error"] == pytest.approx(np.abs(true5 - pred5)[:4].max())
    largest = int(np.argmax(np.abs(true5 - pred5)[:4]))
    assert glued["huber_small_squared"] == pytest.approx(squared[largest])
    assert glued["huber_small_huber"] == pytest.approx(huber[largest])
    # "beyond delta = 1 the two part ways, already at" the largest of the small errors
    assert glued["huber_max_small_error"] > 1
    assert glued["huber_mse_4"] == pytest.approx(squared[:4].mean())
    assert glued["huber_mse_5"] == pytest.approx(squared.mean())
    assert glued["huber_huber_4"] == pytest.approx(huber[:4].mean())
    assert glued["huber_huber_5"] == pytest.approx(huber.mean())
    assert glued["huber_share_squared"] == pytest.approx(100 * squared[4] / squared.sum())
    assert glued["huber_share_huber"] == pytest.approx(100 * huber[4] / huber.sum())
    assert glued["huber_growth_mse"] == pytest.approx(squared.mean() / squared[:4].mean())
    assert glued["huber_growth_huber"] == pytest.approx(huber.mean() / huber[:4].mean())


def test_huber_reference_matches_the_textbook_definition():
    # half the squared error inside delta, delta * (|e| - delta / 2) outside, continuous at delta
    errors = np.array([0.0, 0.5, 1.0, 1.5, -10.0])
    assert _huber(errors).tolist() == [0.0, 0.125, 0.5, 1.0, 9.5]
    assert _huber([2.0], delta=2.0)[0] == pytest.approx(0.5 * 2.0**2)


@pytest.mark.slow
def test_loss_curve_sentence_agrees_with_the_training_history(glued):
    first, last = glued["toy_loss_first"], glued["toy_loss_last"]
    assert glued["toy_loss_trend"] == ("fell" if last < first else "did not fall")
    assert glued["toy_epochs"] == 40


# ---------------------------------------------------------------- installation check


@pytest.mark.slow
def test_installation_check_prints_the_installed_versions(soup):
    # Read the output from the HTML: after a cache hit, myst-nb 1.4 writes the executed
    # notebook under jupyter_execute/ without outputs, while the page still shows them.
    anchor = _main(soup).find(id="episode-introduction-check-installation")
    section = anchor if anchor.name == "section" else anchor.find_parent("section")
    outputs = [pre.get_text() for pre in section.select("div.cell_output pre")]
    printed = "".join(text for text in outputs if "keras" in text)
    assert printed, "the installation check printed nothing"
    lines = dict(
        line.split(None, 1)
        for line in printed.splitlines()
        if line.strip() and not line.startswith("Keras backend")
    )
    for package in ["keras", "pandas", "seaborn", "scikit-learn"]:
        assert lines.get(package, "").strip() == version(package), package
    tensorflow = [lines.get(name, "").strip() for name in ("tensorflow", "tensorflow-cpu")]
    installed = []
    for name in ("tensorflow", "tensorflow-cpu"):
        with contextlib.suppress(PackageNotFoundError):
            installed.append(version(name))
    assert installed and set(installed) <= set(tensorflow)
    assert "Keras backend" in printed


# ---------------------------------------------------------------- glossary


def _glossary_entries() -> dict[str, str]:
    """Term -> definition, parsed from the ``{glossary}`` block of book/glossary.md."""
    text = GLOSSARY.read_text()
    match = re.search(r"^```\{glossary\}\n(.*?)^```\s*$", text, re.S | re.M)
    assert match, "book/glossary.md has no {glossary} block"
    entries, term = {}, None
    for line in match.group(1).splitlines():
        if not line.strip() or line.startswith(":"):
            continue
        if line.startswith((" ", "\t")):
            assert term, f"definition without a term: {line!r}"
            entries[term] += " " + line.strip()
        else:
            term = line.strip()
            assert term not in entries, f"{term!r} defined twice"
            entries[term] = ""
    return entries


def test_glossary_defines_every_listed_term_in_a_few_sentences():
    text = GLOSSARY.read_text()
    assert text.startswith("(glossary)=\n# Glossary\n")
    entries = _glossary_entries()
    assert set(GLOSSARY_TERMS) <= set(entries), set(GLOSSARY_TERMS) - set(entries)
    for term, definition in entries.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", definition.strip()) if s]
        assert 1 <= len(sentences) <= 3, f"{term}: {len(sentences)} sentences"


@pytest.mark.slow
def test_glossary_page_renders_an_anchor_for_every_term(built_book):
    html = built_book.html("book/glossary")
    for term in GLOSSARY_TERMS:
        assert f'id="term-{term.replace(" ", "-")}"' in html, term


def test_the_activation_answers_hold_in_keras():
    """Exercise answers 8 and 9: Dense's default activation is linear; at 0, where ReLU has no
    derivative, the library uses the slope 0."""
    import keras
    import tensorflow as tf

    assert keras.layers.Dense(3).activation is keras.activations.linear
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the slope is read with TensorFlow's GradientTape")
    x = tf.constant([0.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = keras.activations.relu(x)
    assert tape.gradient(y, x).numpy().tolist() == [0.0]


def test_the_history_and_augmentation_are_on_the_page():
    text = SOURCE.read_text()
    for key in ("mcculloch1943logical", "rosenblatt1958perceptron", "krizhevsky2012imagenet"):
        assert f"{{cite:p}}`{key}`" in text, key
    assert "*data augmentation*" in text and "keras.layers.RandomFlip" in text
