"""Plotting helpers that several pages share.

``plot_history`` is written out in episode 2, where it is taught; later episodes import it from
here instead of typing it again (a test keeps the two identical). ``diagram_box`` and
``diagram_arrow`` draw the box-and-arrow diagrams of episodes 1, 5 and 6.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


# The function below is the one episode 2 shows (a test compares the two).
def plot_history(history, metrics=("loss", "accuracy"), title=None, chance=None):
    """Plot a Keras training history: one panel per metric, training and validation curves."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        values = history.history[metric]
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, label="training")
        if "val_" + metric in history.history:
            ax.plot(epochs, history.history["val_" + metric], label="validation")
        if metric == "loss" and max(values) > 10 * min(values):
            ax.set_yscale("log")  # a loss that falls by orders of magnitude
        if metric == "accuracy":
            ax.set_ylim(0, 1)
            if chance is not None:
                ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.0%})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()


def diagram_box(ax, x, y, text, colour, width=1.7, height=0.8, fontsize=9):
    """A rounded box centred on (x, y) with a centred label."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.05",
            facecolor=colour,
            edgecolor="black",
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def diagram_arrow(ax, start, end):
    """An arrow from ``start`` to ``end`` (data coordinates)."""
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "lw": 1.3, "color": "black"})
