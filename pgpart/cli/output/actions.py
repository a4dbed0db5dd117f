"""How a planned action reads: its bounds, its range, what it does."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pgpart.cli.output.common import compact, iso
from pgpart.core.bounds import raw_json
from pgpart.core.identifiers import display_part
from pgpart.core.plan import Action, AnalyzeTable, CreatePartition
from pgpart.db.results import Outcome

if TYPE_CHECKING:
    from pgpart.db.results import ActionResult

OUTCOME_LABELS = {
    Outcome.DONE: "done",
    Outcome.SKIPPED: "already there",
    Outcome.FAILED: "failed",
    Outcome.NOT_ATTEMPTED: "not attempted",
    Outcome.NOT_RUN: "not run",
}


def bounds(action: Action) -> tuple[str | None, str | None]:
    if isinstance(action, CreatePartition):
        return iso(action.lower), iso(action.upper)
    lower = getattr(action, "lower", None)
    upper = getattr(action, "upper", None)
    return iso(lower), iso(upper)


def raw_bounds(action: Action) -> dict[str, int | str | None]:
    """An encoded key's bounds as the column stores them ("from_raw",
    "to_raw"); nothing for a time key."""
    kind = action.table.key_kind
    if kind.encoding is None or not hasattr(action, "upper"):
        return {}
    lower = getattr(action, "lower", None)
    return {"from_raw": raw_json(lower, kind), "to_raw": raw_json(action.upper, kind)}


def partition_shown(action: Action) -> str:
    """The partition's name as output shows it (quoted when needed; a name
    with a newline or another unprintable character in U&"..." form); an
    ANALYZE is about the parent."""
    return display_part(action.partition) if action.partition is not None else "(the parent)"


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
    if isinstance(r.action, AnalyzeTable) and r.outcome is Outcome.SKIPPED:
        return "not needed"  # none of the run's actions changed the table
    return OUTCOME_LABELS[r.outcome]


def runs(
    results: Sequence[ActionResult], same: Callable[[ActionResult], Hashable]
) -> Iterator[list[ActionResult]]:
    """Consecutive results of one kind on one table that also agree on ``same``
    and whose ranges follow on from each other: a run reads "first .. last"
    and its range, which must hold every partition between (the current
    period is created first, so a create of [Aug, Jan) is two runs)."""

    def key(r: ActionResult) -> tuple[object, ...]:
        return (r.action.table, r.action.action, same(r))

    for _, grouped in itertools.groupby(results, key=key):
        run: list[ActionResult] = []
        for r in grouped:
            lower = dt(r.action, "lower")
            upper = dt(run[-1].action, "upper") if run else None
            if lower is not None and upper is not None and lower != upper:
                yield run
                run = []
            run.append(r)
        yield run
