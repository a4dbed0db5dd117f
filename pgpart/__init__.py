"""pgpart: keep PostgreSQL time-partitioned tables healthy.

The library API is what the CLI itself runs, importable from here::

    from pgpart import Overrides, load_settings, open_connection, check

    settings = load_settings(Overrides(dsn="postgresql:///app"), os.environ, Path.cwd())
    with open_connection(settings) as conn:
        report = check(conn, settings, [], datetime.now(timezone.utc))
    print(report.status)          # Status.OK / WARNING / CRITICAL / UNKNOWN

The pipeline: ``load_settings`` -> ``gather`` (one catalog snapshot) ->
``check`` / ``read_stats`` / ``plan_changes`` (a ``Plan``) -> ``apply``
(a list of ``ActionResult``, each told by its ``Outcome``); ``restore`` brings
back a partition retention archived (a ``Restored``). What it returns
are typed records; the command line's text is the command line's
(``pgpart.cli.output``, not part of this API): this package never imports it.

Importing this package stays cheap (``pgpart --version`` must start fast):
every name below is imported on first use, through ``__getattr__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pgpart.api import (
        Gathered,
        apply,
        check,
        gather,
        open_connection,
        plan_changes,
        restore,
    )
    from pgpart.api import stats as read_stats
    from pgpart.config import Overrides, Settings, load_settings
    from pgpart.core.calendar import Interval
    from pgpart.core.durations import Duration
    from pgpart.core.plan import (
        Action,
        AnalyzeTable,
        CreatePartition,
        DetachPartition,
        DropPartition,
        FinalizeDetach,
        Plan,
        Problem,
        Status,
        TablePlan,
    )
    from pgpart.core.planner import Mode, Request
    from pgpart.core.policy import RetentionMode, TablePolicy
    from pgpart.core.snapshot import Partition, PartitionedTable, Snapshot
    from pgpart.db.archive.restore import Restored, RestoreRequest
    from pgpart.db.results import ActionResult, Outcome
    from pgpart.db.stats import PartitionStats, TableStats
    from pgpart.errors import ConfigError, ExitCode, PgpartError

# name -> (module, attribute). `stats` is the module pgpart.db.stats, so the
# service function is exported as read_stats.
_EXPORTS: dict[str, tuple[str, str]] = {
    # settings
    "Overrides": ("pgpart.config", "Overrides"),
    "RetentionMode": ("pgpart.core.policy", "RetentionMode"),
    "Settings": ("pgpart.config", "Settings"),
    "TablePolicy": ("pgpart.core.policy", "TablePolicy"),
    "load_settings": ("pgpart.config", "load_settings"),
    "Duration": ("pgpart.core.durations", "Duration"),
    "Interval": ("pgpart.core.calendar", "Interval"),
    # the pipeline
    "open_connection": ("pgpart.api", "open_connection"),
    "gather": ("pgpart.api", "gather"),
    "Gathered": ("pgpart.api", "Gathered"),
    "check": ("pgpart.api", "check"),
    "read_stats": ("pgpart.api", "stats"),
    "plan_changes": ("pgpart.api", "plan_changes"),
    "apply": ("pgpart.api", "apply"),
    "restore": ("pgpart.api", "restore"),
    "RestoreRequest": ("pgpart.db.archive.restore", "RestoreRequest"),
    "Restored": ("pgpart.db.archive.restore", "Restored"),
    "Mode": ("pgpart.core.planner", "Mode"),
    "Request": ("pgpart.core.planner", "Request"),
    # what it reads and produces
    "Snapshot": ("pgpart.core.snapshot", "Snapshot"),
    "PartitionedTable": ("pgpart.core.snapshot", "PartitionedTable"),
    "Partition": ("pgpart.core.snapshot", "Partition"),
    "Plan": ("pgpart.core.plan", "Plan"),
    "TablePlan": ("pgpart.core.plan", "TablePlan"),
    "Problem": ("pgpart.core.plan", "Problem"),
    "Status": ("pgpart.core.plan", "Status"),
    "Action": ("pgpart.core.plan", "Action"),
    "CreatePartition": ("pgpart.core.plan", "CreatePartition"),
    "DropPartition": ("pgpart.core.plan", "DropPartition"),
    "DetachPartition": ("pgpart.core.plan", "DetachPartition"),
    "AnalyzeTable": ("pgpart.core.plan", "AnalyzeTable"),
    "FinalizeDetach": ("pgpart.core.plan", "FinalizeDetach"),
    "ActionResult": ("pgpart.db.results", "ActionResult"),
    "Outcome": ("pgpart.db.results", "Outcome"),
    "TableStats": ("pgpart.db.stats", "TableStats"),
    "PartitionStats": ("pgpart.db.stats", "PartitionStats"),
    # errors
    "PgpartError": ("pgpart.errors", "PgpartError"),
    "ConfigError": ("pgpart.errors", "ConfigError"),
    "ExitCode": ("pgpart.errors", "ExitCode"),
}

__all__ = [
    "Action",
    "ActionResult",
    "AnalyzeTable",
    "ConfigError",
    "CreatePartition",
    "DetachPartition",
    "DropPartition",
    "Duration",
    "ExitCode",
    "FinalizeDetach",
    "Gathered",
    "Interval",
    "Mode",
    "Outcome",
    "Overrides",
    "Partition",
    "PartitionStats",
    "PartitionedTable",
    "PgpartError",
    "Plan",
    "Problem",
    "Request",
    "RestoreRequest",
    "Restored",
    "RetentionMode",
    "Settings",
    "Snapshot",
    "Status",
    "TablePlan",
    "TablePolicy",
    "TableStats",
    "__version__",
    "apply",
    "check",
    "gather",
    "load_settings",
    "open_connection",
    "plan_changes",
    "read_stats",
    "restore",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        # AttributeError lets `from pgpart import config` fall back to the submodule.
        raise AttributeError(f"module 'pgpart' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
