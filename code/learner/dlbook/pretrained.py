"""Pre-trained weights, verified and loaded from a path the book controls.

``densenet121_weights()`` returns the path of the verified ImageNet weights file: in the data
mirror, else in the book's cache (``$DLBOOK_DATA_DIR/densenet121/``), downloading it there
when needed. It returns ``None`` when the weights cannot be had and stand-ins are allowed.
``prepare_densenet121()`` makes ``keras.applications.DenseNet121(weights="imagenet")`` load
exactly that file (Keras accepts a path as ``weights``), so Keras never looks for the file
in its own folder or tries to download it: what ``KERAS_HOME``, the home folder or the
temporary folder are does not matter. Where the weights cannot be had, the same call builds
the network with random weights, and a note on the page says so.
"""

from __future__ import annotations

from . import standins
from .advice import unavailable_message
from .catalog import DENSENET121
from .errors import ChecksumMismatchError, DataUnavailableError, DownloadError
from .fetch import locate
from .settings import Settings


class CorruptWeightsError(ChecksumMismatchError):
    """A weights file exists but does not match its checksum."""


def densenet121_weights(settings: Settings | None = None) -> str | None:
    """Path to DenseNet121's verified ImageNet weights (no top), or ``None`` to use a stand-in.

    Raises :class:`CorruptWeightsError` when a present file fails its checksum, and
    :class:`DataUnavailableError` when the weights cannot be had and stand-ins are not allowed
    (``DLBOOK_ALLOW_STANDINS`` unset, or ``DLBOOK_STRICT=1``).
    """
    settings = settings or Settings.from_env()
    remote = DENSENET121.files[0]
    try:
        located = locate(DENSENET121, settings)
    except ChecksumMismatchError as exc:
        raise CorruptWeightsError(str(exc)) from exc
    except DownloadError as exc:
        if settings.allow_standins:
            return None
        raise DataUnavailableError(unavailable_message(DENSENET121, settings, exc)) from exc
    return str(located.paths[remote.name])


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

    Returns True when that call will load the verified ImageNet weights (from the path
    :func:`densenet121_weights` returns). When they cannot be had and stand-ins are allowed,
    makes that call build the network with random weights, shows a note saying so, and
    returns False (only where ``DLBOOK_ALLOW_STANDINS=1``; otherwise the missing weights are an
    error that says how to get them). A learner online needs none of it: Keras downloads them.
    """
    path = densenet121_weights(settings)
    _load_imagenet_weights_from(path)
    if path is not None:
        return True
    standins.announce("Stand-in base: random weights", STANDIN_BASE_NOTE)
    return False


def _load_imagenet_weights_from(path: str | None) -> None:
    """Let ``DenseNet121(weights="imagenet")`` load ``path`` (random weights where it is None)."""
    import keras

    original = getattr(keras.applications.DenseNet121, "dlbook_original", keras.applications.DenseNet121)

    def densenet121(*args, weights="imagenet", **kwargs):
        return original(*args, weights=path if weights == "imagenet" else weights, **kwargs)

    densenet121.dlbook_original = original
    densenet121.dlbook_standin = path is None
    densenet121.__doc__ = original.__doc__
    keras.applications.DenseNet121 = densenet121
