"""pgpart.toml + PGPART_* environment + command-line flags -> frozen settings.

Precedence, highest first: flags (Overrides), PGPART_* environment variables,
the file ([[table]] entry, then [defaults]), built-in defaults. Every problem
is a one-line ConfigError naming the file, line, section and key.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgpart.core import identifiers as names
from pgpart.core.calendar import Interval, parse_interval
from pgpart.core.durations import Duration
from pgpart.errors import ConfigError

if TYPE_CHECKING:
    from pgpart.config_database import DatabaseBlock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

__all__ = [
    "DEFAULT_FILE",
    "Overrides",
    "RetentionMode",
    "Settings",
    "TablePolicy",
    "load_settings",
    "parse_table_name",
    "render_toml",
]

DEFAULT_FILE = "pgpart.toml"
MAX_PREMAKE = 100_000
# A config is a few kB; reading stops here (--config /dev/zero must not eat memory).
MAX_FILE_BYTES = 1 << 20


class RetentionMode(str, Enum):
    DROP = "drop"
    DETACH = "detach"
    ARCHIVE = "archive"  # pg_dump, verify, archive_command, then drop (pgpart.db.archive)


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """The effective policy for one table, every layer of configuration merged."""

    name: str | None  # as written in the config; None for the policy of unlisted tables
    interval: Interval | None  # None: infer from the existing bounds
    premake: int
    retention: Duration | None
    retention_mode: RetentionMode
    timezone: str
    naming: str | None
    warn_ahead: Duration | None  # None: by interval, see effective_warn_ahead
    critical_ahead: Duration
    lock_timeout: Duration
    # Keys whose value came from the file, the environment or a flag rather
    # than from the built-in defaults ("configured interval" vs "inferred").
    configured_keys: frozenset[str]
    # The interval the existing partitions follow, stated: then a different
    # `interval` takes effect going forward even while they lie ahead.
    previous_interval: Interval | None = None
    # retention_mode = "archive": where dumps go, what uploads them, which pg_dump.
    archive_dir: str | None = None
    archive_command: str | None = None
    pg_bin: str | None = None

    def effective_warn_ahead(self, interval: Interval) -> Duration:
        """warn_ahead, or the default that suits a daily cron with premake 3."""
        if self.warn_ahead is not None:
            return self.warn_ahead
        if interval.unit.elapsed:  # two periods: 2 hours for hourly partitions
            return Duration(microseconds=2 * int(interval.elapsed.total_seconds()) * 1_000_000)
        return Duration(days=2)


@dataclass(frozen=True, slots=True)
class Settings:
    dsn: str | None  # None: libpq defaults (PGHOST, PGSERVICE, ...)
    config_path: Path | None  # the file actually read
    defaults: TablePolicy  # for tables the config does not list (name None)
    tables: tuple[TablePolicy, ...]
    statement_timeout: Duration
    retry_for: Duration  # total time to keep retrying after a lock timeout
    max_new_partitions: int  # per table and run, unless forced
    move_batch_rows: int  # rows per batch when moving rows out of DEFAULT
    databases: tuple[Database, ...] = ()  # the [[database]] blocks (a fleet)

    def policy_for(
        self, schema: str, table: str, search_path_schemas: Sequence[str] = ("public",)
    ) -> TablePolicy:
        """The configured policy for schema.table, else the defaults.

        A "schema.table" entry matches exactly; a bare name matches a table of
        that name in any of search_path_schemas (pass only the schema the name
        resolves to when that is known). Names compare the way PostgreSQL
        reads them: unquoted parts folded to lower case.
        """
        bare: TablePolicy | None = None
        for policy in self.tables:
            if policy.name is None:
                continue
            want_schema, want_table = parse_table_name(policy.name)
            if want_table != table:
                continue
            if want_schema == schema:
                return policy
            if want_schema is None and bare is None and schema in search_path_schemas:
                bare = policy
        return bare if bare is not None else self.defaults


@dataclass(frozen=True, slots=True)
class Database:
    """One [[database]] block: where it is, and its settings, every layer merged."""

    name: str
    dsn: str | None  # exactly one of dsn and service
    service: str | None
    tables: tuple[str, ...]  # its TABLE arguments when none are given; () for the default
    line: int | None  # of its [[database]] header, for messages
    settings: Settings  # [defaults] < this block < [[table]] < environment < flags


@dataclass(frozen=True, slots=True)
class Overrides:
    """Values from command-line flags; None means the flag was not given."""

    dsn: str | None = None
    config: Path | None = None
    lock_timeout: str | None = None
    timezone: str | None = None
    premake: int | None = None
    # create --interval. Applied to every policy: the CLI passes it only for
    # the table named on the command line.
    interval: str | None = None


# -- value checks: each returns the typed value or raises ValueError(reason) --


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    name = names.get(type(value))
    if name is not None:
        return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # date, datetime, time


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: object, example: str) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"must be a string such as {example}, not {_type_name(value)} ({_show(value)})"
        )
    return value


def _count(minimum: int, maximum: int | None = None) -> Callable[[object], int]:
    def check(value: object) -> int:
        # bool is an int subclass in Python, but `premake = true` is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            hint = (
                " (write it without quotes)"
                if isinstance(value, str) and value.strip().isdigit()
                else ""
            )
            raise ValueError(f"must be an integer, not {_type_name(value)} ({_show(value)}){hint}")
        if value < minimum:
            floor = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise ValueError(f"{floor} (got {value})")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum} (got {_show(value)})")
        return value

    return check


def _duration(value: object) -> Duration:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(
            f'must be a string with a unit, e.g. "{value} days" or "{value}ms", not a bare number'
        )
    text = _string(value, '"90 days" or "500ms"')
    try:
        return Duration.parse(text)
    except ValueError as exc:
        raise ValueError(f"invalid duration: {exc}") from None


def _fixed(value: object) -> Duration:
    duration = _duration(value)
    if duration.months:
        raise ValueError(f"{duration} has no fixed length: use days, hours, minutes or seconds")
    return duration


def _lock_timeout(value: object) -> Duration:
    duration = _fixed(value)
    # 0 would disable the timeout in PostgreSQL: DDL could then queue every
    # query behind it for as long as it waits.
    if not duration or duration.milliseconds() > 3_600_000:
        raise ValueError(f"must be more than 0 and at most 1 hour (got {duration})")
    return duration


def _statement_timeout(value: object) -> Duration:
    duration = _fixed(value)
    if not duration or duration.milliseconds() > 2**31 - 1:
        raise ValueError(f"must be more than 0 and at most 24 days (got {duration})")
    return duration


def _retry_for(value: object) -> Duration:
    duration = _fixed(value)
    # A cron run that retries for a day overlaps the next runs; an hour is
    # already far beyond any sane wait for a lock.
    if duration.milliseconds() > 3_600_000:
        raise ValueError(f"must be at most 1 hour (got {duration})")
    return duration


def _retention(value: object) -> Duration | None:
    if isinstance(value, str) and value.strip().lower() == "none":
        return None  # lets one [[table]] keep everything despite [defaults]
    duration = _duration(value)
    if not duration:
        raise ValueError('must be more than 0 (or "none" to keep every partition)')
    return duration


def _retention_mode(value: object) -> RetentionMode:
    text = _string(value, '"drop"')
    try:
        return RetentionMode(text.strip().lower())
    except ValueError:
        raise ValueError(f'must be "drop", "detach" or "archive", not {_show(text)}') from None


def _path_text(value: object) -> str:
    text = _string(value, '"/var/backups/pgpart"')
    if not text.strip() or "\0" in text:
        raise ValueError("must be a non-empty path")
    return text


def _command_text(value: object) -> str:
    text = _string(value, '"aws s3 cp {path} s3://bucket/pgpart/"')
    if not text.strip():
        raise ValueError("must be a non-empty shell command (or leave it out)")
    return text


def _interval(value: object) -> Interval:
    return parse_interval(_string(value, '"daily"'))


_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


def _timezone(value: object) -> str:
    name = _string(value, '"UTC" or "Europe/Paris"')
    found = False
    # zoneinfo reads files: refuse anything that is not plainly a zone name
    # ("", "../x", "/etc/passwd") before it goes near the file system.
    if _ZONE_NAME.fullmatch(name) and len(name) <= 100:
        try:
            ZoneInfo(name)
            found = True
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    if not found:
        raise ValueError(f"unknown time zone {_show(name)}{_zone_hint(name)}")
    return name


def _zone_hint(name: str) -> str:
    from zoneinfo import available_timezones  # scans the zone database: error path only

    zones = sorted(available_timezones())
    same = [z for z in zones if z.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, zones, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return ' (expected an IANA name such as "UTC" or "Europe/Paris")'


def _naming(value: object) -> str:
    from pgpart.core.partition_names import validate_template

    template = _string(value, '"{table}_{start:%Y_%m}"')
    validate_template(template)
    return template


_POLICY_CHECKS: dict[str, Callable[[object], Any]] = {
    "interval": _interval,
    "previous_interval": _interval,
    # 10 years of hourly partitions; more is a typo (and overflows date arithmetic).
    "premake": _count(0, MAX_PREMAKE),
    "retention": _retention,
    "retention_mode": _retention_mode,
    "timezone": _timezone,
    "naming": _naming,
    "warn_ahead": _duration,
    "critical_ahead": _duration,
    "lock_timeout": _lock_timeout,
    "archive_dir": _path_text,
    "archive_command": _command_text,
    "pg_bin": _path_text,
}
_SETTINGS_CHECKS: dict[str, Callable[[object], Any]] = {
    "statement_timeout": _statement_timeout,
    "retry_for": _retry_for,
    "max_new_partitions": _count(1, 2**31 - 1),
    "move_batch_rows": _count(1, 2**31 - 1),
}
_DEFAULTS_KEYS = {
    k: v for k, v in _POLICY_CHECKS.items() if k not in ("interval", "previous_interval")
} | _SETTINGS_CHECKS
_TABLE_KEYS = ("name", *_POLICY_CHECKS)

_BUILTIN_POLICY: dict[str, Any] = {
    "interval": None,
    "previous_interval": None,
    "premake": 3,
    "retention": None,
    "retention_mode": RetentionMode.DROP,
    "timezone": "UTC",
    "naming": None,
    "warn_ahead": None,
    "critical_ahead": Duration(),
    "lock_timeout": Duration(microseconds=500_000),
    "archive_dir": None,
    "archive_command": None,
    "pg_bin": None,
}
_BUILTIN_SETTINGS: dict[str, Any] = {
    "statement_timeout": Duration(microseconds=5 * 60 * 1_000_000),
    "retry_for": Duration(microseconds=30 * 1_000_000),
    "max_new_partitions": 500,
    "move_batch_rows": 100_000,
}

# Environment variables that set a policy key for every table.
_ENV_KEYS = {
    "PGPART_LOCK_TIMEOUT": "lock_timeout",
    "PGPART_TIMEZONE": "timezone",
    "PGPART_PREMAKE": "premake",
}


# -- table names -------------------------------------------------------------

# One parser for every name a user writes: pgpart.core.identifiers.
parse_table_name = names.parse_table_name


# -- finding the line of a key -------------------------------------------------

_KEY_START = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")


def _dotted_key(text: str, pos: int) -> tuple[list[str], int]:
    """Read a TOML dotted key from text[pos:]; returns its parts and where it ends."""
    parts: list[str] = []
    while True:
        match = _KEY_START.match(text, pos)
        if match is None:
            return parts, pos
        parts.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


class _Locator:
    """Line numbers of sections and keys, by scanning the text (tomllib gives none).

    Best effort: keys inside inline tables or multi-line values are not
    seen; line() then falls back to the enclosing section or key.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, int | None, str | None], int] = {}
        section: tuple[str, int | None] | None = ("", None)
        tables = -1
        in_string = False
        # split on "\n" only: str.splitlines() also breaks at \x0c, \u2028...,
        # which TOML (and tomllib's line numbers) do not count as newlines
        for number, line in enumerate(text.split("\n"), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if quotes % 2 == 1:
                in_string = True
            stripped = line.lstrip()
            if stripped.startswith("["):
                is_array = stripped.startswith("[[")
                path, _ = _dotted_key(stripped, 2 if is_array else 1)
                if not path:
                    section = None
                    continue
                self._remember(("", None, path[0]), number)
                if path == ["table"] and is_array:
                    tables += 1
                    section = ("table", tables)
                    self._remember(("table", tables, None), number)
                elif path == ["defaults"] and not is_array:
                    section = ("defaults", None)
                    self._remember(("defaults", None, None), number)
                else:
                    if path[0] == "table" and len(path) > 1 and tables >= 0:
                        self._remember(("table", tables, path[1]), number)
                    elif path[0] == "defaults" and len(path) > 1:
                        self._remember(("defaults", None, path[1]), number)
                    section = None
                continue
            path, end = _dotted_key(line, 0)
            if section is not None and path and line[end : end + 1] in ("=", "."):
                self._remember((section[0], section[1], path[0]), number)

    def _remember(self, where: tuple[str, int | None, str | None], number: int) -> None:
        self._lines.setdefault(where, number)

    def line(self, section: str, index: int | None, key: str | None) -> int | None:
        for where in ((section, index, key), (section, index, None), ("", None, section)):
            if where in self._lines:
                return self._lines[where]
        return None


@dataclass(frozen=True, slots=True)
class _Place:
    """One section of the file, to name it in messages."""

    file: str
    locator: _Locator
    section: str  # "", "defaults" or "table"
    index: int | None
    title: str  # '[defaults]', '[[table]] "public.events"'

    def error(self, key: str | None, reason: str) -> ConfigError:
        line = self.locator.line(self.section, self.index, key)
        at = f"{self.file}:{line}" if line is not None else self.file
        title = f" {self.title}:" if self.title else ""
        return ConfigError(f"{at}:{title} {reason}")


# -- reading the file --------------------------------------------------------


def _choose_file(
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


def _read_text(path: Path, shown: str) -> str:
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


def _unknown_key(place: _Place, key: str, allowed: Sequence[str]) -> ConfigError:
    if place.section == "defaults" and key in _TABLE_KEYS:
        reason = f"key {key!r} is not allowed in [defaults]: set it in each [[table]]"
    elif place.section == "table" and key in _SETTINGS_CHECKS:
        reason = f"key {key!r} is only allowed in [defaults]"
    else:
        close = difflib.get_close_matches(key, list(allowed), n=1)
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else f" (expected one of: {', '.join(allowed)})"
        )
        reason = f"key {_show(key)} is unknown{hint}"
    return place.error(key, reason)


def _check_values(
    place: _Place, values: Mapping[str, Any], checks: Mapping[str, Callable[[object], Any]]
) -> dict[str, Any]:
    allowed = list(checks) if place.section == "defaults" else list(_TABLE_KEYS)
    result: dict[str, Any] = {}
    for key, value in values.items():
        if key == "name" and place.section == "table":
            continue
        check = checks.get(key)
        if check is None:
            raise _unknown_key(place, key, allowed)
        try:
            result[key] = check(value)
        except ValueError as exc:
            raise place.error(key, f"{key}: {exc}") from None
    return result


@dataclass(frozen=True, slots=True)
class _FileContent:
    defaults: dict[str, Any]  # checked values, policy and settings keys
    tables: tuple[tuple[str, dict[str, Any]], ...]  # (name as written, checked values)
    databases: tuple[DatabaseBlock, ...] = ()  # pgpart.config_database


def _table_title(name: str) -> str:
    if not name.isprintable():  # a quoted identifier may hold a newline: keep one line
        return f"[[table]] {_show(name)}"
    return f"[[table]] '{name}'" if '"' in name else f'[[table]] "{name}"'


def _read_file(text: str, shown: str) -> _FileContent:
    document = _parse_toml(text, shown)
    locator = _Locator(text)
    top = _Place(shown, locator, "", None, "")
    for key in document:
        if key not in ("defaults", "table", "database"):
            raise _unknown_key(top, key, ["defaults", "table", "database"])

    raw_defaults = document.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        hint = ": write [defaults], not [[defaults]]" if isinstance(raw_defaults, list) else ""
        raise top.error("defaults", f"defaults must be a table{hint}")
    defaults = _check_values(
        _Place(shown, locator, "defaults", None, "[defaults]"), raw_defaults, _DEFAULTS_KEYS
    )

    raw_tables = document.get("table", [])
    if not isinstance(raw_tables, list):
        hint = ": write [[table]], not [table]" if isinstance(raw_tables, dict) else ""
        raise top.error("table", f"table must be an array of tables{hint}")
    _check_archive_dir(_Place(shown, locator, "defaults", None, "[defaults]"), defaults, {})
    tables: list[tuple[str, dict[str, Any]]] = []
    seen: dict[tuple[str | None, str], int] = {}
    for index, entry in enumerate(raw_tables):
        numbered = _Place(shown, locator, "table", index, f"[[table]] #{index + 1}")
        if not isinstance(entry, dict):
            raise numbered.error(None, f"must be a table with a name, not {_type_name(entry)}")
        if "name" not in entry:
            raise numbered.error(None, "key 'name' is missing (e.g. name = \"public.events\")")
        name = entry["name"]
        try:
            if not isinstance(name, str) or not name:
                raise ValueError(
                    'must be a non-empty string such as "public.events", '
                    f"not {_type_name(name)} ({_show(name)})"
                )
            identity = parse_table_name(name)
        except ValueError as exc:
            raise numbered.error("name", f"name: {exc}") from None
        place = _Place(shown, locator, "table", index, _table_title(name))
        if identity in seen:
            first = locator.line("table", seen[identity], "name")
            where = f"line {first}" if first is not None else f"[[table]] #{seen[identity] + 1}"
            raise place.error("name", f"name: this table is already configured at {where}")
        seen[identity] = index
        values = _check_values(place, entry, _POLICY_CHECKS)
        _check_naming_fits(place, values, defaults)
        _check_archive_dir(place, values, defaults)
        tables.append((name, values))
    from pgpart.config_database import read_databases

    databases = read_databases(document.get("database", []), text, shown)
    return _FileContent(defaults, tuple(tables), databases)


def _check_archive_dir(
    place: _Place, values: Mapping[str, Any], defaults: Mapping[str, Any]
) -> None:
    """retention_mode = "archive" needs somewhere to write the archives."""
    mode = values.get("retention_mode", defaults.get("retention_mode"))
    if mode is RetentionMode.ARCHIVE and not values.get("archive_dir", defaults.get("archive_dir")):
        key = "retention_mode" if "retention_mode" in values else None
        raise place.error(key, 'retention_mode = "archive" needs archive_dir (a directory)')


def _check_naming_fits(
    place: _Place, values: Mapping[str, Any], defaults: Mapping[str, Any]
) -> None:
    """A template must give consecutive periods distinct names ({start:%Y_%m} can't be daily)."""
    from pgpart.core.partition_names import validate_template

    template = values.get("naming", defaults.get("naming"))
    interval = values.get("interval")
    if template is None or interval is None:
        return
    try:
        validate_template(template, interval)
    except ValueError as exc:
        if "naming" in values:
            raise place.error("naming", f"naming: {exc}") from None
        raise place.error("interval", f"naming from [defaults] does not fit: {exc}") from None


# -- environment and flags ---------------------------------------------------


def _checked_override(origin: str, key: str, value: object) -> Any:
    try:
        return _POLICY_CHECKS[key](value)
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
                    f"{variable}: must be a whole number (0 or more), not {_show(text)}"
                )
            if len(text) > 18:  # int() of 5000 digits raises; no premake is this long
                raise ConfigError(f"{variable}: must be at most {MAX_PREMAKE} (got {_show(text)})")
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
    ):
        if value is not None:
            layer[key] = _checked_override(flag, key, value)
    return layer


