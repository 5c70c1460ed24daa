"""Episode 2 (classification with Keras): the page's structure, and its glued numbers checked
against an independent recomputation from the penguin data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlbook_tools.pages import Page
from helpers import STEP_TITLES, check_exercises, check_figures

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "book" / "episodes" / "2-keras.md"
DOC = "book/episodes/2-keras"
MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
EXERCISES = {
    "ex-keras-separate-species",
    "ex-keras-pairplot-sex",
    "ex-keras-output-neurons",
    "ex-keras-count-params",
    "ex-keras-training-curves",
    "ex-keras-confusion-matrix",
    "ex-keras-roc",
}
FIGURES = {
    "fig-keras-pairplot-species",
    "fig-keras-pairplot-sex",
    "fig-keras-training-curve",
    "fig-keras-training-curve-broken",
    "fig-keras-confusion-matrix",
    "fig-keras-model-diagram",
    "fig-keras-roc",
}


def source() -> str:
    return SOURCE.read_text()


def code_cells() -> list[str]:
    """The sources of the page's code cells, in order (hidden ones included)."""
    import jupytext

    return [c.source for c in jupytext.read(SOURCE, fmt="md:myst").cells if c.cell_type == "code"]


def the_cell(marker: str) -> str:
    found = [c for c in code_cells() if marker in c]
    assert len(found) == 1, f"{len(found)} code cells contain {marker!r}"
    return found[0]


def front_matter() -> dict:
    return Page(SOURCE).front_matter


def penguins_clean():
    """The cleaned table, computed straight from the palmerpenguins package."""
    from palmerpenguins import load_penguins

    raw = load_penguins()
    return raw, raw[["species", *MEASUREMENTS]].dropna()


def split():
    """The stratified 80/20 split with the page's seed, done afresh."""
    from sklearn.model_selection import train_test_split

    _, clean = penguins_clean()
    return train_test_split(clean, test_size=0.2, random_state=0, stratify=clean["species"])


def split_counts():
    """Per-species counts of the training and the test part."""
    train, test = split()
    return train["species"].value_counts().to_dict(), test["species"].value_counts().to_dict()


# --- the source -------------------------------------------------------------------------


def test_front_matter_has_live_coding_times_and_lesson_lists():
    lesson = front_matter()["lesson"]
    # about 30 typed cells (plot_history among them) plus explanation of the confusion matrix,
    # ROC, precision/recall and saving; 5 core exercises (2.1, 2.3-2.6) at 5-10 minutes each
    assert (lesson["teaching"], lesson["exercises"]) == (85, 40)
    for key in ("questions", "objectives", "keypoints"):
        assert lesson[key], f"lesson.{key} is empty"


def test_the_skippable_exercises_are_marked_optional():
    text = source()
    optional = set(re.findall(r"^```\{exercise\}[^\n]*\n:label: (\S+)\n:class: optional$", text, re.M))
    assert optional == {"ex-keras-pairplot-sex", "ex-keras-roc"}


def test_the_ten_workflow_steps_are_labelled_headings_in_order():
    text = source()
    found = re.findall(r"\(episode-keras-step-(\d+)\)=\n## (\d+)\. (.+)", text)
    assert [(int(a), int(b)) for a, b, _ in found] == [(n, n) for n in range(1, 11)]
    for n, _, title in found:
        assert title.strip() == STEP_TITLES[int(n)]


def test_every_section_heading_has_a_label_right_above_it():
    lines = source().splitlines()
    headings = [i for i, line in enumerate(lines) if re.match(r"#{2,4} ", line)]
    assert len(headings) >= 10
    for i in headings:
        line = lines[i]
        assert re.fullmatch(r"\(episode-keras-[a-z0-9-]+\)=", lines[i - 1]), (
            f"heading {line!r} lacks a (episode-keras-...)= label right above it"
        )


def test_learner_code_uses_keras_only_and_no_deprecated_input_shape():
    text = source()
    assert "import tensorflow" not in text
    assert "tf." not in re.sub(r"[A-Za-z_]tf\.", "", text)
    assert "input_shape=" not in text
    for fit in re.findall(r"\.fit\([^)]*\)", "\n".join(code_cells())):
        assert "verbose=0" in fit, fit


