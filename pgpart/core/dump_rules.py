"""What an archive's dump may hold: one table and what belongs to it. Pure.

pg_restore runs the SQL a dump carries as it stands, so a dump that
pgpart did not make (a forged one in the archive store, one made from
another database) could create anything, anywhere. Before pg_restore sees
a dump, and before an archive is accepted as complete, every entry of its
table of contents (read by pgpart.db.archive.dump_toc) must be one of:

* the three settings every dump starts with, word for word: its encoding,
  standard_conforming_strings on, and an empty search_path;
* the table itself (CREATE TABLE of exactly that name, with its columns
  and storage options; no INHERITS, no PARTITION OF), its data (a COPY into
  that table alone), and what hangs from it (depends on it in the TOC, lies
  in its schema, and names it): its indexes, constraints, comments, grants,
  column defaults, triggers, row security, policies and extended
  statistics, each as the one kind of statement pg_dump writes for it;
* the entries of the database itself that pg_dump always adds, which
  pg_restore creates only with --create: they are left out of what pgpart
  asks it to restore.

Anything else is refused, named as pg_restore --list would name it. The
SQL of each entry is split into statements and each statement's leading
words checked: an entry cannot smuggle a second statement. What a kept
statement computes (a CHECK or DEFAULT expression, a trigger's function)
is the table's own definition and is not judged here; it runs as the role
pg_restore runs as.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pgpart.core.identifiers import display_name
from pgpart.core.marks import MARK_CONSTRAINT
from pgpart.core.record import record
from pgpart.core.sql_tokens import (
    Kind,
    Token,
    closing,
    leading_words,
    split_commas,
    starts,
    statements,
)


@record
class TocEntry:
    """One entry of a dump's table of contents, as pg_dump wrote it."""

    dump_id: int
    had_dumper: bool  # it has data (TABLE DATA, large objects, sequence values)
    desc: str  # its kind: TABLE, INDEX, COMMENT, ACL, EVENT TRIGGER...
    tag: str
    namespace: str | None
    owner: str | None
    defn: str  # the SQL that creates it
    copy_stmt: str  # the COPY statement its data is loaded with
    deps: tuple[int, ...]

    def label(self) -> str:
        where = f"{self.namespace}." if self.namespace else ""
        return f"{self.desc} {where}{self.tag}".replace("\n", " ")


# The settings entries, exactly as pg_dump writes them.
_SETTINGS = {
    "ENCODING": re.compile(r"\ASET client_encoding = '[A-Za-z0-9_]+';\n\Z"),
    "STDSTRINGS": re.compile(r"\ASET standard_conforming_strings = 'on';\n\Z"),
    "SEARCHPATH": re.compile(r"\ASELECT pg_catalog\.set_config\('search_path', '', false\);\n\Z"),
}
# ALTER TABLE subcommands a dump's entries of one table use.
_ALTER_SUBCOMMANDS = (
    ("alter",),  # ALTER [COLUMN] c SET STATISTICS / STORAGE / DEFAULT / (options)...
    ("add", "constraint"),
    ("replica", "identity"),
    ("set", "("),
    ("reset", "("),
    ("cluster", "on"),
    ("enable",),  # TRIGGER t, ALWAYS/REPLICA TRIGGER t, ROW LEVEL SECURITY
    ("disable",),
    ("force", "row"),
    ("no", "force"),
)


Statements = list[list[Token]]
_Form = Callable[[list[Token]], bool]
Check = Callable[["_Judge", TocEntry, Statements, Statements], "str | None"]


@record
class DumpVerdict:
    refused: tuple[str, ...]  # what the dump holds beyond the table, one phrase each
    restore: tuple[int, ...]  # the dump ids of the table and its own entries, in order
    table_comment: TocEntry | None  # the COMMENT ON TABLE entry, if any
    comment_text: str | None  # its text
    # pgpart's marks (the constraint MARK_CONSTRAINT and its comment): the
    # table's own, and left out of any restore (a retention mark must never
    # come back with the table)
    marks: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refused


