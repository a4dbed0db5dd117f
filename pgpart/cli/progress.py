"""Progress of a writing run on stderr (a terminal only), and what finished.

Receives the executor's progress events: keeps the finished results (what
was done, should Ctrl-C come) and, on a terminal, shows lock waits and rows
moved as one status line rewritten in place. Nothing in cron (no terminal)
or with -q.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from pgpart.cli.console import one_line
from pgpart.db.results import ProgressKind

if TYPE_CHECKING:
    from pgpart.core.plan import Action
    from pgpart.db.results import ActionResult, Progress

# The executor's lock holder: who first (pid, mode), then the query, which the width may cut.
_HOLDER = re.compile(r"(held|queued ahead) by pid (\d+)[^:]*(?:: (.*))?")


class RunProgress:
    def __init__(self, *, enabled: bool, notices: bool = False) -> None:
        self.enabled = enabled  # the status line (a terminal, not -q)
        self.notices = notices  # lines said before long work (not -q)
        self.finished: list[ActionResult] = []
        self.in_flight: Action | None = None
        self.shown = False

    def __call__(self, event: Progress) -> None:
        if event.kind is ProgressKind.STARTED:
            self.in_flight = event.action
            return
        if event.kind is ProgressKind.FINISHED:
            if event.result is not None:
                self.finished.append(event.result)
            self.in_flight = None
            return
        if event.kind is ProgressKind.NOTICE:
            if self.notices and event.text:
                self.clear()
                sys.stderr.write(f"pgpart: {one_line(event.text)}\n")
                sys.stderr.flush()
            return
        if self.enabled:
            self._show(_describe(event))

    def _show(self, text: str) -> None:
        from pgpart.cli.output import terminal_width

        width = (terminal_width(sys.stderr) or 80) - 1
        if len(text) > width:
            text = text[: width - 3] + "..."
        sys.stderr.write("\r\x1b[2K" + one_line(text))
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the status line (before the result is printed)."""
        if self.shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self.shown = False


def _describe(event: Progress) -> str:
    if event.kind is ProgressKind.LOCK_WAIT:
        who = _HOLDER.match(event.holder or "")
        holder = f" {who.group(1)} by pid {who.group(2)}" if who else ""
        query = f": {who.group(3)}" if who and who.group(3) else ""
        return (
            f"waiting for a lock on {event.relation or '?'}{holder}, attempt {event.attempt}{query}"
        )
    if event.kind is ProgressKind.RELOCATING:
        return _relocating(event)
    return f"{event.action.partition}: {event.rows:,} rows moved out of DEFAULT so far"


def _relocating(event: Progress) -> str:
    """e.g. 'events_2026_11_23: drain: 1,200,000 rows done, ~1,800,000 left, ~18 s to go'"""
    text = f"{event.action.partition}: {event.text or 'relocating'}: {event.rows:,} rows done"
    if event.rows_left is not None:
        text += f", ~{event.rows_left:,} left"
    if event.seconds_left is not None:
        text += f", ~{_duration(event.seconds_left)} to go"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
