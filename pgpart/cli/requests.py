"""What a command was asked, as typed records: built once from its flags.

``Where`` says which databases and which settings overrides; ``Display``
how to show the result; each command's request adds its own. The settings
overrides (pgpart.config.Overrides) are built from ``Where`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pgpart.cli.options import DEFAULT_JOBS
from pgpart.core.record import record

if TYPE_CHECKING:
    from pgpart.cli.output import Format
    from pgpart.config import Overrides
    from pgpart.core.planner import Request


@record
class Where:
    """The databases (--dsn, --service, --jobs) and the settings (--config,
    --lock-timeout) a command works with."""

    dsns: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    jobs: int = DEFAULT_JOBS
    config: Path | None = None
    lock_timeout: str | None = None
    relocation: str | None = None  # create/maintain --relocation

    @classmethod
    def of(
        cls,
        dsns: list[str] | None,
        services: list[str] | None = None,
        jobs: int = DEFAULT_JOBS,
        config: Path | None = None,
        lock_timeout: str | None = None,
    ) -> Where:
        return cls(tuple(dsns or ()), tuple(services or ()), jobs, config, lock_timeout)

    @property
    def dsn(self) -> str | None:
        """The first --dsn: the one database of the classic path."""
        return self.dsns[0] if self.dsns else None

    def overrides(self, dsn: str | None) -> Overrides:
        from pgpart.config import Overrides

        return Overrides(
            dsn=dsn, config=self.config, lock_timeout=self.lock_timeout, relocation=self.relocation
        )


@record
class Display:
    """How the result is shown: --format, -q, -v, --wide."""

    fmt: Format
    quiet: bool = False
    verbose: bool = False
    wide: bool = False


@record
class ReadRequest:
    """check and stats. ``now`` (--now, else $PGPART_NOW) is parsed where the
    run starts, after the settings: a config error is said first."""

    where: Where
    display: Display
    tables: tuple[str, ...] = ()
    exact: bool = False
    now: str | None = None
    timeline: bool = False  # check --timeline


@record
class InitRequest:
    where: Where
    tables: tuple[str, ...]
    target: Path | None  # None: stdout (--output -)
    quiet: bool = False


@record
class WriteRequest:
    """create, maintain and drop. ``change`` is what the planner is asked
    (its max_new_partitions comes from the settings when they are read);
    ``confirm``: drop asks before it removes anything (no --yes)."""

    where: Where
    display: Display
    tables: tuple[str, ...]
    change: Request
    now: str | None = None
    dry_run: bool = False
    confirm: bool = False
