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


def _code_cells() -> list[tuple[str, str]]:
    """(options line, body) of every code cell of the page, in order."""
    text = SOURCE.read_text()
    cells = re.findall(r"^```\{code-cell\}([^\n]*)\n(.*?)^```\s*$", text, re.S | re.M)
    out = []
    for options, body in cells:
        # drop a ---...--- header or the :option: lines that open the cell
        if body.startswith("---\n"):
            body = body.split("---\n", 2)[2]
        lines = body.splitlines()
        while lines and re.match(r":[\w-]+:", lines[0]):
            lines.pop(0)
        body = "\n".join(lines)
        out.append((options, body))
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
    assert "Teaching: 65 min" in text and "Exercises: 40 min" in text
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


# The XOR exercise's table: hidden kernel (one row per input, one column per neuron), biases.
XOR_HIDDEN_KERNEL = np.array([[1.0, 2.0], [1.0, 2.0]])
XOR_HIDDEN_BIAS = np.array([0.0, -2.0])
XOR_OUTPUT_WEIGHTS = np.array([1.0, -1.0])
XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def _xor_net(hidden_kernel):
    hidden = np.maximum(0, XOR_INPUTS @ hidden_kernel + XOR_HIDDEN_BIAS)
    return hidden @ XOR_OUTPUT_WEIGHTS


@pytest.mark.slow
def test_xor_network_with_the_given_weights_outputs_xor(glued):
    expected = [0.0, 1.0, 1.0, 0.0]
    assert _xor_net(XOR_HIDDEN_KERNEL).tolist() == expected  # the table really computes XOR
    assert glued["xor_outputs"] == pytest.approx(expected)  # and so does the page's Keras model


def test_a_transposed_xor_kernel_gives_a_wrong_answer_as_the_solution_says():
    """The weights are not symmetric, so a kernel written the wrong way round shows: the solution
    says the input (0, 1) then gives 2."""
    assert not np.array_equal(XOR_HIDDEN_KERNEL, XOR_HIDDEN_KERNEL.T)
    assert _xor_net(XOR_HIDDEN_KERNEL.T)[1] == 2.0
    text = SOURCE.read_text()
    assert "| hidden $h_2$ | $x_1$, $x_2$ | 2 | 2 | −2 |" in text
    assert "as `[[1, 1], [2, 2]]`" in text and "would give 2 instead of 1" in text


@pytest.mark.slow
def test_the_keras_layer_example_reproduces_the_neuron_of_the_exercise(glued):
    # the first neuron of the one-layer example is the exercise's neuron; the second has
    # weights (-1, 0, 2) and bias 0.5, so its weighted sum is negative and ReLU gives 0
    z1 = NEURON_W @ NEURON_X + NEURON_B
    z2 = np.array([-1.0, 0.0, 2.0]) @ NEURON_X + 0.5
    assert glued["layer_output_1"] == pytest.approx(max(0.0, z1), abs=1e-6)
    assert glued["layer_z_2"] == pytest.approx(z2) and z2 < 0
    assert glued["layer_output_2"] == 0.0


def test_keras_model_building_is_shown_before_any_exercise_needs_it():
    """Dense, Sequential, get_weights/set_weights and calling a model appear in the main text
    before the XOR exercise; the activation exercise asks nothing about Keras."""
    text = SOURCE.read_text()
    section = text.index("(episode-introduction-layers-in-keras)=")
    xor = text.index(":label: ex-introduction-xor")
    shown = " ".join(text[section:xor].split())
    for needed in (
        "keras.Sequential(",
        "keras.layers.Dense(",
        "get_weights()",
        "set_weights(",
        "one row per input and one column per neuron",
        "keras.ops.convert_to_numpy",
    ):
        assert needed in shown, needed
    assert text.index("keras.Sequential(") == text.index("keras.Sequential(", section)
    activations = text[text.index(":label: ex-introduction-activations") :]
    activations = activations[: activations.index("```")]
    assert "Dense" not in activations and "Keras" not in activations


def test_vanishing_gradients_are_explained_in_the_main_text():
    prose = "\n".join(_source_outside_code())
    section = prose[prose.index("(episode-introduction-activations)=") :]
    before_exercise = section[: section.index("{exercise}")]
    assert "vanishing gradient" in before_exercise


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
    # Like with like: inside delta the Huber loss is half the squared error.
    assert glued["huber_small_half_squared"] == pytest.approx(squared[largest] / 2)
    assert glued["huber_outlier_half_squared"] == pytest.approx(squared[4] / 2)
    assert glued["huber_small_huber"] < glued["huber_small_half_squared"]
    # The pull (gradient size) of each loss: 2|e| for the squared error, capped at delta for Huber.
    errors = np.abs(true5 - pred5)
    assert glued["huber_pull_squared_outlier"] == pytest.approx(2 * errors[4])
    assert glued["huber_pull_squared_small"] == pytest.approx(2 * errors[:4].max())
    assert glued["huber_pull_huber_outlier"] == pytest.approx(1.0)
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
    # "when the loss falls by more than a factor of ten, as it does here": a log axis
    assert first > 10 * last
    val = glued["toy_val_loss_last"]
    assert glued["toy_val_vs_train"] == ("below" if val < last else "above")
    # "just below/above it", and the alt text: the curves end almost on top of each other
    assert abs(val - last) < 0.1 * last
    # the explanation: with the final weights the training loss is lower than the epoch average
    assert glued["toy_train_loss_end"] < last
    # "neither loss can stay much below 0.01" (the noise variance)
    assert min(last, val, glued["toy_train_loss_end"]) > 0.005