def judge(entries: Sequence[TocEntry], schema: str, name: str) -> DumpVerdict:
    """Whether ``entries`` hold ``schema.name`` and nothing beyond it."""
    tables = [e for e in entries if e.desc == "TABLE" and (e.namespace, e.tag) == (schema, name)]
    if len(tables) != 1:
        found = "no" if not tables else f"{len(tables)} entries for"
        return DumpVerdict((f"{found} TABLE {display_name(schema, name)}",), (), None, None)
    return _Judge(schema, name, tables[0]).run(entries)


class _Judge:
    def __init__(self, schema: str, name: str, table: TocEntry) -> None:
        self.schema, self.name = schema, name
        self.accepted: dict[int, TocEntry] = {table.dump_id: table}
        self.reasons: dict[int, str] = {}
        self.comment: tuple[TocEntry, str] | None = None
        self.marks: list[int] = []

    def run(self, entries: Sequence[TocEntry]) -> DumpVerdict:
        table = next(iter(self.accepted.values()))
        refused: list[str] = []
        if why := self._table(table):
            refused.append(why)
        pending: list[TocEntry] = []
        for e in entries:
            if e.desc in _SETTINGS:
                ok = bool(_SETTINGS[e.desc].match(e.defn)) and not e.copy_stmt
                refused += [] if ok else [f"{e.label()} other than pg_dump writes it"]
            elif e.dump_id != table.dump_id and not _database_level(e):
                pending.append(e)
        changed = True
        while changed:  # an entry may hang from another one (a comment on an index)
            changed = False
            for e in list(pending):
                if any(d in self.accepted for d in e.deps):
                    pending.remove(e)
                    changed = True
                    if why := self._entry(e):
                        refused.append(why)
                    else:
                        self.accepted[e.dump_id] = e
        refused += [e.label() for e in pending]
        if not any(e.desc == "TABLE DATA" for e in self.accepted.values()):
            refused.append(f"no TABLE DATA of {display_name(self.schema, self.name)}")
        kept = tuple(e.dump_id for e in entries if e.dump_id in self.accepted)
        entry, text = self.comment if self.comment else (None, None)
        marks = tuple(i for i in self.marks if i in self.accepted)
        return DumpVerdict(tuple(refused), kept, entry, text, marks)

    # --- one entry -------------------------------------------------------------

    def _entry(self, e: TocEntry) -> str | None:
        if e.namespace != self.schema:
            return e.label()
        check = _CHECKS.get(e.desc)
        if check is None or (e.had_dumper and e.desc != "TABLE DATA"):
            return e.label()
        try:
            parsed = statements(e.defn)
            copy = statements(e.copy_stmt)
        except ValueError as exc:
            return f"{e.label()}: unreadable SQL ({exc})"
        if e.desc != "TABLE DATA" and copy:
            return f"{e.label()}: a COPY statement"
        return check(self, e, parsed, copy)

    def _table(self, e: TocEntry) -> str | None:
        if e.had_dumper or e.copy_stmt:
            return f"{e.label()} with data of its own"
        try:
            parsed = statements(e.defn)
        except ValueError as exc:
            return f"{e.label()}: unreadable SQL ({exc})"
        if not parsed or not self._create_table(parsed[0]):
            return f"{e.label()} that is not a CREATE TABLE of it"
        return self._others(e, parsed[1:], self._alter)

    # --- statements --------------------------------------------------------------

    def _others(self, e: TocEntry, stmts: Statements, *forms: _Form) -> str | None:
        for s in stmts:
            if not any(form(s) for form in forms):
                return f"{e.label()} holding another statement: {leading_words(s)}"
        return None

    def _is_table(self, toks: Sequence[Token], i: int) -> int | None:
        """Where the table's qualified name at i ends (None: not it)."""
        dotted = i + 3 <= len(toks) and toks[i + 1].is_symbol(".")
        if dotted and (toks[i].name, toks[i + 2].name) == (self.schema, self.name):
            return i + 3
        return None

    def _schema_name(self, toks: Sequence[Token], i: int) -> str | None:
        """The name of an object of the table's schema written at i."""
        if i + 3 <= len(toks) and toks[i].name == self.schema and toks[i + 1].is_symbol("."):
            return toks[i + 2].name
        return None

    def _create_table(self, s: list[Token]) -> bool:
        i = 2 if starts(s, "create", "unlogged", "table") else 1
        if not starts(s, "create") or not s[i].is_word("table"):
            return False
        end = self._is_table(s, i + 1)
        if end is None or end >= len(s) or not s[end].is_symbol("("):
            return False
        rest = s[closing(s, end) + 1 :]
        if not rest:
            return True
        return (
            rest[0].is_word("with")
            and len(rest) > 1
            and rest[1].is_symbol("(")
            and closing(rest, 1) == len(rest) - 1
        )

    def _alter(self, s: list[Token], allowed: tuple[tuple[str, ...], ...] = ()) -> bool:
        """ALTER TABLE [ONLY] the table, each subcommand one of ``allowed``."""
        i = 3 if starts(s, "alter", "table", "only") else 2
        if not starts(s, "alter", "table"):
            return False
        end = self._is_table(s, i)
        if end is None or end >= len(s):
            return False
        return all(
            any(starts(part, *words) for words in allowed or _ALTER_SUBCOMMANDS)
            for part in split_commas(s[end:])
        )

    def _on_table(self, s: list[Token], *head: str) -> bool:
        """``head`` ... ON [ONLY] the table ...: the first ON at depth 0."""
        if not starts(s, *head):
            return False
        depth = 0
        for i, t in enumerate(s):
            depth += t.is_symbol("(") - t.is_symbol(")")
            if depth == 0 and t.is_word("on"):
                j = i + 2 if i + 1 < len(s) and s[i + 1].is_word("only") else i + 1
                return self._is_table(s, j) is not None
        return False