def _policy(name: str | None, layers: Sequence[Mapping[str, Any]]) -> TablePolicy:
    values = dict(_BUILTIN_POLICY)
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
    chosen = _choose_file(overrides, environ, cwd)
    content = _FileContent({}, ())
    if chosen is not None:
        path, shown = chosen
        content = _read_file(_read_text(path, shown), shown)
    environment = _environment_layer(environ)
    flags = _flag_layer(overrides)
    settings = dict(_BUILTIN_SETTINGS)
    settings.update({k: v for k, v in content.defaults.items() if k in _SETTINGS_CHECKS})
    dsn = overrides.dsn if overrides.dsn is not None else environ.get("PGPART_DSN") or None

    def build(dsn: str | None, block: Mapping[str, Any]) -> Settings:
        run = settings | {k: v for k, v in block.items() if k in _SETTINGS_CHECKS}
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


# -- writing a config (pgpart init) ------------------------------------------

_HEADER = """\
# pgpart.toml: the partitioned tables pgpart maintains, and how.
# Durations read like "90 days", "6 months", "12h", "500ms".
#
# [defaults] applies to every table, listed or not:
#   timezone        IANA zone where day and month boundaries fall (timestamptz keys)
#   premake         future partitions kept ready, counted in intervals
#   lock_timeout    longest any query may wait behind pgpart's DDL (at most 1 hour)
#   retention       optional: maintain drops partitions wholly older than this
#   retention_mode  "drop", "detach" or "archive" (pg_dump to archive_dir, verify,
#                   archive_command with {path} and {manifest}, then drop; pg_bin: where
#                   pg_dump/pg_restore are, else PATH, else pg_config --bindir)
#   warn_ahead, critical_ahead   check warns / fails when coverage ends sooner than
#                   now + this (default: 2 days, 2 hours for hourly; 0)
#   naming          e.g. "{table}_{start:%Y_%m}"; default: continue the existing names
#   statement_timeout, retry_for, max_new_partitions, move_batch_rows
#                   limits of each run ([defaults] only)
# [[table]] names one table ("schema.table", or a name found on search_path), may
# set interval (hourly, daily, weekly, monthly, quarterly, yearly; default: inferred
# from the existing partitions) and any key above but the limits of each run.
# Flags and PGPART_* environment variables override this file.

"""


