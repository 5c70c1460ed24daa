"""Generated stand-ins for data sets that cannot be obtained (no network, no mirror).

A stand-in has the real data set's shapes, dtypes, column names and class count, is the same
on every run (fixed seed), takes a few seconds to make, and is *learnable*: it has structure a
network can find, so a page that trains on it shows real learning rather than noise. It is
never mistaken for the real thing: every loader that returns one says so on the page.
"""

from __future__ import annotations

import html
import sys
from importlib import resources

import numpy as np
import pandas as pd

SEED = 20240501


def announce(title: str, text: str) -> None:
    """Say that a stand-in is in use: a warning box in a notebook, a line on stderr elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # plain Python without IPython
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(
            HTML(
                '<div class="admonition warning dlbook-standin" role="note">'
                f'<p class="admonition-title">{html.escape(title)}</p>'
                f"<p>{html.escape(text)}</p></div>"
            )
        )
    else:
        print(f"NOTE - {title}: {text}", file=sys.stderr)


def weather_columns() -> list[str]:
    """The 165 column names of the real weather prediction data set, in order."""
    text = resources.files("dlbook").joinpath("weather_columns.txt").read_text()
    return [line for line in text.splitlines() if line]


def weather(seed: int = SEED) -> pd.DataFrame:
    """A 3654-day table with the real columns, driven by a travelling weather pattern.

    Weather systems move from west to east, so the western stations' readings today carry
    information about Basel's sunshine tomorrow, as in the real data.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2000-01-01", "2010-01-01", freq="D")
    n = len(dates)
    doy = dates.day_of_year.to_numpy()
    season = np.cos(2 * np.pi * (doy - 172) / 365.25)  # +1 mid-summer, -1 mid-winter

    # One latent "weather front" series, persistent from day to day (AR(1)).
    front = np.zeros(n + 3)
    for t in range(1, n + 3):
        front[t] = 0.6 * front[t - 1] + rng.normal(0, 1)

    columns = weather_columns()
    stations = list(
        dict.fromkeys(c.split("_")[0] if not c.startswith("DE_BILT") else "DE_BILT" for c in columns[2:])
    )
    out: dict[str, np.ndarray] = {
        "DATE": dates.strftime("%Y%m%d").astype(np.int64).to_numpy(),
        "MONTH": dates.month.to_numpy().astype(np.int64),  # int64 as in the real CSV
    }
    for i, station in enumerate(stations):
        # Western stations see the front a day before it reaches Basel (lead 1), others with it.
        lead = 1 if i % 3 == 0 else 0
        z = 0.8 * front[1 + lead : 1 + lead + n] + rng.normal(0, 0.6, n)
        cloud = 1 / (1 + np.exp(-(z + 0.3 - 0.4 * season)))
        daylength = 12 + 4 * season
        temp = 10 + 8 * season + rng.normal(0, 2, n) - 1.5 * z
        feats = {
            "cloud_cover": np.clip(np.round(8 * cloud + rng.normal(0, 0.5, n)), 0, 8),
            "wind_speed": np.abs(2.5 + 1.2 * z + rng.normal(0, 1, n)),
            "wind_gust": np.abs(8 + 3 * z + rng.normal(0, 2, n)),
            "humidity": np.clip(0.55 + 0.35 * cloud + rng.normal(0, 0.05, n), 0.2, 1.0),
            "pressure": 1.016 - 0.008 * z + rng.normal(0, 0.002, n),
            "global_radiation": np.clip(
                (0.8 + 1.4 * (season + 1) / 2) * (1.1 - cloud) + rng.normal(0, 0.1, n), 0.02, None
            ),
            "precipitation": np.clip(rng.exponential(0.3, n) * (cloud - 0.55) * 2, 0, None),
            "sunshine": np.clip(daylength * (1 - cloud) * 1.1 + rng.normal(0, 0.8, n), 0, 15.5),
            "temp_mean": temp,
            "temp_min": temp - 3 - 3 * (1 - cloud) + rng.normal(0, 0.8, n),
            "temp_max": temp + 3 + 4 * (1 - cloud) + rng.normal(0, 0.8, n),
        }
        for column in columns[2:]:
            if column.startswith(station + "_"):
                kind = column[len(station) + 1 :]
                values = feats[kind]
                out[column] = values.astype(int) if kind == "cloud_cover" else np.round(values, 2)
    frame = pd.DataFrame(out)[columns]
    assert frame.shape == (3654, 165), frame.shape
    return frame


def dollar_street(
    n_train: int = 878, n_val: int = 293, size: int = 64, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images of ten generated textures/shapes on cluttered backgrounds, one per class.

    Each class is a pattern (stripes in one of three directions, checks, disc, ring, cross,
    triangle, nested squares, dots) drawn at a random place, scale and colour on a random
    gradient with noise, so position and colour carry no label information and a
    convolutional network has to find the pattern. Returns uint8 images and int64 labels.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_val
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i] = _draw(int(label), rng, yy, xx, size)
    labels = labels.astype(np.int64)
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


def _draw(label: int, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: int) -> np.ndarray:
    # Background: a random two-colour gradient.
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * np.pi)
    t = ((np.cos(angle) * xx + np.sin(angle) * yy) / size + 1) / 2
    img = (1 - t)[..., None] * c0 + t[..., None] * c1

    half = rng.uniform(12, 22)
    cy, cx = rng.uniform(half, size - half, 2)
    dy, dx = (yy - cy) / half, (xx - cx) / half  # -1..1 inside the object's box
    inside = (np.abs(dy) <= 1) & (np.abs(dx) <= 1)
    period = rng.uniform(0.35, 0.55)
    r = np.hypot(dy, dx)
    if label == 0:
        mask = inside & (np.sin(np.pi * dy / period * 2) > 0)
    elif label == 1:
        mask = inside & (np.sin(np.pi * dx / period * 2) > 0)
    elif label == 2:
        mask = inside & (np.sin(np.pi * (dx + dy) / period * 1.5) > 0)
    elif label == 3:
        mask = inside & ((np.sin(np.pi * dx / period * 2) > 0) ^ (np.sin(np.pi * dy / period * 2) > 0))
    elif label == 4:
        mask = r <= 0.9
    elif label == 5:
        mask = (r <= 0.95) & (r >= 0.6)
    elif label == 6:
        mask = inside & ((np.abs(dx) < 0.25) | (np.abs(dy) < 0.25))
    elif label == 7:
        mask = inside & (dy > -0.9) & (np.abs(dx) < (dy + 1) / 2)
    elif label == 8:
        ring = np.maximum(np.abs(dx), np.abs(dy))
        mask = inside & (np.floor(ring / 0.3) % 2 == 0)
    else:
        mask = inside & (np.hypot((dx % 0.5) - 0.25, (dy % 0.5) - 0.25) < 0.13)
    colour = rng.uniform(0, 255, 3)
    img[mask] = 0.25 * img[mask] + 0.75 * colour
    img += rng.normal(0, 18, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
