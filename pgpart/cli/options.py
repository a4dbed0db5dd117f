"""The options and arguments the commands share, declared once (typer's Annotated form)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from pgpart.cli.output import Format


class ReadFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    prometheus = "prometheus"


class WriteFormat(str, Enum):
    table = "table"
    json = "json"


# Options shared by every command, declared once.
DsnOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional at runtime on 3.10
    typer.Option(
        "--dsn",
        metavar="DSN",
        help="libpq connection string or URI; repeat it for many databases "
        "[env: PGPART_DSN; else libpq's PG* variables]",
        show_default=False,
    ),
]
ServiceOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--service",
        metavar="NAME",
        help="A database by its name in libpq's pg_service.conf; repeatable",
        show_default=False,
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        min=1,
        metavar="N",
        help="Databases worked on at once when there are many (1: one by one).",
    ),
]
DEFAULT_JOBS = 4
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
        metavar="FILE",
        help="pgpart.toml to read [env: PGPART_CONFIG; else ./pgpart.toml if present]",
        show_default=False,
        dir_okay=False,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing unless something is wrong.")
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log each SQL statement to stderr.")
]
NowOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--now",
        metavar="TIMESTAMP",
        help="Plan as if it were this moment (ISO 8601; for incidents and "
        "rehearsals) [env: PGPART_NOW]",
        show_default=False,
    ),
]
TablesArg = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Argument(
        help="Tables (schema.table or a name on search_path). Default: the config's "
        "tables, else every time-range-partitioned table.",
        show_default=False,
        metavar="[TABLE]...",
    ),
]
TableArg = Annotated[
    str,
    typer.Argument(
        help="The partitioned table (schema.table or a name on search_path).", metavar="TABLE"
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Print every SQL statement that would run; change nothing."),
]
LockTimeoutOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--lock-timeout",
        metavar="DURATION",
        help="Longest any application query may wait behind pgpart's DDL, "
        "e.g. 500ms; retried with backoff [env: PGPART_LOCK_TIMEOUT; default 500ms]",
        show_default=False,
    ),
]


class RelocationChoice(str, Enum):
    auto = "auto"
    lock = "lock"
    drain = "drain"


RelocationOpt = Annotated[
    Optional[RelocationChoice],  # noqa: UP045
    typer.Option(
        "--relocation",
        help="When moving rows out of DEFAULT would make writers wait longer than "
        "relocation_max_wait (default: the lock timeout): auto refuses and says why, lock "
        "lets them wait, drain moves the rows in batches (invisible to readers meanwhile) "
        "[default: the config's relocation, else auto]",
        show_default=False,
    ),
]
NoAnalyzeOpt = Annotated[
    bool,
    typer.Option(
        "--no-analyze",
        help="Do not ANALYZE the parent of a table whose partitions the run changed "
        "(done by default: autovacuum never analyzes a partitioned parent) "
        "[config: analyze = false]",
    ),
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Print long lines whole instead of fitting the terminal's width "
        "(COLUMNS, else the terminal; piped output is never cut).",
    ),
]
TimelineOpt = Annotated[
    bool,
    typer.Option(
        "--timeline",
        help="Draw each table's coverage as one line: partitions, gaps, rows in DEFAULT, "
        "now, the retention cutoff, the premake horizon (with --format table only; "
        "--wide: one column per period).",
    ),
]
ReadFormatOpt = Annotated[ReadFormat, typer.Option("--format", "-f", help="Output format.")]
WriteFormatOpt = Annotated[WriteFormat, typer.Option("--format", "-f", help="Output format.")]


def output_format(value: ReadFormat | WriteFormat) -> Format:
    """The renderers' Format for a --format value."""
    from pgpart.cli.output import Format

    return Format(value.value)
