"""Episode 4 (convolutional networks on Dollar Street 10): structure, numbers, and real data.

The structure tests read the MyST source and need no build. The tests marked ``slow`` read the
built page (the ``built_book`` fixture) and compare what it glued with numbers recomputed here
directly from the data or from the formulas, never from the page's own glue. The loader test
feeds ``data.load_dollar_street()`` files in the real data set's format through a temporary
mirror, so the page's data path is exercised on real-format data even though our machines only
ever see the stand-in.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import WORKFLOW_STEPS as STEPS

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "episodes" / "4-advanced-layer-types.md"
DOC = "book/episodes/4-advanced-layer-types"

EXERCISES = {
    "ex-cnn-features-per-image",
    "ex-cnn-dense-parameters",
    "ex-cnn-border-pixels",
    "ex-cnn-conv-parameters",
    "ex-cnn-flatten-largest",
    "ex-cnn-depth",
    "ex-cnn-when-to-use",
    "ex-cnn-vary-dropout",
    "ex-cnn-read-search",
}
CLASSES = (
    "day bed", "dishrag", "plate", "running shoe", "soap dispenser",
    "street sign", "table lamp", "tile roof", "toilet seat", "washing machine",
)


def conv_params(k: int, c_in: int, c_out: int) -> int:
    return (k * k * c_in + 1) * c_out


def dense_params(n_in: int, n_out: int) -> int:
    return (n_in + 1) * n_out


@pytest.fixture(scope="module")
def source() -> str:
    return PAGE.read_text()


@pytest.fixture(scope="module")
def notebook():
    import jupytext

    return jupytext.read(PAGE, fmt="md:myst")


# --- structure, from the source ------------------------------------------------------------


def test_front_matter_has_the_syllabus_times(source):
    import yaml

    front = yaml.safe_load(source.split("---", 2)[1])
    assert front["lesson"]["teaching"] == 70
    assert front["lesson"]["exercises"] == 70
    for key in ("questions", "objectives", "keypoints"):
        assert front["lesson"][key], key


def test_page_label_title_overview_and_keypoints(source):
    body = source.split("---", 2)[2]
    assert body.lstrip().startswith("(episode-cnn)=\n# ")
    assert "```{lesson-overview}" in body
    assert body.rstrip().endswith("```{lesson-keypoints}\n```")
    assert "(episode-cnn-further-reading)=\n## Further reading" in body


def test_every_syllabus_exercise_is_there_with_its_label(source):
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", source)
    assert len(labels) == len(set(labels))
    assert set(labels) == EXERCISES


def test_every_exercise_has_a_dropdown_solution(source):
    for label in EXERCISES:
        match = re.search(
            r"`{3,4}\{solution(?:-start)?\} " + re.escape(label) + r"\n:class: dropdown\n", source
        )
        assert match, f"{label} has no dropdown solution"


def test_solutions_with_code_use_the_gated_form(source):
    for block in re.findall(r"```\{solution\} [^\n]*\n(.*?)\n```\n", source, flags=re.S):
        assert "{code-cell}" not in block
    starts = re.findall(r"````\{solution-start\}", source)
    ends = re.findall(r"````\{solution-end\}", source)
    assert starts and len(starts) == len(ends)


def test_no_label_target_sits_above_an_exercise(source):
    assert not re.search(r"^\([^)]*\)=\n```\{exercise\}", source, flags=re.M)


def test_workflow_steps_are_labelled_headings_in_order(source):
    headings = re.findall(r"^\(episode-cnn-step-(\d+)\)=\n## (\d+)\. (.+)$", source, flags=re.M)
    assert [(int(a), int(b), title) for a, b, title in headings] == [
        (n, n, title) for n, title in enumerate(STEPS, start=1)
    ]


def test_every_section_has_a_label_right_above_it(source):
    lines = source.split("---", 2)[2].splitlines()
    in_fence = False  # every fence on the page opens and closes on its own level
    headings = 0
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"#{2,3} ", line):
            headings += 1
            assert re.fullmatch(r"\(episode-cnn-[a-z0-9-]+\)=", lines[i - 1]), line
    assert headings >= 20


def test_final_model_section_has_the_label_episode_5_links_to(source):
    assert "(episode-cnn-final-model)=\n### " in source
    final = source.split("(episode-cnn-final-model)=", 1)[1]
    assert ".save(" in final and ".keras" in final and "tempfile" in final


def test_every_figure_cell_has_alt_text_caption_and_name(notebook):
    figures = [c for c in notebook.cells if c.cell_type == "code" and "def " not in c.source
               and ("plt.show()" in c.source or c.source.startswith("plot_history("))]
    assert len(figures) >= 8
    names = []
    for cell in figures:
        meta = cell.metadata.get("mystnb", {})
        assert len(meta.get("image", {}).get("alt", "")) > 20, cell.source[:60]
        assert len(meta.get("figure", {}).get("caption", "")) > 20, cell.source[:60]
        names.append(meta["figure"]["name"])
        assert cell.source.count("plt.subplots(") <= 1
    assert all(name.startswith("fig-cnn-") for name in names)
    assert len(set(names)) == len(names)


def test_accuracy_plots_draw_the_chance_level(notebook):
    helper = next(c.source for c in notebook.cells if "def plot_history" in c.source)
    assert "axhline(chance" in helper
    assert any("chance = 1 / len(class_names)" in c.source for c in notebook.cells)


def test_learner_code_uses_keras_only_and_trains_quietly(notebook):
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "import tensorflow" not in code
    assert not re.search(r"\btf\.", code)
    assert "input_shape=" not in code
    assert code.count("keras.utils.set_random_seed(") == 1
    for call in re.findall(r"\.fit\((.*?)\)\n", code, flags=re.S):
        assert "verbose=0" in call
    assert "SparseCategoricalCrossentropy(from_logits=True)" in code


def test_tuner_is_quiet_overwrites_and_writes_to_a_temporary_folder(notebook):
    cell = next(c.source for c in notebook.cells if "keras_tuner.GridSearch(" in c.source)
    assert "overwrite=True" in cell
    assert "tempfile.TemporaryDirectory()" in cell
    assert re.search(r"\.search\(.*verbose=0\)", cell, flags=re.S)


def test_page_loads_data_through_the_loader_and_cites_both_sources(source):
    assert "data.load_dollar_street()" in source
    bib = (REPO / "book" / "references.bib").read_text()
    for key in ("gaviria2022dollarstreet", "vanderburg2024dollarstreet10"):
        assert "{cite:p}`" + key + "`" in source
        assert "{" + key + "," in bib
    for name in CLASSES:
        assert name in source


def test_discussion_of_when_to_use_a_cnn_refers_back_to_episodes_2_and_3(source):
    solution = source.split("```{solution} ex-cnn-when-to-use", 1)[1].split("\n```\n", 1)[0]
    assert "{ref}`episode-keras`" in solution
    assert "{ref}`episode-monitor`" in solution


def test_notebook_twin_is_up_to_date():
    from dlbook import notebooks

    assert notebooks.drift(PAGE, notebooks.repository_url()) is None


# --- the loader on real-format files ---------------------------------------------------------


@pytest.mark.parametrize("label_dtype", ["int64", "uint8"])
def test_loader_returns_real_format_files_from_a_mirror_instead_of_the_standin(
        tmp_path, monkeypatch, capsys, label_dtype):
    from dlbook import data

    rng = np.random.default_rng(0)
    folder = tmp_path / "mirror" / "dollar_street"
    folder.mkdir(parents=True)
    arrays = {
        "train_images": rng.integers(0, 256, (878, 64, 64, 3), dtype=np.uint8),
        "train_labels": (np.arange(878) % 10).astype(label_dtype),
        "test_images": rng.integers(0, 256, (293, 64, 64, 3), dtype=np.uint8),
        "test_labels": (np.arange(293) % 10).astype(label_dtype),
    }
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.delenv("DLBOOK_STRICT", raising=False)

    ds = data.load_dollar_street()

    assert not data.is_standin(ds)
    assert ds.source == "mirror"
    assert ds.class_names == CLASSES
    np.testing.assert_array_equal(ds.train[0], arrays["train_images"])
    np.testing.assert_array_equal(ds.train[1], arrays["train_labels"])
    np.testing.assert_array_equal(ds.val[0], arrays["test_images"])
    np.testing.assert_array_equal(ds.val[1], arrays["test_labels"])
    assert "stand-in" not in capsys.readouterr().err.lower()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside keras_tuner and keras
def test_whole_page_runs_unchanged_on_real_format_files(tmp_path, monkeypatch, notebook):
    """Every code cell of the page, on files in the real format, with one epoch per training.

    The images are noise, so nothing is learned; what this proves is that no cell depends on a
    property of the stand-in (dtypes, label values, class names, shapes) and that every
    computed sentence has a branch for the numbers it gets.
    """
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    folder = tmp_path / "mirror" / "dollar_street"
    folder.mkdir(parents=True)
    np.save(folder / "train_images.npy", rng.integers(0, 256, (878, 64, 64, 3), dtype=np.uint8))
    np.save(folder / "train_labels.npy", rng.permutation(np.arange(878) % 10).astype(np.uint8))
    np.save(folder / "test_images.npy", rng.integers(0, 256, (293, 64, 64, 3), dtype=np.uint8))
    np.save(folder / "test_labels.npy", rng.permutation(np.arange(293) % 10).astype(np.uint8))
    monkeypatch.setenv("DLBOOK_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: plt.close("all"))
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **kw: fit(self, *a, **{**kw, "epochs": 1}))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the saved model lands in tmp_path

    from IPython.core.interactiveshell import InteractiveShell

    had_shell = InteractiveShell.initialized()
    namespace: dict = {}
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    try:
        for number, source in enumerate(cells):
            exec(compile(source, f"<page cell {number}>", "exec"), namespace)
    finally:
        # Some cell's library creates a global IPython shell; leave none behind for later tests.
        if not had_shell:
            InteractiveShell.clear_instance()
    assert namespace["dollar_street"].source == "mirror"
    assert len(namespace["history_pool"].history["loss"]) == 1
    assert len(namespace["results"]) == 4
    assert namespace["model_path"].is_file()


# --- the built page ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dollar_street():
    from dlbook import data

    return data.load_dollar_street()


@pytest.mark.slow
def test_glued_data_facts_match_the_data(built_book, dollar_street):
    glued = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    train_images, _ = dollar_street.train
    val_images, val_labels = dollar_street.val
    assert glued("n_train") == len(train_images)
    assert glued("n_val") == len(val_images)
    assert glued("pixel_min") == int(train_images.min())
    assert glued("pixel_max") == int(train_images.max())
    assert glued("n_classes") == len(dollar_street.class_names) == 10
    share = 100 * np.bincount(val_labels).max() / len(val_labels)
    assert glued("majority_val_share") == pytest.approx(share)


@pytest.mark.slow
def test_glued_parameter_counts_match_the_formulas(built_book, dollar_street):
    glued = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    features = 64 * 64 * 3
    assert dollar_street.train[0][0].size == features
    assert glued("features_per_image") == features
    assert glued("dense100_params") == features * 100 + 100 == 1_228_900
    assert glued("conv1_params") == conv_params(3, 3, 16) == 448
    assert glued("conv2_params") == conv_params(3, 16, 32)
    assert glued("fm_size") == 64 - 3 + 1
    # 64 -> 62 -> 60, no pooling
    plain = conv_params(3, 3, 8) + conv_params(3, 8, 16) + dense_params(60 * 60 * 16, 32) \
        + dense_params(32, 10)
    assert glued("plain_params") == plain
    assert glued("plain_flat") == 60 * 60 * 16
    assert glued("plain_dense_params") == dense_params(60 * 60 * 16, 32)
    # 64 -> 62 -> 31 -> 29 -> 14
    pool = conv_params(3, 3, 8) + conv_params(3, 8, 16) + dense_params(14 * 14 * 16, 32) \
        + dense_params(32, 10)
    assert glued("pool_params") == pool
    assert glued("pool_flat") == 14 * 14 * 16
    assert glued("pool_factor") == pytest.approx(plain / pool)
    assert glued("dense_params") == dense_params(features, 100) + dense_params(100, 10)
    # ... -> 12 -> 6
    deep = conv_params(3, 3, 8) + conv_params(3, 8, 16) + conv_params(3, 16, 32) \
        + dense_params(6 * 6 * 32, 32) + dense_params(32, 10)
    assert glued("deep_params") == deep
    assert glued("dropout_params") == deep == glued("final_params")
    # ... -> 4 -> 2
    deep4 = deep - dense_params(6 * 6 * 32, 32) + conv_params(3, 32, 64) \
        + dense_params(2 * 2 * 64, 32)
    assert glued("deep4_params") == deep4
    assert glued("deep4_side") == 2


@pytest.mark.slow
def test_glued_results_are_consistent_and_in_range(built_book):
    glued = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    for name in ("pool_val_acc", "pool_train_acc", "dense_val_acc", "deep_val_acc",
                 "dropout_val_acc", "tuner_best_acc", "tuner_worst_acc"):
        assert 0 <= glued(name) <= 100, name
    assert glued("pool_accuracy_ratio") == pytest.approx(glued("pool_val_acc") / 10, rel=1e-5)
    assert glued("final_val_acc") == glued("dropout_val_acc")
    assert glued("pool_vs_chance") == ("above" if glued("pool_val_acc") > 10 else "not above")
    assert glued("best_rate") in (0.0, 0.25, 0.5, 0.75)
    assert glued("n_trials") == 4  # the 2 x 2 grid
    assert glued("tuner_best_acc") >= glued("tuner_worst_acc")
    assert 0 <= glued("grid_right") <= 10


@pytest.mark.slow
def test_built_page_shows_no_stderr_and_the_standin_note_only_on_standin_data(built_book,
                                                                             dollar_street):
    # Read from the HTML: after a cache hit, myst-nb writes the executed notebook without outputs.
    from dlbook import data

    html = built_book.html(DOC)
    assert "stderr" not in html
    assert "Traceback" not in html
    assert ("dlbook-standin" in html) == data.is_standin(dollar_street)


@pytest.mark.slow
def test_built_figures_have_alt_text_and_captions(built_book):
    html = built_book.html(DOC)
    figures = re.findall(r'<figure[^>]*id="fig-cnn-[^"]*".*?</figure>', html, flags=re.S)
    assert len(figures) >= 8
    for figure in figures:
        assert re.search(r'<img[^>]*alt="[^"]{20,}"', figure)
        assert "<figcaption" in figure


@pytest.mark.slow
def test_built_page_has_the_anchors_other_pages_link_to(built_book):
    html = built_book.html(DOC)
    for anchor in ["episode-cnn", "episode-cnn-final-model", "episode-cnn-further-reading",
                   *[f"episode-cnn-step-{n}" for n in range(1, 11)], *sorted(EXERCISES)]:
        assert f'id="{anchor}"' in html, anchor
