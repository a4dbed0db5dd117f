"""How a planned action reads: its bounds, its range, what it does."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pgpart.cli.output.common import compact, iso
from pgpart.core.plan import Action, CreatePartition

if TYPE_CHECKING:
    from pgpart.db.executor import ActionResult


def bounds(action: Action) -> tuple[str | None, str | None]:
    if isinstance(action, CreatePartition):
        return iso(action.lower), iso(action.upper)
    lower = getattr(action, "lower", None)
    upper = getattr(action, "upper", None)
    return iso(lower), iso(upper)


def describe(action: Action) -> str:
    if isinstance(action, CreatePartition) and action.move_rows:
        return "create (+ move DEFAULT rows)"
    return action.action


def action_range(action: Action) -> str:
    lower, upper = dt(action, "lower"), dt(action, "upper")
    if lower is None and upper is None:
        return ""
    return f"{compact(lower) or 'MINVALUE'} .. {compact(upper)}"


def dt(action: Action, attr: str) -> datetime | None:
    value = getattr(action, attr, None)
    return value if isinstance(value, datetime) else None


def moves(r: ActionResult) -> bool:
    return isinstance(r.action, CreatePartition) and r.action.move_rows


def outcome(r: ActionResult) -> str:
    if r.error:
        return "not attempted" if r.error.startswith("not attempted") else "failed"
    if r.skipped:
        return "already there"
    return "done" if r.done else "not run"
