"""Value checks for every configuration key, and the keys each section takes.

Each check returns the typed value or raises ValueError(reason); the callers
(file, environment, flags) add where the value came from. layer_of checks a
section's keys into a typed Layer. The built-in defaults are TablePolicy's
(pgpart.core.policy).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgpart.config.layer import UNSET, Layer, Unset
from pgpart.core.durations import Duration
from pgpart.core.encoding import KeyEncoding
from pgpart.core.interval import Interval, parse_interval
from pgpart.core.policy import RetentionMode
from pgpart.core.relocation import Strategy

MAX_PREMAKE = 100_000
T = TypeVar("T")


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


# 10 years of hourly partitions; more is a typo (and overflows date arithmetic).
premake = _count(0, MAX_PREMAKE)


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


def lock_timeout(value: object) -> Duration:
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


def relocation(value: object) -> Strategy:
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


def interval(value: object) -> Interval:
    return parse_interval(_string(value, '"daily"'))


_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


def timezone(value: object) -> ZoneInfo:
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


POLICY_KEYS = (
    "interval",
    "previous_interval",
    "premake",
    "retention",
    "retention_mode",
    "timezone",
    "naming",
    "warn_ahead",
    "critical_ahead",
    "lock_timeout",
    "relocation",
    "relocation_max_wait",
    "archive_dir",
    "archive_command",
    "archive_timeout",
    "pg_bin",
    "analyze",
    "key_encoding",
)
# The limits of each run: [defaults] and [[database]] only.
SETTINGS_KEYS = ("statement_timeout", "retry_for", "max_new_partitions", "move_batch_rows")
DEFAULTS_KEYS = (
    *(k for k in POLICY_KEYS if k not in ("interval", "previous_interval")),
    *SETTINGS_KEYS,
)
TABLE_KEYS = ("name", *POLICY_KEYS)


class BadValue(ValueError):
    """A key's value failed its check: ``reason`` says why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


def layer_of(raw: Mapping[str, object]) -> Layer:
    """The keys of one section, each checked and typed (raises BadValue).
    Which keys a section may hold is its reader's to check first."""

    def get(key: str, check: Callable[[object], T]) -> T | Unset:
        if key not in raw:
            return UNSET
        try:
            return check(raw[key])
        except ValueError as exc:
            raise BadValue(key, str(exc)) from None

    return Layer(
        interval=get("interval", interval),
        previous_interval=get("previous_interval", interval),
        premake=get("premake", premake),
        retention=get("retention", _retention),
        retention_mode=get("retention_mode", _retention_mode),
        timezone=get("timezone", timezone),
        naming=get("naming", _naming),
        warn_ahead=get("warn_ahead", _duration),
        critical_ahead=get("critical_ahead", _duration),
        lock_timeout=get("lock_timeout", lock_timeout),
        relocation=get("relocation", relocation),
        relocation_max_wait=get("relocation_max_wait", _relocation_max_wait),
        archive_dir=get("archive_dir", _path_text),
        archive_command=get("archive_command", _command_text),
        archive_timeout=get("archive_timeout", _archive_timeout),
        pg_bin=get("pg_bin", _path_text),
        analyze=get("analyze", _boolean),
        key_encoding=get("key_encoding", _key_encoding),
        statement_timeout=get("statement_timeout", _statement_timeout),
        retry_for=get("retry_for", _retry_for),
        max_new_partitions=get("max_new_partitions", _count(1, 2**31 - 1)),
        move_batch_rows=get("move_batch_rows", _count(1, 2**31 - 1)),
    )