def test_the_toy_training_run_is_seeded_in_its_own_cell():
    """Exercises before it use random numbers (building Keras models); the quoted numbers must
    not depend on whether a learner ran them."""
    cell = next(body for _, body in _code_cells() if "toy_model.fit(" in body)
    assert cell.lstrip().startswith("keras.utils.set_random_seed(")


# ---------------------------------------------------------------- installation check


def test_installation_check_opens_the_episode_before_any_import():
    """The check comes first: right after the opening paragraph, as the page's first code cell."""
    cells = _code_cells()
    assert cells[0][1].strip() == ("from dlbook.environment import check_environment\n\ncheck_environment()")
    text = SOURCE.read_text()
    check = text.index("(episode-introduction-check-installation)=")
    assert check < text.index("```{code-cell}") < text.index("(episode-introduction-what-is-dl)=")
    assert check < text.index("import keras")


@pytest.mark.slow
def test_installation_check_prints_the_installed_versions(soup):
    # Read the output from the HTML: after a cache hit, myst-nb 1.4 writes the executed
    # notebook under jupyter_execute/ without outputs, while the page still shows them.
    anchor = _main(soup).find(id="episode-introduction-check-installation")
    section = anchor if anchor.name == "section" else anchor.find_parent("section")
    outputs = [pre.get_text() for pre in section.select("div.cell_output pre")]
    printed = "".join(text for text in outputs if "keras" in text)
    assert printed, "the installation check printed nothing"
    rows = {}
    for line in printed.splitlines():
        parts = line.split()
        if len(parts) >= 3 and re.fullmatch(r"[\w.-]+", parts[0]) and parts[0] != "package":
            rows[parts[0]] = parts[1]
    for package in ["keras", "pandas", "seaborn", "scikit-learn"]:
        assert rows.get(package) == version(package), package
    installed = {}
    for name in ("tensorflow", "tensorflow-cpu"):
        with contextlib.suppress(PackageNotFoundError):
            installed[name] = version(name)
    assert installed and all(rows.get(name) == v for name, v in installed.items())
    assert re.search(r"^Backend\s+Keras \S+ on \w+", printed, re.M)
    assert "All good" in printed, "the build environment differs from the pins"


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
    """The text's claim that Dense without `activation` is linear, and exercise answer 8: at 0,
    where ReLU has no derivative, the library uses the slope 0."""
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


def test_workshop_minutes_count_only_the_core_exercises():
    """Exercises a workshop may skip carry ``:class: optional``; the front matter's minutes are
    the ones this test states (see the report that set them)."""
    text = SOURCE.read_text()
    optional = set(re.findall(r":label: (ex-[a-z0-9-]+)\n:class: optional", text))
    # The Huber exercise is core: an objective and a keypoint rest on it.
    assert optional == {"ex-introduction-plan-your-problem"}
    # activations 5 + neuron 5 + XOR 10 + MSE 5 + Huber 10 + suitable tasks 5
    assert re.search(r"^  teaching: 65\n  exercises: 40$", text, re.M)


def test_no_bare_ref_pastes_a_numbered_title_into_running_text():
    prose = "\n".join(_source_outside_code())
    assert not re.findall(r"\{ref\}`[^`<]+`", prose)


def test_the_seed_promises_the_printed_numbers_only_on_the_same_machine_and_versions():
    """The landing page says numbers may differ a little elsewhere; this page must not promise
    an exact match."""
    prose = " ".join(" ".join(_source_outside_code()).split())
    assert "match the ones printed here" not in prose
    assert "on the same machine with the same library versions" in prose


def test_the_huber_answer_compares_half_squared_errors_and_names_the_gradient():
    prose = " ".join(" ".join(_source_outside_code()).split())
    assert "{glue:text}`huber_small_half_squared:g` against {glue:text}`huber_small_huber:g`" in prose
    assert "{glue:text}`huber_small_squared:g` against" not in prose
    assert "{glue:text}`huber_pull_squared_outlier:g`" in prose
    assert "{glue:text}`huber_pull_huber_outlier:g`" in prose


def test_dropout_is_explained_where_it_is_first_mentioned_and_backends_are_not_overpromised():
    prose = " ".join(" ".join(_source_outside_code()).split())
    first = prose.lower().index("dropout")
    assert "switches off" in prose[first : first + 200]
    assert "should run unchanged" not in prose
    assert "built and tested with the TensorFlow backend" in prose


def _prose_before(marker: str) -> str:
    prose = " ".join(" ".join(_source_outside_code()).split())
    return prose[: prose.index(marker)]


def test_rmse_is_defined_before_the_mse_exercise_uses_it():
    before = _prose_before(":label: ex-introduction-mse")
    assert "**root mean squared error** (RMSE)" in before
    assert "unit of the target" in before


def test_the_slope_of_each_loss_is_given_before_the_huber_exercise_asks_about_it():
    """Part 3 of the Huber exercise asks which loss steers training more: the answer (the
    gradient) must be in the text the learner has read by then."""
    before = _prose_before(":label: ex-introduction-huber")
    section = before[before.index("(episode-introduction-loss)=") :]
    assert "the slope at an error $e$ is $2e$" in section
    assert "capped at $\\delta$" in section


def test_relus_missing_slope_at_zero_is_said_where_relu_is_defined():
    """Exercise answer 8 (ReLU has no slope at 0) must not rest on reading the plot alone."""
    prose = " ".join(" ".join(_source_outside_code()).split())
    start = prose.index("ReLU (rectified linear unit)")
    definition = prose[start : prose.index("Linear (identity)", start)]
    assert "no slope (no derivative)" in definition and "$z = 0$" in definition
    assert "Has no slope (no derivative) at one input value." in prose
