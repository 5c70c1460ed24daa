"""Episode 5 (transfer learning): page structure, glued numbers, and the pre-trained weights path.

The weights tests need no build: they point the book's cache (``DLBOOK_DATA_DIR``) at a
temporary folder holding a tiny fake weights file and check which way ``densenet121_weights``
goes and which file ``DenseNet121(weights="imagenet")`` is then given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import jupytext
import pytest

import dlbook.pretrained as pretrained
from dlbook.fetch import DataUnavailableError
from dlbook.pretrained import CorruptWeightsError, densenet121_weights
from helpers import WORKFLOW_STEPS as STEP_TITLES
from helpers import check_exercises, check_figures, headings_with_labels

REPO = Path(__file__).resolve().parents[1]
DOC = "book/episodes/5-transfer-learning"
SOURCE = REPO / f"{DOC}.md"
WEIGHTS_NAME = "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"

EXERCISES = {
    "ex-transfer-fit",
    "ex-transfer-head-base",
    "ex-transfer-resolution",
    "ex-transfer-shortcut",
    "ex-transfer-compare",
    "ex-transfer-other-model",
}
HEAD_UNITS = 64  # the Dense layer of the page's head
N_CLASSES = 10


# --- the source page (no build needed) --------------------------------------------------------


def test_every_section_has_a_label_of_this_episode():
    headings = headings_with_labels(SOURCE)
    assert headings, "no sections found"
    unlabelled = [h for h, label in headings if label is None]
    assert not unlabelled, f"sections without a (label)= line above them: {unlabelled}"
    foreign = [label for _, label in headings if not label.startswith("episode-transfer-")]
    assert not foreign, f"labels outside the episode-transfer- namespace: {foreign}"


def test_the_ten_workflow_steps_are_the_numbered_sections_in_order():
    steps = [
        (h, label)
        for h, label in headings_with_labels(SOURCE)
        if label and re.fullmatch(r"episode-transfer-step-\d+", label)
    ]
    assert [label for _, label in steps] == [f"episode-transfer-step-{n}" for n in range(1, 11)]
    assert [h for h, _ in steps] == [f"## {n}. {t}" for n, t in enumerate(STEP_TITLES, 1)]


def test_page_builds_densenet121_as_a_learner_would_with_the_fallback_out_of_view():
    """The visible cell asks Keras for the ImageNet weights; the build's preparation is hidden."""
    notebook = jupytext.read(SOURCE, fmt="md:myst")
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    call = [c for c in cells if "keras.applications.DenseNet121(" in c.source]
    assert len(call) == 1 and not call[0].metadata.get("tags"), "the DenseNet121 cell is in view"
    for needed in ("include_top=False", 'pooling="max"', 'weights="imagenet"'):
        assert needed in call[0].source, f"DenseNet121(...) lacks {needed}"
    prepare = [c for c in cells if "prepare_densenet121()" in c.source]
    assert len(prepare) == 1 and "remove-cell" in prepare[0].metadata.get("tags", [])
    assert cells.index(prepare[0]) < cells.index(call[0])
    assert "base.trainable = False" in SOURCE.read_text()
    text = SOURCE.read_text()
    assert "import tensorflow" not in text and "tf." not in text


def test_page_tells_a_learner_what_to_do_when_the_weights_download_fails():
    text = " ".join(SOURCE.read_text().split())
    for needed in (WEIGHTS_NAME, "~/.keras/models/", "KERAS_HOME", "python -m dlbook.prefetch densenet121"):
        assert needed in text, needed


def _cells():
    notebook = jupytext.read(SOURCE, fmt="md:myst")
    return [c for c in notebook.cells if c.cell_type == "code"]


def test_training_curves_use_plot_history_so_epochs_count_from_one():
    figure = next(
        c
        for c in _cells()
        if c.metadata.get("mystnb", {}).get("figure", {}).get("name") == "fig-transfer-curves"
    )
    assert "plot_history(history" in figure.source
    assert ".plot(history.history" not in SOURCE.read_text()


def test_the_training_runs_whose_results_the_text_quotes_are_seeded_in_their_cell():
    for run in ("head.fit(", "scratch.fit("):
        cells = _cells()
        i = next(i for i, c in enumerate(cells) if run in c.source)
        # the baseline is built in the same cell as it is trained; the head was built in step 4
        # and only its batch order (and dropout) depend on the seed at training time
        assert "keras.utils.set_random_seed(" in cells[i].source, run


