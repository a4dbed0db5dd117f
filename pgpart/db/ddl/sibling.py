"""Statements that make a new partition a faithful sibling of its template.

Pure, like the rest of pgpart.db.ddl (whose create step places them in its transaction).
The order matters and is the caller's (see ``pgpart.db.ddl.create``):

* ``table`` and ``children``: the table itself (UNLOGGED, PARTITION BY,
  storage and TOAST parameters, tablespace) and its sub-partitions;
* ``before_move``: what must hold while rows move in: privileges (the
  sibling's, never the parent's when the parent has row security), column
  settings and defaults, comments, and dropping the copies of NOT VALID
  parent constraints that LIKE made valid (a legacy row moved out of
  DEFAULT would fail them; they are put back NOT VALID after the move, as
  the sibling has them);
* ``after_move``: NOT NULL, constraints, indexes, triggers, row security and
  replica identity, built once on the moved rows rather than row by row,
  and so that no copied trigger or policy sees the relocated rows;
* ``after_attach``: the enabled state of the copies of the parent's row
  triggers (ATTACH makes them), and publication membership.

Definitions come from the server's own deparsing (``pgpart.db.templates``),
so they are passed through as SQL text; every name pgpart substitutes is an
``sql.Identifier``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from psycopg import sql

from pgpart.core.siblings import (
    ConstraintCopy,
    IndexCopy,
    ParentFacts,
    SiblingTemplate,
    is_pgpart_mark,
)

_ENABLE = {
    "O": sql.SQL("ENABLE TRIGGER"),
    "D": sql.SQL("DISABLE TRIGGER"),
    "R": sql.SQL("ENABLE REPLICA TRIGGER"),
    "A": sql.SQL("ENABLE ALWAYS TRIGGER"),
}
_IDENTITY = {"f": sql.SQL("FULL"), "n": sql.SQL("NOTHING")}


def table_suffix(t: SiblingTemplate | None) -> tuple[sql.Composable, sql.Composable]:
    """(what goes between CREATE and TABLE, what follows the column list)."""
    if t is None:
        return sql.SQL(""), sql.SQL("")
    tail: list[sql.Composable] = []
    if t.subpartitioning is not None:
        tail.append(sql.SQL(" PARTITION BY ") + sql.SQL(t.subpartitioning.key))
    else:
        options = [*t.reloptions, *("toast." + o for o in t.toast_reloptions)]
        if options:
            tail.append(
                sql.SQL(" WITH ({})").format(sql.SQL(", ").join(reloption(o) for o in options))
            )
    if t.tablespace:
        tail.append(sql.SQL(" TABLESPACE {}").format(sql.Identifier(t.tablespace)))
    return sql.SQL("UNLOGGED " if t.unlogged else ""), sql.Composed(tail)


def reloption(text: str) -> sql.Composed:
    name, _, value = text.partition("=")
    return sql.SQL("{} = {}").format(sql.Identifier(*name.split(".")), sql.Literal(value))


def children(
    t: SiblingTemplate | None, schema: str, new: sql.Composable, names: Mapping[str, str]
) -> list[sql.Composed]:
    if t is None or t.subpartitioning is None:
        return []
    return [
        sql.SQL("CREATE {}TABLE {} PARTITION OF {} {}").format(
            sql.SQL("UNLOGGED " if c.unlogged else ""),
            sql.Identifier(schema, names[c.name]),
            new,
            sql.SQL(c.bound),
        )
        for c in t.subpartitioning.children
    ]


def before_move(
    t: SiblingTemplate | None,
    new: sql.Composable,
    owner: str,
    parent_acl: Sequence[str],
    facts: ParentFacts,
) -> list[sql.Composed]:
    out = _privileges(t, new, owner, parent_acl, facts)
    if t is None:
        return out
    for c in t.not_valid_inherited:
        out.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(new, sql.Identifier(c.name)))
    for col in t.columns:
        column = sql.Identifier(col.column)
        if col.statistics is not None:
            out.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS {}").format(
                    new, column, sql.Literal(col.statistics)
                )
            )
        if col.options:
            out.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET ({})").format(
                    new, column, sql.SQL(", ").join(reloption(o) for o in col.options)
                )
            )
        if col.own_default:
            # Not applied to the rows moved in (the move lists every column).
            change = (
                sql.SQL("SET DEFAULT ") + sql.SQL(col.default)
                if col.default is not None
                else sql.SQL("DROP DEFAULT")
            )
            out.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} ").format(new, column) + change)
    return out + _comments(t, new)


def _comments(t: SiblingTemplate, new: sql.Composable) -> list[sql.Composed]:
    """The sibling's own comment and its columns' where they differ from the
    parent's (LIKE ... INCLUDING COMMENTS gave the parent's); never a mark of
    pgpart's own."""
    out: list[sql.Composed] = []
    if t.comment is not None and not is_pgpart_mark(t.comment):
        out.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(new, sql.Literal(t.comment)))
    for col in t.columns:
        if col.own_comment and not (col.comment and is_pgpart_mark(col.comment)):
            out.append(
                sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                    new, sql.Identifier(col.column), sql.Literal(col.comment)
                )
            )
    return out


