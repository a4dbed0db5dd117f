"""What a new partition copies from its newest sibling, and what it cannot.

A new partition is a faithful sibling (docs/new-partitions.md, "What a new
partition copies"): ``CREATE TABLE (LIKE parent)`` + ATTACH carry over only what is
declared on the parent, so everything a DBA set per partition is read from
the newest existing partition (``pgpart.db.templates``) into the records
below and reproduced on the new, still-empty table (``pgpart.db.ddl.sibling``).

This module is pure: records, the names of copied objects, and the
findings (``cannot_reproduce``, ``sibling_drift``) the planner reports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import field
from enum import Enum

from pgpart.core.identifiers import MAX_NAME_BYTES, cut_to_bytes, utf8_len
from pgpart.core.locked import Locked
from pgpart.core.record import record

# How the comment pgpart puts on a partition it is about to detach and drop
# begins: a table so marked that is no partition is a detached_leftover.
LEFTOVER_MARK = "pgpart: detached from "


def is_pgpart_mark(comment: str) -> bool:
    """A comment pgpart wrote to mark a table (retention's mark): never copied
    onto a new partition, which would then read as a detached leftover."""
    return comment.startswith(LEFTOVER_MARK)


@record
class IndexCopy:
    """An index of the sibling that ATTACH would not give the new partition."""

    name: str
    unique: bool
    # pg_get_indexdef's text from "USING ...": method, columns, INCLUDE, WITH, WHERE;
    # "" when no copy is made from it (attached or a constraint's, not the replica identity)
    using: str
    tablespace: str | None
    replica_identity: bool
    attached: bool  # a partition of a parent index: ATTACH adopts an equal index
    constraint: bool  # made by a constraint of the same name (PRIMARY KEY, UNIQUE, EXCLUDE)


@record
class ConstraintCopy:
    name: str
    kind: str  # pg_constraint.contype: c, x, u, p, f
    # pg_get_constraintdef(), " NOT VALID" included when so; "" when no copy is
    # made from it (inherited and valid, not backing the replica identity)
    definition: str
    validated: bool
    inherited: bool  # the sibling's copy of a parent constraint


@record
class TriggerCopy:
    name: str
    head: str  # pg_get_triggerdef() up to " ON <table> "
    tail: str  # ... and after it
    enabled: str  # pg_trigger.tgenabled: O, D, R, A


@record
class CloneState:
    """The sibling's copy of a parent row trigger, in a state other than the
    one ATTACH gives the new partition's copy (e.g. disabled on the partitions
    only)."""

    name: str
    enabled: str  # pg_trigger.tgenabled: O, D, R, A


@record
class PolicyCopy:
    name: str
    permissive: bool
    command: str  # ALL, SELECT, INSERT, UPDATE, DELETE
    roles: tuple[str, ...]  # role names; "" stands for PUBLIC
    using: str | None
    with_check: str | None


@record
class ColumnSetting:
    """What the sibling sets on one column that LIKE the parent does not give."""

    column: str
    statistics: int | None  # None: the default
    options: tuple[str, ...]  # attoptions, e.g. n_distinct=-1
    acl: tuple[str, ...] = ()  # column privileges (aclitem text)
    not_null: bool = False  # NOT NULL on the sibling, not on the parent
    not_null_valid: bool = True  # False: NOT VALID (PostgreSQL 18+)
    own_default: bool = False  # a default other than the parent's (``default``)
    default: str | None = None  # its expression as the server prints it; None: none
    own_comment: bool = False  # a comment other than the parent's (``comment``)
    comment: str | None = None


@record
class SubPartition:
    name: str
    bound: str  # pg_get_expr(relpartbound): FOR VALUES ... or DEFAULT
    unlogged: bool


@record
class SubPartitioning:
    key: str  # pg_get_partkeydef(): "HASH (id)", "LIST (region)", "RANGE (x)"
    key_columns: tuple[str, ...]  # columns of the key (empty for an expression)
    children: tuple[SubPartition, ...]
    nested: bool  # a child is itself partitioned


@record
class PublicationCopy:
    name: str
    act_as: str | None  # role to become for ALTER PUBLICATION; None: the login role
    allowed: bool  # the login role may add a table to it (owner of both, or superuser)
    columns: tuple[str, ...] = ()
    row_filter: str | None = None


@record
class SiblingTemplate:
    """Everything a new partition copies from one existing partition."""

    schema: str
    name: str
    owner: str
    relkind: str  # r, or p when sub-partitioned
    unlogged: bool
    reloptions: tuple[str, ...]
    toast_reloptions: tuple[str, ...]
    tablespace: str | None
    replica_identity: str  # d, n, f, i
    rls: bool
    force_rls: bool
    acl: tuple[str, ...] | None  # aclitem text; None: default privileges (owner only)
    indexes: tuple[IndexCopy, ...] = ()
    constraints: tuple[ConstraintCopy, ...] = ()
    triggers: tuple[TriggerCopy, ...] = ()
    policies: tuple[PolicyCopy, ...] = ()
    columns: tuple[ColumnSetting, ...] = ()
    subpartitioning: SubPartitioning | None = None
    publications: tuple[PublicationCopy, ...] = ()
    unreadable: tuple[str, ...] = ()  # definitions pgpart could not take apart
    clone_states: tuple[CloneState, ...] = ()
    comment: str | None = None  # COMMENT ON TABLE of the sibling
    owner_may_create: bool = True  # the parent's owner may create tables in ``schema``

    @property
    def local_indexes(self) -> tuple[IndexCopy, ...]:
        """Plain indexes of the sibling alone (constraint indexes come with their
        constraint, parent indexes with ATTACH)."""
        return tuple(i for i in self.indexes if not i.attached and not i.constraint)

    @property
    def local_constraints(self) -> tuple[ConstraintCopy, ...]:
        return tuple(c for c in self.constraints if not c.inherited)

    @property
    def not_valid_inherited(self) -> tuple[ConstraintCopy, ...]:
        """Copies of parent CHECK constraints that are NOT VALID on the sibling:
        LIKE copies them as valid, which legacy rows moved out of DEFAULT fail."""
        return tuple(
            c for c in self.constraints if c.inherited and c.kind == "c" and not c.validated
        )

    @property
    def identity_index(self) -> IndexCopy | None:
        return next((i for i in self.indexes if i.replica_identity), None)


class Relocation(str, Enum):
    """How rows move out of DEFAULT into a new partition."""

    PLAIN = "plain"  # nothing outside the moved rows can notice
    REPLICA_ROLE = "replica_role"  # SET LOCAL session_replication_role = replica


@record
class MoveWatcher:
    """Something that would notice moved rows as deleted or inserted."""

    what: str  # e.g. 'foreign key orders_ev_fk of public.orders (ON DELETE CASCADE)'
    enabled: str  # when it fires, as pg_trigger.tgenabled: O (a foreign key too), A, R


@record
class DefaultRowSecurity:
    """Row security on the DEFAULT partition, and who it applies to: the
    parent's owner (as which pgpart moves rows out) and the login role (as
    which check reads them). A role is exempt as a superuser, with BYPASSRLS,
    or with the privileges of the table's owner unless FORCE is set.
    https://www.postgresql.org/docs/current/ddl-rowsecurity.html"""

    enabled: bool = False
    forced: bool = False
    owner_bypasses: bool = True  # the parent's owner: superuser or BYPASSRLS
    owner_owns: bool = True  # the parent's owner has the privileges of the DEFAULT's owner
    login_bypasses: bool = True
    login_owns: bool = True


