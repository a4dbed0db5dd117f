"""Issue 22, rows 3, 5 and 8: retention on the schemas DBAs really have, on
the real server (docs/retention.md).

- Row 3: old partitions that are foreign tables are detached, never
  dropped (nor archived), and never hold up the local partitions.
- Row 5: two partitioned tables linked by a foreign key, both with
  retention: the referencing side goes first, whatever the config's order;
  where the referencing side keeps its rows longer, the referenced side's
  retention is refused up front, naming the key.
- Row 8: a legacy partition that owns the parent's id sequence stays
  attached, reported with the fix; the newer expired partitions still go;
  `check` does not call the hole that leaves a gap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db.test_archive import manifests, pg_bin
from tests.support.cli_helpers import NOW, Run, cli
from tests.support.sibling_compare import build_monthly, table_checksum

__all__ = ["pg_bin"]  # the fixture, used by name

EXPIRED = ("messages_2026_07", "messages_2026_08")  # wholly before NOW - 2 months


def run(args: list[str], dsn: str, cfg: Path, *extra: str) -> Run:
    done = cli([*args, "--dsn", dsn, "--config", str(cfg), "--now", NOW, *extra])
    assert "Traceback" not in done.stderr, done.stderr
    return done


def problems(dsn: str, cfg: Path, table: str) -> list[dict[str, Any]]:
    report = run(["check"], dsn, cfg, "-f", "json").json()
    [entry] = [t for t in report["tables"] if t["table"] == table]
    return list(entry["problems"])


def kind(conn: psycopg.Connection[Any], name: str) -> str | None:
    """relkind, with 'attached' or 'standalone'; None when gone."""
    row = conn.execute(
        "SELECT relkind::text, relispartition FROM pg_class WHERE oid = to_regclass(%s)", (name,)
    ).fetchone()
    if row is None:
        return None
    return f"{row[0]} {'attached' if row[1] else 'standalone'}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pgpart.toml"
    path.write_text(text)
    return path


# --- row 3: foreign-table partitions ----------------------------------------------------------


def with_foreign_june(conn: psycopg.Connection[Any]) -> None:
    """messages July .. November, and June as a foreign table (a wrapper
    with no handler: attaching and detaching never read it)."""
    build_monthly(
        conn,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL, body text",
        primary_key=None,  # a foreign table has no index: the parent may not have one either
        months=range(-4, 1),
    )
    conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-07-01' + g * interval '6 hours', 'r'"
        " FROM generate_series(1, 500) g"
    )
    conn.execute("CREATE FOREIGN DATA WRAPPER elsewhere")
    conn.execute("CREATE SERVER archive_host FOREIGN DATA WRAPPER elsewhere")
    conn.execute(
        "CREATE FOREIGN TABLE messages_2026_06 (id bigint NOT NULL, created_at timestamptz"
        " NOT NULL, body text) SERVER archive_host"
    )
    conn.execute(
        "ALTER TABLE messages ATTACH PARTITION messages_2026_06"
        " FOR VALUES FROM ('2026-06-01 00:00+00') TO ('2026-07-01 00:00+00')"
    )


RETAINED = """[[table]]
name = "public.messages"
interval = "monthly"
retention = "2 months"
"""


def test_a_foreign_partition_is_detached_never_dropped(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    with_foreign_june(pg_conn)
    cfg = write(tmp_path, RETAINED)
    dry = run(["maintain"], pg_dsn, cfg, "--dry-run")
    assert dry.code == 0, dry.stdout + dry.stderr
    assert 'DROP TABLE "public"."messages_2026_06"' not in dry.stdout
    assert 'DETACH PARTITION "public"."messages_2026_06"' in dry.stdout
    done = run(["maintain"], pg_dsn, cfg, "-f", "json")
    assert done.code == 0, done.stdout + done.stderr
    actions = {a["partition"]: a for a in done.json()["actions"]}
    assert actions["messages_2026_06"]["action"] == "detach" and actions["messages_2026_06"]["done"]
    # the local partitions go first: a foreign one never holds them up
    order = [a["partition"] for a in done.json()["actions"] if a["partition"] != "messages"]
    assert order.index("messages_2026_06") > order.index(EXPIRED[1])
    summary = done.json()["summary"]
    assert (summary["dropped"], summary["detached"], summary["failed"]) == (2, 1, 0)
    assert kind(pg_conn, "public.messages_2026_06") == "f standalone"
    for name in EXPIRED:
        assert kind(pg_conn, f"public.{name}") is None
    assert "detached_leftover" not in {p["code"] for p in problems(pg_dsn, cfg, "public.messages")}
    again = run(["maintain"], pg_dsn, cfg, "-f", "json")
    assert again.code == 0 and again.json()["actions"] == [], again.stdout


def test_drop_and_archive_mode_detach_a_foreign_partition_too(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    with_foreign_june(pg_conn)
    out = tmp_path / "archive"
    cfg = write(
        tmp_path,
        RETAINED
        + f'retention_mode = "archive"\narchive_dir = {json.dumps(str(out))}\n'
        + f"pg_bin = {json.dumps(str(pg_bin))}\n",
    )
    done = run(["maintain"], pg_dsn, cfg)
    assert done.code == 0, done.stdout + done.stderr
    assert "archived 2" in done.stdout and "detached 1" in done.stdout, done.stdout
    assert sorted(m["table"] for m in manifests(out)) == list(EXPIRED)
    assert kind(pg_conn, "public.messages_2026_06") == "f standalone"
    # `pgpart drop` the same way, on a table whose retention drops
    pg_conn.execute(
        "ALTER TABLE messages ATTACH PARTITION messages_2026_06"
        " FOR VALUES FROM ('2026-06-01 00:00+00') TO ('2026-07-01 00:00+00')"
    )
    dropped = run(
        ["drop", "public.messages", "--older-than", "2 months", "--yes", "--no-archive"],
        pg_dsn,
        cfg,
    )
    assert dropped.code == 0, dropped.stdout + dropped.stderr
    assert "detached 1" in dropped.stdout and kind(pg_conn, "public.messages_2026_06")


# --- row 5: foreign keys between partitioned tables ----------------------------------------


def orders_and_items(conn: psycopg.Connection[Any]) -> None:
    """orders and order_items, monthly July .. November; each item refers
    to an order of its month."""
    for name in ("orders", "order_items"):
        build_monthly(
            conn,
            name,
            columns="id bigint NOT NULL, created_at timestamptz NOT NULL, order_id bigint,"
            " order_created_at timestamptz",
            months=range(-4, 1),
        )
    conn.execute(
        "ALTER TABLE order_items ADD CONSTRAINT items_order_fk FOREIGN KEY"
        " (order_id, order_created_at) REFERENCES orders (id, created_at)"
    )
    conn.execute(
        "INSERT INTO orders SELECT g, timestamptz '2026-07-01' + g * interval '6 hours'"
        " FROM generate_series(1, 560) g"
    )
    conn.execute(
        "INSERT INTO order_items SELECT g, o.created_at + interval '1 minute', o.id, o.created_at"
        " FROM orders o, generate_series(1, 2) k, LATERAL (SELECT o.id * 10 + k AS g) x"
    )


def two_tables(items_retention: str | None) -> str:
    items = f'retention = "{items_retention}"\n' if items_retention else ""
    return (  # the referenced table first: the config's order must not matter
        '[defaults]\nlock_timeout = "200ms"\nretry_for = "1s"\n'
        '[[table]]\nname = "public.orders"\ninterval = "monthly"\nretention = "2 months"\n'
        f'[[table]]\nname = "public.order_items"\ninterval = "monthly"\n{items}'
    )


def test_the_referencing_table_goes_first(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    orders_and_items(pg_conn)
    cfg = write(tmp_path, two_tables("2 months"))
    done = run(["maintain"], pg_dsn, cfg, "-f", "json")
    assert done.code == 0, done.stdout + done.stderr
    drops = [(a["table"], a["partition"]) for a in done.json()["actions"] if a["action"] == "drop"]
    assert drops == [
        ("public.order_items", "order_items_2026_07"),
        ("public.order_items", "order_items_2026_08"),
        ("public.orders", "orders_2026_07"),
        ("public.orders", "orders_2026_08"),
    ], drops
    assert done.json()["summary"]["dropped"] == 4
    for name in ("orders_2026_07", "orders_2026_08", "order_items_2026_07"):
        assert kind(pg_conn, f"public.{name}") is None


@pytest.mark.parametrize("items_retention", ["12 months", None], ids=["longer", "none"])
def test_a_referenced_tables_retention_is_refused_up_front(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, items_retention: str | None
) -> None:
    orders_and_items(pg_conn)
    before = table_checksum(pg_conn, "orders")
    cfg = write(tmp_path, two_tables(items_retention))
    done = run(["maintain"], pg_dsn, cfg, "-f", "json")
    assert done.code == 2, done.stdout + done.stderr
    # not attempted: no retention action on orders at all
    assert not [a for a in done.json()["actions"] if a["table"] == "public.orders"
                and a["action"] in ("drop", "detach")]  # fmt: skip
    text = run(["maintain"], pg_dsn, cfg).stderr
    assert "items_order_fk" in text and "public.order_items" in text, text
    why = "keeps its rows longer (retention = 1 year)" if items_retention else "has no retention"
    assert why in text, text
    assert table_checksum(pg_conn, "orders") == before
    [refusal] = [p for p in problems(pg_dsn, cfg, "public.orders") if p["code"] == "cannot_drop"]
    assert "items_order_fk" in refusal["message"]


# --- row 8: what depends on a partition ---------------------------------------------------------


def with_legacy_june(conn: psycopg.Connection[Any]) -> None:
    """events (id bigserial) July .. November, and the legacy table of June,
    attached, owning the parent's id sequence."""
    build_monthly(
        conn,
        "events",
        columns="id bigserial NOT NULL, created_at timestamptz NOT NULL",
        months=range(-4, 1),
    )
    conn.execute("CREATE TABLE legacy_events (id bigint NOT NULL, created_at timestamptz NOT NULL)")
    conn.execute("ALTER TABLE legacy_events ADD PRIMARY KEY (id, created_at)")
    conn.execute(
        "INSERT INTO legacy_events SELECT g, timestamptz '2026-06-01' + g * interval '1 hour'"
        " FROM generate_series(1, 100) g"
    )
    conn.execute(
        "ALTER TABLE events ATTACH PARTITION legacy_events"
        " FOR VALUES FROM ('2026-06-01 00:00+00') TO ('2026-07-01 00:00+00')"
    )
    conn.execute("ALTER SEQUENCE events_id_seq OWNED BY legacy_events.id")
    conn.execute(
        "INSERT INTO events (created_at) SELECT timestamptz '2026-07-01' + g * interval '6 hours'"
        " FROM generate_series(1, 500) g"
    )


