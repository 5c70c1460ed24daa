"""Episode 4 (convolutional networks on Dollar Street 10): structure, numbers, and real data.

The structure tests read the MyST source and need no build. The tests marked ``slow`` read the
built page (the ``built_book`` fixture) and compare what it glued with numbers recomputed here
directly from the data or from the formulas, never from the page's own glue. The loader test
feeds ``data.load_dollar_street()`` files in the real data set's format through a temporary
mirror, so the page's data path is exercised on real-format data even though our machines only
ever see the stand-in.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dlbook_tools.pages import Page
from helpers import check_exercise_sources, check_exercises, check_figures

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
FIGURES = {
    f"fig-cnn-{name}"
    for name in (
        "samples",
        "feature-map",
        "pool-history",
        "predictions",
        "dense-history",
        "deep-history",
        "dropout-history",
        "dropout-sweep",
    )
}
CLASSES = (
    "day bed",
    "dishrag",
    "plate",
    "running shoe",
    "soap dispenser",
    "street sign",
    "table lamp",
    "tile roof",
    "toilet seat",
    "washing machine",
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
    lesson = Page(PAGE).lesson
    assert lesson["teaching"] == 70
    assert lesson["exercises"] == 60  # the core exercises; the optional fourth block is extra
    for key in ("questions", "objectives", "keypoints"):
        assert lesson[key], key


def code_cells_with_place(notebook, source: str) -> list[tuple[str, list[str], bool]]:
    """Every code cell as (source, tags, inside a solution), in page order."""
    in_solution, places = False, []
    for line in source.splitlines():
        if re.match(r"^`{3,}\{solution-start\}", line):
            in_solution = True
        elif re.match(r"^`{3,}\{solution-end\}", line):
            in_solution = False
        elif line.startswith("```{code-cell}"):
            places.append(in_solution)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert len(cells) == len(places), "every code cell is a ```{code-cell} block"
    return [(c.source, c.metadata.get("tags", []), inside) for c, inside in zip(cells, places, strict=True)]


def _names(source: str, kind) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, kind):
            found.add(node.id)
        elif kind is ast.Store and isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif kind is ast.Store and isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
    return found


def test_code_outside_solutions_needs_no_name_that_only_a_solution_defines(notebook, source):
    """Learners skip exercises: neither the visible nor the hidden code may rely on a solution."""
    import ast

    defined_outside: set[str] = set()
    solution_only: set[str] = set()
    for code, _, inside in code_cells_with_place(notebook, source):
        bound = _names(code, ast.Store)
        if inside:
            solution_only |= bound - defined_outside
            continue
        needed = (_names(code, ast.Load) - bound) & solution_only
        assert not needed, f"code outside the solutions uses {sorted(needed)}:\n{code}"
        defined_outside |= bound
        solution_only -= bound


def test_every_quoted_training_run_is_seeded_where_its_network_is_made_or_trained(notebook, source):
    """A seed between building a network and training it, with no exercise in between, so the
    numbers the prose quotes do not depend on what a learner ran before."""
    cells = code_cells_with_place(notebook, source)
    fits = [
        i
        for i, (code, tags, inside) in enumerate(cells)
        if not inside and re.search(r"\.(fit|search)\(", code)
    ]
    assert len(fits) >= 6
    for i in fits:
        code = cells[i][0]
        if "keras.utils.set_random_seed(" in code:
            continue
        model = re.search(r"(\w+)\.fit\(", code).group(1)
        made = max(j for j in range(i) if re.search(rf"^{model} = ", cells[j][0], re.M))
        between = cells[made : i + 1]
        assert any("keras.utils.set_random_seed(" in c for c, _, _ in between), f"{model} is not seeded"
        assert not any(inside for _, _, inside in between), (
            f"a solution runs between building and training {model}"
        )
        assert "{exercise}" not in source.split(cells[made][0])[1].split(code)[0]


def test_cross_references_in_the_text_have_their_own_words(source):
    """A bare {ref} pastes the target's whole title ("5. Choose a loss function and optimizer")."""
    bare = re.findall(r"\{ref\}`[^`<]+`", source)
    assert not bare, f"give these references their own words: {bare}"


def test_admonitions_with_a_title_use_the_admonition_directive(source):
    """{tip}, {note} and friends take no title: a title there runs into the first sentence."""
    titled = re.findall(
        r"^`{3,}\{(?:tip|note|hint|important|warning|caution|attention)\} *\S.*$", source, re.M
    )
    assert not titled, titled


def test_page_says_why_it_keeps_no_test_set_and_what_a_project_would_do(source):
    assert "```{admonition} Why this episode keeps no test set apart" in source
    assert "evaluate only the final model on the test files, once" in source


def test_dropout_is_described_as_a_fresh_mask_per_image_and_step(source):
    assert "for every batch" not in source
    assert "drawn afresh for every image and in every training step" in source


