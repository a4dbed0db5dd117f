"""The settle's own statements (pgpart.core.relocation): the session it
needs, its locks (writers blocked at the parent before routing, then the
DEFAULT), the DEFAULT's rows of the range taken aside into a temporary
table and put back through the parent once the partition is attached.
pgpart.db.ddl.create places them in the create step, pgpart.db.ddl.relocate in
a drain's last step.

Lock rules: https://www.postgresql.org/docs/current/explicit-locking.html
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.plan import CreatePartition
from pgpart.core.siblings import Relocation
from pgpart.db.ddl.literals import bound, ident
from pgpart.db.ddl.locking import advisory_target, neighbour_locks
from pgpart.db.ddl.step import LockTarget


def relocates(a: CreatePartition) -> bool:
    """Whether the create takes rows out of the DEFAULT. Rows of the range
    may reach it until the settle blocks writers: the settle takes whatever
    is there then, unless the move is refused (then the probe found none)."""
    stash = a.relocating.stash if a.relocating is not None else a.move_rows
    return a.default_partition is not None and (a.move_rows or stash)


def move_settings(a: CreatePartition, move: bool) -> list[sql.Composed]:
    """What the session needs to relocate rows, then the owner's role."""
    out: list[sql.Composed] = []
    if move:
        # A policy that would hide rows from the owner (FORCE ROW LEVEL
        # SECURITY) makes the DELETE fail instead of leaving rows behind.
        # https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-ROW-SECURITY
        out.append(sql.Composed([sql.SQL("SET LOCAL row_security = off")]))
    if move and a.relocation is Relocation.REPLICA_ROLE:
        # Relocation, not deletion: with the replica role no foreign-key
        # action and no ordinary trigger or rule fires for the moved rows.
        # Set before SET ROLE: only the login role (a superuser, or one
        # granted SET on the parameter) may set it; it ends with the transaction.
        # https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-SESSION-REPLICATION-ROLE
        out.append(sql.Composed([sql.SQL("SET LOCAL session_replication_role = replica")]))
    # Everything from here runs as the parent's owner: the partition is born
    # with the right owner (and so are the objects made with it: TOAST table,
    # extended statistics, the indexes ATTACH builds), and ATTACH's ownership
    # check on both tables holds even for a NOINHERIT member of the owner role.
    # https://www.postgresql.org/docs/current/sql-set-role.html
    out.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(a.table.owner)))
    return out


def locks(a: CreatePartition, default: sql.Identifier | None) -> list[sql.Composed]:
    # Parent first, then the default: the order ATTACH itself locks them in,
    # so pgpart never waits in the opposite order of another session. ONLY:
    # LOCK TABLE would otherwise lock every partition.
    # https://www.postgresql.org/docs/current/sql-lock.html
    parent = ident(a.table.schema, a.table.name)
    if default is None:
        # What ATTACH takes on the parent: no conflict with reads or writes.
        return [sql.SQL("LOCK TABLE ONLY {} IN SHARE UPDATE EXCLUSIVE MODE").format(parent)]
    # With a DEFAULT, writers must wait before their rows are routed: an
    # insert routed to the DEFAULT before the ATTACH would then meet the
    # DEFAULT's narrowed constraint and fail. SHARE ROW EXCLUSIVE conflicts
    # with the ROW EXCLUSIVE every INSERT, UPDATE and DELETE takes on the
    # parent first, not with reads; after the commit they route anew.
    only = sql.SQL("") if _partitioned_default(a) else sql.SQL("ONLY ")
    return [
        sql.SQL("LOCK TABLE ONLY {} IN SHARE ROW EXCLUSIVE MODE").format(parent),
        # ATTACH takes ACCESS EXCLUSIVE on the default anyway (to scan it);
        # taking it now avoids upgrading a weaker lock later.
        sql.SQL("LOCK TABLE {}{} IN ACCESS EXCLUSIVE MODE").format(only, default),
    ]


