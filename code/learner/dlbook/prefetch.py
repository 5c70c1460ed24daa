"""Download and verify every data set and the pre-trained weights ahead of time.

For an instructor preparing a venue with poor Wi-Fi, or for building a data mirror:

    python -m dlbook.prefetch                  # into the cache (data/ in a checkout)
    python -m dlbook.prefetch --mirror FOLDER  # also lay the files out as a mirror in FOLDER

then point ``DLBOOK_DATA_MIRROR`` at FOLDER on the machines that have no network.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .catalog import CATALOG
from .fetch import DataError, Settings, copy_atomic, copy_to, file_digest, locate
from .pretrained import densenet121_weights


def prefetch(keys: list[str], mirror_out: Path | None, settings: Settings) -> list[tuple[str, str, str]]:
    """Fetch each data set; return (data set, outcome, detail) rows for the summary.

    A failure (no network, a corrupt file, a read-only or full disk) is recorded with its full
    reason and the next data set is tried.
    """
    rows = []
    for key in keys:
        dataset = CATALOG[key]
        try:
            rows.append((dataset.title, "ok", _fetch_one(key, mirror_out, settings)))
        except (DataError, ImportError, OSError) as exc:
            rows.append((dataset.title, "FAILED", f"{type(exc).__name__}: {exc}"))
    return rows


def _fetch_one(key: str, mirror_out: Path | None, settings: Settings) -> str:
    dataset = CATALOG[key]
    if key == "penguins":
        import palmerpenguins  # noqa: F401  (ships its data)

        return "shipped in the palmerpenguins package"
    if key == "densenet121":
        path = Path(densenet121_weights(replace(settings, strict=True, allow_standins=False)))
        if mirror_out is not None:
            copy_atomic(path, mirror_out / key / path.name)
        return f"md5 verified, in {path.parent}"
    located = locate(dataset, settings, progress=True)
    if mirror_out is not None:
        copy_to(dataset, located, mirror_out)
    sizes = sum(p.stat().st_size for p in located.paths.values())
    digests = ", ".join(f"{n}: sha256 {file_digest(p)[:12]}…" for n, p in located.paths.items())
    status = "verified" if not located.unverified else f"NOT verified: {', '.join(located.unverified)}"
    return f"{located.source}, {sizes / 1e6:.1f} MB {status}; {digests}"


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
    print(f"{len(rows) - failed} of {len(rows)} fetched and verified.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
