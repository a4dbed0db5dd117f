"""Retention's marks in the catalog: the steps that put them, turn them into
the claim a later run may act on, verify them before a drop, and clear the
ones left on attached partitions (what they mean: pgpart.core.marks and
pgpart.core.leftovers).

A partition is marked for dropping only once pgpart has detached it:

* a plain ``DETACH``: the mark (DETACHED) in the detach's own transaction;
* ``DETACH ... CONCURRENTLY``, which cannot run in a transaction block:
  the intent (DETACHING) first, in its own transaction, then the detach,
  then, by the same run and only once its own detach succeeded, the intent
  turned into the claim (DETACHED). Stopped between the detach and that
  last step, the table is standalone with an intent: ``check`` reports it
  and nothing drops it (it may as well have been detached by someone else);
* a concurrent detach found pending (interrupted): ``FINALIZE`` and the
  mark in one transaction.

Every step states what it expects of the table (its oid, its parent, its
mark's text) in a guard and changes nothing when it finds otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.marks import (
    MARK_CONSTRAINT,
    MarkKind,
    Phase,
    RetentionMark,
    retention_mark_text,
)
from pgpart.core.plan import TableRef
from pgpart.core.record import record
from pgpart.db.ddl.literals import bound, ident
from pgpart.db.ddl.locking import advisory_target, as_owner, as_role, prologue
from pgpart.db.ddl.step import DdlOptions, Guard, LockTarget, Outcome, Step, Verdict


@record
class Marking:
    """One partition's retention mark, composed once per action: the intent,
    the claim, and the range its constraint checks."""

    table: TableRef
    schema: str
    name: str
    oid: int  # the partition's own oid (0: unknown, and then never a claim)
    owner: str  # who may alter (and drop) it
    intent: str  # the DETACHING comment
    claim: str  # the DETACHED comment
    condition: sql.Composed

    @property
    def shown(self) -> str:
        return display_name(self.schema, self.name)

    @property
    def target(self) -> sql.Identifier:
        return ident(self.schema, self.name)


def marking(
    t: TableRef,
    schema: str,
    name: str,
    oid: int,
    owner: str,
    lower: datetime | None,
    upper: datetime,
    kind: MarkKind,
) -> Marking:
    mark = RetentionMark(
        kind, t.oid, t.qualified, lower, upper, datetime.now(timezone.utc), oid, Phase.DETACHING
    )
    shown = display_name(schema, name)
    return Marking(
        t,
        schema,
        name,
        oid,
        owner,
        retention_mark_text(mark, shown),
        retention_mark_text(mark.at(Phase.DETACHED), shown),
        _condition(t, lower, upper),
    )


def _condition(t: TableRef, lower: datetime | None, upper: datetime) -> sql.Composed:
    """The partition constraint's condition, as DETACH ... CONCURRENTLY
    writes its own CHECK."""
    key = sql.Identifier(t.key_column)
    parts = [sql.SQL("{} IS NOT NULL").format(key)]
    if lower is not None:
        parts.append(sql.SQL("{} >= {}").format(key, bound(lower, t.key_kind)))
    parts.append(sql.SQL("{} < {}").format(key, bound(upper, t.key_kind)))
    return sql.SQL(" AND ").join(parts)


def _put(m: Marking, text: str) -> list[sql.Composed]:
    """The mark afresh: NOT VALID, so that adding it scans nothing (and
    pg_dump writes it as an entry of its own, which restore leaves out)."""
    return [
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
            m.target, sql.Identifier(MARK_CONSTRAINT)
        ),
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID").format(
            m.target, sql.Identifier(MARK_CONSTRAINT), m.condition
        ),
        _comment(m, text),
    ]


def _comment(m: Marking, text: str) -> sql.Composed:
    return sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
        sql.Identifier(MARK_CONSTRAINT), m.target, sql.Literal(text)
    )


# --- the state a guard reads -------------------------------------------------------------


def table_state(
    t: TableRef, schema: str, name: str, oid: int, version: int, expect: Sequence[str] = ()
) -> sql.Composed:
    """One row (state, detail). States: gone; replaced (the name is another
    table's than ``oid``); other_parent; relocating (a relocation's mark is
    on it); changed (``expect`` given, and its retention mark, or for an
    earlier pgpart's the table's comment, is none of them); pending;
    attached; detached."""
    pending = sql.SQL("i.inhdetachpending") if version >= 140000 else sql.SQL("false")
    changed = (
        sql.SQL(
            " WHEN coalesce((SELECT d.description FROM pg_catalog.pg_constraint k"
            " JOIN pg_catalog.pg_description d ON d.objoid = k.oid"
            " AND d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objsubid = 0"
            " WHERE k.conrelid = c.oid AND k.conname = {mark}),"
            " pg_catalog.obj_description(c.oid, 'pg_class'), '') <> ALL({expect}) THEN 'changed'"
        ).format(mark=sql.Literal(MARK_CONSTRAINT), expect=sql.Literal(list(expect)))
        if expect
        else sql.SQL("")
    )
    return sql.SQL(
        "SELECT CASE WHEN c.oid IS NULL THEN 'gone'"
        " WHEN {oid} <> 0 AND c.oid <> {oid} THEN 'replaced'"
        " WHEN i.inhparent IS NOT NULL AND i.inhparent <> {parent} THEN 'other_parent'"
        " WHEN EXISTS (SELECT FROM pg_catalog.pg_constraint k"
        "  JOIN pg_catalog.pg_description d ON d.objoid = k.oid"
        "   AND d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objsubid = 0"
        "  WHERE k.conrelid = c.oid AND k.conname = {mark}"
        '   AND pg_catalog.strpos(d.description, \'"kind": "relocating"\') > 0)'
        " THEN 'relocating'{changed}"
        " WHEN i.inhparent IS NULL THEN 'detached'"
        " WHEN {pending} THEN 'pending'"
        " ELSE 'attached' END, {part}"
        " FROM (VALUES (1)) AS one(x)"
        " LEFT JOIN (pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = {schema})"
        " ON c.relname = {name}"
        " LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid"
    ).format(
        oid=sql.Literal(oid),
        parent=sql.Literal(t.oid),
        mark=sql.Literal(MARK_CONSTRAINT),
        changed=changed,
        pending=pending,
        part=sql.Literal(display_name(schema, name)),
        schema=sql.Literal(schema),
        name=sql.Literal(name),
    )


_MESSAGES = {
    "gone": "{detail} does not exist (already dropped)",
    "replaced": "{detail} is not the table the plan read (dropped and made again since)",
    "other_parent": "{detail} is a partition of another table",
    "relocating": "{detail} carries a relocation's mark (pgpart_mark): left alone",
    "changed": "{detail}'s retention mark is not the one pgpart read or put: left alone",
    "pending": "{detail} is pending a concurrent detach",
    "attached": "{detail} is still attached",
    "detached": "{detail} is no longer a partition",
}


def verdicts(**given: Verdict) -> tuple[Outcome, ...]:
    """Every state's verdict: FAIL unless given."""
    return tuple(Outcome(s, given.get(s, Verdict.FAIL), text) for s, text in _MESSAGES.items())


