"""pgpart.toml + PGPART_* environment + command-line flags -> frozen settings.

Precedence, highest first: flags (Overrides), PGPART_* environment variables,
the file ([[table]] entry, then its [[database]] block, then [defaults]),
built-in defaults. Each source is a typed Layer (pgpart.config.layer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from pgpart.config import values as check
from pgpart.config.file import FileContent, choose_file, read_file, read_text
from pgpart.config.layer import UNSET, Layer, Unset, policy
from pgpart.config.settings import Database, Overrides, Settings
from pgpart.errors import ConfigError

T = TypeVar("T")


def _checked(origin: str, checker: Callable[[object], T], value: object) -> T | Unset:
    if value is None:
        return UNSET
    try:
        return checker(value)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def _environment_layer(environ: Mapping[str, str]) -> Layer:
    """PGPART_LOCK_TIMEOUT, PGPART_TIMEZONE, PGPART_PREMAKE: a policy key for every table."""

    def text(variable: str) -> str | None:
        value = environ.get(variable, "").strip()
        return value or None  # set but empty counts as unset, as for PG* variables

    premake = text("PGPART_PREMAKE")
    count: int | None = None
    if premake is not None:
        if not premake.isdecimal() or not premake.isascii():
            raise ConfigError(
                f"PGPART_PREMAKE: must be a whole number (0 or more), not {check.show(premake)}"
            )
        if len(premake) > 18:  # int() of 5000 digits raises; no premake is this long
            raise ConfigError(
                f"PGPART_PREMAKE: must be at most {check.MAX_PREMAKE} (got {check.show(premake)})"
            )
        count = int(premake)
    return Layer(
        lock_timeout=_checked(
            "PGPART_LOCK_TIMEOUT", check.lock_timeout, text("PGPART_LOCK_TIMEOUT")
        ),
        timezone=_checked("PGPART_TIMEZONE", check.timezone, text("PGPART_TIMEZONE")),
        premake=_checked("PGPART_PREMAKE", check.premake, count),
    )


def _flag_layer(overrides: Overrides) -> Layer:
    return Layer(
        lock_timeout=_checked("--lock-timeout", check.lock_timeout, overrides.lock_timeout),
        timezone=_checked("--timezone", check.timezone, overrides.timezone),
        premake=_checked("--premake", check.premake, overrides.premake),
        interval=_checked("--interval", check.interval, overrides.interval),
        relocation=_checked("--relocation", check.relocation, overrides.relocation),
    )


def load_settings(overrides: Overrides, environ: Mapping[str, str], cwd: Path) -> Settings:
    """Read the config file (if any), the environment and the flags.

    Raises ConfigError for every problem, naming where it is.
    """
    chosen = choose_file(overrides, environ, cwd)
    content = FileContent(Layer())
    if chosen is not None:
        path, shown = chosen
        content = read_file(read_text(path, shown), shown)
    environment = _environment_layer(environ)
    flags = _flag_layer(overrides)
    dsn = overrides.dsn if overrides.dsn is not None else environ.get("PGPART_DSN") or None

    def build(dsn: str | None, block: Layer) -> Settings:
        return Settings(
            dsn=dsn,
            config_path=chosen[0] if chosen is not None else None,
            defaults=policy(None, (content.defaults, block, environment, flags)),
            tables=tuple(
                policy(t.name, (content.defaults, block, t.layer, environment, flags))
                for t in content.tables
            ),
        )

    databases = tuple(
        Database(
            d.name,
            d.dsn,
            d.service,
            d.tables,
            d.line,
            build(d.dsn if d.dsn is not None else f"service={d.service}", d.values),
        )
        for d in content.databases
    )
    return replace(build(dsn, Layer()), databases=databases)