def test_every_network_and_training_the_prose_quotes_is_seeded_right_before_it():
    """An exercise done in code in between (a model of one's own) must not change the numbers."""
    cells = code_cells()
    seeded = [i for i, c in enumerate(cells) if "keras.Model(" in c or ".fit(" in c]
    assert len(seeded) == 3  # our network, its training, the broken network (built and trained)
    # one `seed` variable, set where the first network is built, so "change `seed`" changes all
    assert cells[seeded[0]].lstrip().startswith("seed = 8\nkeras.utils.set_random_seed(seed)\n")
    assert sum(len(re.findall(r"^seed = ", c, re.M)) for c in cells) == 1
    for i in seeded[1:]:
        assert cells[i].lstrip().startswith("keras.utils.set_random_seed(seed)\n"), cells[i][:200]
    assert "set_random_seed(8)" not in source()
    prose = " ".join(source().split())
    assert "change `seed`" in prose and "in the first cell of this page" not in prose


def test_cross_references_to_episode_three_and_the_workflow_steps():
    text = source()
    assert "{ref}`Episode 3 <episode-monitor>`" in text or "<episode-monitor>`" in text
    assert re.search(r"\{ref\}`[^`]*workflow-step-\d+>?`", text)


# --- the built page ---------------------------------------------------------------------


@pytest.mark.slow
def test_page_has_the_labelled_exercises_each_with_a_dropdown_solution(built_book):
    check_exercises(built_book.html(DOC), EXERCISES)


@pytest.mark.slow
def test_every_figure_has_one_image_with_alt_text_and_a_caption(built_book):
    # Without Graphviz (make installs it), plot_model prints why instead of drawing the diagram.
    drawn = FIGURES if shutil.which("dot") else FIGURES - {"fig-keras-model-diagram"}
    check_figures(built_book.html(DOC), "fig-keras-", drawn)


@pytest.mark.slow
def test_every_glue_reference_in_the_prose_was_glued(built_book):
    glued = built_book.glued(DOC)
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", source()))
    assert used, "the page glues nothing"
    assert used <= set(glued), f"referenced but never glued: {sorted(used - set(glued))}"


@pytest.mark.slow
def test_executed_page_writes_nothing_to_stderr_and_no_warnings(built_book):
    for cell in built_book.notebook(DOC).cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                assert output["name"] != "stderr", output["text"][:300]
                assert "WARNING" not in output["text"], output["text"][:300]
                assert "Warning" not in output["text"], output["text"][:300]


@pytest.mark.slow
def test_reloaded_model_predicts_the_same_and_plot_model_draws_the_network(built_book):
    cells = built_book.notebook(DOC).cells
    compare = [c for c in cells if "np.array_equal(reloaded_probabilities, probabilities)" in c.source]
    assert len(compare) == 1
    results = [o for o in compare[0].outputs if o.get("output_type") == "execute_result"]
    assert results and results[0]["data"]["text/plain"] == "True"
    # "`True`: the same layers, with the same ... parameters" after the Sequential version
    same = [c for c in cells if "sequential_model.count_params() == model.count_params()" in c.source]
    results = [o for o in same[0].outputs if o.get("output_type") == "execute_result"]
    assert len(same) == 1 and results and results[0]["data"]["text/plain"] == "True"
    html = built_book.html(DOC)
    if shutil.which("dot") is None:  # without Graphviz, Keras prints why and draws nothing
        pytest.skip("Graphviz is not installed here (make installs it)")
    assert 'alt="Diagram of the sequential penguin classifier' in html


def test_the_sequential_model_is_the_functional_one_layer_for_layer():
    """The page says the Sequential version "is our network once more": same layers, same counts."""
    import keras
    import numpy as np

    normalizer = keras.layers.Normalization()
    normalizer.adapt(np.arange(40, dtype="float32").reshape(10, 4))
    names = {"keras": keras, "normalizer": normalizer}
    exec(the_cell("scaled = normalizer(inputs)"), names)  # the page's own code
    exec(the_cell("keras.Sequential("), names)
    functional, sequential = names["model"], names["sequential_model"]

    def layers(model):
        return [
            (type(layer).__name__, layer.get_config().get("units"), layer.get_config().get("activation"))
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)
        ]

    assert layers(sequential) == layers(functional)
    assert [t for t, _, _ in layers(sequential)] == ["Normalization", "Dense", "Dense"]
    assert sequential.count_params() == functional.count_params()
    assert sequential.layers[0] is normalizer  # the adapted layer, not a fresh one


