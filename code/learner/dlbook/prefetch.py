"""Download and verify every data set and the pre-trained weights ahead of time.

For an instructor preparing a venue with poor Wi-Fi, or for building a data mirror:

    python -m dlbook.prefetch                  # into the cache (data/ in a checkout)
    python -m dlbook.prefetch --mirror FOLDER  # also lay the files out as a mirror in FOLDER

then point ``DLBOOK_DATA_MIRROR`` at FOLDER on the machines that have no network. Only files
that verify are reported as fetched or copied, a file in FOLDER that verifies is never
replaced, and the exit status is 1 when anything could not be verified.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .catalog import CATALOG, DataSet
from .errors import ChecksumMismatchError, DataError, UnverifiedDataError
from .fetch import Located, copy_to, file_digest, locate, published_checksum
from .settings import Settings


def prefetch(keys: list[str], mirror_out: Path | None, settings: Settings) -> list[tuple[str, str, str]]:
    """Fetch each data set; return (data set, outcome, detail) rows for the summary.

    "ok" means every file is verified against a trusted checksum (see dlbook.integrity). A
    failure (no network, a corrupt file, a file that cannot be verified, a read-only or full
    disk) is recorded with its full reason and the next data set is tried.
    """
    rows = []
    for key in keys:
        dataset = CATALOG[key]
        try:
            rows.append((dataset.title, "ok", _fetch_one(dataset, mirror_out, settings)))
        except (DataError, ImportError) as exc:
            rows.append((dataset.title, "FAILED", f"{type(exc).__name__}: {exc}"))
    return rows


def _fetch_one(dataset: DataSet, mirror_out: Path | None, settings: Settings) -> str:
    if dataset.key == "penguins":
        import palmerpenguins  # noqa: F401  (ships its data)

        return "shipped in the palmerpenguins package"
    settings = replace(settings, strict=True, allow_standins=False)
    located = _verified(dataset, settings)
    if mirror_out is not None:
        copy_to(dataset, located, mirror_out)
    sizes = sum(p.stat().st_size for p in located.paths.values())
    digests = ", ".join(f"{n}: sha256 {file_digest(p)[:12]}…" for n, p in located.paths.items())
    folder = next(iter(located.paths.values())).parent
    return f"{located.source}, {sizes / 1e6:.1f} MB verified, in {folder}; {digests}"


def _verified(dataset: DataSet, settings: Settings) -> Located:
    """The data set's files, every one verified: files found without a checksum known offline
    are checked against the checksums the archive publishes (which are then recorded), and
    copies in the cache that fail are set aside and downloaded afresh."""
    # look; check what could not be checked; set aside what fails (one file per look); download
    for _ in range(len(dataset.files) + 3):
        try:
            located = locate(dataset, settings, progress=True)
        except ChecksumMismatchError as exc:
            if getattr(exc, "moved_to", None) is None:  # in the mirror, or could not be moved
                raise
            continue  # the bad copy was moved aside: the next look downloads a fresh one
        if not located.unverified:
            return located
        if settings.offline:
            break
        for remote in dataset.files:
            if remote.name in located.unverified:
                published_checksum(remote)
    else:
        raise ChecksumMismatchError(f"{dataset.title}: fresh downloads kept failing their checks.")
    raise UnverifiedDataError(
        f"{', '.join(located.unverified)} (in the {located.source}) could not be verified: no "
        "checksum is known offline and DLBOOK_OFFLINE is set. Run this again with internet access."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "datasets",
        nargs="*",
        metavar="DATASET",
        help=f"which to fetch, of {', '.join(CATALOG)} (default: all)",
    )
    parser.add_argument("--mirror", type=Path, help="also copy the files into FOLDER laid out as a mirror")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.datasets) - set(CATALOG))
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(CATALOG)}")
    keys = args.datasets or list(CATALOG)
    try:
        settings = Settings.from_env()
    except DataError as exc:  # a mistyped DLBOOK_* variable
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = prefetch(keys, args.mirror, settings)
    width = max(len(r[0]) for r in rows)
    print("\nSummary")
    for title, outcome, detail in rows:
        first, *rest = detail.splitlines() or [""]
        print(f"  {title:<{width}}  {outcome:<6}  {first}")
        for line in rest:  # the whole reason, not just its first line
            print(f"  {'':<{width}}  {'':<6}  {line}")
    failed = sum(r[1] != "ok" for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} fetched and verified; {failed} failed.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
