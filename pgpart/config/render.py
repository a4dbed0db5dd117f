"""Writing a pgpart.toml (pgpart init, pgpart fleet init)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pgpart.core.calendar import Interval
from pgpart.core.durations import Duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

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
#                   archive_command with {path} and {manifest}, killed past
#                   archive_timeout (default 1 hour), then drop; pg_bin: where
#                   pg_dump/pg_restore are, else PATH, else pg_config --bindir)
#   warn_ahead, critical_ahead   check warns / fails when coverage ends sooner than
#                   now + this (default: 2 days, 2 hours for hourly; 0)
#   naming          e.g. "{table}_{start:%Y_%m}"; default: continue the existing names
#   analyze         true (default): ANALYZE the parent after a run changed its partitions
#   key_encoding    how an integer or uuid key holds time: "epoch_s", "epoch_ms",
#                   "epoch_us", "epoch_ns" (since 1970) or "uuidv7"; default: inferred
#                   from the bounds where they leave no doubt
#   relocation      rows out of DEFAULT when moving them would make writers wait longer
#                   than relocation_max_wait (default: lock_timeout): "auto" (ask),
#                   "lock" (let them wait) or "drain" (batches; the rows in transit
#                   are invisible to readers meanwhile); see docs/relocation.md
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