def _toml_value(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Duration, Path, Interval)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _toml_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_toml_value(v) for v in value]
    return value


def render_toml(defaults: Mapping[str, object], tables: Sequence[Mapping[str, object]]) -> str:
    """A pgpart.toml with a short header, for `pgpart init`.

    Values may be TOML-ready (str, int...) or pgpart values (Duration,
    Interval, RetentionMode), which are written in their text form.
    """
    import tomli_w  # only `init` writes TOML: keep it off the start-up path

    document: dict[str, Any] = {}
    if defaults:
        document["defaults"] = _toml_value(defaults)
    if tables:
        entries = []
        for table in tables:
            entry = _toml_value(table)
            assert isinstance(entry, dict)
            # name first, then interval: what a reader looks for
            first = {k: entry[k] for k in ("name", "interval") if k in entry}
            entries.append(first | {k: v for k, v in entry.items() if k not in first})
        document["table"] = entries
    # tomli_w writes short arrays of tables inline (table = [{...}]); write
    # [[table]] sections, the form people edit, when that says the same thing.
    chunks = []
    if "defaults" in document:
        chunks.append(tomli_w.dumps({"defaults": document["defaults"]}))
    chunks.extend("[[table]]\n" + tomli_w.dumps(entry) for entry in document.get("table", []))
    body = "\n".join(chunks)
    if tomllib.loads(body) != document:
        body = tomli_w.dumps(document)
    return _HEADER + body
