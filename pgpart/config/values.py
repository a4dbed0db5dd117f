"""Value checks for every configuration key, and the built-in defaults.

Each check returns the typed value or raises ValueError(reason); the callers
(file, environment, flags) add where the value came from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgpart.config.policy import ARCHIVE_TIMEOUT, RetentionMode
from pgpart.core.calendar import Interval, parse_interval
from pgpart.core.durations import Duration
from pgpart.core.encoding import KeyEncoding
from pgpart.core.relocation import Strategy

MAX_PREMAKE = 100_000


def type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    name = names.get(type(value))
    if name is not None:
        return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # date, datetime, time


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: object, example: str) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"must be a string such as {example}, not {type_name(value)} ({show(value)})"
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
            raise ValueError(f"must be an integer, not {type_name(value)} ({show(value)}){hint}")
        if value < minimum:
            floor = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise ValueError(f"{floor} (got {value})")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum} (got {show(value)})")
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


def _archive_timeout(value: object) -> Duration:
    duration = _fixed(value)
    # 0 would kill every upload at once; a week is already beyond any upload.
    if not duration or duration.milliseconds() > 7 * 86_400_000:
        raise ValueError(f"must be more than 0 and at most 7 days (got {duration})")
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
        raise ValueError(f'must be "drop", "detach" or "archive", not {show(text)}') from None


def _relocation(value: object) -> Strategy:
    text = _string(value, '"auto"')
    try:
        return Strategy(text.strip().lower())
    except ValueError:
        raise ValueError(f'must be "auto", "lock" or "drain", not {show(text)}') from None


def _relocation_max_wait(value: object) -> Duration:
    duration = _fixed(value)
    if not duration or duration.milliseconds() > 3_600_000:
        raise ValueError(f"must be more than 0 and at most 1 hour (got {duration})")
    return duration


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


def _timezone(value: object) -> ZoneInfo:
    name = _string(value, '"UTC" or "Europe/Paris"')
    # zoneinfo reads files: refuse anything that is not plainly a zone name
    # ("", "../x", "/etc/passwd") before it goes near the file system.
    if _ZONE_NAME.fullmatch(name) and len(name) <= 100:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ValueError(f"unknown time zone {show(name)}{_zone_hint(name)}")


def _zone_hint(name: str) -> str:
    from zoneinfo import available_timezones  # scans the zone database: error path only

    zones = sorted(available_timezones())
    same = [z for z in zones if z.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, zones, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return ' (expected an IANA name such as "UTC" or "Europe/Paris")'


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        hint = (
            " (write it without quotes)"
            if isinstance(value, str) and value.strip().lower() in ("true", "false")
            else ""
        )
        raise ValueError(f"must be true or false, not {type_name(value)} ({show(value)}){hint}")
    return value


def _key_encoding(value: object) -> KeyEncoding:
    text = _string(value, '"epoch_ms"')
    try:
        return KeyEncoding(text.strip().lower())
    except ValueError:
        known = ", ".join(f'"{e.value}"' for e in KeyEncoding)
        close = difflib.get_close_matches(text.strip().lower(), [e.value for e in KeyEncoding], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"must be one of {known}, not {show(text)}{hint}") from None


def _naming(value: object) -> str:
    from pgpart.core.partition_names import validate_template

    template = _string(value, '"{table}_{start:%Y_%m}"')
    validate_template(template)
    return template


POLICY_CHECKS: dict[str, Callable[[object], Any]] = {
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
    "relocation": _relocation,
    "relocation_max_wait": _relocation_max_wait,
    "archive_dir": _path_text,
    "archive_command": _command_text,
    "archive_timeout": _archive_timeout,
    "pg_bin": _path_text,
    "analyze": _boolean,
    "key_encoding": _key_encoding,
}
SETTINGS_CHECKS: dict[str, Callable[[object], Any]] = {
    "statement_timeout": _statement_timeout,
    "retry_for": _retry_for,
    "max_new_partitions": _count(1, 2**31 - 1),
    "move_batch_rows": _count(1, 2**31 - 1),
}
DEFAULTS_KEYS = {
    k: v for k, v in POLICY_CHECKS.items() if k not in ("interval", "previous_interval")
} | SETTINGS_CHECKS
TABLE_KEYS = ("name", *POLICY_CHECKS)

BUILTIN_POLICY: dict[str, Any] = {
    "interval": None,
    "previous_interval": None,
    "premake": 3,
    "retention": None,
    "retention_mode": RetentionMode.DROP,
    "timezone": ZoneInfo("UTC"),
    "naming": None,
    "warn_ahead": None,
    "critical_ahead": Duration(),
    "lock_timeout": Duration(microseconds=500_000),
    "relocation": Strategy.AUTO,
    "relocation_max_wait": None,  # the table's lock_timeout
    "archive_dir": None,
    "archive_command": None,
    "archive_timeout": ARCHIVE_TIMEOUT,
    "pg_bin": None,
    "analyze": True,
    "key_encoding": None,  # inferred from the bounds of an integer or uuid key
}
BUILTIN_SETTINGS: dict[str, Any] = {
    "statement_timeout": Duration(microseconds=5 * 60 * 1_000_000),
    "retry_for": Duration(microseconds=30 * 1_000_000),
    "max_new_partitions": 500,
    "move_batch_rows": 100_000,
}
