"""Running a drain (pgpart.core.relocation), or what an earlier run left
of one: the catalog says where it stands (the partition missing,
standalone and marked, or attached and marked for republishing), and the
steps of pgpart.db.ddl.relocate take it from there, each its own short
transaction, so that a run killed at any point loses nothing and the next
one finishes. Progress (rows done, rows left, time to go) goes to the
run's progress display."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.marks import Mark, Phase, parse_mark
from pgpart.core.plan import CreatePartition
from pgpart.core.relocation import (
    COMPACT_MIN_BLOCKS,
    DefaultFacts,
    Strategy,
    batch_rows,
    seconds_text,
    settle_allowance,
    settle_estimate,
    size_text,
)
from pgpart.db.ddl.literals import ident
from pgpart.db.ddl.marks import mark_state
from pgpart.db.ddl.refused_rows import (
    CONSTRAINTS_SQL,
    constraint_relations,
    give_back_step,
    refused_count_query,
)
from pgpart.db.ddl.relocate import (
    build_step,
    compact_step,
    create_transit_step,
    drain_settle_step,
    drain_step,
    first_mark,
    republish_step,
    size_query,
    transit,
    transit_name,
    unmark_step,
    vacuum_step,
)
from pgpart.db.ddl.settle import move_settings
from pgpart.db.ddl.step import DdlOptions, Step, script
from pgpart.db.results import ActionFailed, Failure, FailureKind, Progress, ProgressKind

if TYPE_CHECKING:
    import psycopg

# A pass over the DEFAULT moves what it finds; rows the application adds
# meanwhile are taken by the next pass, until one finds no more than a
# settle can take within the budget.
MAX_PASSES = 8
# Compaction (see COMPACT_MIN_BLOCKS) takes a few rounds at most: the
# application's rows may land at the end again meanwhile.
COMPACT_ROUNDS = 3
BLOCK_BYTES = 8192


@dataclass
class Drain:
    action: CreatePartition
    ddl: DdlOptions
    columns: Sequence[str]
    # Runs a step (retrying lock waits): the rows it counted, or None when a
    # guard found the partition no longer as the step expects (another run
    # took it further): the state is then read again.
    run_step: Callable[[Step], int | None]
    progress: Callable[[Progress], None] | None = None
    moved: int = 0  # rows moved out of DEFAULT by this run
    full_density: float = 1.0  # rows per block of the DEFAULT before the drain emptied it

    def run(self, conn: psycopg.Connection[Any]) -> int:
        """Take the relocation from wherever the catalog says it stands to its end."""
        a = self.action
        for _ in range(8):  # each round ends a phase, or finds another run ended it
            exists, parent, text = self._state(conn)
            mark = parse_mark(text)
            if not exists:
                self._notice(
                    f"{a.table.qualified}: relocation = drain: the rows of {_span(a)} move in "
                    f"batches into {transit_name(a)}, invisible to readers of the parent until"
                    " it is attached"
                )
                self.run_step(create_transit_step(a, self.ddl, first_mark(a, _now())))
            elif parent == a.table.oid and mark is None:
                return self.moved  # attached and unmarked: done (maybe by another run)
            elif mark is None or parent not in (None, a.table.oid):
                raise self._failed(f"{transit_name(a)} exists and is not pgpart's table in transit")
            elif parent is None:
                try:
                    self._refuse_rows_it_cannot_take(conn)
                    self._drain(conn)
                    self._settle(conn, mark)
                except ActionFailed as exc:
                    if exc.failure.kind is not FailureKind.DATA:
                        raise
                    raise self._given_back(exc.failure) from None
            else:
                self._republish(conn, mark)
        raise self._failed("the relocation did not settle: another run keeps changing it")

    # --- phases ------------------------------------------------------------

    def _drain(self, conn: psycopg.Connection[Any]) -> None:
        a = self.action
        assert a.relocating is not None
        default = ident(*a.default_at)
        expected = a.relocating.estimate.rows
        started = time.monotonic()
        for _ in range(MAX_PASSES):
            blocks = self._blocks(conn, default)
            density = self._density(conn, default)
            self.full_density = max(self.full_density, density)
            step = max(1, int(self.ddl.move_batch_rows / density))
            found = 0
            for first in range(0, blocks, step):
                n = self.run_step(drain_step(a, self.ddl, self.columns, first, first + step)) or 0
                found += n
                self.moved += n
                self._progress("drain", self.moved, max(0, expected - self.moved), started)
            if found and self._blocks(conn, default) > 16:
                self.run_step(vacuum_step(a, self.ddl))
            pages, tuples = self._shape(conn, default)
            if found <= settle_allowance(a.relocating.budget_s, pages, tuples):
                return
            expected = self.moved + found // 2  # the application keeps writing
        # Still finding more than a settle may take: the settle says how long.

    def _settle(self, conn: psycopg.Connection[Any], mark: Mark) -> None:
        a = self.action
        assert a.relocating is not None
        default = ident(*a.default_at)
        self._compact(conn, default)
        pages, tuples = self._shape(conn, default)
        size = pages * BLOCK_BYTES
        estimate = settle_estimate(0, DefaultFacts(bytes=size), stash=True, tuples=tuples)
        budget = a.relocating.budget_s
        if estimate.seconds > budget and a.relocating.strategy is not Strategy.LOCK:
            raise self._failed(
                f"the DEFAULT is still {size_text(size)} after VACUUM (a transaction older than "
                f"the drain may keep its dead rows): attaching {transit_name(a)} would make "
                f"writers wait about {seconds_text(estimate.seconds)}; the rows of {_span(a)} "
                "wait there, invisible to readers; run maintain again later (or --relocation lock)"
            )
        build = build_step(a, self.ddl)
        if build is not None:
            self._progress("build indexes", self.moved, None, None)
            self.run_step(build)
        after = None
        if a.relocating.republish or self._consumers(conn):
            end = self._blocks(conn, transit(a))
            after = mark.at(Phase.REPUBLISHING, next_block=0, end_block=end)
        self._progress("attach", self.moved, None, None)
        self.moved += self.run_step(drain_settle_step(a, self.ddl, self.columns, after)) or 0

    def _compact(self, conn: psycopg.Connection[Any], default: sql.Identifier) -> None:
        """Shorten a DEFAULT that VACUUM left long but nearly empty (its
        newest rows at the end): the settle's ATTACH scans every page."""
        per_block = max(self.full_density, 1.0)
        for _ in range(COMPACT_ROUNDS):
            pages, tuples = self._shape(conn, default)
            keep = max(COMPACT_MIN_BLOCKS, int(tuples / per_block * 2) + 8)
            if pages <= 2 * keep:
                return
            self._progress("compact", self.moved, None, None)
            self.run_step(compact_step(self.action, self.ddl, self.columns, keep))
            self.run_step(vacuum_step(self.action, self.ddl))

    def _republish(self, conn: psycopg.Connection[Any], mark: Mark) -> None:
        a = self.action
        assert a.relocating is not None
        new = transit(a)
        end = mark.end_block or self._blocks(conn, new)
        mark = mark.at(Phase.REPUBLISHING, next_block=mark.next_block, end_block=end)
        step = max(1, int(batch_rows(a.relocating.budget_s) / self._density(conn, new)))
        started, done = time.monotonic(), 0
        per_block = self._density(conn, new)
        for first in range(mark.next_block, end, step):
            last = min(end, first + step)
            rows = self.run_step(republish_step(a, self.ddl, self.columns, first, last, mark))
            if rows is None:
                return  # no longer marked as this run found it
            done += rows
            left = int((end - last) * per_block)
            self._progress("republish", done, left, started)
        self.run_step(unmark_step(a, self.ddl))

    # --- rows the table in transit refuses ------------------------------------

    def _refuse_rows_it_cannot_take(self, conn: psycopg.Connection[Any]) -> None:
        """Before a batch moves: rows of the range in the DEFAULT that break a
        NOT NULL or CHECK of the table in transit (its siblings', which the
        DEFAULT may lack) would stop the drain half way, every run."""
        a = self.action
        with conn.transaction():
            for statement in move_settings(a, True):  # it reads as the mover will
                conn.execute(statement)
            found = conn.execute(CONSTRAINTS_SQL, {"rels": constraint_relations(a)}).fetchall()
            if not found:
                return
            row = conn.execute(refused_count_query(a, [c for _, c in found])).fetchone()
        broken = [(label, n) for (label, _), n in zip(found, row or (), strict=False) if n]
        if not broken:
            return
        said = ", ".join(f"{label} ({n} row{'' if n == 1 else 's'})" for label, n in broken)
        default = display_name(*a.default_at)
        raise ActionFailed(
            Failure(
                FailureKind.DATA,
                f"rows of {_span(a)} in the DEFAULT {default} break"
                f" what its partitions require and it does not: {said}; nothing was moved:"
                " correct or delete those rows (or drop that constraint from the"
                " partitions), then run again",
            )
        )

    def _given_back(self, failure: Failure) -> ActionFailed:
        """The rows in transit back in the DEFAULT, the table in transit gone:
        the range is as before the drain, and the failure says so."""
        try:
            back = self.run_step(give_back_step(self.action, self.ddl, self.columns)) or 0
        except ActionFailed as exc:
            return ActionFailed(
                Failure(
                    exc.failure.kind,
                    f"{failure.message}; the rows in transit could not be given back:"
                    f" {exc.failure.message}",
                    exc.failure.sqlstate,
                )
            )
        self.moved = max(0, self.moved - back)
        note = f" ({back} rows already moved went back to the DEFAULT)" if back else ""
        return ActionFailed(Failure(failure.kind, failure.message + note, failure.sqlstate))

    # --- reading the catalog -------------------------------------------------

    def _state(self, conn: psycopg.Connection[Any]) -> tuple[bool, int | None, str | None]:
        row = conn.execute(mark_state(transit(self.action))).fetchone()
        assert row is not None
        return bool(row[0]), row[1], row[2]

    def _blocks(self, conn: psycopg.Connection[Any], relation: sql.Identifier) -> int:
        row = conn.execute(size_query(relation)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _shape(self, conn: psycopg.Connection[Any], relation: sql.Identifier) -> tuple[int, int]:
        """(pages, live tuples) of ``relation``, as its last VACUUM counted."""
        row = conn.execute(
            sql.SQL(
                "SELECT c.relpages, c.reltuples::bigint FROM pg_catalog.pg_class c"
                " WHERE c.oid = pg_catalog.to_regclass({})"
            ).format(sql.Literal(relation.as_string(None)))
        ).fetchone()
        pages = self._blocks(conn, relation)
        if row is None or row[1] < 0:
            return pages, pages * 60
        return pages, int(row[1])

    def _density(self, conn: psycopg.Connection[Any], relation: sql.Identifier) -> float:
        """Rows per block, from the first blocks (a TID range scan)."""
        row = conn.execute(
            sql.SQL("SELECT pg_catalog.count(*) FROM ONLY {} WHERE ctid < '(32,0)'::tid").format(
                relation
            )
        ).fetchone()
        return max(1.0, (int(row[0]) if row else 0) / 32)

    def _consumers(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_publication) OR EXISTS ("
            "SELECT FROM pg_catalog.pg_replication_slots WHERE slot_type = 'logical'"
            " AND database = pg_catalog.current_database())"
        ).fetchone()
        return bool(row and row[0])

    # --- telling -------------------------------------------------------------

    def _progress(self, phase: str, done: int, left: int | None, started: float | None) -> None:
        if self.progress is None:
            return
        seconds = None
        if left is not None and started is not None and done:
            seconds = left / (done / max(1e-3, time.monotonic() - started))
        self.progress(
            Progress(
                ProgressKind.RELOCATING,
                self.action,
                rows=done,
                text=phase,
                rows_left=left,
                seconds_left=seconds,
            )
        )

    def _notice(self, text: str) -> None:
        if self.progress is not None:
            self.progress(Progress(ProgressKind.NOTICE, self.action, text=text))

    def _failed(self, message: str) -> ActionFailed:
        return ActionFailed(Failure(FailureKind.REFUSED, f"{transit_name(self.action)}: {message}"))


def drain_script(a: CreatePartition, ddl: DdlOptions, columns: Sequence[str]) -> tuple[str, ...]:
    """What a drain runs, for the dry run: each step once, with what repeats."""
    assert a.relocating is not None
    mark = first_mark(a, datetime.now(timezone.utc))
    blocks = max(1, int(ddl.move_batch_rows / max(1.0, a.relocating.rows_per_block)))
    out: list[str] = []
    if a.relocating.resume is None:
        out += ["-- the partition, standalone and marked: rows in transit are invisible"]
        out += script([create_transit_step(a, ddl, mark)])
    if a.relocating.resume is None or a.relocating.resume.phase is Phase.DRAINING:
        out.append(
            f"-- repeated for each {blocks} blocks of the DEFAULT (ctid from (0,0) to its end),"
            " then over it again for the rows the application adds, until a pass finds no more"
            " than a settle may move within relocation_max_wait; VACUUM after each pass"
        )
        out += script([drain_step(a, ddl, columns, 0, blocks)])
        out += script([vacuum_step(a, ddl)])
        out.append(
            "-- when VACUUM leaves the DEFAULT long but nearly empty (the application's newest"
            " rows at its end): its rows past the blocks they need written again at its start,"
            " then VACUUM, so that the settle's ATTACH scans a short table"
        )
        out += script([compact_step(a, ddl, columns, COMPACT_MIN_BLOCKS)])
        build = build_step(a, ddl)
        out += script([build]) if build is not None else []
        after = mark.at(Phase.REPUBLISHING) if a.relocating.republish else None
        out += script([drain_settle_step(a, ddl, columns, after)])
    if a.relocating.republish or (
        a.relocating.resume and a.relocating.resume.phase is Phase.REPUBLISHING
    ):
        out.append(
            "-- the database has publications or logical slots: repeated over the partition's"
            " blocks as they were when attached, so subscribers see the moved rows arrive"
        )
        out += script([republish_step(a, ddl, columns, 0, blocks, mark.at(Phase.REPUBLISHING))])
        out += script([unmark_step(a, ddl)])
    return tuple(out)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _span(a: CreatePartition) -> str:
    return f"[{a.lower.isoformat(sep=' ')}, {a.upper.isoformat(sep=' ')})"