@pytest.mark.parametrize("mode", ["drop", "detach"])
def test_a_partition_owning_the_parents_sequence_stays_and_the_newer_ones_go(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, mode: str
) -> None:
    with_legacy_june(pg_conn)
    cfg = write(
        tmp_path,
        '[[table]]\nname = "public.events"\ninterval = "monthly"\nretention = "2 months"\n'
        f'retention_mode = "{mode}"\n',
    )
    done = run(["maintain"], pg_dsn, cfg)
    assert done.code == 2, done.stdout + done.stderr
    [line] = [x for x in done.stderr.splitlines() if "legacy_events" in x]
    assert "it owns the sequence public.events_id_seq" in line, line
    assert "ALTER SEQUENCE public.events_id_seq OWNED BY public.events.id" in line, line
    assert "it stays attached" in line
    assert kind(pg_conn, "public.legacy_events") == "r attached"
    gone = "r standalone" if mode == "detach" else None
    for name in ("events_2026_07", "events_2026_08"):
        assert kind(pg_conn, f"public.{name}") == gone
    # Inserts still take ids from the sequence.
    pg_conn.execute("INSERT INTO events (created_at) VALUES ('2026-11-20')")
    # The hole between June and September lies before the retention cutoff:
    # information, not a gap warning.
    found = problems(pg_dsn, cfg, "public.events")
    gaps = [p for p in found if p["code"] == "gap"]
    assert [g["severity"] for g in gaps] == ["info"], found
    assert "retention left it, wholly before its cutoff" in gaps[0]["message"]
    # The fix the message names; then the next maintain removes it too.
    pg_conn.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    again = run(["maintain"], pg_dsn, cfg)
    assert again.code == 0, again.stdout + again.stderr
    assert kind(pg_conn, "public.legacy_events") == gone
    pg_conn.execute("INSERT INTO events (created_at) VALUES ('2026-11-21')")


