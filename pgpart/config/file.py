"""Choosing, reading and checking the pgpart.toml file: every problem is a
one-line ConfigError naming the file, line, section and key."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pgpart.config.database import DatabaseBlock, read_databases
from pgpart.config.layer import UNSET, Layer, first
from pgpart.config.positions import Locator, Place
from pgpart.config.settings import Overrides
from pgpart.config.values import (
    DEFAULTS_KEYS,
    POLICY_KEYS,
    SETTINGS_KEYS,
    TABLE_KEYS,
    BadValue,
    layer_of,
    show,
    type_name,
)
from pgpart.core.identifiers import parse_table_name
from pgpart.core.policy import RetentionMode
from pgpart.core.record import record
from pgpart.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

DEFAULT_FILE = "pgpart.toml"
# A config is a few kB; reading stops here (--config /dev/zero must not eat memory).
MAX_FILE_BYTES = 1 << 20


def choose_file(
    overrides: Overrides, environ: Mapping[str, str], cwd: Path
) -> tuple[Path, str] | None:
    """The config file to read and how to name it, or None."""
    for given, origin in (
        (overrides.config, "--config"),
        (environ.get("PGPART_CONFIG") or None, "PGPART_CONFIG"),
    ):
        if given is None:
            continue
        try:
            path = Path(given).expanduser()
            resolved = path if path.is_absolute() else cwd / path
            exists, is_dir = resolved.exists(), resolved.is_dir()
        except (OSError, ValueError, RuntimeError) as exc:  # name too long, NUL, ~nobody
            raise ConfigError(f"{origin}: cannot use {str(given)!r}: {exc}") from None
        if not exists:
            raise ConfigError(f"{origin}: config file {str(path)!r} does not exist")
        if is_dir:
            raise ConfigError(f"{origin}: {str(path)!r} is a directory, not a config file")
        return resolved, str(path)
    default = cwd / DEFAULT_FILE
    return (default, DEFAULT_FILE) if default.is_file() else None


def read_text(path: Path, shown: str) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{shown}: larger than {MAX_FILE_BYTES >> 20} MiB: not a pgpart config")
    try:
        return data.decode("utf-8-sig")  # tolerate the BOM some editors write
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{shown}:{line}: not valid UTF-8 text") from None


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)$")


def _parse_toml(text: str, shown: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = tomllib.loads(text)
        return document
    except tomllib.TOMLDecodeError as exc:
        message = " ".join(str(exc).split())  # keeps tomllib's "(at line L, column C)"
        match = _TOML_POSITION.search(message)
        if match:
            line: int | None = int(match.group(1))
        elif message.endswith("(at end of document)"):
            line = text.rstrip("\n").count("\n") + 1
        else:
            line = None
        at = f"{shown}:{line}" if line is not None else shown
        raise ConfigError(f"{at}: invalid TOML: {message}") from None
    except RecursionError:  # tomllib recurses once per nesting level: [[[[...]]]]
        raise ConfigError(f"{shown}: invalid TOML: values nested too deeply") from None
    except ValueError as exc:  # int("9" * 5000) inside tomllib: Python's digit limit
        raise ConfigError(f"{shown}: invalid TOML: {' '.join(str(exc).split())}") from None


def _unknown_key(place: Place, key: str, allowed: Sequence[str]) -> ConfigError:
    if place.section == "defaults" and key in TABLE_KEYS:
        reason = f"key {key!r} is not allowed in [defaults]: set it in each [[table]]"
    elif place.section == "table" and key in SETTINGS_KEYS:
        reason = f"key {key!r} is only allowed in [defaults]"
    else:
        close = difflib.get_close_matches(key, list(allowed), n=1)
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else f" (expected one of: {', '.join(allowed)})"
        )
        reason = f"key {show(key)} is unknown{hint}"
    return place.error(key, reason)


def _check_values(place: Place, values: Mapping[str, Any], keys: Sequence[str]) -> Layer:
    """The section's keys, checked (``keys``: those it may hold), as a layer."""
    allowed = list(keys) if place.section == "defaults" else list(TABLE_KEYS)
    for key in values:
        if key not in keys and not (key == "name" and place.section == "table"):
            raise _unknown_key(place, key, allowed)
    try:
        return layer_of(values)
    except BadValue as exc:
        raise place.error(exc.key, str(exc)) from None