def test_the_baseline_is_trained_exactly_as_episode_4_trains_it():
    """Same seed right before the build, same float32 scaling: its number can reproduce episode 4's."""
    cell = next(c.source for c in _cells() if "scratch.fit(" in c.source)
    ep4 = (REPO / "book" / "episodes" / "4-advanced-layer-types.md").read_text()
    seed = re.search(r"keras\.utils\.set_random_seed\((\d+)\)\nmodel_dropout = build_cnn", ep4).group(1)
    assert f"keras.utils.set_random_seed({seed})" in cell.split("build_cnn(")[0]
    assert 'astype("float32") / 255' in cell and 'train_x = train_images.astype("float32") / 255' in ep4
    assert "epochs=12, batch_size=32" in cell and re.search(r"^batch_size = 32$", ep4, re.M)


def test_both_models_are_scored_at_their_best_epoch_and_the_text_dates_its_run():
    text = SOURCE.read_text()
    assert 'scratch_accuracy = max(scratch_history.history["val_accuracy"])' in text
    assert "restore_best_weights=True" in text
    assert "In this run, with" not in text and "In the run that built this page, with" in text


def test_fine_tuning_recipe_uses_keras_own_switches():
    """No per-block switch exists: unfreeze the base, refreeze up to a layer, keep batch norm frozen."""
    cells = [c.source for c in _cells()]
    recipe = next(c for c in cells if "base.trainable = True" in c)
    assert "for layer in base.layers[:first_trained]:" in recipe
    assert "isinstance(layer, keras.layers.BatchNormalization)" in recipe
    text = SOURCE.read_text()
    assert "learning_rate=1e-4" in text and "base(x, training=False)" in text
    # ... and the model is frozen again before it is saved
    assert (
        cells.index(recipe)
        < cells.index("base.trainable = False")
        < next(i for i, c in enumerate(cells) if "model.save(" in c)
    )


def test_minutes_count_only_core_exercises_and_the_optional_one_is_marked():
    from dlbook_tools.pages import Page

    lesson = Page(SOURCE).lesson
    assert (lesson["teaching"], lesson["exercises"]) == (40, 30)
    text = SOURCE.read_text()
    assert ":label: ex-transfer-other-model\n:class: optional\n" in text


def test_cross_references_in_the_text_have_their_own_words():
    bare = re.findall(r"\{ref\}`[^`<]+`", SOURCE.read_text())
    assert not bare, f"give these references their own words: {bare}"


# --- the weights helper with a fake file in the book's cache (no build needed) ----------------


@pytest.fixture
def fake_cache(tmp_path, monkeypatch) -> Path:
    """The book's cache holding a tiny file named like the DenseNet121 weights."""
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")  # never try the network from a test
    monkeypatch.delenv("DLBOOK_DATA_MIRROR", raising=False)
    monkeypatch.delenv("DLBOOK_STRICT", raising=False)
    folder = tmp_path / "cache" / "densenet121"
    folder.mkdir(parents=True)
    fake = folder / WEIGHTS_NAME
    fake.write_bytes(b"not really HDF5, only a stand-in for the weights file")
    return fake


def test_corrupt_cached_weights_are_refused_with_a_clear_message(fake_cache):
    content = fake_cache.read_bytes()
    with pytest.raises(CorruptWeightsError) as caught:
        densenet121_weights()
    message = str(caught.value)
    assert str(fake_cache) in message
    assert "does not match" in message and "md5" in message
    kept = list((fake_cache.parent / "rejected").iterdir())
    assert [p.read_bytes() for p in kept] == [content], "the bad file is kept aside, never deleted"
    assert str(kept[0]) in message and "download a fresh copy" in message


@pytest.fixture
def matching_cache(fake_cache, monkeypatch) -> Path:
    """The fake weights file, with the catalog's checksum set to match it."""
    md5 = hashlib.md5(fake_cache.read_bytes()).hexdigest()
    entry = pretrained.DENSENET121
    monkeypatch.setattr(
        pretrained,
        "DENSENET121",
        dataclasses.replace(entry, files=(dataclasses.replace(entry.files[0], md5=md5),)),
    )
    return fake_cache