def _database_level(e: TocEntry) -> bool:
    """The entries of the database itself that pg_dump always writes (its
    CREATE DATABASE, settings, comment, grants): pg_restore runs them only
    with --create, and pgpart leaves them out of its list besides."""
    if e.namespace is not None:
        return False
    if e.desc in ("DATABASE", "DATABASE PROPERTIES"):
        return True
    return e.desc in ("COMMENT", "ACL", "SECURITY LABEL") and e.tag.startswith("DATABASE ")


# --- the checks, one per kind of entry -------------------------------------------------


def _one(j: _Judge, e: TocEntry, parsed: Statements, ok: bool) -> str | None:
    if len(parsed) != 1:
        return f"{e.label()} holding {len(parsed)} statements"
    return None if ok else f"{e.label()} that is not one of {j.name!r}: {leading_words(parsed[0])}"


def _data(j: _Judge, e: TocEntry, parsed: Statements, copy: Statements) -> str | None:
    if parsed or e.tag != j.name or len(copy) != 1:
        return f"{e.label()} other than a COPY into the table"
    s = copy[0]
    end = j._is_table(s, 1) if starts(s, "copy") else None
    if end is not None and end < len(s) and s[end].is_symbol("("):
        close = closing(s, end)
        names = split_commas(s[end + 1 : close])
        listed = all(len(n) == 1 and n[0].name is not None for n in names)
        end = close + 1 if listed else None
    if end is not None and [t.value for t in s[end:]] == ["from", "stdin"]:
        return None
    return f"{e.label()} other than a COPY into the table"