@record
class TableEntry:
    name: str  # as written
    layer: Layer


@record
class FileContent:
    defaults: Layer  # [defaults]: policy and settings keys
    tables: tuple[TableEntry, ...] = ()
    databases: tuple[DatabaseBlock, ...] = ()  # pgpart.config.database


def _table_title(name: str) -> str:
    if not name.isprintable():  # a quoted identifier may hold a newline: keep one line
        return f"[[table]] {show(name)}"
    return f"[[table]] '{name}'" if '"' in name else f'[[table]] "{name}"'


def read_file(text: str, shown: str) -> FileContent:
    document = _parse_toml(text, shown)
    locator = Locator(text)
    top = Place(shown, locator, "", None, "")
    for key in document:
        if key not in ("defaults", "table", "database"):
            raise _unknown_key(top, key, ["defaults", "table", "database"])

    raw_defaults = document.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        hint = ": write [defaults], not [[defaults]]" if isinstance(raw_defaults, list) else ""
        raise top.error("defaults", f"defaults must be a table{hint}")
    defaults = _check_values(
        Place(shown, locator, "defaults", None, "[defaults]"), raw_defaults, DEFAULTS_KEYS
    )

    raw_tables = document.get("table", [])
    if not isinstance(raw_tables, list):
        hint = ": write [[table]], not [table]" if isinstance(raw_tables, dict) else ""
        raise top.error("table", f"table must be an array of tables{hint}")
    _check_archive_dir(Place(shown, locator, "defaults", None, "[defaults]"), defaults, Layer())
    tables: list[TableEntry] = []
    seen: dict[tuple[str | None, str], int] = {}
    for index, entry in enumerate(raw_tables):
        numbered = Place(shown, locator, "table", index, f"[[table]] #{index + 1}")
        if not isinstance(entry, dict):
            raise numbered.error(None, f"must be a table with a name, not {type_name(entry)}")
        if "name" not in entry:
            raise numbered.error(None, "key 'name' is missing (e.g. name = \"public.events\")")
        name = entry["name"]
        try:
            if not isinstance(name, str) or not name:
                raise ValueError(
                    'must be a non-empty string such as "public.events", '
                    f"not {type_name(name)} ({show(name)})"
                )
            identity = parse_table_name(name)
        except ValueError as exc:
            raise numbered.error("name", f"name: {exc}") from None
        place = Place(shown, locator, "table", index, _table_title(name))
        if identity in seen:
            first = locator.line("table", seen[identity], "name")
            where = f"line {first}" if first is not None else f"[[table]] #{seen[identity] + 1}"
            raise place.error("name", f"name: this table is already configured at {where}")
        seen[identity] = index
        values = _check_values(place, entry, POLICY_KEYS)
        _check_naming_fits(place, values, defaults)
        _check_archive_dir(place, values, defaults)
        tables.append(TableEntry(name, values))
    databases = read_databases(document.get("database", []), text, shown)
    return FileContent(defaults, tuple(tables), databases)


def _check_archive_dir(place: Place, values: Layer, defaults: Layer) -> None:
    """retention_mode = "archive" needs somewhere to write the archives."""
    mode = first(values.retention_mode, defaults.retention_mode)
    directory = first(values.archive_dir, defaults.archive_dir)
    if mode is RetentionMode.ARCHIVE and directory is UNSET:
        key = "retention_mode" if values.retention_mode is not UNSET else None
        raise place.error(key, 'retention_mode = "archive" needs archive_dir (a directory)')


def _check_naming_fits(place: Place, values: Layer, defaults: Layer) -> None:
    """A template must give consecutive periods distinct names ({start:%Y_%m} can't be daily)."""
    from pgpart.core.partition_names import validate_template

    template = first(values.naming, defaults.naming)
    interval = values.interval
    if template is UNSET or interval is UNSET:
        return
    try:
        validate_template(template, interval)
    except ValueError as exc:
        if values.naming is not UNSET:
            raise place.error("naming", f"naming: {exc}") from None
        raise place.error("interval", f"naming from [defaults] does not fit: {exc}") from None
