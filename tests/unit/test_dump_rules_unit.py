"""What a restored dump may hold (pgpart.core.dump_rules) and the lexer it
reads SQL with (pgpart.core.sql_tokens): pure, no server.

The entries are shaped as pg_dump writes them (tests/db/test_archive_trust.py
runs the same rules on real dumps of PostgreSQL 15, 16 and 18).
"""

from __future__ import annotations

import pytest

from pgpart.core.dump_rules import TocEntry, judge
from pgpart.core.sql_tokens import Kind, statements, tokens

T = 'public."odd\nname"'


def entry(
    dump_id: int, desc: str, tag: str, defn: str, *, deps=(), ns="public", copy="", data=False
):
    return TocEntry(dump_id, data, desc, tag, ns, "postgres", defn, copy, tuple(deps))


def genuine() -> list[TocEntry]:
    return [
        entry(1, "ENCODING", "ENCODING", "SET client_encoding = 'UTF8';\n", ns=None),
        entry(2, "STDSTRINGS", "STDSTRINGS", "SET standard_conforming_strings = 'on';\n", ns=None),
        entry(3, "SEARCHPATH", "SEARCHPATH",
              "SELECT pg_catalog.set_config('search_path', '', false);\n", ns=None),
        entry(4, "DATABASE", "app", "CREATE DATABASE app;\n", ns=None),
        entry(5, "COMMENT", "DATABASE app", "COMMENT ON DATABASE app IS 'x';\n", ns=None, deps=[4]),
        entry(10, "TABLE", "odd\nname",
              f"CREATE TABLE {T} (\n    id integer NOT NULL,\n    \"col\nx\" text,\n"
              f"    CONSTRAINT c CHECK ((length(\"col\nx\") < 100))\n)\n"
              "WITH (fillfactor='80');\n\n"
              f"ALTER TABLE ONLY {T} ALTER COLUMN \"col\nx\" SET STATISTICS 300;\n"
              f"ALTER TABLE ONLY {T} REPLICA IDENTITY FULL;\n"),
        entry(11, "COMMENT", 'TABLE "odd\nname"', f"COMMENT ON TABLE {T} IS 'legal hold; it''s kept';\n",
              deps=[10]),
        entry(12, "COMMENT", "COLUMN", f'COMMENT ON COLUMN {T}."col\nx" IS E\'a\\nb\';\n', deps=[10]),
        entry(13, "ACL", "TABLE", f"GRANT SELECT ON TABLE {T} TO reader;\nSET SESSION AUTHORIZATION g;\n"
              f"GRANT SELECT(id) ON TABLE {T} TO reader;\nRESET SESSION AUTHORIZATION;\n", deps=[10]),
        entry(14, "TABLE DATA", "odd\nname", "", deps=[10], data=True,
              copy=f'COPY {T} (id, "col\nx") FROM stdin;\n'),
        entry(15, "CONSTRAINT", "odd\nname pk", f"ALTER TABLE ONLY {T}\n    ADD CONSTRAINT pk PRIMARY KEY (id);\n",
              deps=[10]),
        entry(16, "INDEX", "i", f"CREATE INDEX i ON {T} USING btree (lower(\"col\nx\"));\n"
              "ALTER INDEX public.i ALTER COLUMN 1 SET STATISTICS 5;\n", deps=[10]),
        entry(17, "COMMENT", "INDEX i", "COMMENT ON INDEX public.i IS 'idx';\n", deps=[16]),
        entry(18, "TRIGGER", "t", f"CREATE TRIGGER t BEFORE UPDATE OF id ON {T} FOR EACH ROW"
              " EXECUTE FUNCTION public.f();\n"
              f"ALTER TABLE {T} DISABLE TRIGGER t;\n", deps=[10]),
        entry(19, "FK CONSTRAINT", "fk", f"ALTER TABLE ONLY {T}\n    ADD CONSTRAINT fk FOREIGN KEY (id)"
              " REFERENCES public.other(id);\n", deps=[10, 99]),
        entry(20, "POLICY", "p", f"CREATE POLICY p ON {T} FOR SELECT USING ((id > 0));\n", deps=[10]),
        entry(21, "ROW SECURITY", "r", f"ALTER TABLE {T} ENABLE ROW LEVEL SECURITY;\n", deps=[10]),
        entry(22, "CHECK CONSTRAINT", "nv", f"ALTER TABLE {T}\n    ADD CONSTRAINT nv CHECK ((id > 0)) NOT VALID;\n",
              deps=[10]),
    ]  # fmt: skip


