"""`pgpart init`: a pgpart.toml suggested from what the database holds."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgpart.core import handover
from pgpart.core.planner import inferred_interval, table_zone
from pgpart.core.record import record

if TYPE_CHECKING:
    from pgpart.api import Gathered
    from pgpart.config import Settings
    from pgpart.core.snapshot import PartitionedTable


@record
class Suggestion:
    """What init writes for one database, and what it cannot."""

    defaults: dict[str, object]
    tables: list[dict[str, object]]  # the [[table]] entries
    comments: dict[str, str]  # per table: settings carried over from pg_partman
    skipped: list[str]  # one line per table left out, with the reason
    refused: list[str]  # one line per table named that init cannot write

    def text(self) -> str:
        """The pgpart.toml of this database alone."""
        from pgpart.config import render_toml

        return handover.annotate(render_toml(self.defaults, self.tables), self.comments)


def suggest(gathered: Gathered, settings: Settings, named: Sequence[str] = ()) -> Suggestion:
    """The config suggested from what the database holds (``named``: the
    tables the command line named, which must be time-partitioned)."""
    defaults = settings.defaults
    tables: list[dict[str, object]] = []
    skipped: list[str] = []
    comments: dict[str, str] = {}
    for target in gathered.targets:
        table = target.table
        if table is None:
            skipped.append(f"{target.argument}: no such table")
            continue
        if not table.is_time_range or table.relkind != "p":
            skipped.append(f"{table.qualified}: not {_TIME_RANGE}{_key_note(table)}")
            continue
        tz, zone_note = table_zone(table, target.policy, gathered.snapshot.timezone)
        interval = target.policy.interval or inferred_interval(table, tz)
        partman = handover.find(gathered.snapshot.partman, table.schema, table.name)
        if interval is None and partman is not None:
            interval = handover.interval_of(partman)
        if interval is None:
            skipped.append(
                f"{table.qualified}: no partitions to infer the interval from; add it with"
                ' interval = "daily" (or monthly, ...)'
            )
            continue
        # premake is left to [defaults] (the same built-in default a run without
        # any config uses, TablePolicy's own), unless the table already has its own:
        # coverage must not depend on whether `init` was run.
        entry: dict[str, object] = {"name": table.qualified, "interval": interval.value}
        if "premake" in target.policy.configured_keys and target.policy.name is not None:
            entry["premake"] = target.policy.premake
        if zone_note is not None and tz is not None:
            entry["timezone"] = tz.key  # the bounds follow the database's TimeZone
        if target.policy.retention is not None:
            entry["retention"] = str(target.policy.retention)
            entry["retention_mode"] = target.policy.retention_mode.value
        notes = _key_encoding(entry, table)
        if partman is not None:
            notes.append(handover.carry_over(entry, partman))
        if notes:
            comments[table.qualified] = "\n".join(notes)
        tables.append(entry)
    if not named:
        skipped += _unread_keys(gathered)
    head: dict[str, object] = {
        "timezone": defaults.timezone.key,
        "premake": defaults.premake,
        "lock_timeout": str(defaults.lock_timeout),
    }
    return Suggestion(head, tables, comments, skipped, not_time_partitioned(gathered, named))


def _key_encoding(entry: dict[str, object], table: PartitionedTable) -> list[str]:
    """An integer or uuid key: its encoding written out, and (when it was
    inferred from the bounds) a comment saying why."""
    kind = table.key_kind
    if kind is None or kind.encoding is None:
        return []
    entry["key_encoding"] = kind.encoding.value
    if not table.key_note:
        return []
    return [f"# {line}" for line in textwrap.wrap(table.key_note, 78)]


def _unread_keys(gathered: Gathered) -> list[str]:
    """The tables found (no TABLE named) that are range-partitioned on an
    integer or uuid key pgpart cannot read as time: left out, saying what to
    set if the key does encode time (a table partitioned on anything else is
    not init's business)."""
    return [
        f"{t.qualified}: not {_TIME_RANGE}{_key_note(t)}"
        for t in gathered.snapshot.tables
        if t.relkind == "p" and not t.is_time_range and _key_note(t)
    ]


def not_time_partitioned(gathered: Gathered, named: Sequence[str]) -> list[str]:
    """One line per TABLE named on the command line that init cannot write
    (no such table, or not range-partitioned on a date/time column)."""
    if not named:
        return []
    return [
        f"table {t.argument} does not exist"
        if t.table is None
        else f"{t.table.qualified} is not {_TIME_RANGE}{_key_note(t.table)}"
        for t in gathered.targets
        if t.table is None or not t.table.is_time_range or t.table.relkind != "p"
    ]


_TIME_RANGE = "range-partitioned on a date/time column"


def _key_note(table: PartitionedTable) -> str:
    """Why an integer or uuid key is not read as time, and what to set."""
    if table.strategy != "range" or table.key_kind is None or not table.key_note:
        return ""
    return f", and {table.key_note}"
