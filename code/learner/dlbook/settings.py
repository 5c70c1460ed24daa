"""The data layer's settings, read once from the environment (see the README's data section).

``DLBOOK_DATA_MIRROR`` (a read-only folder with one sub-folder per data set),
``DLBOOK_DATA_DIR`` (the cache), and the flags ``DLBOOK_STRICT``, ``DLBOOK_OFFLINE`` and
``DLBOOK_ALLOW_STANDINS``. Relative folders are taken relative to the folder the command was
started in; the book's build makes them absolute before its kernels start elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .catalog import CATALOG
from .errors import ConfigurationError

ON = {"1", "true", "yes", "on"}
OFF = {"", "0", "false", "no", "off"}


def flag(name: str, environ=None) -> bool:
    """The on/off value of an environment variable; anything ambiguous is an error, not "off"."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ConfigurationError(
        f"{name}={raw!r} is neither on ({', '.join(sorted(ON))}) nor off "
        f"({', '.join(sorted(OFF - {''}))}, or unset). Set {name}=1 or {name}=0."
    )


@dataclass(frozen=True)
class Settings:
    """Configuration read once from the environment."""

    cache_dir: Path
    mirror: Path | None
    strict: bool
    offline: bool
    allow_standins: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        raw = os.environ.get("DLBOOK_DATA_MIRROR", "")
        mirror = check_mirror(Path(raw).expanduser().absolute()) if raw.strip() else None
        strict = flag("DLBOOK_STRICT")
        cache = os.environ.get("DLBOOK_DATA_DIR", "").strip()
        return cls(
            cache_dir=Path(cache).expanduser().absolute() if cache else default_cache_dir(),
            mirror=mirror,
            strict=strict,
            offline=flag("DLBOOK_OFFLINE"),
            allow_standins=flag("DLBOOK_ALLOW_STANDINS") and not strict,
        )


def check_mirror(mirror: Path) -> Path:
    """``mirror`` if it is a readable folder laid out as a mirror; else a ConfigurationError."""
    layout = "a folder with one sub-folder per data set (weather/, dollar_street/, ...)"
    try:
        if not mirror.exists():
            problem = "does not exist"
        elif not mirror.is_dir():
            problem = "is a file, not a folder"
        elif not os.access(mirror, os.R_OK | os.X_OK):
            problem = "cannot be read (permission denied)"
        elif mirror.name in CATALOG or any(
            (mirror / f.name).is_file() for ds in CATALOG.values() for f in ds.files
        ):
            raise ConfigurationError(
                f"DLBOOK_DATA_MIRROR={mirror} looks like the folder of one data set. Point it at "
                f"{layout}: probably {mirror.parent}."
            )
        else:
            return mirror
    except OSError as exc:  # a parent folder without permission
        problem = f"cannot be reached ({exc.strerror})"
    raise ConfigurationError(
        f"DLBOOK_DATA_MIRROR={mirror} {problem}. Point it at {layout}, or unset it to use the "
        "cache and the download."
    )


def default_cache_dir() -> Path:
    """``data/`` of the repository when run from a checkout, else ``~/.cache/dlbook``."""
    repo_data = Path(__file__).resolve().parents[3] / "data"
    if (repo_data / "README.md").is_file():
        return repo_data
    return Path.home() / ".cache" / "dlbook"