def after_move(
    t: SiblingTemplate | None,
    schema: str,
    new: sql.Composable,
    names: Mapping[str, str],
    *,
    part: str = "all",
    like_indexes: bool = False,
) -> list[sql.Composed]:
    """``part``: "all"; or, when rows arrive after the ATTACH, "attach" (what
    ATTACH needs or adopts: the NOT VALID copies of parent constraints, the
    replica identity's constraint or index) and "rest" (the others), the
    latter also in two: "build" (the partition's own constraints and
    indexes) and "finish" (triggers, row security, replica identity).
    ``like_indexes``: the table was made with LIKE ... INCLUDING INDEXES,
    which made what ATTACH adopts already."""
    if t is None:
        return []
    identity = t.identity_index
    attach, build = part in ("all", "attach"), part in ("all", "rest", "build")
    # NOT NULL with what ATTACH needs (a NOT VALID one, 18+, never checks the
    # rows already in: legacy rows keep their NULLs; settle.legacy_rows puts
    # them in first); a drain builds it before (the scan then keeps no one
    # waiting), and its settle's SET NOT NULL finds it already there.
    out: list[sql.Composed] = [
        sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(
            new, sql.Identifier(col.column)
        )
        if col.not_null_valid
        else sql.SQL("ALTER TABLE {} ADD NOT NULL {} NOT VALID").format(
            new, sql.Identifier(col.column)
        )
        for col in t.columns
        if col.not_null and part in ("all", "attach", "build")
    ]
    for c in t.constraints:
        adopted = _backs(identity, c) and not like_indexes
        if c in t.not_valid_inherited or adopted:
            out += [_add_constraint(new, c, names)] if attach else []
        elif not c.inherited and build:
            out.append(_add_constraint(new, c, names))
    for i in t.indexes:
        if i is identity and i.attached and not i.constraint:
            out += (
                _create_index(i, schema, new, names[i.name]) if attach and not like_indexes else []
            )
        elif i in t.local_indexes and build:
            out.extend(_create_index(i, schema, new, names[i.name]))
    if part in ("attach", "build"):
        return out
    for trg in t.triggers:
        out.append(sql.SQL(trg.head) + sql.SQL(" ON ") + new + sql.SQL(" " + trg.tail))
        if trg.enabled in _ENABLE and trg.enabled != "O":  # CREATE TRIGGER makes it O
            out.append(
                sql.SQL("ALTER TABLE {} {} {}").format(
                    new, _ENABLE[trg.enabled], sql.Identifier(trg.name)
                )
            )
    if t.rls:
        out.append(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(new))
    if t.force_rls:
        out.append(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(new))
    for p in t.policies:
        stmt = sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
            sql.Identifier(p.name),
            new,
            sql.SQL("PERMISSIVE" if p.permissive else "RESTRICTIVE"),
            sql.SQL(p.command),
            sql.SQL(", ").join(sql.Identifier(r) if r else sql.SQL("PUBLIC") for r in p.roles),
        )
        if p.using is not None:
            stmt += sql.SQL(" USING (") + sql.SQL(p.using) + sql.SQL(")")
        if p.with_check is not None:
            stmt += sql.SQL(" WITH CHECK (") + sql.SQL(p.with_check) + sql.SQL(")")
        out.append(stmt)
    if t.replica_identity in _IDENTITY:
        out.append(
            sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(new, _IDENTITY[t.replica_identity])
        )
    elif t.replica_identity == "i" and identity is not None:
        out.append(
            sql.SQL("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}").format(
                new, sql.Identifier(names[identity.name])
            )
        )
    return out