def settle_locks(a: CreatePartition) -> list[LockTarget]:
    t = a.table
    locks = [advisory_target(t)]
    if a.default_partition:
        name = display_name(*a.default_at)
        locks += [
            LockTarget(t.qualified, "SHARE ROW EXCLUSIVE"),
            LockTarget(name, "ACCESS EXCLUSIVE"),
        ]
    else:
        locks.append(LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE"))
    locks.extend(neighbour_locks(t))
    return locks


def _partitioned_default(a: CreatePartition) -> bool:
    return a.relocating is not None and a.relocating.default_partitioned


STASH = sql.Identifier("pg_temp", "pgpart_stash")


def stash_rows(a: CreatePartition, default: sql.Composable, columns: Sequence[str]) -> sql.Composed:
    """Take the DEFAULT's rows of the range aside, into a temporary table
    (never published, never decoded; gone at COMMIT): exactly the rows
    deleted are the rows kept, whatever triggers or rules exist."""
    t = a.table
    listed = cols(columns)
    only = sql.SQL("") if _partitioned_default(a) else sql.SQL("ONLY ")
    return sql.SQL(
        "CREATE TEMPORARY TABLE {stash} ON COMMIT DROP AS WITH moved AS ("
        "DELETE FROM {only}{d} WHERE {k} >= {lo} AND {k} < {hi} RETURNING {c})"
        " SELECT {c} FROM moved"
    ).format(
        stash=STASH,
        only=only,
        d=default,
        k=sql.Identifier(t.key_column),
        lo=bound(a.lower, t.key_kind),
        hi=bound(a.upper, t.key_kind),
        c=listed,
    )


def unstash_rows(a: CreatePartition, columns: Sequence[str]) -> sql.Composed:
    """Put the rows taken aside back through the parent, now that the
    partition is attached: logical decoding sees them leave the DEFAULT and
    arrive in the partition, in the same transaction, whichever way a
    publication publishes partitions. Generated columns are left out
    (recomputed); OVERRIDING SYSTEM VALUE keeps identity values."""
    t = a.table
    listed = cols(columns)
    stmt = sql.SQL("INSERT INTO {p} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM {stash}").format(
        p=ident(t.schema, t.name), c=listed, stash=STASH
    )
    legacy = _not_valid(a)
    if legacy is not None:
        stmt += sql.SQL(" WHERE ({}) IS NOT FALSE").format(legacy)
    return stmt


def legacy_rows(a: CreatePartition, columns: Sequence[str]) -> list[sql.Composed]:
    """Rows that fail a NOT VALID constraint the partition will have (a
    CHECK of the parent's or the sibling's own, a NOT NULL that is NOT VALID
    on the sibling: written before the constraint existed) go into the
    partition before its constraints are made, and before ATTACH: inserted
    afterwards they would be refused. They alone reach subscribers of the
    parent late (docs/relocation.md)."""
    legacy = _not_valid(a)
    if legacy is None:
        return []
    listed = cols(columns)
    return [
        sql.SQL(
            "INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM {stash} WHERE NOT ({e})"
        ).format(t=ident(a.partition_schema, a.partition), c=listed, stash=STASH, e=legacy)
    ]


def _not_valid(a: CreatePartition) -> sql.Composable | None:
    """What every row passes unless it is a legacy row: the conjunction of
    the NOT VALID CHECK constraints the partition gets (as the server
    deparsed them) and of `column IS NOT NULL` for its NOT VALID NOT NULLs;
    None when there is none. A NULL result counts as passing, as for a
    CHECK."""
    if a.template is None:
        return None
    exprs: list[sql.Composable] = []
    checks = (*a.template.not_valid_inherited, *a.template.local_constraints)
    for c in checks:
        text = c.definition
        if not (c.kind == "c" and text.startswith("CHECK ") and text.endswith(" NOT VALID")):
            continue
        exprs.append(
            sql.SQL("coalesce(({}), true)").format(
                sql.SQL(text[len("CHECK ") : -len(" NOT VALID")])
            )
        )
    for col in a.template.columns:
        if col.not_null and not col.not_null_valid:
            exprs.append(sql.SQL("{} IS NOT NULL").format(sql.Identifier(col.column)))
    return sql.SQL(" AND ").join(exprs) if exprs else None


def cols(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)