def _constraint(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    ok = bool(parsed) and j._alter(parsed[0], (("add", "constraint"),))
    if ok and _added_name(parsed[0]) == MARK_CONSTRAINT:
        j.marks.append(e.dump_id)
    return _one(j, e, parsed, ok)


def _added_name(s: list[Token]) -> str | None:
    """The name after ADD CONSTRAINT."""
    for i in range(len(s) - 2):
        if s[i].is_word("add") and s[i + 1].is_word("constraint"):
            return s[i + 2].name
    return None


def _head(parsed: Statements, *words: str) -> tuple[str, ...]:
    """``words``, less the optional second one when the statement lacks it."""
    first = parsed[0] if parsed else []
    return words if starts(first, *words[:2]) else (words[0], *words[2:])


def _index(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    head = _head(parsed, "create", "unique", "index")
    if not parsed or not j._on_table(parsed[0], *head) or parsed[0][len(head)].name != e.tag:
        return f"{e.label()} that is not an index of the table"

    def statistics(s: list[Token]) -> bool:
        return starts(s, "alter", "index") and j._schema_name(s, 2) == e.tag

    def cluster(s: list[Token]) -> bool:
        return j._alter(s, (("cluster", "on"),))

    return j._others(e, parsed[1:], statistics, cluster)


def _comment(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    if len(parsed) != 1 or not starts(parsed[0], "comment", "on"):
        return _one(j, e, parsed, False)
    s = parsed[0]
    if len(s) < 4 or not (s[-1].kind is Kind.STRING or s[-1].is_word("null")):
        return _one(j, e, parsed, False)
    if not s[-2].is_word("is"):
        return _one(j, e, parsed, False)
    target, body = s[2], s[3:-2]
    ok = False
    if target.is_word("table"):
        ok = j._is_table(body, 0) == len(body)
        if ok and s[-1].kind is Kind.STRING:
            j.comment = (e, s[-1].value)
    elif target.is_word("column"):
        ok = j._is_table(body, 0) == len(body) - 2 and body[-2].is_symbol(".")
    elif target.is_word("constraint", "trigger", "policy"):
        ok = len(body) >= 2 and body[1].is_word("on") and j._is_table(body, 2) == len(body)
        if ok and target.is_word("constraint") and body[0].name == MARK_CONSTRAINT:
            j.marks.append(e.dump_id)
    elif target.is_word("index", "statistics"):
        ok = len(body) == 3 and j._schema_name(body, 0) in _owned_names(j)
    return _one(j, e, parsed, ok)


def _owned_names(j: _Judge) -> set[str]:
    kinds = ("INDEX", "CONSTRAINT", "STATISTICS")
    return {e.tag for e in j.accepted.values() if e.desc in kinds}


def _acl(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    def grant(s: list[Token]) -> bool:
        if not starts(s, "grant") and not starts(s, "revoke"):
            return False
        depth = 0
        for i, t in enumerate(s):
            depth += t.is_symbol("(") - t.is_symbol(")")
            if depth == 0 and t.is_word("on"):
                end = (
                    j._is_table(s, i + 2) if i + 1 < len(s) and s[i + 1].is_word("table") else None
                )
                return end is not None and end < len(s) and s[end].is_word("to", "from")
        return False

    def session(s: list[Token]) -> bool:
        return (starts(s, "set", "session", "authorization") and len(s) == 4) or (
            starts(s, "reset", "session", "authorization") and len(s) == 3
        )

    if not parsed:
        return f"{e.label()} without a grant"
    return j._others(e, parsed, grant, session)


def _trigger(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    head = _head(parsed, "create", "constraint", "trigger")
    if not parsed or not j._on_table(parsed[0], *head):
        return f"{e.label()} that is not a trigger of the table"
    return j._others(e, parsed[1:], lambda s: j._alter(s, (("enable",), ("disable",))))


def _policy(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    return _one(j, e, parsed, bool(parsed) and j._on_table(parsed[0], "create", "policy"))


def _alter_only(*forms: tuple[str, ...]) -> Check:
    def check(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
        return _one(j, e, parsed, bool(parsed) and j._alter(parsed[0], forms))

    return check


def _statistics(j: _Judge, e: TocEntry, parsed: Statements, _: Statements) -> str | None:
    s = parsed[0] if parsed else []
    ok = (
        starts(s, "create", "statistics")
        and j._schema_name(s, 2) == e.tag
        and len(s) >= 4
        and s[-4].is_word("from")
        and j._is_table(s, len(s) - 3) == len(s)
    )
    if not ok:
        return f"{e.label()} that is not a statistics object of the table"

    def target(s: list[Token]) -> bool:
        return starts(s, "alter", "statistics") and j._schema_name(s, 2) == e.tag

    return j._others(e, parsed[1:], target)


_CHECKS: dict[str, Check] = {
    "TABLE DATA": _data,
    "CONSTRAINT": _constraint,
    "CHECK CONSTRAINT": _constraint,
    "FK CONSTRAINT": _constraint,
    "INDEX": _index,
    "COMMENT": _comment,
    "ACL": _acl,
    "TRIGGER": _trigger,
    "POLICY": _policy,
    "ROW SECURITY": _alter_only(("enable", "row", "level", "security")),
    "DEFAULT": _alter_only(("alter",)),
    "STATISTICS": _statistics,
}
