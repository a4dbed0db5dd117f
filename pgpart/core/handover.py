"""Taking a table over from pg_partman: its part_config settings in pgpart.toml terms.

`pgpart init` describes each table; for one pg_partman manages, the settings
in its part_config row win over what the bounds suggest: the interval
(``partition_interval``), ``premake``, ``retention`` and
``retention_keep_table`` (true: pgpart detaches expired partitions instead of
dropping them, ``retention_mode = "detach"``). Each such entry gets a comment
saying so, and what is left to do for the hand-over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pgpart.core.durations import Duration
from pgpart.core.encoding import KeyEncoding
from pgpart.core.interval import Interval, parse_interval
from pgpart.core.snapshot import PartmanSettings

__all__ = ["annotate", "carry_over", "encoding_of", "find", "interval_of"]


def find(rows: Sequence[PartmanSettings], schema: str, name: str) -> PartmanSettings | None:
    """The part_config row of schema.name (pg_partman stores ``schema.table``)."""
    wanted = f"{schema}.{name}"
    return next((r for r in rows if r.parent_table == wanted), None)


def interval_of(row: PartmanSettings) -> Interval | None:
    try:
        return parse_interval(row.partition_interval)
    except ValueError:
        return None


def encoding_of(row: PartmanSettings) -> KeyEncoding | None:
    """How pg_partman reads the table's integer or uuid key as time: its
    ``epoch`` ('seconds', 'milliseconds', ...) or, for a uuid (pg_partman 5),
    its own UUIDv7 encoder; None when it does not (or uses an encoder of
    its user's, whose encoding pgpart cannot know)."""
    if row.time_encoder and row.time_encoder.rsplit(".", 1)[-1] == "uuid7_time_encoder":
        return KeyEncoding.UUIDV7
    return KeyEncoding.from_partman(row.epoch)


def carry_over(entry: dict[str, object], row: PartmanSettings) -> str:
    """Put part_config's settings into a pgpart.toml table entry; return the
    comment that says where they came from (and what was left behind)."""
    taken: list[str] = []
    left: list[str] = []
    try:
        interval = parse_interval(row.partition_interval)
    except ValueError:
        left.append(f"partition_interval {row.partition_interval!r} (not an interval pgpart has)")
    else:
        entry["interval"] = interval.value
        taken.append(f"partition_interval {row.partition_interval}")
    encoding = encoding_of(row)
    if encoding is not None:
        entry["key_encoding"] = encoding.value
        what = (
            f"epoch {row.epoch}" if encoding.partman_epoch else f"time_encoder {row.time_encoder}"
        )
        taken.append(what)
    elif row.time_encoder:
        left.append(f"time_encoder {row.time_encoder} (not an encoding pgpart knows)")
    if row.premake is not None:
        entry["premake"] = row.premake
        taken.append(f"premake {row.premake}")
    if row.retention:
        try:
            retention = Duration.parse(row.retention)
        except ValueError as exc:
            left.append(f"retention {row.retention!r} ({exc})")
        else:
            keep = row.retention_keep_table is not False  # pg_partman's default is true
            entry["retention"] = str(retention)
            entry["retention_mode"] = "detach" if keep else "drop"
            taken.append(f"retention {row.retention}, retention_keep_table {str(keep).lower()}")
    lines = [f"from pg_partman's part_config: {'; '.join(taken) or 'nothing'}"]
    if left:
        lines.append(f"not carried over: {'; '.join(left)}")
    lines.append(
        "hand-over: pgpart leaves this table to pg_partman until its part_config row is "
        f"deleted (DELETE FROM part_config WHERE parent_table = '{row.parent_table}')"
    )
    return "\n".join(f"# {line}" for line in lines)


def annotate(text: str, comments: Mapping[str, str]) -> str:
    """Put each table's comment above its ``[[table]]`` section of ``text``."""
    import tomli_w

    for name, comment in comments.items():
        section = "[[table]]\n" + tomli_w.dumps({"name": name})
        text = text.replace(section, f"{comment}\n{section}", 1)
    return text