def after_attach(t: SiblingTemplate | None, new: sql.Composable, owner: str) -> list[sql.Composed]:
    """Put the copies of the parent's row triggers in the sibling's states, and
    join the publications that list the sibling. ALTER PUBLICATION needs
    the publication's owner, who must own the table too; a superuser login
    drops the owner's role for it (RESET ROLE) and takes it back after."""
    if t is None:
        return []
    # ATTACH made the copies of the parent's row triggers, in the parent's state
    # https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-DISABLE-ENABLE-TRIGGER
    out: list[sql.Composed] = [
        sql.SQL("ALTER TABLE {} {} {}").format(new, _ENABLE[c.enabled], sql.Identifier(c.name))
        for c in t.clone_states
        if c.enabled in _ENABLE
    ]
    for pub in t.publications:
        if not pub.allowed:
            continue  # reported as cannot_reproduce: the partition is made unpublished
        if pub.act_as is None:
            out.append(sql.Composed([sql.SQL("RESET ROLE")]))
        elif pub.act_as != owner:
            out.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(pub.act_as)))
        stmt = sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(sql.Identifier(pub.name), new)
        if pub.columns:
            stmt += sql.SQL(" ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in pub.columns)
            )
        if pub.row_filter is not None:
            stmt += sql.SQL(" WHERE (") + sql.SQL(pub.row_filter) + sql.SQL(")")
        out.append(stmt)
        if pub.act_as != owner:
            out.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
    return out


def _backs(identity: IndexCopy | None, c: ConstraintCopy) -> bool:
    """The parent's constraint whose index is the sibling's replica identity:
    added before ATTACH under a known name, which ATTACH then adopts."""
    return identity is not None and identity.constraint and identity.name == c.name


def _add_constraint(
    new: sql.Composable, c: ConstraintCopy, names: Mapping[str, str]
) -> sql.Composed:
    name = names.get(c.name, c.name) if c.kind in "pux" else c.name
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(new, sql.Identifier(name)) + sql.SQL(
        c.definition
    )


def _create_index(i: IndexCopy, schema: str, new: sql.Composable, name: str) -> list[sql.Composed]:
    out = [
        sql.SQL("CREATE {}INDEX {} ON {} ").format(
            sql.SQL("UNIQUE " if i.unique else ""), sql.Identifier(name), new
        )
        + sql.SQL(i.using)
    ]
    if i.tablespace:
        # An empty or freshly filled table: moving the index is cheap, and it
        # keeps the tablespace out of the deparsed text (TABLESPACE would have
        # to go before its WHERE clause).
        out.append(
            sql.SQL("ALTER INDEX {} SET TABLESPACE {}").format(
                sql.Identifier(schema, name), sql.Identifier(i.tablespace)
            )
        )
    return out


# --- privileges ----------------------------------------------------------------

_GRANT_OPTION = sql.SQL(" WITH GRANT OPTION")
_PRIVILEGES = {
    "r": sql.SQL("SELECT"),
    "a": sql.SQL("INSERT"),
    "w": sql.SQL("UPDATE"),
    "d": sql.SQL("DELETE"),
    "D": sql.SQL("TRUNCATE"),
    "x": sql.SQL("REFERENCES"),
    "t": sql.SQL("TRIGGER"),
    "m": sql.SQL("MAINTAIN"),
}


def _privileges(
    t: SiblingTemplate | None,
    new: sql.Composable,
    owner: str,
    parent_acl: Sequence[str],
    facts: ParentFacts,
) -> list[sql.Composed]:
    """Exactly the sibling's grants: what ALTER DEFAULT PRIVILEGES gave the
    new table is revoked first. With no sibling, the parent's grants, unless
    the parent has row security: a partition read directly bypasses the
    parent's policies, so it then gets no grant at all."""
    out = [
        sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(
            new, sql.Identifier(g) if g else sql.SQL("PUBLIC")
        )
        for g in facts.default_acl_grantees
    ]
    if t is not None:
        acl: Sequence[str] = t.acl or ()
        skip = {owner, t.owner}
    else:
        acl = () if facts.rls else parent_acl
        skip = {owner}
    for text in acl:
        out.extend(_grant(text, new, skip))
    for col in t.columns if t is not None else ():
        for text in col.acl:
            out.extend(_grant(text, new, skip, column=col.column))
    return out


def _grant(
    text: str, new: sql.Composable, skip: set[str], column: str | None = None
) -> list[sql.Composed]:
    """GRANTs giving ``new`` what one aclitem of the sibling gives (made by
    the owner, whoever granted it on the sibling)."""
    from pgpart.db.ddl.acl import parse_aclitem

    item = parse_aclitem(text)
    if item.grantee in skip:
        return []
    to = sql.Identifier(item.grantee) if item.grantee else sql.SQL("PUBLIC")
    on = sql.SQL(" ({})").format(sql.Identifier(column)) if column else sql.SQL("")
    plain = "".join(ch for ch in item.privileges if ch not in item.grantable)
    out = []
    for letters, option in ((plain, sql.SQL("")), (item.grantable, _GRANT_OPTION)):
        privs = [_PRIVILEGES[ch] + on for ch in letters if ch in _PRIVILEGES]
        if privs:
            out.append(
                sql.SQL("GRANT {} ON TABLE {} TO {}{}").format(
                    sql.SQL(", ").join(privs), new, to, option
                )
            )
    return out
