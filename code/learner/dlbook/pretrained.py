"""Pre-trained weights, kept where Keras itself keeps them.

``densenet121_weights()`` returns the path of the verified ImageNet weights file in Keras's
cache (``$KERAS_HOME/models``, by default ``~/.keras/models``), copying it there from the data
mirror or downloading it when needed, so that ``keras.applications.DenseNet121`` can load it.
It returns ``None`` when the weights cannot be had and stand-ins are allowed.
``prepare_densenet121()`` does the same for a page that calls
``DenseNet121(weights="imagenet")`` as a learner would, with a random-weights stand-in
(announced on the page) when the weights cannot be had.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import standins
from .catalog import DENSENET121
from .fetch import (
    ChecksumMismatchError,
    DataUnavailableError,
    DownloadError,
    Settings,
    copy_atomic,
    locate,
    verify,
)


class CorruptWeightsError(ChecksumMismatchError):
    """A weights file in Keras's cache exists but does not match its checksum."""


def keras_models_dir() -> Path:
    """The folder where Keras caches downloaded weights.

    As Keras decides it: ``$KERAS_HOME/models``, else ``~/.keras/models``, and when the home
    folder cannot be written, ``<temporary folder>/.keras/models``.
    """
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]) / "models"
    home = Path(os.path.expanduser("~")) / ".keras"
    writable = os.access(home, os.W_OK) if home.exists() else os.access(home.parent, os.W_OK)
    if not writable:
        home = Path(tempfile.gettempdir()) / ".keras"
    return home / "models"


def densenet121_weights(settings: Settings | None = None) -> str | None:
    """Path to DenseNet121's ImageNet weights (no top), or ``None`` to use a stand-in base.

    Raises :class:`CorruptWeightsError` when a cached file fails its checksum, and
    :class:`DataUnavailableError` when the weights cannot be had and stand-ins are not allowed
    (``DLBOOK_ALLOW_STANDINS`` unset, or ``DLBOOK_STRICT=1``).
    """
    settings = settings or Settings.from_env()
    remote = DENSENET121.files[0]
    expected = ("md5", remote.md5)
    cached = keras_models_dir() / remote.name
    if cached.is_file():
        if not verify(cached, expected):
            raise CorruptWeightsError(
                f"The DenseNet121 weights file {cached} is corrupt (its md5 checksum does not "
                f"match {remote.md5}). Delete it; the next run will download or copy a fresh one."
            )
        return str(cached)
    try:
        located = locate(DENSENET121, settings, dest_dir=keras_models_dir())
    except DownloadError as exc:
        if settings.allow_standins:
            return None
        raise DataUnavailableError(
            f"The DenseNet121 ImageNet weights are not in {keras_models_dir()} or the data mirror, "
            f"and could not be downloaded: {exc}.\nTo fix this, either\n"
            "  1. run this again with internet access (Keras keeps the file for later runs), or\n"
            "  2. download it where you have internet with `python -m dlbook.prefetch densenet121`, "
            f"or by hand from\n  {remote.url}\n     and put it into {keras_models_dir()}.\n"
            + (
                "DLBOOK_STRICT=1 forbids the random-weights stand-in."
                if settings.strict
                else "(DLBOOK_ALLOW_STANDINS=1 lets the book's build use random weights instead.)"
            )
        ) from exc
    path = located.paths[remote.name]
    if path.resolve() != cached.resolve():
        copy_atomic(path, cached)
    return str(cached)


STANDIN_BASE_NOTE = (
    "The ImageNet weights of DenseNet121 could not be obtained when this page ran, so "
    'keras.applications.DenseNet121(weights="imagenet") built the network with random weights '
    "instead. Pre-training DenseNet121 ourselves would take many hours on the processors that "
    "built this page, and a smaller network pre-trained as a stand-in would change the very "
    "numbers this episode is about: the parameter counts and the training times. With random "
    "weights, the architecture, the parameter counts and the timings below are those of the real "
    "DenseNet121, but the accuracy of the transferred model says nothing about what ImageNet "
    "features achieve: a random base has learned nothing. Run the page with internet access to "
    "see real transfer learning; the code stays the same."
)


def prepare_densenet121(settings: Settings | None = None) -> bool:
    """Make ``keras.applications.DenseNet121(weights="imagenet")`` work on this machine.

    Puts the verified ImageNet weights into Keras's cache (from the data mirror or a download),
    where Keras finds them, and returns True. When they cannot be had and stand-ins are allowed,
    makes that call build the network with random weights, shows a note saying so, and returns
    False (only where ``DLBOOK_ALLOW_STANDINS=1``; otherwise the missing weights are an error
    that says how to get them). A learner online needs none of it: Keras downloads the weights.
    """
    if densenet121_weights(settings) is not None:
        return True
    import keras

    original = keras.applications.DenseNet121
    if not getattr(original, "dlbook_standin", False):

        def densenet121_with_random_weights(*args, weights="imagenet", **kwargs):
            return original(*args, weights=None if weights == "imagenet" else weights, **kwargs)

        densenet121_with_random_weights.dlbook_standin = True
        keras.applications.DenseNet121 = densenet121_with_random_weights
    standins.announce("Stand-in base: random weights", STANDIN_BASE_NOTE)
    return False