@record
class ParentFacts:
    """Facts about the parent read once per run, for DDL and findings."""

    fk_neighbours: tuple[str, ...] = ()  # tables on either side of the parent's FKs
    move_watchers: tuple[MoveWatcher, ...] = ()
    rls: bool = False
    default_acl_grantees: tuple[str, ...] = ()  # ALTER DEFAULT PRIVILEGES grantees ("" = PUBLIC)
    owner_may_create: bool = True  # the owner may create tables in the parent's schema
    default_security: DefaultRowSecurity = field(default_factory=DefaultRowSecurity)


# --- names of copied objects -------------------------------------------------


def copied_name(old: str, sibling: str, new: str, taken: Collection[str]) -> str:
    """The name of a relation-level object (index, index-backed constraint,
    sub-partition) copied from ``sibling`` to ``new``: the sibling's name
    swapped for the new one where it leads the old name (``events_2026_10_pkey``
    -> ``events_2026_12_pkey``), else the new name prefixed; within 63 bytes
    and never one of ``taken``."""
    rest = old[len(sibling) :] if old.startswith(sibling) and sibling else "_" + old
    name = new + rest
    if utf8_len(name) <= MAX_NAME_BYTES and name not in taken:
        return name
    digest = hashlib.sha1(f"{new}\0{old}".encode()).hexdigest()
    for length in range(6, 41):
        tag = "_" + digest[:length]
        candidate = cut_to_bytes(name, MAX_NAME_BYTES - len(tag)) + tag
        if candidate not in taken:
            return candidate
    raise ValueError(f"no free name for the copy of {old}")