S, G, P = Verdict.SKIP, Verdict.GO, Verdict.PENDING
_INTENT = verdicts(gone=S, detached=S, pending=P, attached=G)
_CLAIM = verdicts(gone=S, detached=G)
_DROP = verdicts(gone=S, detached=G)
_FINALIZE = verdicts(gone=S, detached=S, pending=G, attached=S)
_UNMARK = verdicts(gone=S, replaced=S, other_parent=S, changed=S, detached=S, pending=S, attached=G)
del S, G, P


# --- the steps ------------------------------------------------------------------------------


def _step(
    m: Marking,
    o: DdlOptions,
    body: list[sql.Composed],
    guard: sql.Composed,
    outcomes: tuple[Outcome, ...],
    description: str,
    locks: tuple[LockTarget, ...],
) -> Step:
    head = prologue(m.table, o)
    return Step(
        statements=(*head, guard, *body),
        in_transaction=True,
        description=description,
        guards=(Guard(len(head), outcomes),),
        locks=(advisory_target(m.table), *locks),
    )


def intent_step(m: Marking, o: DdlOptions) -> Step:
    """Before a concurrent detach: the intent, on the attached partition."""
    guard = table_state(m.table, m.schema, m.name, m.oid, o.version)
    body = [as_role(m.owner, local=True), *_put(m, m.intent)]
    lock = LockTarget(m.shown, "ACCESS EXCLUSIVE")
    return _step(m, o, body, guard, _INTENT, f"mark {m.shown} before detaching it", (lock,))


def claim_step(m: Marking, o: DdlOptions) -> Step:
    """After this run's own concurrent detach succeeded: the intent becomes
    the claim (its constraint stays as it is)."""
    guard = table_state(m.table, m.schema, m.name, m.oid, o.version, (m.intent, m.claim))
    body = [as_role(m.owner, local=True), _comment(m, m.claim)]
    lock = LockTarget(m.shown, "SHARE UPDATE EXCLUSIVE")
    return _step(m, o, body, guard, _CLAIM, f"mark {m.shown} as detached by pgpart", (lock,))


