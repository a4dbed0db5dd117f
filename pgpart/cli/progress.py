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
from pgpart.core.identifiers import display_part
from pgpart.core.wording import counted
from pgpart.db.results import ProgressKind

if TYPE_CHECKING:
    from pgpart.core.plan import Action
    from pgpart.db.results import ActionResult, Progress
    from pgpart.db.snapshot_read import ReadWait

# The executor's lock holder: who first (pid, mode), then the query, which the width may cut.
_HOLDER = re.compile(r"(held|queued ahead) by pid (\d+)[^:]*(?:: (.*))?")


class RunProgress:
    def __init__(self, *, enabled: bool, notices: bool = False, member: str | None = None) -> None:
        self.enabled = enabled  # the status line (a terminal, not -q)
        self.notices = notices  # lines said before long work (not -q)
        self.member = member  # whose notices they are, among many databases
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
                text = event.text if self.member is None else f"{self.member}: {event.text}"
                sys.stderr.write(f"pgpart: {one_line(text)}\n")
                sys.stderr.flush()
            return
        if self.enabled:
            self._show(_describe(event))

    def read_wait(self, event: ReadWait) -> None:
        """A lock wait while planning: a partition new ones copy is held."""
        if self.enabled:
            self._show(_lock_wait(event.relation, event.holder, event.attempt))

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
        return _lock_wait(event.relation, event.holder, event.attempt)
    if event.kind is ProgressKind.RELOCATING:
        return _relocating(event)
    moved = f"{counted(event.rows, 'row')} moved out of DEFAULT so far"
    return f"{display_part(event.action.partition or '?')}: {moved}"


def _lock_wait(relation: str | None, holder: str | None, attempt: int) -> str:
    who = _HOLDER.match(holder or "")
    held = f" {who.group(1)} by pid {who.group(2)}" if who else ""
    query = f": {who.group(3)}" if who and who.group(3) else ""
    return f"waiting for a lock on {relation or '?'}{held}, attempt {attempt}{query}"


def _relocating(event: Progress) -> str:
    """e.g. 'events_2026_11_23: drain: 1,200,000 rows done, ~1,800,000 left, ~18 s to go'"""
    name = display_part(event.action.partition or "?")
    text = f"{name}: {event.text or 'relocating'}: {event.rows:,} rows done"
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