def test_a_genuine_dump_is_accepted_with_its_comment() -> None:
    verdict = judge(genuine(), "public", "odd\nname")
    assert verdict.ok, verdict.refused
    assert verdict.restore == tuple(range(10, 23))  # the database's own entries left out
    assert verdict.comment_text == "legal hold; it's kept"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (entry(30, "TABLE", "extra", "CREATE TABLE public.extra (x int);\n"), "TABLE public.extra"),
        (entry(31, "EVENT TRIGGER", "evil", "CREATE EVENT TRIGGER evil ...;\n", ns=None),
         "EVENT TRIGGER evil"),
        (entry(32, "FUNCTION", "f()", "CREATE FUNCTION public.f() ...;\n", deps=[10]),
         "FUNCTION public.f()"),
        (entry(33, "INDEX", "j", "CREATE INDEX j ON public.other USING btree (x);\n", deps=[10]),
         "not an index of the table"),
        (entry(34, "ACL", "TABLE", "GRANT ALL ON TABLE public.other TO evil;\n", deps=[10]),
         "holding another statement"),
        (entry(35, "COMMENT", "TABLE", "COMMENT ON TABLE public.other IS 'x';\n", deps=[10]),
         "that is not one of"),
        (entry(36, "CONSTRAINT", "c", f"ALTER TABLE ONLY {T} ADD CONSTRAINT c CHECK (true), OWNER TO evil;\n",
               deps=[10]), "that is not one of"),
        (entry(37, "TABLE DATA", "odd\nname", "", deps=[10], data=True,
               copy="COPY public.other (x) FROM stdin;\n"), "other than a COPY into the table"),
        (entry(38, "RULE", "r", f"CREATE RULE r AS ON INSERT TO {T} DO INSTEAD NOTHING;\n", deps=[10]),
         "RULE public.r"),
        (entry(39, "INDEX", "k", f"CREATE INDEX k ON {T} (id); DROP TABLE public.victim;\n", deps=[10]),
         "holding another statement: DROP TABLE"),
        (entry(40, "SEQUENCE", "s", "CREATE SEQUENCE public.s;\n", deps=[10]), "SEQUENCE public.s"),
    ],
)  # fmt: skip
def test_anything_beyond_the_table_is_refused_and_named(extra: TocEntry, named: str) -> None:
    verdict = judge([*genuine(), extra], "public", "odd\nname")
    assert not verdict.ok
    assert any(named in r for r in verdict.refused), verdict.refused


@pytest.mark.parametrize(
    ("dump_id", "defn"),
    [
        (3, "SELECT pg_catalog.set_config('search_path', 'public', false);\n"),
        (2, "SET standard_conforming_strings = 'off';\n"),
        (1, "SET client_encoding = 'UTF8'; DROP TABLE x;\n"),
        (10, f"CREATE TABLE {T} (id integer) INHERITS (public.victim);\n"),
        (10, f"CREATE TABLE {T} PARTITION OF public.victim FOR VALUES IN (1);\n"),
        (10, f"CREATE TABLE {T} (id integer);\nALTER TABLE {T} OWNER TO evil;\n"),
        (10, f"CREATE TABLE {T} (id integer);\nCREATE TABLE public.smuggled (x int);\n"),
        (10, "CREATE TABLE public.other (id integer);\n"),
        (11, f"COMMENT ON TABLE {T} IS 'x'; CREATE ROLE evil SUPERUSER;\n"),
        (11, f"COMMENT ON TABLE {T} IS $$x$$; GRANT ALL ON TABLE {T} TO evil;\n"),
    ],
)
def test_a_changed_entry_is_refused(dump_id: int, defn: str) -> None:
    from dataclasses import replace

    changed = [replace(e, defn=defn) if e.dump_id == dump_id else e for e in genuine()]
    assert not judge(changed, "public", "odd\nname").ok


def test_a_dump_without_the_table_or_its_data_is_refused() -> None:
    assert "no TABLE public.other" in judge(genuine(), "public", "other").refused
    without = [e for e in genuine() if e.desc != "TABLE DATA"]
    assert any("no TABLE DATA" in r for r in judge(without, "public", "odd\nname").refused)


def test_tokens_follow_postgres_lexical_rules() -> None:
    got = tokens(
        "SELECT 'it''s' , E'a\\'b\\n' -- c ; \n /* x /* nested; */ ; */ \"Q\"\"x\" $t$a;b$t$ Ab"
    )
    assert [(t.kind, t.value) for t in got] == [
        (Kind.WORD, "select"),
        (Kind.STRING, "it's"),
        (Kind.SYMBOL, ","),
        (Kind.STRING, "a'b\n"),
        (Kind.IDENT, 'Q"x'),
        (Kind.STRING, "a;b"),
        (Kind.WORD, "ab"),
    ]
    assert len(statements("a; 'x;y'; \"p;q\"; $$;$$;")) == 4
    for bad in ("'open", '"open', "/* open", "$x$ open", "U&'x'"):
        with pytest.raises(ValueError):
            tokens(bad)
