"""pgpart.toml + PGPART_* environment + command-line flags -> frozen settings.

Precedence, highest first: flags (Overrides), PGPART_* environment variables,
the file ([[table]] entry, then [defaults]), built-in defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pgpart.config.file import FileContent, choose_file, read_file, read_text
from pgpart.config.policy import Database, Overrides, Settings, TablePolicy
from pgpart.config.values import (
    BUILTIN_POLICY,
    BUILTIN_SETTINGS,
    MAX_PREMAKE,
    POLICY_CHECKS,
    SETTINGS_CHECKS,
    show,
)
from pgpart.errors import ConfigError

# Environment variables that set a policy key for every table.
_ENV_KEYS = {
    "PGPART_LOCK_TIMEOUT": "lock_timeout",
    "PGPART_TIMEZONE": "timezone",
    "PGPART_PREMAKE": "premake",
}


def _checked_override(origin: str, key: str, value: object) -> Any:
    try:
        return POLICY_CHECKS[key](value)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def _environment_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for variable, key in _ENV_KEYS.items():
        text = environ.get(variable, "").strip()
        if not text:  # set but empty counts as unset, as for PG* variables
            continue
        value: object = text
        if key == "premake":
            if not text.isdecimal() or not text.isascii():
                raise ConfigError(
                    f"{variable}: must be a whole number (0 or more), not {show(text)}"
                )
            if len(text) > 18:  # int() of 5000 digits raises; no premake is this long
                raise ConfigError(f"{variable}: must be at most {MAX_PREMAKE} (got {show(text)})")
            value = int(text)
        layer[key] = _checked_override(variable, key, value)
    return layer


def _flag_layer(overrides: Overrides) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for key, flag, value in (
        ("lock_timeout", "--lock-timeout", overrides.lock_timeout),
        ("timezone", "--timezone", overrides.timezone),
        ("premake", "--premake", overrides.premake),
        ("interval", "--interval", overrides.interval),
        ("relocation", "--relocation", overrides.relocation),
    ):
        if value is not None:
            layer[key] = _checked_override(flag, key, value)
    return layer


def _policy(name: str | None, layers: Sequence[Mapping[str, Any]]) -> TablePolicy:
    values = dict(BUILTIN_POLICY)
    configured: set[str] = set()
    for layer in layers:
        for key, value in layer.items():
            if key in values:
                values[key] = value
                configured.add(key)
    return TablePolicy(name=name, configured_keys=frozenset(configured), **values)


def load_settings(overrides: Overrides, environ: Mapping[str, str], cwd: Path) -> Settings:
    """Read the config file (if any), the environment and the flags.

    Raises ConfigError for every problem, naming where it is.
    """
    chosen = choose_file(overrides, environ, cwd)
    content = FileContent({}, ())
    if chosen is not None:
        path, shown = chosen
        content = read_file(read_text(path, shown), shown)
    environment = _environment_layer(environ)
    flags = _flag_layer(overrides)
    settings = dict(BUILTIN_SETTINGS)
    settings.update({k: v for k, v in content.defaults.items() if k in SETTINGS_CHECKS})
    dsn = overrides.dsn if overrides.dsn is not None else environ.get("PGPART_DSN") or None

    def build(dsn: str | None, block: Mapping[str, Any]) -> Settings:
        run = settings | {k: v for k, v in block.items() if k in SETTINGS_CHECKS}
        return Settings(
            dsn=dsn,
            config_path=chosen[0] if chosen is not None else None,
            defaults=_policy(None, (content.defaults, block, environment, flags)),
            tables=tuple(
                _policy(name, (content.defaults, block, values, environment, flags))
                for name, values in content.tables
            ),
            **run,
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
    return replace(build(dsn, {}), databases=databases)