def test_the_plot_model_cell_carries_on_without_graphviz(tmp_path):
    """Without Graphviz's `dot` program, plot_model raises ImportError; the learner's cell must
    catch it, say what to install, and let the notebook go on."""
    cell = the_cell("keras.utils.plot_model(")
    script = tmp_path / "cell.py"
    script.write_text(
        "import keras\n"
        "sequential_model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])\n"
        "try:\n"
        "    keras.utils.plot_model(sequential_model, to_file='bare.png')\n"
        "except ImportError:\n"
        "    print('THE BARE CALL RAISES')\n"
        f"{cell}\n"
        "print('CELL DONE, diagram =', diagram)\n"
    )
    empty = tmp_path / "bin"  # a PATH on which no `dot` can be found
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "THE BARE CALL RAISES" in run.stdout, "plot_model no longer raises without Graphviz"
    assert "CELL DONE, diagram = None" in run.stdout
    assert "graphviz" in run.stdout.lower() and "nothing else on this page needs it" in run.stdout


def test_the_plot_model_cell_also_carries_on_where_keras_only_prints_the_graphviz_message(tmp_path):
    """The prose describes Keras's second behaviour: once IPython's namespace magics are loaded
    (some Jupyter front ends), plot_model prints what to install and returns None."""
    cell = the_cell("keras.utils.plot_model(")
    script = tmp_path / "cell.py"
    script.write_text(
        "import IPython.core.magics.namespace\n"
        "import keras\n"
        "sequential_model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])\n"
        f"{cell}\n"
        "print('CELL DONE, diagram =', diagram)\n"
    )
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "You must install graphviz" in run.stdout
    assert "CELL DONE, diagram = None" in run.stdout


def test_the_plot_model_prose_describes_both_behaviours_and_points_to_the_setup_page():
    prose = " ".join(source().split())
    assert "pip install pydot" not in prose
    assert "{ref}`the setup page <setup-graphviz>`" in prose
    assert "`ImportError`" in prose and "returns `None`" in prose


def test_the_validation_set_and_roc_thresholds_are_described_correctly():
    prose = " ".join(source().split())
    assert "episode 3 introduces" not in prose and "which episode 3 introduces" not in prose
    assert "A threshold above 1 catches nothing" in prose
    # verdicts that hold only for this run say so, or are glued
    assert "the network found every Chinstrap" not in prose
    assert "no Chinstrap was missed" not in prose
    assert "{glue:text}`n_found_chinstrap` of the {glue:text}`n_test_chinstrap` Chinstraps" in prose


def test_the_broken_network_is_told_apart_by_where_its_loss_ends_not_by_how_it_falls():
    """The broken curve falls steeply too (from thousands to a few): the sign of trouble is that it
    stays above the loss of guessing, and the healthy one ends far below it."""
    keypoints = " ".join(front_matter()["lesson"]["keypoints"])
    assert "stays near that of guessing" not in keypoints
    assert "far below the loss of guessing" in keypoints and "stays above it" in keypoints
    prose = " ".join(source().split())
    healthy = prose[prose.index("In the first epoch the loss is") : prose.index("(episode-keras-bad-curve)=")]
    assert "far below the {glue:text}`guess_loss:.2f` of guessing" in healthy
    assert "still end above that line" in healthy


def test_the_hidden_broken_network_cell_does_not_give_the_answer_away():
    """Exercise part 2 asks the learner to guess the change before revealing the code."""
    cell = the_cell("broken_inputs = keras.Input(")
    comments = " ".join(re.findall(r"#.*", cell)).lower()
    for telltale in ("normali", "scal", "standard"):
        assert telltale not in comments, telltale
    assert "Normalization" not in cell


def test_the_roc_question_explains_the_winning_probability_and_the_solution_places_the_point():
    prose = " ".join(source().split())
    question = prose[prose.index(":label: ex-keras-roc") :]
    question = question[: question.index("```")]
    assert "Only a probability above 0.5 always wins" not in question
    assert "largest of the three probabilities" in question
    assert "0.4 for Chinstrap" in question and "0.35 and 0.25" in question
    solution = prose[prose.index("{solution} ex-keras-roc") :]
    first = solution[: solution.index(" 2. ")]
    assert "on the horizontal axis" in first and "on the vertical axis" in first
    assert "close to the top left corner" in first