@pytest.fixture
def no_weights(tmp_path, monkeypatch) -> None:
    """An empty Keras cache, no mirror, no network, stand-ins allowed."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")  # as in the book's build
    monkeypatch.delenv("DLBOOK_DATA_MIRROR", raising=False)
    monkeypatch.delenv("DLBOOK_STRICT", raising=False)


def test_cached_weights_that_match_their_checksum_are_the_ones_used(matching_cache, monkeypatch):
    # Strict mode forbids stand-ins: it must not matter when the real file is there.
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    assert densenet121_weights() == str(matching_cache)


def test_without_weights_the_page_gets_none_or_strict_mode_stops(no_weights, monkeypatch):
    assert densenet121_weights() is None
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    with pytest.raises(DataUnavailableError, match="DenseNet121"):
        densenet121_weights()


def test_without_weights_a_learner_gets_an_error_not_random_weights(no_weights, monkeypatch):
    monkeypatch.delenv("DLBOOK_ALLOW_STANDINS")
    with pytest.raises(DataUnavailableError, match="internet access"):
        pretrained.prepare_densenet121()


def test_without_weights_imagenet_becomes_random_weights_with_a_note(no_weights, monkeypatch):
    import keras

    calls, notes = [], []
    monkeypatch.setattr(keras.applications, "DenseNet121", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(pretrained.standins, "announce", lambda title, text: notes.append(title))
    assert pretrained.prepare_densenet121() is False
    assert pretrained.prepare_densenet121() is False  # a second run does not wrap it twice
    keras.applications.DenseNet121(include_top=False, weights="imagenet")
    assert calls == [{"include_top": False, "weights": None}]
    assert notes == ["Stand-in base: random weights"] * 2
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    with pytest.raises(DataUnavailableError, match="DenseNet121"):
        pretrained.prepare_densenet121()


def test_with_weights_in_the_cache_densenet121_loads_exactly_that_file(matching_cache, monkeypatch):
    import keras

    calls = []
    monkeypatch.setattr(keras.applications, "DenseNet121", lambda **kwargs: calls.append(kwargs))
    assert pretrained.prepare_densenet121() is True
    keras.applications.DenseNet121(include_top=False, weights="imagenet")
    keras.applications.DenseNet121(include_top=False, weights=None)  # other choices pass through
    assert calls == [
        {"include_top": False, "weights": str(matching_cache)},
        {"include_top": False, "weights": None},
    ]


# --- the built page ------------------------------------------------------------------------


@pytest.mark.slow
def test_exercises_are_the_expected_ones_each_with_a_solution(built_book):
    check_exercises(built_book.html(DOC), EXERCISES)


@pytest.mark.slow
def test_every_figure_has_alt_text_and_a_caption(built_book):
    html = built_book.html(DOC)
    check_figures(
        html, "fig-transfer-", {"fig-transfer-diagram", "fig-transfer-curves", "fig-transfer-predictions"}
    )


@pytest.mark.slow
def test_glued_parameter_counts_match_a_recount(built_book):
    import keras

    base = keras.applications.DenseNet121(
        include_top=False, pooling="max", weights=None, input_shape=(160, 160, 3)
    )
    n_features = base.output_shape[-1]
    # Head by formula: batch norm (2 trainable + 2 running statistics per feature),
    # Dense(HEAD_UNITS) and Dense(N_CLASSES) with their biases.
    head_trainable = (
        2 * n_features + n_features * HEAD_UNITS + HEAD_UNITS + HEAD_UNITS * N_CLASSES + N_CLASSES
    )
    head_total = head_trainable + 2 * n_features
    assert built_book.glued_value(DOC, "n_features") == n_features
    assert built_book.glued_value(DOC, "params_base") == base.count_params()
    assert built_book.glued_value(DOC, "params_trainable") == head_trainable
    assert built_book.glued_value(DOC, "params_head") == head_total
    assert built_book.glued_value(DOC, "params_total") == base.count_params() + head_total
    assert built_book.glued_value(DOC, "params_frozen") == base.count_params() + 2 * n_features
    # Fine-tuning: the last dense block (from conv5_block1_0_bn on) without its batch norm layers.
    names = [layer.name for layer in base.layers]
    last_block = base.layers[names.index("conv5_block1_0_bn") :]
    unfrozen = sum(
        layer.count_params() for layer in last_block if not isinstance(layer, keras.layers.BatchNormalization)
    )
    assert built_book.glued_value(DOC, "finetune_trainable") == unfrozen + head_trainable


@pytest.mark.slow
def test_baseline_is_episode_4s_final_network(built_book):
    """Same architecture (parameter count by formula) and the epochs of episode 4's final model."""

    def conv(k, c_in, c_out):
        return (k * k * c_in + 1) * c_out

    def dense(n_in, n_out):
        return (n_in + 1) * n_out

    # 64 -> 62 -> 31 -> 29 -> 14 -> 12 -> 6, then Flatten, Dropout, Dense(32), Dense(10)
    expected = conv(3, 3, 8) + conv(3, 8, 16) + conv(3, 16, 32) + dense(6 * 6 * 32, 32) + dense(32, 10)
    cell = next(c for c in built_book.notebook(DOC).cells if "comparison.round(3)" in c.source)
    table = next(o["data"]["text/plain"] for o in cell.outputs if "data" in o)
    params, epochs = re.search(r"episode 4's CNN, from scratch\s+(\d+)\s+(\d+)\s", table).groups()
    assert (int(params), int(epochs)) == (expected, 12)
    episode_4 = "book/episodes/4-advanced-layer-types"
    assert built_book.glued_value(episode_4, "final_params") == expected
    assert built_book.glued_value(episode_4, "final_epochs") == 12
    assert "12 epochs, batch size 32" in built_book.html(DOC)
    # trained exactly as in episode 4, the network reproduces episode 4's final accuracy
    scratch_last = 100 * built_book.glued_value(DOC, "scratch_last_accuracy")
    assert scratch_last == pytest.approx(built_book.glued_value(episode_4, "final_val_acc"), abs=1e-4)
    assert built_book.glued_value(DOC, "scratch_accuracy") * 100 >= scratch_last - 1e-4
    assert 1 <= built_book.glued_value(DOC, "scratch_best_epoch") <= 12
    assert 0 <= built_book.glued_value(DOC, "grid_right") <= 8


