"""Every output format of the commands: table (tabulate), json, csv, prometheus.

Renderers return text; the CLI decides where it goes (data to stdout). One
module per thing rendered: check, stats, results (with dry_run and tally),
drop_preview; common holds what they share.
"""

from __future__ import annotations

from pgpart.cli.output.check import check_json, render_check
from pgpart.cli.output.common import Format, iso, terminal_width, wrap_line
from pgpart.cli.output.drop_preview import render_drop_preview
from pgpart.cli.output.results import render_results, results_json
from pgpart.cli.output.stats import render_stats, stats_json
from pgpart.cli.output.tally import Tally

__all__ = [
    "Format",
    "Tally",
    "check_json",
    "iso",
    "render_check",
    "render_drop_preview",
    "render_results",
    "render_stats",
    "results_json",
    "stats_json",
    "terminal_width",
    "wrap_line",
]
