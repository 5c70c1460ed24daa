"""Episode 3 (monitor the training process): structure, figures, and glued numbers.

The structural tests read the MyST source and run without a build. The ``slow`` tests use
the built page: they recompute what is cheap to recompute (station count, split sizes,
baseline RMSEs, parameter counts) straight from the data and from formulas, never from the
page's own glue, and check that every generated comparison sentence agrees with the numbers.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from dlbook_tools.pages import Page
from helpers import STEP_TITLES, check_exercise_sources, check_exercises, check_figures

REPO = Path(__file__).resolve().parents[1]
DOC = "book/episodes/3-monitor-the-model"
SOURCE = REPO / f"{DOC}.md"

EXERCISES = {
    "ex-monitor-input-output",
    "ex-monitor-gradient-descent",
    "ex-monitor-train-vs-test",
    "ex-monitor-baseline",
    "ex-monitor-read-curves",
    "ex-monitor-shrink",
    "ex-monitor-more-data",
    "ex-monitor-improve",
}
FIGURES = {
    f"fig-monitor-{name}"
    for name in (
        "stations",
        "gradient-descent",
        "history-train",
        "scatter",
        "history-validation",
        "history-small",
        "history-early-stopping",
        "history-normalized",
        "history-batchnorm",
        "history-dropout",
        "tensorboard",
        "history-more-data",
    )
}
GATED = {"ex-monitor-baseline", "ex-monitor-more-data"}  # solutions that run code
CITATIONS = {"huber2022weather", "kleintank2002ecad", "srivastava2014dropout", "ioffe2015batchnorm"}

# The measurement names of the data set (its metadata.txt); a column is STATION_measurement.
MEASUREMENTS = (
    "cloud_cover",
    "wind_speed",
    "wind_gust",
    "humidity",
    "pressure",
    "global_radiation",
    "precipitation",
    "sunshine",
    "temp_mean",
    "temp_min",
    "temp_max",
)
N_ROWS, N_ROWS_LONG = 3 * 365, 9 * 365


def dense_params(sizes: list[int]) -> int:
    """Parameters of a stack of dense layers with biases: sizes = [inputs, hidden..., outputs]."""
    return sum((n_in + 1) * n_out for n_in, n_out in pairwise(sizes))


# ---------------------------------------------------------------- source (no build needed)


@pytest.fixture(scope="module")
def source() -> str:
    return SOURCE.read_text()


@pytest.fixture(scope="module")
def notebook():
    return jupytext.read(SOURCE)


def test_front_matter_has_the_syllabus_times_and_lesson_lists(source):
    lesson = Page(SOURCE).lesson
    assert (lesson["teaching"], lesson["exercises"]) == (120, 80)
    for key in ("questions", "objectives", "keypoints"):
        assert len(lesson[key]) >= 3, key
    assert "(episode-monitor)=\n# " in source
    assert "```{lesson-overview}" in source and "```{lesson-keypoints}" in source


def test_the_ten_workflow_steps_are_labelled_level_2_headings_in_order(source):
    found = re.findall(r"^\(episode-monitor-step-(\d+)\)=\n## (\d+)\. (.+)$", source, re.M)
    assert [(int(a), int(b), title) for a, b, title in found] == [
        (n, n, title) for n, title in STEP_TITLES.items()
    ]


def test_every_section_heading_has_a_label_right_above(source):
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"#{2,6} ", line):  # no code cell of the page has such a line
            assert re.fullmatch(r"\(episode-monitor-[a-z0-9-]+\)=", lines[i - 1]), line
    assert "(episode-monitor-batchnorm)=" in source
    assert "(episode-monitor-further-reading)=\n## Further reading" in source


def test_exercises_have_the_expected_labels_and_one_solution_each(source):
    check_exercise_sources(source, EXERCISES)
    for body in re.findall(r"^```\{solution\} \S+\n(.*?)^```$", source, re.M | re.S):
        assert "{code-cell}" not in body


def test_every_figure_cell_has_alt_text_a_caption_and_a_unique_name(notebook):
    names = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        draws = ("plt.show()" in src and "def plot_history" not in src) or "\nplot_history(" in ("\n" + src)
        if draws:
            mystnb = cell.metadata.get("mystnb", {})
            assert len(mystnb.get("image", {}).get("alt", "")) > 30, src[:80]
            assert len(mystnb.get("figure", {}).get("caption", "")) > 30, src[:80]
            names.append(mystnb["figure"]["name"])
            assert src.count("plt.show()") + src.count("\nplot_history(") <= 1
    assert len(names) >= 10
    assert len(set(names)) == len(names)
    assert all(name.startswith("fig-monitor-") for name in names)


def test_code_uses_keras_only_and_trains_quietly(notebook):
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "import tensorflow" not in code and not re.search(r"\btf\.", code)
    assert "input_shape=" not in code
    assert code.count("keras.utils.set_random_seed(") == 1
    for call in re.findall(r"\.fit\((.*?)\)\n", code, re.S):
        assert "verbose=0" in call, call
    assert "keras.metrics.RootMeanSquaredError()" in code
    assert "restore_best_weights=True" in code
    assert "keras.callbacks.TensorBoard(" in code and "tempfile" in code
    assert "EventAccumulator" in code
    assert ".save(" in code and ".keras" in code


def test_the_data_and_methods_are_cited(source):
    cited = set(re.findall(r"\{cite:p\}`([^`]+)`", source))
    assert cited >= CITATIONS
    bib = (REPO / "book" / "references.bib").read_text()
    for key in cited:
        assert f"{{{key}," in bib, key


# ---------------------------------------------------------------- built page


@pytest.fixture(scope="module")
def glued(built_book) -> dict:
    path = built_book.root / "_build" / "jupyter_execute" / f"{DOC}.glue.json"
    if path.is_file():
        raw = {name: out["data"]["text/plain"] for name, out in json.loads(path.read_text()).items()}
    else:
        raw = built_book.glued(DOC)
    values = {name: ast.literal_eval(text) for name, text in raw.items()}
    assert values, "the page glued nothing"
    return values


@pytest.fixture(scope="module")
def executed(built_book):
    return built_book.notebook(DOC)


@pytest.fixture(scope="module")
def weather(executed) -> pd.DataFrame:
    """The weather table the page ran on: the stand-in if the page showed its note, else the
    real CSV, read directly (not through the loader the page used)."""
    from dlbook import standins
    from dlbook.catalog import CATALOG
    from dlbook.fetch import Settings, locate

    html = "".join(
        out.get("data", {}).get("text/html", "") for cell in executed.cells for out in cell.get("outputs", [])
    )
    if "dlbook-standin" in html:
        return standins.weather()
    located = locate(CATALOG["weather"], replace(Settings.from_env(), offline=True))
    if located is None:
        pytest.skip(
            "the page ran on the real weather data, which these tests cannot find (set DLBOOK_DATA_MIRROR)"
        )
    return pd.read_csv(located.paths["weather_prediction_dataset.csv"])


def _split_positions(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    train, holdout = train_test_split(np.arange(n), test_size=0.3, random_state=0)
    val, test = train_test_split(holdout, test_size=0.5, random_state=0)
    return train, val, test


def _persistence_rmse(weather: pd.DataFrame, n: int, positions: np.ndarray) -> float:
    sunshine = weather["BASEL_sunshine"].to_numpy()
    today, tomorrow = sunshine[positions], sunshine[positions + 1]
    return float(np.sqrt(np.mean((today - tomorrow) ** 2)))


@pytest.mark.slow
def test_html_has_every_step_anchor_exercise_and_figure(built_book):
    html = built_book.html(DOC)
    for n in STEP_TITLES:
        assert f'id="episode-monitor-step-{n}"' in html
    assert 'id="episode-monitor-batchnorm"' in html
    check_exercises(html, EXERCISES)
    check_figures(html, "fig-monitor-", FIGURES)
    assert "tensorboard --logdir" in html


@pytest.mark.slow
def test_no_cell_wrote_to_stderr_or_failed(executed):
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", cell.source[:80]
            assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"), out.get(
                "text", ""
            )[:200]


@pytest.mark.slow
def test_station_count_is_derived_from_the_column_names(glued, weather):
    pattern = re.compile(rf"(.+)_({'|'.join(MEASUREMENTS)})")
    stations = {pattern.fullmatch(c).group(1) for c in weather.columns if c not in ("DATE", "MONTH")}
    assert len(stations) == 18
    assert glued["n_stations"] == len(stations)
    assert (glued["n_days"], glued["n_columns"]) == weather.shape
    assert glued["n_features"] == weather.shape[1] - 2


@pytest.mark.slow
def test_split_sizes_follow_from_the_split_fractions(glued):
    holdout = math.ceil(0.3 * N_ROWS)  # scikit-learn rounds the test share up
    test = math.ceil(0.5 * holdout)
    assert glued["n_rows"] == N_ROWS
    assert (glued["n_train"], glued["n_val"], glued["n_test"]) == (N_ROWS - holdout, holdout - test, test)
    assert glued["updates_per_epoch"] == math.ceil(glued["n_train"] / 64)


@pytest.mark.slow
def test_baseline_rmse_matches_a_direct_recomputation(glued, weather):
    _, val, test = _split_positions(N_ROWS)
    assert glued["baseline_test_rmse"] == pytest.approx(_persistence_rmse(weather, N_ROWS, test))
    assert glued["baseline_val_rmse"] == pytest.approx(_persistence_rmse(weather, N_ROWS, val))
    _, _, test_long = _split_positions(N_ROWS_LONG)
    assert glued["long_baseline_rmse"] == pytest.approx(_persistence_rmse(weather, N_ROWS_LONG, test_long))


@pytest.mark.slow
def test_parameter_counts_match_the_formula(glued, weather):
    n_features = weather.shape[1] - 2
    n_basel = sum(c.startswith("BASEL_") for c in weather.columns)
    assert glued["n_basel_columns"] == n_basel
    big = dense_params([n_features, 100, 50, 1])
    assert glued["params_big"] == big
    assert glued["params_big_layer1"] == (n_features + 1) * 100
    assert glued["params_small"] == dense_params([n_features, 10, 5, 1])
    assert (
        glued["params_small_layer1"] + glued["params_small_layer2"] + glued["params_small_output"]
    ) == glued["params_small"]
    assert glued["params_bn_layer"] == 4 * n_features
    assert glued["params_bn"] == big + 4 * n_features
    assert glued["params_bn_trainable"] == big + 2 * n_features
    assert glued["params_dropout"] == big  # dropout adds no parameters
    # a Normalization layer keeps a mean and a variance per input, and a count
    assert glued["params_norm_layer"] == 2 * n_features + 1
    assert glued["params_norm"] == big + 2 * n_features + 1
    assert glued["params_combined"] == big + 4 * n_features
    assert glued["params_long"] == dense_params([n_basel, 100, 50, 1])


@pytest.mark.slow
def test_glued_verdicts_agree_with_the_numbers(glued):
    net, base = glued["first_test_rmse"], glued["baseline_test_rmse"]

    def relation(a, b):
        return "the same as" if round(a, 2) == round(b, 2) else ("lower than" if a < b else "higher than")

    assert glued["first_vs_baseline"] == relation(net, base)
    assert glued["best_vs_baseline"] == relation(glued["best_test"], base)

    assert glued["first_test_vs_train"] == relation(net, glued["first_train_rmse"])
    assert glued["small_val_vs_big"] == relation(glued["small_last_val"], glued["big_last_val"])
    assert glued["bn_vs_es"] == relation(glued["bn_val"], glued["es_val"])
    assert glued["norm_vs_es"] == relation(glued["norm_val"], glued["es_val"])
    assert glued["dropout_vs_es"] == relation(glued["dropout_val"], glued["es_val"])
    assert glued["long_vs_baseline"] == relation(glued["long_test_rmse"], glued["long_baseline_rmse"])
    overfits = glued["big_last_val"] > 1.05 * glued["big_best_val"]
    assert (glued["big_after_best"] == "rises again") == overfits
    assert glued["big_gap"] == pytest.approx(glued["big_last_val"] - glued["big_last_train"])
    assert glued["long_gap"] == pytest.approx(glued["long_last_val"] - glued["long_last_train"])
    assert glued["first_test_ratio"] == pytest.approx(net / glued["first_train_rmse"])


@pytest.mark.slow
def test_early_stopping_keeps_the_weights_of_the_best_epoch(glued):
    for run in ("es", "norm", "bn", "dropout"):
        assert glued[f"{run}_val"] == pytest.approx(glued[f"{run}_best_val"], rel=1e-3), run
        assert glued[f"{run}_epochs"] <= glued[f"{run}_best_epoch"] + 10  # patience 10


@pytest.mark.slow
def test_tensorboard_logs_hold_every_epoch_of_the_run(glued):
    assert glued["tb_epochs_logged"] == glued["combined_epochs"]


@pytest.mark.slow
def test_results_table_lists_every_model_and_the_baseline(built_book, glued):
    html = built_book.html(DOC)
    tables = re.findall(r"<table[^>]*dataframe.*?</table>", html, re.S)
    table = next(t for t in tables if "baseline: tomorrow = today" in t)
    rows = re.findall(r"<tbody>(.*?)</tbody>", table, re.S)[0].count("<tr")
    assert rows == glued["n_models"] + 1 == 9
    assert glued["n_rows_long"] == N_ROWS_LONG
    assert glued["n_long_train"] == N_ROWS_LONG - math.ceil(0.3 * N_ROWS_LONG)


def test_the_map_has_coordinates_for_exactly_the_stations_of_the_data(source):
    from dlbook.standins import weather_columns

    stations = {
        c[: c.index("_" + m)] for c in weather_columns()[2:] for m in MEASUREMENTS if c.endswith("_" + m)
    }
    block = source.split("station_coordinates = {", 1)[1].split("}", 1)[0]
    assert set(re.findall(r'"([A-Z_]+)": \(', block)) == stations


@pytest.mark.slow
def test_the_spread_of_the_inputs_and_its_removal_match_the_data(glued, weather):
    """The page shows how far apart the columns' spreads lie, then scales them to 1."""
    from sklearn.model_selection import train_test_split

    X = weather.drop(columns=["DATE", "MONTH"]).iloc[:N_ROWS]
    X_train, _ = train_test_split(X, test_size=0.3, random_state=0)
    spread = X_train.std()
    assert glued["std_ratio"] == pytest.approx(spread.max() / spread.min(), rel=1e-6)
    assert glued["std_ratio"] > 1000  # the claim that motivates normalisation
    assert glued["scaled_train_min"] == pytest.approx(1, abs=0.01)
    assert glued["scaled_train_max"] == pytest.approx(1, abs=0.01)


@pytest.mark.slow
def test_what_the_prose_says_about_overfitting_holds_on_the_real_data(glued, weather):
    # "After that it rises again ... This is the typical picture of overfitting"
    assert glued["big_after_best"] == "rises again"
    # the Basel-only network on 9 years: "there is less room to memorise"
    assert glued["long_gap"] < glued["big_gap"]