@pytest.mark.slow
def test_glued_timings_and_speedups_are_consistent(built_book):
    n_images = built_book.glued_value(DOC, "n_train") + built_book.glued_value(DOC, "n_val")
    assert built_book.glued_value(DOC, "n_train") == 878 and built_book.glued_value(DOC, "n_val") == 293
    naive = built_book.glued_value(DOC, "naive_epoch_seconds")
    assert naive == pytest.approx(built_book.glued_value(DOC, "ms_per_image") * n_images / 1000)
    per_epoch = built_book.glued_value(DOC, "head_epoch_seconds")
    assert per_epoch == pytest.approx(
        built_book.glued_value(DOC, "head_seconds") / built_book.glued_value(DOC, "epochs_run")
    )
    assert built_book.glued_value(DOC, "speedup_epoch") == pytest.approx(naive / per_epoch)
    fast = built_book.glued_value(DOC, "extract_seconds") + built_book.glued_value(DOC, "head_seconds")
    assert built_book.glued_value(DOC, "fast_total_seconds") == pytest.approx(fast)
    assert built_book.glued_value(DOC, "speedup_total") == pytest.approx(
        built_book.glued_value(DOC, "epochs_run") * naive / fast
    )
    # The lesson of the page: extracting features once beats running the base every epoch.
    assert built_book.glued_value(DOC, "speedup_total") > 1


@pytest.mark.slow
def test_standin_note_is_shown_exactly_when_the_base_has_random_weights(built_book):
    html = built_book.html(DOC)
    note = "Stand-in base: random weights" in html
    verdict_mentions_standin = built_book.glued_value(DOC, "base_weights") == "random stand-in"
    assert note == verdict_mentions_standin


@pytest.mark.slow
def test_learner_notebook_holds_no_build_machinery(built_book):
    import nbformat

    path = built_book.root / "_build" / "notebooks" / f"{DOC}.ipynb"
    text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert "keras.applications.DenseNet121(" in text
    for machinery in ("prepare_densenet121", "dlbook.pretrained", "capture_output", "glue("):
        assert machinery not in text, machinery