def test_page_label_title_overview_and_keypoints(source):
    body = source.split("---", 2)[2]
    assert body.lstrip().startswith("(episode-cnn)=\n# ")
    assert "```{lesson-overview}" in body
    assert body.rstrip().endswith("```{lesson-keypoints}\n```")
    assert "(episode-cnn-further-reading)=\n## Further reading" in body


def test_every_syllabus_exercise_is_there_with_a_dropdown_solution(source):
    check_exercise_sources(source, EXERCISES)


def test_build_cnn_is_taught_here_and_kept_identical_in_the_helper_package(notebook):
    """Episode 4 writes build_cnn out; episode 5 imports the package's copy to use as baseline."""
    import inspect

    from dlbook import models

    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    taught = [c for c in cells if c.lstrip().startswith("def build_cnn(")]
    assert len(taught) == 1, "episode 4 defines build_cnn in one visible cell"
    assert taught[0].strip() == inspect.getsource(models.build_cnn).strip()
    episode_5 = (PAGE.parent / "5-transfer-learning.md").read_text()
    assert "from dlbook.models import build_cnn" in episode_5 and "def build_cnn" not in episode_5
    assert "build_cnn(dropout_rate=0.5)" in episode_5  # the final model of this episode


def test_dropout_sweep_uses_early_stopping_and_picks_on_the_best_validation_loss(notebook):
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    trainer = next(c for c in cells if c.lstrip().startswith("def train_with_early_stopping("))
    assert 'EarlyStopping(monitor="val_loss"' in trainer
    sweep = next(c for c in cells if "train_with_early_stopping(rate)" in c)
    assert 'val_loss = history.history["val_loss"]' in sweep and "min(val_loss)" in sweep
    assert 'best_rate = float(sweep.loc[sweep["best validation loss"].idxmin()' in sweep


@pytest.mark.slow  # runs every cell of the page (about 30 s)
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
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # any temporary folder lands in tmp_path
    monkeypatch.chdir(tmp_path)  # the tuner's folder and the saved model land next to the "notebook"

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
    assert (tmp_path / "tuner_runs" / "dollar_street").is_dir()  # still there when results are read


# --- the built page ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dollar_street():
    """The data set as the build's kernels load it (stand-ins allowed there, see kernels.py)."""
    from dlbook import data

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLBOOK_ALLOW_STANDINS", "1")
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
    plain = (
        conv_params(3, 3, 8) + conv_params(3, 8, 16) + dense_params(60 * 60 * 16, 32) + dense_params(32, 10)
    )
    assert glued("plain_params") == plain
    assert glued("plain_flat") == 60 * 60 * 16
    assert glued("plain_dense_params") == dense_params(60 * 60 * 16, 32)
    # 64 -> 62 -> 31 -> 29 -> 14
    pool = (
        conv_params(3, 3, 8) + conv_params(3, 8, 16) + dense_params(14 * 14 * 16, 32) + dense_params(32, 10)
    )
    assert glued("pool_params") == pool
    assert glued("pool_flat") == 14 * 14 * 16
    assert glued("pool_factor") == pytest.approx(plain / pool)
    assert glued("dense_params") == dense_params(features, 100) + dense_params(100, 10)
    # ... -> 12 -> 6
    deep = (
        conv_params(3, 3, 8)
        + conv_params(3, 8, 16)
        + conv_params(3, 16, 32)
        + dense_params(6 * 6 * 32, 32)
        + dense_params(32, 10)
    )
    assert glued("deep_params") == deep
    assert glued("dropout_params") == deep == glued("final_params")
    # ... -> 4 -> 2
    deep4 = deep - dense_params(6 * 6 * 32, 32) + conv_params(3, 32, 64) + dense_params(2 * 2 * 64, 32)
    assert glued("deep4_params") == deep4
    assert glued("deep4_side") == 2


@pytest.mark.slow
def test_glued_results_are_consistent_and_in_range(built_book):
    glued = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    for name in (
        "pool_val_acc",
        "pool_train_acc",
        "dense_val_acc",
        "deep_val_acc",
        "dropout_val_acc",
        "tuner_best_acc",
        "tuner_worst_acc",
    ):
        assert 0 <= glued(name) <= 100, name
    assert glued("pool_accuracy_ratio") == pytest.approx(glued("pool_val_acc") / 10, rel=1e-5)
    assert glued("final_val_acc") == glued("dropout_val_acc")
    assert glued("pool_vs_chance") == ("above" if glued("pool_val_acc") > 10 else "not above")
    assert glued("best_rate") in (0.0, 0.25, 0.5, 0.75)
    assert 1 <= glued("best_rate_epoch") <= 20
    assert 0 <= glued("n_capped") <= 4
    assert glued("n_trials") == 4  # the 2 x 2 grid
    assert glued("tuner_best_acc") >= glued("tuner_worst_acc")
    assert 0 <= glued("grid_right") <= 10
    stuck = abs(glued("dense_final_loss") - math.log(10)) < 0.01
    assert glued("dense_state") == ("is stuck there" if stuck else "is learning")
    assert glued("deep_dropout_climbing") in ("both still climbing", "not both climbing")


