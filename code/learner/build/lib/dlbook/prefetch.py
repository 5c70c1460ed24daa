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
from .fetch import DataError, Settings, copy_to, file_digest, locate
from .pretrained import densenet121_weights


def prefetch(keys: list[str], mirror_out: Path | None, settings: Settings) -> list[tuple[str, str, str]]:
    """Fetch each data set; return (data set, outcome, detail) rows for the summary."""
    rows = []
    for key in keys:
        dataset = CATALOG[key]
        try:
            if key == "penguins":
                import palmerpenguins  # noqa: F401  (ships its data)

                rows.append((dataset.title, "ok", "shipped in the palmerpenguins package"))
                continue
            if key == "densenet121":
                path = densenet121_weights(replace(settings, strict=True))
                detail = f"md5 verified, in {Path(path).parent}"
                if mirror_out is not None:
                    target = mirror_out / key
                    target.mkdir(parents=True, exist_ok=True)
                    (target / Path(path).name).write_bytes(Path(path).read_bytes())
                rows.append((dataset.title, "ok", detail))
                continue
            located = locate(dataset, settings, progress=True)
            if located is None:
                rows.append((dataset.title, "FAILED", "not in mirror or cache and download failed"))
                continue
            if mirror_out is not None:
                copy_to(dataset, located, mirror_out)
            sizes = sum(p.stat().st_size for p in located.paths.values())
            digests = ", ".join(f"{n}: sha256 {file_digest(p)[:12]}…" for n, p in located.paths.items())
            rows.append((dataset.title, "ok", f"{located.source}, {sizes / 1e6:.1f} MB verified; {digests}"))
        except (DataError, ImportError) as exc:
            rows.append((dataset.title, "FAILED", str(exc).splitlines()[0]))
    return rows


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
    rows = prefetch(keys, args.mirror, Settings.from_env())
    width = max(len(r[0]) for r in rows)
    print("\nSummary")
    for title, outcome, detail in rows:
        print(f"  {title:<{width}}  {outcome:<6}  {detail}")
    failed = sum(r[1] != "ok" for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} fetched and verified.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