# --- glued numbers against a direct recomputation -------------------------------------


@pytest.mark.slow
def test_glued_row_counts_match_the_penguin_table(built_book):
    raw, clean = penguins_clean()
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    assert value("n_rows_raw") == len(raw) == 344
    assert value("n_rows_clean") == len(clean)
    assert value("n_rows_dropped") == len(raw) - len(clean)
    # keeping `sex` would lose the kept penguins whose sex is missing (2 of 11 are gone already)
    assert value("n_more_without_sex") == int(raw.loc[clean.index, "sex"].isna().sum()) == 9


@pytest.mark.slow
def test_glued_split_sizes_and_class_counts_match_a_fresh_stratified_split(built_book):
    train_counts, test_counts = split_counts()
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    assert value("train_class_counts") == train_counts
    assert value("test_class_counts") == test_counts
    assert value("n_train") == sum(train_counts.values())
    assert value("n_test") == sum(test_counts.values())
    for species in SPECIES:
        for part, counts in (("train", train_counts), ("test", test_counts)):
            share = counts[species] / sum(counts.values())
            assert value(f"share_{part}_{species}") == pytest.approx(share)


@pytest.mark.slow
def test_glued_parameter_counts_follow_the_dense_layer_formula(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    hidden, inputs, outputs = value("n_hidden"), value("n_inputs"), value("n_outputs")
    assert (inputs, outputs) == (len(MEASUREMENTS), len(SPECIES))
    assert value("n_params_hidden") == (inputs + 1) * hidden
    assert value("n_params_output") == (hidden + 1) * outputs
    assert value("n_params_trainable") == (inputs + 1) * hidden + (hidden + 1) * outputs
    assert value("n_params_norm") == 2 * inputs + 1  # a mean and a variance per input, and a count
    assert value("n_params_total") == value("n_params_trainable") + value("n_params_norm")
    assert value("n_params_32") == (inputs + 1) * 32 + (32 + 1) * outputs
    # count_params() also counts the normalisation layer's non-trainable numbers
    assert value("n_params_32_total") == value("n_params_32") + value("n_params_norm")


@pytest.mark.slow
def test_glued_accuracy_and_recalls_follow_from_the_confusion_matrix(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    cells = np.array(value("confusion_cells"))
    _, test_counts = split_counts()
    assert cells.shape == (3, 3)
    assert cells.sum(axis=1).tolist() == [test_counts[s] for s in SPECIES]
    assert value("n_diagonal") == value("n_test_correct") == np.trace(cells)
    assert value("test_accuracy") == pytest.approx(np.trace(cells) / cells.sum())
    recalls = np.diag(cells) / cells.sum(axis=1)
    for species, recall in zip(SPECIES, recalls, strict=True):
        assert value(f"recall_{species}") == pytest.approx(recall)
    assert value("worst_recall_species") == SPECIES[int(np.argmin(recalls))]


@pytest.mark.slow
def test_the_listed_mistakes_are_the_off_diagonal_cells(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    cells = np.array(value("confusion_cells"))
    expected = [
        f"{cells[i, j]} {SPECIES[i]} as {SPECIES[j]}"
        for i in range(3)
        for j in range(3)
        if i != j and cells[i, j]
    ]
    assert value("mistakes") == ("; ".join(expected) or "none")


@pytest.mark.slow
def test_what_the_prose_says_about_the_two_training_curves_holds(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    guess = value("guess_loss")
    assert guess == pytest.approx(np.log(3))
    # ours: first epoch "close to" guessing, then far below it, "still falling at the end"
    assert abs(value("loss_first") - guess) < 0.15
    assert value("loss_last") < value("loss_first") / 10 and value("accuracy_last") > 0.95
    assert value("loss_epoch_90") > 1.05 * value("loss_last")
    # without the Normalization layer: "an enormous first loss", then still "above" guessing and
    # less accurate than answering "Adelie" for every penguin
    assert value("broken_loss_first") > 100
    assert value("broken_loss_last") > guess > 10 * value("loss_last")
    assert value("broken_accuracy_last") < value("share_train_Adelie")
    # the alt texts: ours "climbs close to 1 within about 15 epochs and stays there"; the broken
    # loss "starts in the thousands", its accuracy "stays low, below one half, in every epoch"
    assert value("accuracy_min_from_15") >= 0.95
    assert value("broken_loss_first") >= 1000
    assert value("broken_accuracy_max") < 0.5
    # step 9: "this network leaves little to gain"
    assert value("test_accuracy") >= 0.95


@pytest.mark.slow
def test_step_8_and_the_rare_class_section_match_the_confusion_matrix(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    cells = np.array(value("confusion_cells"))
    _, test_counts = split_counts()
    chinstrap = SPECIES.index("Chinstrap")
    # step 8: "gets N of the 69 test penguins wrong: too few to tell overfitting from bad luck"
    assert value("n_test_wrong") == value("n_test") - value("n_test_correct") <= 2
    # the heatmap's alt text: "cells off the diagonal hold few or none"
    assert cells.sum() - np.trace(cells) <= 2
    assert value("n_test_chinstrap") == test_counts["Chinstrap"]
    assert value("n_found_chinstrap") == cells[chinstrap, chinstrap]
    assert value("accuracy_without_chinstrap") == pytest.approx(
        1 - test_counts["Chinstrap"] / sum(test_counts.values())
    )
    called = cells[:, chinstrap]
    assert value("n_called_chinstrap") == called.sum()
    assert value("n_wrongly_called_chinstrap") == called.sum() - called[chinstrap]
    assert value("precision_chinstrap") == pytest.approx(called[chinstrap] / called.sum())
    # "the network found every Chinstrap ... no Chinstrap was missed, so neither is needed"
    assert value("recall_Chinstrap") == 1


@pytest.mark.slow
def test_the_roc_exercise_answers_hold_for_this_run(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    # question 3: mistakes in the matrix "yet" a perfect AUC, because a threshold separates them
    assert value("mistakes") != "none" and "as Chinstrap" in value("mistakes")
    assert value("auc_chinstrap") == 1
    assert value("lowest_chinstrap") > value("highest_other")
    # question 1: the misclassified penguin is a false alarm at 0.5 as well
    assert value("highest_other") >= 0.5 and value("fpr_05") > 0
    # question 1: the point at 0.5 lies "close to the top left corner"
    assert value("fpr_05") < 0.1 and value("tpr_05") > 0.9


@pytest.mark.slow
def test_scale_ratios_and_roc_numbers_match_the_data(built_book):
    value = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    train, _ = split()
    means = train[MEASUREMENTS].mean()
    assert value("mass_vs_flipper") == pytest.approx(means["body_mass_g"] / means["flipper_length_mm"])
    assert value("mass_vs_bill") == pytest.approx(means["body_mass_g"] / means["bill_length_mm"])
    assert round(value("mass_vs_flipper")) == 21 and round(value("mass_vs_bill")) == 96
    assert 0.98 <= value("auc_chinstrap") <= 1  # "the curve hugs the top left corner"
    assert 0 <= value("fpr_05") <= 1 and 0 <= value("tpr_05") <= 1
    assert value("tpr_05") == pytest.approx(value("recall_Chinstrap"), abs=0.15)


def test_plot_history_is_taught_here_and_kept_identical_in_the_helper_package():
    """Episode 2 writes plot_history out; later episodes import the package's copy of it."""
    import inspect

    import jupytext

    from dlbook import plotting

    cells = [c.source for c in jupytext.read(SOURCE, fmt="md:myst").cells if c.cell_type == "code"]
    taught = [c for c in cells if c.lstrip().startswith("def plot_history(")]
    assert len(taught) == 1, "episode 2 defines plot_history in one visible cell"
    assert taught[0].strip() == inspect.getsource(plotting.plot_history).strip()
    importers = sorted(
        int(page.name[0])
        for page in SOURCE.parent.glob("*.md")
        if page != SOURCE and "from dlbook.plotting import plot_history" in page.read_text()
    )
    assert {3, 4} <= set(importers)
    for n in importers:
        text = next(SOURCE.parent.glob(f"{n}-*.md")).read_text()
        assert "def plot_history" not in text
    # the prose names every episode that imports it
    named = ", ".join(str(n) for n in importers[:-1]) + f" and {importers[-1]}"
    assert f"episodes {named} import it" in " ".join(source().split())
