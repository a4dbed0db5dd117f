"""Config loading: file choice, precedence, strict validation with located messages."""

from __future__ import annotations

import string
import tempfile
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pgpart.config import (
    Overrides,
    RetentionMode,
    Settings,
    load_settings,
    parse_table_name,
    render_toml,
)
from pgpart.core.calendar import Interval
from pgpart.core.durations import Duration
from pgpart.errors import ConfigError

DOCS_EXAMPLE = """\
[defaults]
timezone = "UTC"          # where day/month boundaries fall for timestamptz keys
premake = 3               # future partitions kept ready, in intervals
lock_timeout = "500ms"     # see --lock-timeout

[[table]]
name = "public.messages"
interval = "monthly"      # hourly, daily, weekly, monthly, quarterly, yearly
premake = 12
retention = "6 months"    # optional; partitions wholly older are dropped by maintain
retention_mode = "drop"   # or "detach"
# naming = "{table}_{start:%Y_%m}"   # optional; default: continue the existing names

[[table]]
name = "public.events"
interval = "daily"
premake = 30
retention = "90 days"
"""


def load(
    cwd: Path,
    text: str | None = None,
    overrides: Overrides | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    if text is not None:
        (cwd / "pgpart.toml").write_text(text, encoding="utf-8")
    return load_settings(overrides or Overrides(), environ or {}, cwd)


def error(cwd: Path, text: str | None = None, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(cwd, text, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- what loads ------------------------------------------------------------------


def test_contract_example_loads(tmp_path: Path) -> None:
    s = load(tmp_path, DOCS_EXAMPLE)
    assert s.config_path == tmp_path / "pgpart.toml"
    messages, events = s.tables
    assert messages.name == "public.messages"
    assert messages.interval is Interval.MONTHLY
    assert messages.premake == 12
    assert messages.retention == Duration(months=6)
    assert messages.retention_mode is RetentionMode.DROP
    assert messages.lock_timeout == Duration(microseconds=500_000)
    assert events.interval is Interval.DAILY
    assert events.premake == 30
    assert events.retention == Duration(days=90)
    assert s.defaults.name is None
    assert s.defaults.premake == 3
    assert s.defaults.interval is None


def test_contract_example_with_naming_loads(tmp_path: Path) -> None:
    text = DOCS_EXAMPLE.replace("# naming =", "naming =")
    assert load(tmp_path, text).tables[0].naming == "{table}_{start:%Y_%m}"


def test_builtin_defaults_without_a_file(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert s.config_path is None
    assert s.dsn is None
    assert s.tables == ()
    d = s.defaults
    assert (d.name, d.interval, d.premake, d.retention, d.timezone, d.naming) == (
        None, None, 3, None, ZoneInfo("UTC"), None,
    )  # fmt: skip
    assert d.retention_mode is RetentionMode.DROP
    assert d.archive_timeout == Duration.parse("1 hour")
    assert d.lock_timeout == Duration.parse("500ms")
    assert d.critical_ahead == Duration()
    assert d.warn_ahead is None
    assert d.configured_keys == frozenset()
    assert s.statement_timeout == Duration.parse("5min")
    assert s.retry_for == Duration.parse("30s")
    assert s.max_new_partitions == 500
    assert s.move_batch_rows == 100_000


def test_empty_file_is_fine(tmp_path: Path) -> None:
    s = load(tmp_path, "# nothing yet\n")
    assert s.config_path == tmp_path / "pgpart.toml"
    assert s.tables == ()


def test_every_key(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
[defaults]
timezone = "Europe/Paris"
premake = 4
lock_timeout = "2s"
retention = "1 year"
retention_mode = "detach"
warn_ahead = "3 days"
critical_ahead = "12h"
naming = "{table}_p{start:%Y%m%d%H}"
statement_timeout = "1min"
retry_for = "0"
max_new_partitions = 50
move_batch_rows = 5000

[[table]]
name = '"My Schema"."Events"'
interval = "Hourly"
retention = "none"
""",
    )
    assert (s.statement_timeout, s.retry_for) == (Duration.parse("1min"), Duration())
    assert (s.max_new_partitions, s.move_batch_rows) == (50, 5000)
    (t,) = s.tables
    assert t.name == '"My Schema"."Events"'
    assert t.interval is Interval.HOURLY
    assert t.retention is None  # "none" undoes the [defaults] retention
    assert t.retention_mode is RetentionMode.DETACH
    assert t.timezone == ZoneInfo("Europe/Paris")
    assert t.naming == "{table}_p{start:%Y%m%d%H}"
    assert t.warn_ahead == Duration(days=3)
    assert t.critical_ahead == Duration.parse("12h")
    assert t.lock_timeout == Duration.parse("2s")
    assert s.defaults.retention == Duration(months=12)


def test_every_key_is_a_typed_layer_field_and_a_policy_field() -> None:
    """Each key a section may hold has its typed field in a Layer, and each
    is a field of the core's TablePolicy, whose defaults are the built-ins."""
    from dataclasses import fields

    from pgpart.config.layer import KEYS
    from pgpart.config.values import POLICY_KEYS, SETTINGS_KEYS
    from pgpart.core.policy import TablePolicy

    assert set(KEYS) == set(POLICY_KEYS) | set(SETTINGS_KEYS)
    assert set(KEYS) == {f.name for f in fields(TablePolicy)} - {"name", "configured_keys"}


def test_a_layer_holds_each_key_checked_and_typed() -> None:
    from pgpart.config.layer import UNSET, Layer, policy
    from pgpart.config.values import BadValue, layer_of
    from pgpart.core.policy import TablePolicy

    raw = {"premake": 5, "retention": "none", "lock_timeout": "2s", "retry_for": "1 min"}
    layer = layer_of(raw)
    assert (layer.premake, layer.retention, layer.lock_timeout, layer.retry_for) == (
        5, None, Duration.parse("2s"), Duration.parse("1 min"),
    )  # fmt: skip
    assert layer.interval is UNSET and layer.given().keys() == raw.keys()
    with pytest.raises(BadValue) as bad:
        layer_of({"premake": "5"})
    assert bad.value.key == "premake" and "without quotes" in str(bad.value)
    # The last layer that sets a key wins; "none" (None) is a value, not UNSET.
    merged = policy("t", (layer, Layer(premake=7), Layer(retention=Duration(days=1))))
    assert (merged.premake, merged.retention, merged.lock_timeout) == (
        7, Duration(days=1), Duration.parse("2s"),
    )  # fmt: skip
    assert merged.configured_keys == {"premake", "retention", "lock_timeout", "retry_for"}
    assert policy(None, ()) == TablePolicy()


def test_a_database_block_sets_the_limits_of_each_table(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
[defaults]
retry_for = "5s"

[[table]]
name = "public.events"

[[database]]
name = "eu"
dsn = "dbname=eu"
retry_for = "9s"
move_batch_rows = 10
""",
    )
    assert s.tables[0].retry_for == Duration.parse("5s") == s.retry_for
    (eu,) = s.databases
    (events,) = eu.settings.tables
    assert (events.retry_for, events.move_batch_rows) == (Duration.parse("9s"), 10)
    assert (eu.settings.retry_for, eu.settings.move_batch_rows) == (Duration.parse("9s"), 10)


# -- which file --------------------------------------------------------------------


def test_flag_beats_env_beats_cwd(tmp_path: Path) -> None:
    (tmp_path / "pgpart.toml").write_text("[defaults]\npremake = 1\n")
    (tmp_path / "env.toml").write_text("[defaults]\npremake = 2\n")
    (tmp_path / "flag.toml").write_text("[defaults]\npremake = 3\n")
    env = {"PGPART_CONFIG": str(tmp_path / "env.toml")}
    assert load(tmp_path).defaults.premake == 1
    assert load(tmp_path, environ=env).defaults.premake == 2
    flagged = load(tmp_path, environ=env, overrides=Overrides(config=tmp_path / "flag.toml"))
    assert flagged.defaults.premake == 3
    assert flagged.config_path == tmp_path / "flag.toml"


def test_relative_config_is_read_from_cwd(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my.toml").write_text("[defaults]\npremake = 9\n")
    s = load(tmp_path, overrides=Overrides(config=Path("sub/my.toml")))
    assert s.defaults.premake == 9
    assert s.config_path == tmp_path / "sub" / "my.toml"


def test_named_file_must_exist(tmp_path: Path) -> None:
    message = error(tmp_path, overrides=Overrides(config=Path("nope.toml")))
    assert message == "--config: config file 'nope.toml' does not exist"
    message = error(tmp_path, environ={"PGPART_CONFIG": "gone.toml"})
    assert message == "PGPART_CONFIG: config file 'gone.toml' does not exist"


def test_named_file_must_not_be_a_directory(tmp_path: Path) -> None:
    message = error(tmp_path, overrides=Overrides(config=tmp_path))
    assert message.startswith("--config:")
    assert "is a directory" in message


def test_empty_env_counts_as_unset(tmp_path: Path) -> None:
    env = {"PGPART_CONFIG": "", "PGPART_DSN": "", "PGPART_PREMAKE": " ", "PGPART_TIMEZONE": ""}
    s = load(tmp_path, "[defaults]\npremake = 6\n", environ=env)
    assert s.config_path == tmp_path / "pgpart.toml"
    assert s.dsn is None
    assert s.defaults.premake == 6
    assert s.defaults.timezone == ZoneInfo("UTC")


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "pgpart.toml").write_bytes(b"[defaults]\npremake = 3\n# caf\xe9\n")
    assert error(tmp_path) == "pgpart.toml:3: not valid UTF-8 text"


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    (tmp_path / "pgpart.toml").write_bytes(b"\xef\xbb\xbf[defaults]\npremake = 5\n")
    assert load(tmp_path).defaults.premake == 5


# -- precedence --------------------------------------------------------------------

LAYERED = """
[defaults]
premake = 4
lock_timeout = "1s"
timezone = "Europe/Paris"

[[table]]
name = "public.events"
premake = 5
lock_timeout = "2s"
timezone = "Asia/Tokyo"

[[table]]
name = "public.other"
"""


def test_precedence_file_levels(tmp_path: Path) -> None:
    s = load(tmp_path, LAYERED)
    events, other = s.tables
    assert (events.premake, events.lock_timeout, events.timezone) == (
        5, Duration.parse("2s"), ZoneInfo("Asia/Tokyo"),
    )  # fmt: skip
    assert (other.premake, other.lock_timeout, other.timezone) == (
        4, Duration.parse("1s"), ZoneInfo("Europe/Paris"),
    )  # fmt: skip
    assert s.defaults.premake == 4


def test_precedence_env_over_file(tmp_path: Path) -> None:
    env = {"PGPART_PREMAKE": "6", "PGPART_LOCK_TIMEOUT": "3s", "PGPART_TIMEZONE": "America/Lima"}
    s = load(tmp_path, LAYERED, environ=env)
    for policy in (*s.tables, s.defaults):
        assert (policy.premake, policy.lock_timeout, policy.timezone) == (
            6, Duration.parse("3s"), ZoneInfo("America/Lima"),
        )  # fmt: skip


def test_precedence_flags_over_env(tmp_path: Path) -> None:
    env = {"PGPART_PREMAKE": "6", "PGPART_LOCK_TIMEOUT": "3s", "PGPART_TIMEZONE": "America/Lima"}
    flags = Overrides(premake=7, lock_timeout="200ms", timezone="Africa/Cairo", interval="weekly")
    s = load(tmp_path, LAYERED, environ=env, overrides=flags)
    for policy in (*s.tables, s.defaults):
        assert (policy.premake, policy.lock_timeout, policy.timezone, policy.interval) == (
            7, Duration.parse("200ms"), ZoneInfo("Africa/Cairo"), Interval.WEEKLY,
        )  # fmt: skip


def test_precedence_dsn(tmp_path: Path) -> None:
    assert load(tmp_path).dsn is None
    assert load(tmp_path, environ={"PGPART_DSN": "dbname=env"}).dsn == "dbname=env"
    flagged = load(tmp_path, environ={"PGPART_DSN": "dbname=env"}, overrides=Overrides(dsn="x"))
    assert flagged.dsn == "x"


def test_configured_keys(tmp_path: Path) -> None:
    text = '[defaults]\nretention = "30 days"\n[[table]]\nname = "t"\ninterval = "daily"\n'
    s = load(tmp_path, text, environ={"PGPART_PREMAKE": "2"})
    assert s.tables[0].configured_keys == {"retention", "interval", "premake"}
    assert s.defaults.configured_keys == {"retention", "premake"}
    (tmp_path / "pgpart.toml").unlink()
    s = load(tmp_path, overrides=Overrides(interval="monthly"))
    assert s.defaults.configured_keys == {"interval"}


def test_effective_warn_ahead(tmp_path: Path) -> None:
    s = load(tmp_path, '[[table]]\nname = "a"\n[[table]]\nname = "b"\nwarn_ahead = "5 days"\n')
    a, b = s.tables
    assert a.effective_warn_ahead(Interval.HOURLY) == Duration.parse("2 hours")
    assert a.effective_warn_ahead(Interval.DAILY) == Duration(days=2)
    assert a.effective_warn_ahead(Interval.MONTHLY) == Duration(days=2)
    assert b.effective_warn_ahead(Interval.HOURLY) == Duration(days=5)


# -- policy_for --------------------------------------------------------------------

NAMES = """
[[table]]
name = "public.events"
premake = 1
[[table]]
name = "events"
premake = 2
[[table]]
name = "logs"
premake = 3
[[table]]
name = '"Audit"."Log Entries"'
premake = 4
[[table]]
name = "Sales.Orders"
premake = 5
"""


@pytest.mark.parametrize(
    ("schema", "table", "search_path", "premake"),
    [
        ("public", "events", ("public",), 1),  # exact beats bare
        ("app", "events", ("app", "public"), 2),  # bare, through search_path
        ("app", "events", ("public",), None),  # app is not on search_path
        ("public", "logs", ("public",), 3),
        ("Audit", "Log Entries", ("public",), 4),  # quoted: case kept
        ("audit", "log entries", ("public",), None),
        ("sales", "orders", ("public",), 5),  # unquoted: folded to lower case
        ("Sales", "Orders", ("public",), None),
        ("public", "unlisted", ("public",), None),
    ],
)
def test_policy_for(
    tmp_path: Path, schema: str, table: str, search_path: tuple[str, ...], premake: int | None
) -> None:
    s = load(tmp_path, NAMES)
    policy = s.policy_for(schema, table, search_path)
    if premake is None:
        assert policy is s.defaults
        assert policy.name is None
    else:
        assert policy.premake == premake


def test_policy_for_default_search_path_is_public(tmp_path: Path) -> None:
    s = load(tmp_path, NAMES)
    assert s.policy_for("public", "logs").premake == 3
    assert s.policy_for("other", "logs") is s.defaults


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("events", (None, "events")),
        ("Public.Events", ("public", "events")),
        ('"My Schema"."Events"', ("My Schema", "Events")),
        ('"a""b".c', ('a"b', "c")),
        ("s.t$1", ("s", "t$1")),
        ("ÉVÉNEMENTS", (None, "ÉvÉnements")),  # only ASCII letters fold, as in PostgreSQL
    ],
)
def test_parse_table_name(text: str, parsed: tuple[str | None, str]) -> None:
    assert parse_table_name(text) == parsed


@pytest.mark.parametrize("text", ["", "a.b.c", "a.", ".a", "1abc", '"unterminated', '""', "a b"])
def test_parse_table_name_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a table name"):
        parse_table_name(text)


def test_parse_table_name_length() -> None:
    with pytest.raises(ValueError, match="63-byte"):
        parse_table_name("x" * 64)
    assert parse_table_name("x" * 63) == (None, "x" * 63)


# -- rejections: file, line, section, key and reason ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[table]]\nname = "public.events"\nintervl = "daily"\n',
            "pgpart.toml:3: [[table]] \"public.events\": key 'intervl' is unknown"
            " (did you mean 'interval'?)",
        ),
        (
            "[defaults]\npremake = 3\n\nlock_timout = '1s'\n",
            "pgpart.toml:4: [defaults]: key 'lock_timout' is unknown"
            " (did you mean 'lock_timeout'?)",
        ),
        (
            "[defaults]\npremake = '3'\n",
            "pgpart.toml:2: [defaults]: premake: must be an integer, not a string ('3')"
            " (write it without quotes)",
        ),
        (
            '# comment\n\n[[table]]\nname = "a"\n\n[[table]]\nname = "b"\npremake = -1\n',
            'pgpart.toml:8: [[table]] "b": premake: must not be negative (got -1)',
        ),
        (
            '[[table]]\nname = "public.events"\nretention = "6m"\n',
            "pgpart.toml:3: [[table]] \"public.events\": retention: invalid duration: '6m':"
            " the unit 'm' is ambiguous (minutes or months?): write '6min' for minutes or"
            " '6mon' for months",
        ),
        (
            '[[table]]\nname = "public.events"\nretention = "90 dayz"\n',
            "pgpart.toml:3: [[table]] \"public.events\": retention: invalid duration: '90 dayz':"
            " unknown unit 'dayz' (did you mean 'day'?); accepted units: years (y), months (mon),"
            " weeks (w), days (d), hours (h), minutes (min), seconds (s), milliseconds (ms),"
            " microseconds (us)",
        ),
        (
            '[defaults]\ntimezone = "Europe/Pari"\n',
            "pgpart.toml:2: [defaults]: timezone: unknown time zone 'Europe/Pari'"
            " (did you mean 'Europe/Paris'?)",
        ),
        (
            "tables = []\n",
            "pgpart.toml:1: key 'tables' is unknown (did you mean 'table'?)",
        ),
    ],
)
def test_rejection_messages_exactly(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text) == expected


T = '[[table]]\nname = "public.events"\n'  # two lines: keys added below are on line 3


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        # unknown keys, with or without a suggestion
        ("[defaults]\nfoo = 1\n", 2, ["[defaults]", "key 'foo' is unknown", "expected one of"]),
        (T + "Interval = 'daily'\n", 3, ["did you mean 'interval'?"]),
        ("[defaults]\ninterval = 'daily'\n", 2, ["'interval' is not allowed in [defaults]"]),
        ("[defaults]\nname = 'x'\n", 2, ["'name' is not allowed in [defaults]"]),
        (
            T + "statement_timeout = '1s'\n",
            3,
            ["'statement_timeout' is only allowed in [defaults]"],
        ),
        ("[default]\npremake = 1\n", 1, ["key 'default' is unknown", "did you mean 'defaults'"]),
        # wrong types
        (T + "premake = true\n", 3, ["premake: must be an integer, not a boolean"]),
        (T + "premake = 3.0\n", 3, ["premake: must be an integer, not a float"]),
        (T + "retention = 90\n", 3, ["retention: must be a string with a unit", '"90 days"']),
        (T + "lock_timeout = 500\n", 3, ["lock_timeout: must be a string with a unit", '"500ms"']),
        (T + "timezone = 0\n", 3, ["timezone: must be a string"]),
        (T + "interval = ['daily']\n", 3, ["interval: must be a string", "an array"]),
        (T + "naming = {a = 1}\n", 3, ["naming: must be a string", "a table"]),
        (T + "warn_ahead = 2024-01-01\n", 3, ["warn_ahead: must be a string", "a date"]),
        ("[defaults]\nmax_new_partitions = '5'\n", 2, ["max_new_partitions: must be an integer"]),
        # impossible values
        (T + "interval = 'fortnightly'\n", 3, ["unknown interval 'fortnightly'"]),
        (T + "interval = 'dialy'\n", 3, ["did you mean 'daily'"]),
        (T + "retention = '-5 days'\n", 3, ["retention: invalid duration", "negative"]),
        (T + "retention = '0'\n", 3, ["retention: must be more than 0", '"none"']),
        (T + "retention = '90'\n", 3, ["retention: invalid duration", "has no unit"]),
        (T + "critical_ahead = '5 fortnights'\n", 3, ["accepted units"]),
        (T + "retention_mode = 'archive'\n", 3, ['"archive" needs archive_dir']),
        ("[defaults]\nretention_mode = 'archive'\n", 2, ['"archive" needs archive_dir']),
        (
            T + "retention_mode = 'delete'\n",
            3,
            ['retention_mode: must be "drop", "detach" or "archive"'],
        ),
        (T + "timezone = 'Mars/Olympus'\n", 3, ["unknown time zone 'Mars/Olympus'"]),
        (T + "timezone = ''\n", 3, ["unknown time zone ''"]),
        (T + "timezone = '../../etc/passwd'\n", 3, ["unknown time zone '../../etc/passwd'"]),
        (T + "timezone = '/usr/share/zoneinfo/UTC'\n", 3, ["unknown time zone"]),
        (T + "timezone = 'America'\n", 3, ["unknown time zone 'America'"]),
        (T + "timezone = 'utc'\n", 3, ["did you mean 'UTC'"]),
        (T + "lock_timeout = '0'\n", 3, ["lock_timeout: must be more than 0 and at most 1 hour"]),
        (T + "lock_timeout = '2h'\n", 3, ["at most 1 hour (got 2h)"]),
        (T + "lock_timeout = '1 month'\n", 3, ["lock_timeout: 1 month has no fixed length"]),
        (T + "archive_timeout = '0s'\n", 3, ["archive_timeout: must be more than 0"]),
        (T + "archive_timeout = '8 days'\n", 3, ["at most 7 days (got 8 days)"]),
        (T + "archive_timeout = '1 month'\n", 3, ["archive_timeout: 1 month has no fixed length"]),
        ("[defaults]\nstatement_timeout = '30 days'\n", 2, ["at most 24 days"]),
        ("[defaults]\nretry_for = '2 hours'\n", 2, ["retry_for: must be at most 1 hour"]),
        ("[defaults]\nstatement_timeout = '0'\n", 2, ["must be more than 0"]),
        ("[defaults]\nretry_for = '1 year'\n", 2, ["retry_for: 1 year has no fixed length"]),
        ("[defaults]\nmax_new_partitions = -1\n", 2, ["max_new_partitions: must be at least 1"]),
        ("[defaults]\nmax_new_partitions = 0\n", 2, ["must be at least 1"]),
        ("[defaults]\nmove_batch_rows = 0\n", 2, ["move_batch_rows: must be at least 1"]),
        # naming templates (validated by pgpart.core.partition_names)
        (T + "naming = '{tabel}_{start:%Y}'\n", 3, ["naming: ", "{tabel}"]),
        (T + "naming = ''\n", 3, ["naming: ", "empty"]),
        (
            T + "interval = 'daily'\nnaming = '{table}_{start:%Y_%m}'\n",
            4,
            ["naming: ", "same name"],
        ),
        (
            "[defaults]\nnaming = '{table}_{start:%Y}'\n" + T + "interval = 'monthly'\n",
            5,
            ['[[table]] "public.events"', "naming from [defaults] does not fit", "same name"],
        ),
        # table names
        ("[[table]]\npremake = 1\n", 1, ["[[table]] #1", "key 'name' is missing"]),
        ("[[table]]\nname = ''\n", 2, ["[[table]] #1: name: must be a non-empty string"]),
        ("[[table]]\nname = 5\n", 2, ["name: must be a non-empty string", "an integer"]),
        ("[[table]]\nname = 'a.b.c'\n", 2, ["name: 'a.b.c' is not a table name"]),
        (
            T + "\n[[table]]\nname = 'Public.Events'\n",
            5,
            ['[[table]] "Public.Events": name: this table is already configured at line 2'],
        ),
        # shape of the document
        ("[table]\nname = 'x'\n", 1, ["table must be an array of tables", "write [[table]]"]),
        ("[[defaults]]\npremake = 1\n", 1, ["defaults must be a table", "write [defaults]"]),
        ("table = 3\n", 1, ["table must be an array of tables"]),
        ("table = [1]\n", 1, ["[[table]] #1: must be a table with a name, not an integer"]),
        # TOML syntax: tomllib's own line and column are kept
        ("[defaults\npremake = 3\n", 1, ["invalid TOML", "(at line 1, column 10)"]),
        ("[defaults]\npremake = 3\npremake = 4\n", 3, ["invalid TOML", "line 3"]),
        ('[defaults]\ntimezone = "UTC\n', 2, ["invalid TOML", "line 2"]),
    ],
)
def test_rejections(tmp_path: Path, text: str, line: int, fragments: list[str]) -> None:
    message = error(tmp_path, text)
    assert message.startswith(f"pgpart.toml:{line}:"), message
    for fragment in fragments:
        assert fragment in message, message


def test_message_names_the_file_as_given(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "prod.toml").write_text("[defaults]\npremake = -2\n")
    message = error(tmp_path, overrides=Overrides(config=Path("conf/prod.toml")))
    assert message.startswith("conf/prod.toml:2: [defaults]: premake")


def test_quoted_name_in_messages(tmp_path: Path) -> None:
    text = '[[table]]\nname = \'"My Schema"."Events"\'\npremake = "x"\n'
    message = error(tmp_path, text)
    assert message.startswith('pgpart.toml:3: [[table]] \'"My Schema"."Events"\': premake:')


def test_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    text = '[[table]]\nname = "\\"a\\nb\\".t"\npremake = -1\n'
    assert error(tmp_path, text).startswith("pgpart.toml:3: [[table]] '\"a\\nb\".t': premake:")


def test_line_numbers_count_only_newlines(tmp_path: Path) -> None:
    # \u2028 and \x85 are line breaks to str.splitlines(), not to TOML
    text = '# a\u2028b\x85c\n[defaults]\npremake = "x"\n'
    assert error(tmp_path, text).startswith("pgpart.toml:3: [defaults]: premake:")


def test_line_found_with_quoted_and_dotted_keys(tmp_path: Path) -> None:
    text = '[[table]]\nname = "t"\n"premake" = "1"\n'
    assert error(tmp_path, text).startswith("pgpart.toml:3:")
    text = '[[table]]\nname = "t"\nlock.timeout = "1s"\n'
    assert error(tmp_path, text).startswith("pgpart.toml:3: [[table]] \"t\": key 'lock'")
    text = '[[table]]\nname = "t"\n[table.extra]\na = 1\n'
    assert error(tmp_path, text).startswith("pgpart.toml:3: [[table]] \"t\": key 'extra'")


def test_line_ignores_lookalikes_in_multiline_strings(tmp_path: Path) -> None:
    text = (
        '[[table]]\nname = "a"\nnaming = """{table}_{start:%Y%m%d}\n[[table]]\npremake = 1\n"""\n'
        '[[table]]\nname = "b"\npremake = -1\n'
    )
    assert error(tmp_path, text).startswith('pgpart.toml:9: [[table]] "b": premake:')


def test_line_falls_back_for_inline_tables(tmp_path: Path) -> None:
    text = '# c\ntable = [\n  {name = "a"},\n  {name = "b", premake = -1},\n]\n'
    assert error(tmp_path, text).startswith('pgpart.toml:2: [[table]] "b": premake:')
    text = '\n\ndefaults = {premake = "3"}\n'
    assert error(tmp_path, text).startswith("pgpart.toml:3: [defaults]: premake:")


def test_second_table_line_is_found(tmp_path: Path) -> None:
    text = DOCS_EXAMPLE.replace('retention = "90 days"', 'retention = "90 dayz"')
    message = error(tmp_path, text)
    assert message.startswith('pgpart.toml:18: [[table]] "public.events": retention:')


# -- environment and flags are validated like the file ---------------------------------


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"PGPART_PREMAKE": "abc"}, ["PGPART_PREMAKE: must be a whole number", "'abc'"]),
        ({"PGPART_PREMAKE": "-1"}, ["PGPART_PREMAKE: must be a whole number"]),
        ({"PGPART_LOCK_TIMEOUT": "soon"}, ["PGPART_LOCK_TIMEOUT: invalid duration"]),
        ({"PGPART_LOCK_TIMEOUT": "2h"}, ["PGPART_LOCK_TIMEOUT: must be more than 0"]),
        ({"PGPART_TIMEZONE": "Mars/Olympus"}, ["PGPART_TIMEZONE: unknown time zone"]),
    ],
)
def test_env_errors_name_the_variable(
    tmp_path: Path, env: dict[str, str], fragments: list[str]
) -> None:
    message = error(tmp_path, DOCS_EXAMPLE, environ=env)
    assert message.startswith(next(iter(env)) + ": ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("overrides", "prefix", "fragment"),
    [
        (Overrides(lock_timeout="5 fortnights"), "--lock-timeout: ", "accepted units"),
        (Overrides(lock_timeout="0"), "--lock-timeout: ", "more than 0"),
        (Overrides(timezone="Nowhere"), "--timezone: ", "unknown time zone 'Nowhere'"),
        (Overrides(premake=-1), "--premake: ", "must not be negative"),
        (Overrides(interval="fortnightly"), "--interval: ", "unknown interval"),
    ],
)
def test_flag_errors_name_the_flag(
    tmp_path: Path, overrides: Overrides, prefix: str, fragment: str
) -> None:
    message = error(tmp_path, overrides=overrides)
    assert message.startswith(prefix)
    assert fragment in message


# -- render_toml (pgpart init) ---------------------------------------------------------


def test_render_toml_loads_back(tmp_path: Path) -> None:
    text = render_toml(
        {"timezone": "UTC", "premake": 3, "lock_timeout": "500ms"},
        [
            {"name": "public.events", "interval": "daily", "premake": 7},
            {"premake": 12, "name": '"My Schema"."Events"', "interval": "monthly",
             "retention": "6 months", "retention_mode": "detach"},
        ],
    )  # fmt: skip
    assert text.startswith("# ")
    assert "[[table]]" in text
    assert text.index('name = "public.events"') < text.index('interval = "daily"')
    s = load(tmp_path, text)
    events, mine = s.tables
    assert (events.name, events.interval, events.premake) == ("public.events", Interval.DAILY, 7)
    assert (mine.name, mine.interval, mine.premake) == (
        '"My Schema"."Events"',
        Interval.MONTHLY,
        12,
    )
    assert mine.retention == Duration(months=6)
    assert mine.retention_mode is RetentionMode.DETACH
    assert s.defaults.lock_timeout == Duration(microseconds=500_000)


def test_render_toml_accepts_pgpart_values(tmp_path: Path) -> None:
    text = render_toml(
        {"lock_timeout": Duration(microseconds=250_000), "retention_mode": RetentionMode.DROP},
        [{"name": "t", "interval": Interval.HOURLY, "retention": Duration(days=3)}],
    )
    s = load(tmp_path, text)
    assert s.defaults.lock_timeout == Duration(microseconds=250_000)
    assert s.tables[0].interval is Interval.HOURLY
    assert s.tables[0].retention == Duration(days=3)


def test_render_toml_empty(tmp_path: Path) -> None:
    s = load(tmp_path, render_toml({}, []))
    assert s.tables == ()


# -- never anything but Settings or ConfigError ------------------------------------------

KEYS = [
    "defaults", "table", "name", "interval", "premake", "retention", "retention_mode",
    "timezone", "naming", "warn_ahead", "critical_ahead", "lock_timeout", "statement_timeout",
    "retry_for", "max_new_partitions", "move_batch_rows", "intervl", "", " ", "a.b", '"',
]  # fmt: skip
STRINGS = [
    "daily", "hourly", "monthly", "90 days", "6 months", "0", "-5 days", "500ms", "2h", "none",
    "drop", "detach", "UTC", "Europe/Paris", "../x", "", "public.events", "events", "a.b.c",
    '"Q"."T"', '"a\nb".t', "{table}_{start:%Y_%m}", "{table}", "{", "{start}", "\x00", "1" * 50,
]  # fmt: skip

text_no_surrogates = st.text(st.characters(codec="utf-8"), max_size=20)
scalars = st.one_of(
    st.sampled_from(STRINGS),
    text_no_surrogates,
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=True),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(timezone.utc))),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS) | text_no_surrogates, inner, max_size=3),
    ),
    max_leaves=8,
)
# Mostly valid values, so that documents get past their first key and every
# check runs; now and then anything at all.
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "interval": st.sampled_from([i.value for i in Interval]),
    "premake": st.integers(0, 50),
    "retention": st.sampled_from(["90 days", "6 months", "1 year", "none"]),
    "retention_mode": st.sampled_from(["drop", "detach"]),
    "timezone": st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
    "naming": st.sampled_from(["{table}_{start:%Y%m%d%H}", "{table}_p{start:%Y_%m_%d_%H%M}"]),
    "warn_ahead": st.sampled_from(["2 days", "0", "12h", "1 month"]),
    "critical_ahead": st.sampled_from(["0", "1h"]),
    "lock_timeout": st.sampled_from(["500ms", "1s", "1h"]),
    "statement_timeout": st.sampled_from(["5min", "1h"]),
    "retry_for": st.sampled_from(["30s", "0"]),
    "max_new_partitions": st.integers(1, 1000),
    "move_batch_rows": st.integers(1, 10**6),
}


def _section(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries(
        {}, optional={k: st.one_of(GOOD[k], GOOD[k], GOOD[k], values) for k in keys}
    )
    stray = st.one_of(
        st.just({}), st.just({}), st.just({}), st.dictionaries(st.sampled_from(KEYS), values)
    )
    return st.builds(lambda a, b: {**a, **b}, known, stray)


defaults_sections = _section([k for k in GOOD if k != "interval"])
table_entries = st.builds(
    lambda name, rest: {"name": name, **rest} if name is not None else rest,
    st.one_of(
        st.sampled_from(["public.events", "events", "a.b", '"Q"."T"', '"a\nb".t']),
        st.sampled_from(["public.events", "events", "a.b", '"Q"."T"', '"a\nb".t']),
        st.none(),
        values,
    ),
    _section(["interval", "premake", "retention", "retention_mode", "timezone", "naming",
              "warn_ahead", "critical_ahead", "lock_timeout"]),
)  # fmt: skip
documents = st.builds(
    lambda core, extra: {**core, **extra},
    st.fixed_dictionaries(
        {},
        optional={
            "defaults": st.one_of(defaults_sections, defaults_sections, values),
            "table": st.one_of(
                st.lists(table_entries, max_size=3), st.lists(table_entries, max_size=3), values
            ),
        },
    ),
    st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(text_no_surrogates, values)),
)
environments: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.just({}),
    st.dictionaries(
        st.sampled_from(["PGPART_PREMAKE", "PGPART_LOCK_TIMEOUT", "PGPART_TIMEZONE", "PGPART_DSN"]),
        st.one_of(st.sampled_from(["3", "0", "200ms", "UTC", "Asia/Tokyo"]),
                  st.sampled_from(STRINGS), text_no_surrogates),
    ),
)  # fmt: skip


def _load_text(text: str, environ: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pgpart.toml").write_text(text, encoding="utf-8")
        try:
            result = load_settings(Overrides(), environ, Path(tmp))
        except ConfigError as exc:
            message = str(exc)
            event(
                "ConfigError: " + message.split(": ")[1 if message.startswith("pgpart") else 0][:20]
            )
            assert "\n" not in message
            assert message.startswith(("pgpart.toml", "PGPART_")), message
        else:
            event("loaded")
            assert isinstance(result, Settings)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents, environments)
def test_random_documents_load_or_raise_config_error(
    document: dict[str, Any], environ: dict[str, str]
) -> None:
    try:
        text = tomli_w.dumps(document)
    except (TypeError, ValueError):
        return  # not representable in TOML (e.g. a time with an offset)
    _load_text(text, environ)


@settings(max_examples=300)
@given(st.text(st.characters(codec="utf-8")))
def test_random_text_loads_or_raises_config_error(text: str) -> None:
    _load_text(text, {})


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(DOCS_EXAMPLE.splitlines()), max_size=20),
    st.lists(st.tuples(st.integers(0, 30), st.text(string.printable, max_size=30)), max_size=3),
)
def test_shuffled_and_mangled_contract_lines(
    lines: list[str], edits: list[tuple[int, str]]
) -> None:
    for position, insert in edits:
        lines.insert(min(position, len(lines)), insert)
    _load_text("\n".join(lines), {})


def test_time_values_are_type_errors(tmp_path: Path) -> None:
    # sanity check for the strategies above: TOML dates and times reach the checks
    text = tomli_w.dumps({"defaults": {"retention": date(2024, 1, 1), "warn_ahead": time(1)}})
    assert "must be a string" in error(tmp_path, text)
    text = tomli_w.dumps({"defaults": {"retention": datetime(2024, 1, 1)}})
    assert "a datetime" in error(tmp_path, text)
