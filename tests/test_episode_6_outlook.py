"""Episode 6 (outlook): page structure, the Siamese network's glued numbers, figures."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from helpers import check_exercises, check_figures, headings_with_labels

REPO = Path(__file__).resolve().parents[1]
DOC = "book/episodes/6-outlook"
SOURCE = REPO / f"{DOC}.md"
MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]

EXERCISES = {
    "ex-outlook-ms2deepscore-steps",
    "ex-outlook-input-size",
    "ex-outlook-small-embedding",
    "ex-outlook-shared-base",
    "ex-outlook-bias",
    "ex-outlook-organise",
}
SECTIONS = {
    "episode-outlook-ms2deepscore",
    "episode-outlook-siamese",
    "episode-outlook-bias",
    "episode-outlook-llms",
    "episode-outlook-organise",
    "episode-outlook-next-steps",
    "episode-outlook-further-reading",
}


def test_every_section_has_a_label_of_this_episode():
    headings = headings_with_labels(SOURCE)
    unlabelled = [h for h, label in headings if label is None]
    assert not unlabelled, f"sections without a (label)= line above them: {unlabelled}"
    labels = {label for _, label in headings}
    assert labels >= SECTIONS, f"missing sections: {SECTIONS - labels}"
    assert all(label.startswith("episode-outlook-") for label in labels)


def test_siamese_walkthrough_links_all_ten_workflow_steps():
    text = SOURCE.read_text()
    start = text.index("(episode-outlook-siamese)=")
    end = text.index("(episode-outlook-bias)=")
    linked = set(re.findall(r"\{ref\}`[^`<]+<workflow-step-(\d+)>`", text[start:end]))
    assert linked == {str(n) for n in range(1, 11)}


def test_no_bare_ref_pastes_a_numbered_title_into_running_text():
    # {ref}`label` renders the target's whole title; running text gives its own words
    assert not re.findall(r"\{ref\}`[^`<]+`", SOURCE.read_text())


def _code() -> str:
    return "\n".join(re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", SOURCE.read_text(), re.S | re.M))


def test_penguins_are_split_before_pairs_are_drawn_and_validation_pairs_are_held_out():
    """Pairs drawn from one pool would put the same penguin in training and validation pairs."""
    code = _code()
    assert "validation_split" not in code
    assert "validation_data=([val_a, val_b], val_same)" in code
    assert code.index("train_test_split(") < code.index("def make_pairs")
    for split in ("train", "val", "test"):
        assert f"make_pairs({split}_x, {split}_species," in code, split


def test_training_curves_use_plot_history_and_the_run_is_seeded():
    code = _code()
    assert "from dlbook.plotting import plot_history" in code
    assert ".plot(history.history" not in code  # epochs would count from 0
    model_cell = code[code.index("base = keras.Sequential(") - 200 : code.index("siamese.summary()")]
    assert "keras.utils.set_random_seed(" in model_cell


def test_core_exercises_and_minutes():
    """Most exercises are optional; the front matter counts only the three core ones."""
    text = SOURCE.read_text()
    optional = set(re.findall(r":label: (ex-[a-z0-9-]+)\n:class: optional", text))
    core = {"ex-outlook-ms2deepscore-steps", "ex-outlook-small-embedding", "ex-outlook-bias"}
    assert optional == EXERCISES - core
    # live-coding the Siamese cells; core exercises 5 + 5 + 5 minutes
    assert re.search(r"^  teaching: 40\n  exercises: 15$", text, re.M)


def test_make_pairs_never_pairs_a_penguin_with_itself():
    import numpy as np

    code = _code()
    start = code.index("def make_pairs")
    source = code[start : code.index("\n\n\n", start)]
    namespace = {"np": np, "rng": np.random.default_rng(1)}
    exec(source, namespace)
    x = np.arange(5, dtype=float).reshape(5, 1)  # the row number identifies the penguin
    a, b, same = namespace["make_pairs"](x, np.array([0, 0, 1, 1, 2]), 5000)
    assert (a != b).all()
    assert set(b.ravel()) == set(range(5))  # every other penguin can be drawn
    assert same.mean() == pytest.approx(2 * 2 / 20, abs=0.03)  # 2 same-species pairs of 20


def test_cosine_similarity_is_described_down_to_minus_one():
    text = " ".join(SOURCE.read_text().split())
    assert "-1 when they point in opposite directions" in text


def test_project_advice_keeps_the_test_set_out_of_model_selection():
    text = SOURCE.read_text()
    organise = text[text.index("(episode-outlook-organise)=") : text.index("(episode-outlook-next-steps)=")]
    assert "validation score" in organise
    assert "test score)" not in organise  # no per-run test score to pick the best run by
    assert "Seed once at the start" not in organise


def test_learner_code_uses_keras_only():
    text = SOURCE.read_text()
    assert "import tensorflow" not in text and "tf." not in text


@pytest.mark.slow
def test_exercises_are_the_expected_ones_each_with_a_dropdown_solution(built_book):
    check_exercises(built_book.html(DOC), EXERCISES)


@pytest.mark.slow
def test_every_figure_has_alt_text_and_a_caption(built_book):
    html = built_book.html(DOC)
    check_figures(
        html,
        "fig-outlook-",
        {"fig-outlook-ms2deepscore", "fig-outlook-siamese-loss", "fig-outlook-similarity"},
    )


@pytest.mark.slow
def test_glued_parameter_count_matches_the_formula(built_book):
    # Dense(16) on 4 inputs, Dense(8) on 16; the second use of the base adds nothing.
    expected = (4 * 16 + 16) + (16 * 8 + 8)
    assert built_book.glued_value(DOC, "base_params") == expected
    assert built_book.glued_value(DOC, "siamese_params") == expected


@pytest.mark.slow
def test_glued_penguin_counts_match_the_data(built_book):
    from palmerpenguins import load_penguins

    n = int(load_penguins().dropna(subset=MEASUREMENTS).shape[0])
    n_test = math.ceil(0.2 * n)
    n_val = math.ceil(0.25 * (n - n_test))
    assert built_book.glued_value(DOC, "n_penguins") == n
    assert built_book.glued_value(DOC, "n_test_penguins") == n_test
    assert built_book.glued_value(DOC, "n_val_penguins") == n_val
    assert built_book.glued_value(DOC, "n_train_penguins") == n - n_test - n_val


@pytest.mark.slow
def test_glued_accuracies_are_fractions_and_the_baseline_matches_the_pair_mix(built_book):
    for name in ("siamese_accuracy", "siamese_baseline", "same_fraction"):
        assert 0 <= built_book.glued_value(DOC, name) <= 1
    # The baseline answers "different" for every pair, so it scores the share of different-species
    # pairs; with three species in these proportions that share lies well above one half.
    assert 0.5 < built_book.glued_value(DOC, "siamese_baseline") < 0.8
    assert (
        -1
        <= built_book.glued_value(DOC, "mean_sim_different")
        <= built_book.glued_value(DOC, "mean_sim_same")
        <= 1
    )


@pytest.mark.slow
def test_glued_final_losses_are_the_small_positive_numbers_the_figure_shows(built_book):
    train = built_book.glued_value(DOC, "siamese_loss_last")
    val = built_book.glued_value(DOC, "siamese_val_loss_last")
    assert 0 < train < 0.1 and 0 < val < 0.1
    # the prose and the alt text: validation below training for the first epochs, then above;
    # both curves still falling at the end
    below = built_book.glued_value(DOC, "siamese_val_below_epochs")
    assert 1 <= below < 30
    assert built_book.glued_value(DOC, "siamese_val_after") == "above"
    assert val > train
    assert built_book.glued_value(DOC, "siamese_val_falling") is True


@pytest.mark.slow
def test_the_histogram_alt_text_holds_for_the_run(built_book):
    """Same-species pairs "pile up near 1", different-species pairs "near 0", "barely overlap"."""
    assert built_book.glued_value(DOC, "mean_sim_same") >= 0.85
    assert abs(built_book.glued_value(DOC, "mean_sim_different")) <= 0.15
    assert built_book.glued_value(DOC, "siamese_accuracy") >= 0.95
    # the network beats the always-"different" baseline on held-out pairs
    assert built_book.glued_value(DOC, "siamese_accuracy") > built_book.glued_value(DOC, "siamese_baseline")


def test_the_ms2deepscore_description_supports_every_step_the_solution_credits():
    text = " ".join(SOURCE.read_text().split())
    description = text[
        text.index("(episode-outlook-ms2deepscore)=") : text.index(":label: ex-outlook-ms2deepscore-steps")
    ]
    solution = text[text.index("{solution} ex-outlook-ms2deepscore-steps") :]
    solution = solution[: solution.index("```")]
    if "kept out of training" in solution:  # step 8
        assert "kept out of training" in description
    if "published" in solution:  # step 10
        assert "published the trained model" in description
    # the MSE loss was introduced in episode 1, not episode 3
    assert "loss of episode 3" not in solution
    assert "{ref}`episode 1 <episode-introduction-loss>`" in solution
    assert "{term}`batch normalisation`" in description


def test_the_hand_scaling_of_the_pair_inputs_says_why_it_is_not_a_normalization_layer():
    text = " ".join(SOURCE.read_text().split())
    section = text[text.index("(episode-outlook-siamese-data)=") :]
    prose = section[: section.index("```{code-cell}")]
    assert "mean and standard deviation" in prose and "`Normalization`" in prose
    assert "mean, std = train_x.mean(axis=0), train_x.std(axis=0)" in _code()