def test_optional_exercise_and_one_workflow_link(source):
    """The fourth block is optional; the workflow is linked once, in the introduction."""
    block = source.split(":label: ex-cnn-depth", 1)[1][:40]
    assert ":class: optional" in block
    assert source.count("<workflow-step-") == 2  # first and last step, in one sentence
    intro = source.split("(episode-cnn-step-1)=", 1)[0]
    assert "<workflow-step-1>" in intro and "<workflow-step-10>" in intro
    assert "of the workflow <workflow" not in source


def test_the_tuner_keeps_its_folder_next_to_the_notebook(source):
    assert 'directory="tuner_runs"' in source and "overwrite=True" in source
    assert "TemporaryDirectory" not in source


@pytest.mark.slow
def test_sweep_table_shown_to_the_reader_agrees_with_the_glued_verdict(built_book):
    """The best and worst rate the prose names are the ones in the table the solution prints."""
    import pandas as pd

    cell = next(
        c
        for c in built_book.notebook(DOC).cells
        if c.cell_type == "code" and "train_with_early_stopping(rate)" in c.source
    )
    text = next(o["data"]["text/plain"] for o in cell.outputs if "data" in o)
    rows = [line.split() for line in text.splitlines()[1:]]
    table = pd.DataFrame(
        {
            "rate": [float(r[1]) for r in rows],
            "loss": [float(r[2]) for r in rows],
            "best epoch": [int(r[3]) for r in rows],
            "epochs run": [int(r[4]) for r in rows],
        }
    )
    assert list(table["rate"]) == [0.0, 0.25, 0.5, 0.75]
    glued = lambda name: built_book.glued_value(DOC, name)  # noqa: E731
    assert table.loc[table["loss"].idxmin(), "rate"] == glued("best_rate")
    assert table.loc[table["loss"].idxmax(), "rate"] == glued("worst_rate")
    assert table["loss"].min() == pytest.approx(glued("best_rate_loss"), abs=1e-4)
    assert table["epochs run"].between(1, 20).all()  # max_epochs=20
    # patience 5: a run that stopped early stopped 5 epochs after its best one
    early = table["epochs run"] < 20
    assert (table.loc[early, "epochs run"] == table.loc[early, "best epoch"] + 5).all()
    assert (table["best epoch"] <= table["epochs run"]).all()
    assert table.loc[table["loss"].idxmin(), "best epoch"] == glued("best_rate_epoch")
    assert glued("n_capped") == int((table["epochs run"] == 20).sum())


@pytest.mark.slow
def test_built_page_shows_no_stderr_and_the_standin_note_only_on_standin_data(built_book, dollar_street):
    # Read from the HTML: after a cache hit, myst-nb writes the executed notebook without outputs.
    from dlbook import data

    html = built_book.html(DOC)
    assert "stderr" not in html
    assert "Traceback" not in html
    assert ("dlbook-standin" in html) == data.is_standin(dollar_street)


@pytest.mark.slow
def test_built_exercises_and_figures_have_solutions_alt_text_and_captions(built_book):
    html = built_book.html(DOC)
    check_exercises(html, EXERCISES)
    check_figures(html, "fig-cnn-", FIGURES)


@pytest.mark.slow
def test_built_page_has_the_anchors_other_pages_link_to(built_book):
    html = built_book.html(DOC)
    for anchor in [
        "episode-cnn",
        "episode-cnn-final-model",
        "episode-cnn-further-reading",
        *[f"episode-cnn-step-{n}" for n in range(1, 11)],
        *sorted(EXERCISES),
    ]:
        assert f'id="{anchor}"' in html, anchor


@pytest.mark.slow
def test_every_shape_and_count_keras_reports_matches_its_formula(built_book):
    """The page prints pairs of lines, "<what>, Keras: ..." and "<what>, formula: ..."."""
    text = "".join(
        output.get("text", "")
        for cell in built_book.notebook(DOC).cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    lines = re.findall(r"^(.+), (Keras|formula): +(.+)$", text, re.M)
    assert len(lines) >= 10 and len(lines) % 2 == 0
    for (what, source, value), (what_again, other, expected) in zip(lines[::2], lines[1::2], strict=True):
        assert (source, other, what_again) == ("Keras", "formula", what), (what, what_again)
        assert value.split() == expected.split(), what
    by_hand = re.search(r"^side of the feature map, by hand: +(\d+)$", text, re.M).group(1)
    assert by_hand == re.search(r"^side of the feature map, by formula: +(\d+)$", text, re.M).group(1)
    with_dropout = re.search(r"^parameters with dropout: (\d+) without: (\d+)$", text, re.M)
    assert with_dropout.group(1) == with_dropout.group(2)
