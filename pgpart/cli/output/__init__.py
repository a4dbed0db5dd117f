"""Every output format of the commands: table (tabulate), json, csv, prometheus.

Renderers return text; the CLI decides where it goes (data to stdout). Each
takes one Report per database (report): one database is a run of one, many
add a database column, label or key. One module per thing rendered: check,
stats, results (with dry_run and tally), drop_preview; common holds what
they share.
"""

from __future__ import annotations

from pgpart.cli.output.check import check_json, render_check, render_checks
from pgpart.cli.output.common import Format, iso, terminal_width, wrap_line
from pgpart.cli.output.drop_preview import render_drop_preview
from pgpart.cli.output.report import Report
from pgpart.cli.output.results import Run, render_results, render_runs, results_json
from pgpart.cli.output.stats import render_stats, render_stats_reports, stats_json
from pgpart.cli.output.tally import Tally

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
