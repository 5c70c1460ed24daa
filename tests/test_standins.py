"""The generated stand-ins used when neither network nor mirror is available.

A stand-in must look like the real data set to the code that uses it (columns, dtypes, shapes,
class count), be the same on every run, be made in a few seconds, be learnable (a simple model
does clearly better than chance, so pages that train on it show real learning), and announce
itself on the page.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlbook import catalog, data, standins

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_CSV = SHARED / "weather" / "weather_prediction_dataset.csv"


@pytest.fixture(autouse=True)
def offline_without_data(tmp_path, monkeypatch):
    """No mirror, no network, an empty cache, stand-ins allowed as in the book's build: the
    loaders must fall back to stand-ins."""
    for name in ("DLBOOK_DATA_MIRROR", "DLBOOK_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setenv("DLBOOK_ALLOW_STANDINS", "1")
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


@pytest.fixture(scope="module")
def weather_standin():
    return standins.weather()


@pytest.fixture(scope="module")
def dollar_street_standin():
    return standins.dollar_street()


@pytest.fixture(scope="module")
def real_weather():
    if not REAL_CSV.is_file():
        pytest.skip("the real weather CSV (../shared/data) is not on this machine")
    return pd.read_csv(REAL_CSV)


# --- weather -------------------------------------------------------------------------------


def test_weather_loader_offline_returns_the_standin_and_says_so(capsys):
    start = time.perf_counter()
    frame = data.load_weather()
    seconds = time.perf_counter() - start

    assert data.is_standin(frame)
    assert frame.attrs["source"] == "stand-in"
    assert frame.shape == (3654, 165)
    assert seconds < 10, f"the weather stand-in took {seconds:.1f} s"
    err = capsys.readouterr().err
    assert "stand-in" in err.lower()
    assert catalog.WEATHER.title in err, "the note names the data set it replaces"


def test_weather_standin_has_exactly_the_real_columns(weather_standin, real_weather):
    assert list(weather_standin.columns) == list(real_weather.columns)


def test_weather_standin_columns_match_the_real_header_line(weather_standin):
    if not REAL_CSV.is_file():
        pytest.skip("the real weather CSV (../shared/data) is not on this machine")
    with open(REAL_CSV) as f:
        header = f.readline().strip().split(",")
    assert len(header) == 165
    assert list(weather_standin.columns) == header


def test_weather_standin_dtypes_match_the_real_data(weather_standin, real_weather):
    mismatched = {
        column: (str(weather_standin[column].dtype), str(real_weather[column].dtype))
        for column in real_weather.columns
        if weather_standin[column].dtype != real_weather[column].dtype
    }
    assert mismatched == {}, "stand-in vs real dtypes"


def test_weather_standin_values_are_plausible(weather_standin, real_weather):
    frame = weather_standin
    assert frame.notna().all().all()
    np.testing.assert_array_equal(frame["DATE"], real_weather["DATE"])
    np.testing.assert_array_equal(frame["MONTH"], real_weather["MONTH"])
    clouds = frame.filter(like="cloud_cover")
    assert clouds.min().min() >= 0 and clouds.max().max() <= 8
    assert (frame.filter(like="sunshine") >= 0).all().all()
    assert (frame.filter(like="precipitation") >= 0).all().all()
    # temperatures in the same range as real European daily means
    assert -30 < frame["BASEL_temp_mean"].min() < frame["BASEL_temp_mean"].max() < 40


def test_weather_standin_is_deterministic(weather_standin):
    pd.testing.assert_frame_equal(standins.weather(), weather_standin)
    pd.testing.assert_frame_equal(data.load_weather(), weather_standin, check_exact=True)


def test_weather_standin_is_made_without_warnings():
    # A warning reaches stderr, and stderr output fails the book build.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        standins.weather()


def test_weather_standin_is_learnable_next_day_sunshine_beats_the_mean(weather_standin):
    from sklearn.linear_model import Ridge

    features = weather_standin.drop(columns=["DATE"]).to_numpy()[:-1]
    target = weather_standin["BASEL_sunshine"].to_numpy()[1:]  # tomorrow's sunshine in Basel
    split = int(len(target) * 0.7)  # train on the first years, test on the later ones
    model = Ridge(alpha=1.0).fit(features[:split], target[:split])
    mse_model = np.mean((model.predict(features[split:]) - target[split:]) ** 2)
    mse_mean = np.mean((target[:split].mean() - target[split:]) ** 2)

    assert mse_model < 0.8 * mse_mean, (mse_model, mse_mean)


# --- Dollar Street -----------------------------------------------------------------------------


def test_dollar_street_standin_has_the_real_shapes_and_dtypes(dollar_street_standin):
    x_train, y_train, x_val, y_val = dollar_street_standin
    assert x_train.shape == (878, 64, 64, 3) and x_val.shape == (293, 64, 64, 3)
    assert x_train.dtype == np.uint8 and x_val.dtype == np.uint8
    assert y_train.shape == (878,) and y_val.shape == (293,)
    assert np.issubdtype(y_train.dtype, np.integer) and np.issubdtype(y_val.dtype, np.integer)
    for labels in (y_train, y_val):
        assert set(np.unique(labels)) == set(range(10)), "all 10 classes in both splits"
    # images use the whole range, not a constant fill
    assert x_train.min() < 30 and x_train.max() > 225
    assert x_train.std() > 20


def test_dollar_street_loader_offline_returns_the_standin(dollar_street_standin, capsys):
    start = time.perf_counter()
    ds = data.load_dollar_street()
    seconds = time.perf_counter() - start

    assert data.is_standin(ds) and ds.is_standin and ds.source == "stand-in"
    assert seconds < 15, f"the Dollar Street stand-in took {seconds:.1f} s"
    assert ds.class_names == catalog.DOLLAR_STREET_CLASSES and len(ds.class_names) == 10
    # deterministic: the loader's second generation equals the module's first one
    for got, want in zip((*ds.train, *ds.val), dollar_street_standin, strict=True):
        np.testing.assert_array_equal(got, want)
    err = capsys.readouterr().err
    assert "stand-in" in err.lower() and catalog.DOLLAR_STREET.title in err


def _spectrum_features(images: np.ndarray) -> np.ndarray:
    """Log magnitude of the central 2D spectrum of the grey image (texture, not colour)."""
    grey = images.astype(np.float32).mean(axis=-1)
    grey -= grey.mean(axis=(1, 2), keepdims=True)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(grey), axes=(1, 2)))[:, 16:48, 16:48]
    pooled = spectrum.reshape(len(images), 16, 2, 16, 2).mean(axis=(2, 4))
    return np.log1p(pooled.reshape(len(images), -1))


def test_dollar_street_standin_is_learnable_far_above_chance(dollar_street_standin):
    from sklearn.neighbors import NearestCentroid

    x_train, y_train, x_val, y_val = dollar_street_standin
    f_train, f_val = _spectrum_features(x_train), _spectrum_features(x_val)
    mean, std = f_train.mean(axis=0), f_train.std(axis=0) + 1e-6
    model = NearestCentroid().fit((f_train - mean) / std, y_train)
    accuracy = model.score((f_val - mean) / std, y_val)

    assert accuracy > 0.3, f"validation accuracy {accuracy:.2f} vs chance 0.10"


def test_dollar_street_standin_labels_are_not_given_away_by_mean_colour(dollar_street_standin):
    # The classes differ by pattern, not by colour: a model must look at shapes.
    from sklearn.neighbors import NearestCentroid

    x_train, y_train, x_val, y_val = dollar_street_standin
    colour = lambda x: x.reshape(len(x), -1, 3).mean(axis=1)  # noqa: E731
    accuracy = NearestCentroid().fit(colour(x_train), y_train).score(colour(x_val), y_val)
    assert accuracy < 0.25


# --- the note on the page -----------------------------------------------------------------------


def test_standin_note_is_an_html_warning_inside_ipython(monkeypatch, capsys):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))

    standins.announce("Stand-in data", data.standin_note(catalog.WEATHER))

    assert len(shown) == 1
    html = shown[0]._repr_html_()
    assert "Stand-in data" in html and "admonition warning" in html
    assert catalog.WEATHER.title in html
    assert capsys.readouterr().err == "", "inside IPython the note is not stderr noise"


def test_strict_mode_refuses_standins(monkeypatch):
    monkeypatch.setenv("DLBOOK_STRICT", "1")
    with pytest.raises(data.DataUnavailableError):
        data.load_weather()
    with pytest.raises(data.DataUnavailableError):
        data.load_dollar_street()
