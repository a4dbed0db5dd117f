"""The closing summary of a writing run: created N, dropped M, archived A,
rows moved R, failed F. Every table retention drops counts as dropped,
a leftover of an earlier run (drop_leftover) included. An archive
(retention_mode = "archive": dumped, verified, sent, then dropped) counts
as archived, not as dropped: the rows are in archive_dir."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.plan import AnalyzeTable, CreatePartition
from pgpart.core.record import record

if TYPE_CHECKING:
    from pgpart.db.results import ActionResult


@record
class Tally:
    """What a writing run did (or, dry, would do): the closing summary."""

    created: int = 0
    dropped: int = 0
    detached: int = 0
    finalized: int = 0
    archived: int = 0  # dumped, verified and sent, then dropped
    rows_moved: int = 0
    moves: int = 0  # creations that move rows out of DEFAULT
    failed: int = 0  # failed, or not attempted after a failure
    skipped: int = 0  # already there (a concurrent run made it)
    analyzed: int = 0  # parents analyzed (dry: to analyze) after their partitions changed
    not_analyzed: int = 0  # ANALYZEs that failed: a warning, not a failure

    @classmethod
    def of(cls, results: Sequence[ActionResult]) -> Tally:
        kinds = ("create", "drop", "detach", "finalize_detach", "archive", "analyze")
        counts = dict.fromkeys(kinds, 0)
        failed = skipped = moved = moves = not_analyzed = 0
        for r in results:
            if r.error:
                failed += r.fails_run
                not_analyzed += not r.fails_run
                continue
            if r.skipped:
                skipped += not isinstance(r.action, AnalyzeTable)  # one not needed
                continue
            kind = "drop" if r.action.action == "drop_leftover" else r.action.action
            counts[kind] = counts.get(kind, 0) + 1
            moved += r.rows_moved
            moves += isinstance(r.action, CreatePartition) and r.action.move_rows
        return cls(
            created=counts["create"],
            dropped=counts["drop"],
            detached=counts["detach"],
            finalized=counts["finalize_detach"],
            archived=counts["archive"],
            rows_moved=moved,
            moves=moves,
            failed=failed,
            skipped=skipped,
            analyzed=counts["analyze"],
            not_analyzed=not_analyzed,
        )

    def line(self, *, dry_run: bool) -> str:
        if dry_run:
            parts = [f"would create {self.created}", f"drop {self.dropped}"]
            if self.archived:
                parts.append(f"archive {self.archived} (then drop)")
            if self.detached:
                parts.append(f"detach {self.detached}")
            if self.finalized:
                parts.append(f"finish {self.finalized} interrupted detach(es)")
            if self.moves:
                parts.append(f"move DEFAULT rows into {self.moves}")
            return "dry run: " + ", ".join(parts) + "; nothing was changed"
        parts = [f"created {self.created}", f"dropped {self.dropped}"]
        if self.archived:
            parts.append(f"archived {self.archived}")
        if self.detached:
            parts.append(f"detached {self.detached}")
        if self.finalized:
            parts.append(f"finished {self.finalized} interrupted detach(es)")
        parts.append(f"rows moved {self.rows_moved:,}")
        if self.skipped:
            parts.append(f"already there {self.skipped}")
        parts.append(f"failed {self.failed}")
        if self.analyzed:
            parts.append(f"analyzed {self.analyzed}")
        if self.not_analyzed:
            parts.append(f"not analyzed {self.not_analyzed} (a warning)")
        return ", ".join(parts)


def tally_json(tally: Tally, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "created": tally.created,
        "dropped": tally.dropped,
        "detached": tally.detached,
        "archived": tally.archived,
        "finalized": tally.finalized,
        "rows_moved": tally.rows_moved,
        "failed": tally.failed,
        "skipped": tally.skipped,
        "analyzed": tally.analyzed,
        "not_analyzed": tally.not_analyzed,
    }