def detach_and_mark_step(m: Marking, o: DdlOptions, neighbours: Sequence[LockTarget]) -> Step:
    """A plain DETACH and the claim, in one transaction."""
    guard = table_state(m.table, m.schema, m.name, m.oid, o.version)
    body = [
        as_owner(m.table, local=True),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            ident(m.table.schema, m.table.name), m.target
        ),
        as_role(m.owner, local=True),
        *_put(m, m.claim),
    ]
    locks = (
        LockTarget(m.table.qualified, "ACCESS EXCLUSIVE"),
        LockTarget(m.shown, "ACCESS EXCLUSIVE"),
        *neighbours,
    )
    step = _step(m, o, body, guard, _INTENT, f"detach {m.shown} from {m.table.qualified}", locks)
    return replace(step, on_pending=(finalize_and_mark_step(m, o),))


def finalize_and_mark_step(m: Marking, o: DdlOptions) -> Step:
    """A concurrent detach left pending: FINALIZE (which may run in a
    transaction block) and the claim together."""
    guard = table_state(m.table, m.schema, m.name, m.oid, o.version)
    body = [
        as_owner(m.table, local=True),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(
            ident(m.table.schema, m.table.name), m.target
        ),
        as_role(m.owner, local=True),
        *_put(m, m.claim),
    ]
    locks = (
        LockTarget(m.table.qualified, "SHARE UPDATE EXCLUSIVE"),
        LockTarget(m.shown, "ACCESS EXCLUSIVE"),
    )
    what = f"finalize the detach of {m.shown} from {m.table.qualified}"
    return _step(m, o, body, guard, _FINALIZE, what, locks)


def drop_marked_step(
    t: TableRef,
    schema: str,
    name: str,
    oid: int,
    owner: str,
    expect: Sequence[str],
    o: DdlOptions,
) -> Step:
    """DROP a table retention detached, while it is still that very table,
    standalone, with the mark pgpart read or put (``expect``)."""
    shown = display_name(schema, name)
    head = prologue(t, o)
    return Step(
        statements=(
            *head,
            table_state(t, schema, name, oid, o.version, expect),
            as_role(owner, local=True),
            sql.SQL("DROP TABLE {}").format(ident(schema, name)),
        ),
        in_transaction=True,
        description=f"drop {shown} (detached from {t.qualified})",
        guards=(Guard(len(head), _DROP),),
        locks=(advisory_target(t), LockTarget(shown, "ACCESS EXCLUSIVE")),
    )


def relabel_step(m: Marking, note: str, o: DdlOptions) -> Step:
    """An earlier pgpart's leftover (its mark in the table's comment), about
    to be archived: the mark moves to the constraint and the comment, which
    was only ever pgpart's mark, is cleared (so the archive holds neither)."""
    guard = table_state(m.table, m.schema, m.name, m.oid, o.version, (note,))
    body = [
        as_role(m.owner, local=True),
        *_put(m, m.claim),
        sql.SQL("COMMENT ON TABLE {} IS NULL").format(m.target),
    ]
    lock = LockTarget(m.shown, "ACCESS EXCLUSIVE")
    return _step(m, o, body, guard, _DROP, f"move the mark of {m.shown} off its comment", (lock,))


def verify_step(m: Marking, note: str, o: DdlOptions) -> Step:
    """A leftover about to be archived: still the table and mark the plan
    read (nothing is changed)."""
    guard = table_state(m.table, m.schema, m.name, m.oid, o.version, (note,))
    return _step(m, o, [], guard, _DROP, f"check that {m.shown} is still as marked", ())


def unmark_step(
    t: TableRef,
    schema: str,
    name: str,
    oid: int,
    owner: str,
    note: str,
    legacy: bool,
    o: DdlOptions,
) -> Step:
    shown = display_name(schema, name)
    target = ident(schema, name)
    head = prologue(t, o)
    body = (
        sql.SQL("COMMENT ON TABLE {} IS NULL").format(target)
        if legacy
        else sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
            target, sql.Identifier(MARK_CONSTRAINT)
        )
    )
    return Step(
        statements=(
            *head,
            table_state(t, schema, name, oid, o.version, (note,)),
            as_role(owner, local=True),
            body,
        ),
        in_transaction=True,
        description=f"remove the retention mark left on {shown}",
        guards=(Guard(len(head), _UNMARK),),
        locks=(advisory_target(t), LockTarget(shown, "ACCESS EXCLUSIVE")),
    )


def kind_for(archive: bool) -> MarkKind:
    return MarkKind.ARCHIVING if archive else MarkKind.RETENTION