@record
class Templates:
    """The newest sibling of a table and the ones just before it (newest first)."""

    newest: SiblingTemplate | None = None
    previous: tuple[SiblingTemplate, ...] = field(default_factory=tuple)
    unreadable: str | None = None  # why the newest could not be read
    locked: Locked | None = None  # a sibling another session holds (pgpart.core.locked)


def copy_names(t: SiblingTemplate | None, new: str, taken: set[str]) -> tuple[tuple[str, str], ...]:
    """Names for the relations copied from ``t`` onto ``new`` (indexes, index-
    backed constraints, sub-partitions); each chosen name is added to ``taken``."""
    if t is None:
        return ()
    olds: list[str] = [i.name for i in t.indexes if i in t.local_indexes or i.replica_identity]
    olds += [c.name for c in t.local_constraints if c.kind in "pux"]
    if t.subpartitioning is not None:
        olds += [c.name for c in t.subpartitioning.children]
    out: list[tuple[str, str]] = []
    for old in dict.fromkeys(olds):
        name = copied_name(old, t.name, new, taken)
        taken.add(name)
        out.append((old, name))
    return tuple(out)


def relocation_for(
    facts: ParentFacts,
    login: str,
    may_set_replication_role: bool,
    version: int,
    *,
    extra: Sequence[MoveWatcher] = (),
) -> tuple[Relocation | None, str | None]:
    """How rows can leave DEFAULT unnoticed, or None and why they cannot.

    A foreign key referencing the parent, a trigger or rule on DEFAULT
    firing on DELETE, or one of the parent firing on INSERT (the rows go
    back in through the parent) would see the move as a deletion or an
    insertion (ON DELETE CASCADE deletes the referencing rows).
    session_replication_role = replica silences foreign keys, ORIGIN
    triggers and ORIGIN rules, not ALWAYS ones, and wakes REPLICA ones.
    https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-DISABLE-ENABLE-TRIGGER
    """
    watchers = _distinct([*facts.move_watchers, *extra])
    always = [w.what for w in watchers if w.enabled == "A"]
    origin = [w.what for w in watchers if w.enabled == "O"]
    replica = [w.what for w in watchers if w.enabled == "R"]
    if always:
        return None, (
            f"moving rows out of DEFAULT would fire {_listed(always)} (ENABLE ALWAYS): "
            "disable it for the repair (ALTER TABLE ... DISABLE TRIGGER ... or DISABLE RULE "
            "...) and run again"
        )
    if not origin:
        return Relocation.PLAIN, None
    if replica:
        return None, (
            f"moving rows out of DEFAULT must silence {_listed(origin)} with "
            f"session_replication_role = replica, which would fire {_listed(replica)} "
            "(ENABLE REPLICA): disable it for the repair and run again"
        )
    if may_set_replication_role:
        return Relocation.REPLICA_ROLE, None
    grant = (
        f"GRANT SET ON PARAMETER session_replication_role TO {_role(login)} (as a superuser)"
        if version >= 150000
        else "a superuser login (PostgreSQL before 15 cannot grant it)"
    )
    return None, (
        f"moving rows out of DEFAULT would be seen by {_listed(origin)} as deletions; "
        f"pgpart relocates rows with session_replication_role = replica, which role "
        f"{_role(login)} may not set: {grant}"
    )


def _distinct(watchers: Sequence[MoveWatcher]) -> list[MoveWatcher]:
    seen: set[str] = set()
    out = []
    for w in watchers:
        if w.what not in seen:
            seen.add(w.what)
            out.append(w)
    return out


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:3])
    return shown + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def _role(name: str) -> str:
    from pgpart.core.identifiers import display_part

    return display_part(name)