def test_a_view_on_a_partition_keeps_it_attached_in_drop_mode_only(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """DROP would need CASCADE for a view reading the partition: said before
    anything is detached. A detach breaks nothing of the view."""
    build_monthly(
        pg_conn, columns="id bigint NOT NULL, created_at timestamptz NOT NULL", months=range(-4, 1)
    )
    pg_conn.execute("CREATE VIEW july_report AS SELECT count(*) AS n FROM messages_2026_07")
    cfg = write(tmp_path, RETAINED)
    done = run(["maintain"], pg_dsn, cfg)
    assert done.code == 2, done.stdout + done.stderr
    assert "view public.july_report depends on it" in done.stderr, done.stderr
    assert kind(pg_conn, "public.messages_2026_07") == "r attached"
    assert kind(pg_conn, "public.messages_2026_08") is None
    detach = write(tmp_path, RETAINED + 'retention_mode = "detach"\n')
    assert run(["maintain"], pg_dsn, detach).code == 0
    assert kind(pg_conn, "public.messages_2026_07") == "r standalone"
    assert pg_conn.execute("SELECT n FROM july_report").fetchone() == (0,)


def test_the_drop_prompt_says_a_foreign_partition_is_only_detached(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """drop asks about what it will really do: the local partitions dropped,
    the foreign one only detached."""
    from tests.cli.test_oncall import term

    with_foreign_june(pg_conn)
    args = ["drop", "messages", "--before", "2026-09-01", "--dsn", pg_dsn, "--now", NOW]
    with term(args) as t:
        t.read_until(r"\[y/N\]: ")
        t.write("n\n")
        code = t.wait()
    assert code == 0, t.output
    out = t.output.replace("\r\n", "\n")
    assert "Drop these 2 partition(s) and detach 1 foreign-table partition(s)? [y/N]" in out
    assert kind(pg_conn, "public.messages_2026_06") is not None
