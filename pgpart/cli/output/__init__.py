"""Every output format of the commands: table (tabulate), json, csv, prometheus.

Renderers return text; the CLI decides where it goes (data to stdout). Each
takes one Report per database (report): one database is a run of one, many
add a database column, label or key. One module per thing rendered: check,
stats, results (with dry_run and tally), drop_preview; common holds what
they share.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgpart.cli.output.check import check_json, render_check, render_checks
    from pgpart.cli.output.common import Format, iso, terminal_width, wrap_line
    from pgpart.cli.output.drop_preview import render_drop_preview
    from pgpart.cli.output.report import Report
    from pgpart.cli.output.results import Run, render_results, render_runs, results_json
    from pgpart.cli.output.stats import render_stats, render_stats_reports, stats_json
    from pgpart.cli.output.tally import Tally

# name -> its module: each is imported when first asked for, so that a
# command imports the renderers it uses only (check no results, maintain no stats).
_HOMES = {
    "Format": "common",
    "Report": "report",
    "Run": "results",
    "Tally": "tally",
    "check_json": "check",
    "iso": "common",
    "render_check": "check",
    "render_checks": "check",
    "render_drop_preview": "drop_preview",
    "render_results": "results",
    "render_runs": "results",
    "render_stats": "stats",
    "render_stats_reports": "stats",
    "results_json": "results",
    "stats_json": "stats",
    "terminal_width": "common",
    "wrap_line": "common",
}

__all__ = [
    "Format",
    "Report",
    "Run",
    "Tally",
    "check_json",
    "iso",
    "render_check",
    "render_checks",
    "render_drop_preview",
    "render_results",
    "render_runs",
    "render_stats",
    "render_stats_reports",
    "results_json",
    "stats_json",
    "terminal_width",
    "wrap_line",
]


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module 'pgpart.cli.output' has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"pgpart.cli.output.{home}"), name)
