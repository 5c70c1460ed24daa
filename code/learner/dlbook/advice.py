"""What the data layer tells a reader when the real data cannot be used, and what to do.

One place for the messages and notes that the loaders and the pre-trained weights share, so
that each cause gets the fix that works for it.
"""

from __future__ import annotations

from .catalog import DataSet
from .errors import DownloadError
from .settings import Settings

ISSUES = "the book's issue tracker (the GitHub button at the top of every page)"

FIRST_FIX = {
    "offline": "unset DLBOOK_OFFLINE and run this again with internet access (the files are\n"
    "     downloaded and verified once), or",
    "network": "run this again with internet access (the files are downloaded and verified once).\n"
    "     If your network needs a login page (hotel, venue Wi-Fi), open a browser and log in first. Or",
    "server": "try again later: the server answered with an error, so the file may have moved or the\n"
    f"     server may be down (if it persists, please report it at {ISSUES}), or",
    "limit": "try again on a faster or steadier connection (the transfer hit a limit), or",
}


KERAS_FOLDER = {
    "densenet121": "     A notebook that calls DenseNet121(weights='imagenet') itself reads the file from\n"
    "     Keras's own folder instead: ~/.keras/models/ (or models/ in the folder KERAS_HOME names).\n"
}


def unavailable_message(dataset: DataSet, settings: Settings, exc: DownloadError) -> str:
    """Why ``dataset`` could not be had, and the fixes for that cause."""
    folder = settings.cache_dir / dataset.key
    urls = "\n".join(f"       {f.url}" for f in dataset.files)
    names = ", ".join(f.name for f in dataset.files)
    looked = f"the data mirror {settings.mirror / dataset.key} or " if settings.mirror else ""
    message = (
        f"The {dataset.title} files are not in {looked}the cache {folder}, and could not be "
        f"downloaded: {exc}.\n"
        "To fix this, either\n"
        f"  1. {FIRST_FIX.get(exc.cause, FIRST_FIX['network'])}\n"
        f"  2. download it where you have internet with `python -m dlbook.prefetch {dataset.key}`, "
        f"or by hand from\n{urls}\n"
        f"     and put the files ({names}) into\n       {folder}\n"
        f"     (or into <mirror>/{dataset.key}/ of a folder that DLBOOK_DATA_MIRROR names).\n"
        + KERAS_FOLDER.get(dataset.key, "")
    )
    if settings.strict:
        return message + "DLBOOK_STRICT=1 forbids generated stand-ins, so the book stops here."
    return message + (
        "(To build the book without the data, set DLBOOK_ALLOW_STANDINS=1: the pages then run on "
        "generated stand-ins of the same shape, with a note. Not for learning from.)"
    )


def strict_unverified_message(dataset: DataSet, located) -> str:
    return (
        f"The {dataset.title} files {', '.join(located.unverified)} (found in the "
        f"{located.source}) have no checksum to check them against, and DLBOOK_STRICT=1 accepts "
        f"only verified data. Run `python -m dlbook.prefetch {dataset.key}` with internet access: "
        "it checks them against the checksums the archive publishes and records those so that "
        "later runs can check the files offline; a copy in the cache that fails is replaced by a "
        "fresh download, a copy in the mirror that fails is reported, for you to replace."
    )


def standin_note(dataset: DataSet, reason: str = "") -> str:
    """The text of the note shown on a page that runs on stand-in data."""
    why = f" ({reason})" if reason else ""
    return (
        f"{dataset.title}: the real files could not be obtained{why}, so this page runs on a "
        "generated stand-in with the same shapes. Every number and figure below comes from the "
        "stand-in, not from the real data set. Run the page with internet access to see the "
        "real results."
    )


def unverified_note(dataset: DataSet, located) -> str:
    """The text of the note shown on a page that runs on files it could not verify."""
    return (
        f"{dataset.title}: the files {', '.join(located.unverified)} (found in the "
        f"{located.source}) have the expected shapes and counts, so you can carry on, but no "
        "checksum was available to prove them intact (normal for a copy from a workshop's "
        f"mirror). To check them, run `python -m dlbook.prefetch {dataset.key}` once with "
        "internet access: it verifies them against the published checksums and records those."
    )
