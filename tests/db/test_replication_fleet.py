"""One fleet run of maintain over a publisher and its subscriber, given in
either order, with the publication publishing partitions one by one (leaf
mode) or as their parent (root mode): an application writes to the current
period all along, and no apply worker stops, no row is lost or duplicated,
new partitions join the publications their siblings are in (column list and
row filter included), and a CDC slot sees them.

Three tables: ``ev`` (a publication FOR TABLE ev), ``msg`` (a publication
that names its partitions one by one, with a column list and a row filter)
and ``sch.logs`` (a publication FOR TABLES IN SCHEMA sch)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.support.cli_helpers import NOW, cli
from tests.support.replication_helpers import (
    Pair,
    assert_same_rows,
    cdc_slot,
    decoded_inserts,
    pair,
    replication_pair,
    subscribe,
    wait_synced,
    worker_errors,
)

__all__ = ["pair", "replication_pair"]  # the fixtures, used by name

MONTHS = (("2026_09", "2026-09-01", "2026-10-01"), ("2026_10", "2026-10-01", "2026-11-01"))
NEW = ("2026_11", "2026_12", "2027_01", "2027_02")  # what maintain makes at NOW (premake 3)
TABLES = {  # table -> (columns, rows) the subscriber gets
    "ev": ("id, at, body, secret", "true"),
    "msg": ("id, at, body", "id % 2 = 0"),  # its publication's column list and row filter
    "sch.logs": ("id, at, body, secret", "true"),
}


def _schema() -> list[str]:
    out = ["CREATE SCHEMA sch"]
    for table in TABLES:
        out.append(
            f"CREATE TABLE {table} (id bigint NOT NULL, at timestamptz NOT NULL, body text, secret text,"
            f" PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
        )
        for suffix, lo, hi in MONTHS:
            out.append(
                f"CREATE TABLE {table}_{suffix} PARTITION OF {table}"
                f" FOR VALUES FROM ('{lo}') TO ('{hi}')"
            )
    return out


def setup(pair: Pair, via_root: bool) -> str:
    """Both sides, the publications, a CDC slot and the subscription; the
    slot's plugin."""
    root = f"publish_via_partition_root = {via_root}"
    parts = ", ".join(f"msg_{s} (id, at, body) WHERE (id % 2 = 0)" for s, _, _ in MONTHS)
    pair.run(
        "pub",
        *_schema(),
        f"CREATE PUBLICATION whole FOR TABLE ev WITH ({root})",
        f"CREATE PUBLICATION parts FOR TABLE {parts}",
        f"CREATE PUBLICATION in_schema FOR TABLES IN SCHEMA sch WITH ({root})",
    )
    plugin = cdc_slot(pair.pub, "cdc", publication="whole")
    pair.run("sub", *_schema())
    write(pair, range(1, 41), "2026-09-15")
    write(pair, range(41, 81), "2026-10-15")
    subscribe(pair, "fleet_sub", ["whole", "parts", "in_schema"])
    wait_synced(pair, "fleet_sub")
    return plugin


def write(pair: Pair, ids: range, at: str) -> None:
    with psycopg.connect(pair.pub, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(
                f"INSERT INTO {table} SELECT g, %s::timestamptz + g * interval '1 s', 'row ' || g,"
                " 'secret ' || g FROM generate_series(%s::bigint, %s::bigint) AS g",
                (at, ids.start, ids.stop - 1),
            )


@contextmanager
def application(pair: Pair) -> Iterator[list[int]]:
    """Inserts into the current period (which only exists once maintain
    made it) every few milliseconds; yields the ids that went in."""
    done = threading.Event()
    written: list[int] = []

    def run() -> None:
        with psycopg.connect(pair.pub, autocommit=True) as conn:
            for i in range(100_000, 200_000):
                if done.is_set():
                    return
                for table in TABLES:  # each on its own: rows flow as soon as one can
                    try:
                        conn.execute(f"INSERT INTO {table} VALUES (%s, %s, 'live', 'x')", (i, NOW))
                        written.append(i)
                    except psycopg.errors.CheckViolation:
                        pass  # no partition for now yet
                time.sleep(0.005)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield written
    finally:
        time.sleep(0.3)
        done.set()
        thread.join()


@pytest.mark.parametrize("via_root", [False, True], ids=["leaf", "root"])
@pytest.mark.parametrize(
    "publisher_first", [True, False], ids=["publisher-first", "subscriber-first"]
)
def test_one_fleet_run_keeps_the_subscriber_whole(
    pair: Pair, via_root: bool, publisher_first: bool
) -> None:
    plugin = setup(pair, via_root)
    # One at a time in the order given, or two at once.
    members = [pair.pub, pair.sub] if publisher_first else [pair.sub, pair.pub]
    jobs = "1" if publisher_first else "2"
    with application(pair) as written:
        run = cli(
            ["maintain", "--now", NOW, "--jobs", jobs, "-f", "json"]
            + [a for d in members for a in ("--dsn", d)]
        )
    assert run.code == 0, run.stdout + run.stderr
    assert written, "the application never wrote: the current partition was not made"
    actions = [(a["database"], a["action"], a["partition"]) for a in run.json()["actions"]]
    sub_name = next(
        d["database"]
        for d in run.json()["databases"]
        if d["database"].endswith(f":{pair.clusters.subscriber.port}/{pair.name}")
    )
    assert (sub_name, "refresh_subscription", "fleet_sub") in actions
    # The subscriber's ANALYZE runs in the stage after its creations: it still
    # sees that they changed the table (it is not skipped as 'not needed').
    analyzed = [
        a for a in run.json()["actions"] if a["database"] == sub_name and a["action"] == "analyze"
    ]
    assert analyzed and all(a["done"] and not a["skipped"] for a in analyzed), analyzed

    for suffix in NEW[1:]:  # a row in each partition ahead
        first = 1000 + 100 * NEW.index(suffix)
        write(pair, range(first, first + 10), f"{suffix.replace('_', '-')}-10")
    for table, (columns, rows) in TABLES.items():
        assert_same_rows(pair, "fleet_sub", table, columns, rows)
    assert worker_errors(pair) == []

    # New partitions of msg joined the publication that lists its partitions,
    # with its column list and row filter.
    listed = pair.run(
        "pub",
        "SELECT tablename, attnames::text, rowfilter FROM pg_publication_tables"
        " WHERE pubname = 'parts' ORDER BY tablename",
    )
    assert [r[0] for r in listed] == [f"msg_{s}" for s in ("2026_09", "2026_10", *NEW)]
    assert {(r[1], r[2]) for r in listed} == {("{id,at,body}", "((id % (2)::bigint) = 0)")}

    # check agrees on both sides; the CDC slot saw the new partitions' rows.
    assert cli(["check", "--now", NOW, "--dsn", pair.sub]).code == 0
    assert cli(["check", "--now", NOW, "--dsn", pair.pub]).code == 0
    seen = decoded_inserts(pair.pub, "cdc", plugin, publication="whole")
    if plugin == "test_decoding" or not via_root:
        assert all(seen[f"public.ev_{s}"] > 0 for s in NEW), seen
    else:
        assert seen["public.ev"] > 0, seen
