"""pgpart on a logical replication subscriber and on its publisher, one
database at a time, on two clusters (tests/support/replication_helpers.py): check
says what a subscription misses or why it stopped, maintain refreshes it
without losing or duplicating a row, and a publisher says what its consumers
need. Every scenario compares both sides' rows at the end."""

from __future__ import annotations

import time
from typing import Any

from tests.support.cli_helpers import NOW, Run, cli
from tests.support.replication_helpers import (
    Pair,
    as_role,
    assert_same_rows,
    digest,
    make_role,
    pair,
    replication_pair,
    subscribe,
    wait_synced,
    worker_errors,
)

__all__ = ["pair", "replication_pair"]  # the fixtures, used by name

N = ["--now", NOW]
TABLE = (
    "CREATE TABLE ev (id bigint NOT NULL, at timestamptz NOT NULL, body text,"
    " PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
)


def month(name: str, lo: str, hi: str) -> str:
    return f"CREATE TABLE {name} PARTITION OF ev FOR VALUES FROM ('{lo}') TO ('{hi}')"


OCT = month("ev_2026_10", "2026-10-01", "2026-11-01")
NOV = month("ev_2026_11", "2026-11-01", "2026-12-01")
DEC = month("ev_2026_12", "2026-12-01", "2027-01-01")
JAN = month("ev_2027_01", "2027-01-01", "2027-02-01")


def write(pair: Pair, first: int, at: str, rows: int = 5) -> int:
    """``rows`` rows at ``at`` on the publisher, ids from ``first``; the next id."""
    pair.run(
        "pub",
        f"INSERT INTO ev SELECT g, '{at}'::timestamptz + g * interval '1 s', 'row ' || g"
        f" FROM generate_series({first}, {first + rows - 1}) AS g",
    )
    return first + rows


def same_rows(pair: Pair, subscription: str, table: str = "ev") -> None:
    assert_same_rows(pair, subscription, table)


def problems(run: Run, code: str) -> list[dict[str, Any]]:
    return [p for t in run.json()["tables"] for p in t["problems"] if p["code"] == code]


def subscribed(pair: Pair) -> set[str]:
    rows = pair.run("sub", "SELECT srrelid::regclass::text FROM pg_subscription_rel")
    return {r[0] for r in rows}


def test_a_subscription_that_missed_a_refresh_is_critical_until_maintain_refreshes_it(
    pair: Pair,
) -> None:
    # The publication names partitions one by one; the publisher adds two
    # and the subscriber, which has them, is never refreshed.
    pair.run("pub", TABLE, OCT, NOV, DEC, "CREATE PUBLICATION parts FOR TABLE ev_2026_10")
    pair.run("sub", TABLE, OCT, NOV, DEC)
    subscribe(pair, "sub_a", ["parts"])
    next_id = write(pair, 1, "2026-10-05")
    same_rows(pair, "sub_a")
    pair.run("pub", "ALTER PUBLICATION parts ADD TABLE ev_2026_11, ev_2026_12")
    assert cli(["check", "--dsn", pair.sub, *N]).code == 2
    found = problems(
        cli(["check", "--dsn", pair.sub, *N, "-f", "json"]), "subscription_missing_partition"
    )
    assert len(found) == 1 and found[0]["severity"] == "critical", found
    message = found[0]["message"]
    assert "public.ev_2026_11, public.ev_2026_12" in message
    assert "ALTER SUBSCRIPTION sub_a REFRESH PUBLICATION WITH (copy_data = true)" in message

    # Rows written meanwhile are skipped by the subscriber...
    next_id = write(pair, next_id, "2026-11-20")
    next_id = write(pair, next_id, "2026-12-20")
    wait_synced(pair, "sub_a")
    assert digest(pair.sub, "ev")[0] == 5
    # ... until maintain refreshes the subscription, copying them.
    dry = cli(["maintain", "--dsn", pair.sub, *N, "--dry-run"])
    assert 'ALTER SUBSCRIPTION "sub_a" REFRESH PUBLICATION WITH (copy_data = true);' in dry.stdout
    run = cli(["maintain", "--dsn", pair.sub, *N])
    assert run.code == 0, run.stdout + run.stderr
    assert "refresh_subscription" in run.stdout and "done" in run.stdout
    same_rows(pair, "sub_a")
    assert {"ev_2026_11", "ev_2026_12"} <= subscribed(pair)
    # The subscriber made January and February ahead; the publisher has not yet:
    # known to nobody, a warning (rows written there would be lost).
    ahead = cli(["check", "--dsn", pair.sub, *N, "-f", "json"])
    assert ahead.code == 1
    (warning,) = problems(ahead, "subscription_missing_partition")
    assert "ev_2027_01, public.ev_2027_02" in warning["message"]

    # The publisher's maintain adds its new partitions to the publication that
    # lists their siblings; the subscriber's next run brings them in.
    assert cli(["maintain", "--dsn", pair.pub, *N]).code == 0
    published = pair.run(
        "pub", "SELECT tablename FROM pg_publication_tables WHERE pubname = 'parts' ORDER BY 1"
    )
    assert [r[0] for r in published] == [
        f"ev_{m}" for m in ("2026_10", "2026_11", "2026_12", "2027_01", "2027_02")
    ]
    assert cli(["maintain", "--dsn", pair.sub, *N]).code == 0
    next_id = write(pair, next_id, "2027-02-03")
    same_rows(pair, "sub_a")
    assert cli(["check", "--dsn", pair.sub, *N]).code == 0
    assert cli(["maintain", "--dsn", pair.sub, *N, "-f", "json"]).json()["actions"] == []
    assert worker_errors(pair) == []


def _stopped(pair: Pair) -> list[dict[str, Any]]:
    """subscription_stopped as check reports it, once the apply worker is
    down (it restarts every 500 ms, failing again)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not found and time.monotonic() < deadline:
        found = problems(
            cli(["check", "--dsn", pair.sub, *N, "-f", "json"]), "subscription_stopped"
        )
        time.sleep(0.05)
    return found


def test_the_publisher_first_stops_the_apply_worker_and_the_subscribers_maintain_recovers_it(
    pair: Pair,
) -> None:
    """The issue's incident: leaf mode, the publisher makes next month's
    partition and writes there; the subscriber's apply worker stops on the
    missing table. maintain there creates it and refreshes: every row
    arrives once."""
    pair.run("pub", TABLE, OCT, NOV, DEC, "CREATE PUBLICATION whole FOR TABLE ev")
    pair.run("sub", TABLE, OCT, NOV, DEC)
    subscribe(pair, "sub_b", ["whole"])
    next_id = write(pair, 1, "2026-11-05")
    same_rows(pair, "sub_b")

    pair.run("pub", JAN)
    next_id = write(pair, next_id, "2027-01-02")  # and Nov rows in the same transaction:
    pair.run(
        "pub",
        "BEGIN",
        "INSERT INTO ev VALUES (1000, '2027-01-09', 'j'), (1001, '2026-11-09', 'n')",
        "COMMIT",
    )
    stopped = _stopped(pair)
    assert stopped and stopped[0]["severity"] == "critical", stopped
    assert "apply worker is not running" in stopped[0]["message"]
    assert any("ev_2027_01" in e and "does not exist" in e for e in worker_errors(pair))

    run = cli(["maintain", "--dsn", pair.sub, *N])
    assert run.code == 0, run.stdout + run.stderr
    same_rows(pair, "sub_b")
    assert digest(pair.sub, "ev")[0] == 12
    write(pair, next_id, "2027-01-20")
    same_rows(pair, "sub_b")


def test_a_disabled_subscription_is_said_and_not_refreshed(pair: Pair) -> None:
    pair.run("pub", TABLE, OCT, NOV, "CREATE PUBLICATION whole FOR TABLE ev")
    pair.run("sub", TABLE, OCT, NOV)
    subscribe(pair, "sub_d", ["whole"])
    same_rows(pair, "sub_d")
    pair.run("sub", "ALTER SUBSCRIPTION sub_d DISABLE")
    check = cli(["check", "--dsn", pair.sub, *N, "-f", "json"])
    (stopped,) = problems(check, "subscription_stopped")
    assert stopped["severity"] == "warning"
    assert "ALTER SUBSCRIPTION sub_d ENABLE" in stopped["message"]
    run = cli(["maintain", "--dsn", pair.sub, *N, "-f", "json"])
    assert run.code == 0
    assert {a["action"] for a in run.json()["actions"]} == {"create", "analyze"}
    # Enabled again: the next run refreshes it, and what was written meanwhile arrives.
    assert cli(["maintain", "--dsn", pair.pub, *N]).code == 0
    write(pair, 1, "2026-12-24")
    pair.run("sub", "ALTER SUBSCRIPTION sub_d ENABLE")
    run = cli(["maintain", "--dsn", pair.sub, *N, "-f", "json"])
    assert run.code == 0
    assert [a["action"] for a in run.json()["actions"]] == ["refresh_subscription"]
    same_rows(pair, "sub_d")
    assert worker_errors(pair) == []


def test_a_partition_holding_rows_here_is_not_refreshed(pair: Pair) -> None:
    """Copying the publisher's rows into a partition that already has rows
    would duplicate them: the refresh is refused, saying what to do."""
    pair.run("pub", TABLE, OCT, NOV, "CREATE PUBLICATION whole FOR TABLE ev")
    pair.run("sub", TABLE, OCT, NOV)
    subscribe(pair, "sub_c", ["whole"])
    same_rows(pair, "sub_c")
    pair.run("pub", DEC)
    pair.run("sub", DEC, "INSERT INTO ev VALUES (7, '2026-12-07', 'written here')")
    run = cli(["maintain", "--dsn", pair.sub, *N])
    assert run.code == 2, run.stdout + run.stderr
    assert "public.ev_2026_12 already holds rows" in run.stderr
    assert "REFRESH PUBLICATION WITH (copy_data = false)" in run.stderr
    assert "ev_2026_12" not in subscribed(pair)
    # Emptied, it is brought in with the publisher's rows.
    write(pair, 1, "2026-12-02")
    pair.run("sub", "TRUNCATE ev_2026_12")
    assert cli(["maintain", "--dsn", pair.sub, *N]).code == 0
    same_rows(pair, "sub_c")
    assert worker_errors(pair) == []


def test_refreshing_needs_the_subscriptions_owner(pair: Pair) -> None:
    """A login that owns the tables but not the subscription reads all it
    needs (it is no superuser), makes the partitions and says which GRANT
    lets it refresh; given it, it does."""
    clusters = pair.clusters
    repl = make_role(clusters.publisher, "repl", "REPLICATION")
    owner = make_role(clusters.subscriber, "subowner", "SUPERUSER")
    tables = make_role(clusters.subscriber, "tabowner")
    ops = make_role(clusters.subscriber, "ops")
    pair.run("pub", TABLE, OCT, NOV, "CREATE PUBLICATION whole FOR TABLE ev")
    pair.run("pub", f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {repl}")
    pair.run("sub", TABLE, OCT, NOV, f"GRANT {tables} TO {owner}, {ops}")
    pair.run("sub", f"GRANT CREATE ON SCHEMA public TO {tables}")
    pair.run(
        "sub", *(f"ALTER TABLE {t} OWNER TO {tables}" for t in ("ev", "ev_2026_10", "ev_2026_11"))
    )
    subscribe(pair, "sub_r", ["whole"], conninfo=as_role(pair.pub_conninfo, repl), enabled=False)
    # A subscription a non-superuser owns (creating one takes more rights).
    pair.run("sub", f"ALTER SUBSCRIPTION sub_r OWNER TO {owner}", f"ALTER ROLE {owner} NOSUPERUSER")
    pair.run("sub", "ALTER SUBSCRIPTION sub_r ENABLE")
    same_rows(pair, "sub_r")

    login = as_role(pair.sub, ops)
    run = cli(["maintain", "--dsn", login, *N])  # December to March; no refresh allowed
    assert run.code == 2, run.stdout + run.stderr
    assert f"GRANT {owner} TO {ops}" in run.stdout + run.stderr
    pair.run("pub", DEC, f"GRANT SELECT ON ev_2026_12 TO {repl}")
    next_id = write(pair, 1, "2026-12-02")  # skipped: the subscription does not know it
    check = cli(["check", "--dsn", login, *N, "-f", "json"])
    (missing,) = problems(check, "subscription_missing_partition")
    assert "public.ev_2026_12" in missing["message"]
    assert (
        f"pgpart cannot run it: only its owner may alter it: GRANT {owner} TO {ops}"
        in missing["message"]
    )

    pair.run("sub", f"GRANT {owner} TO {ops}")
    run = cli(["maintain", "--dsn", login, *N])
    assert run.code == 0, run.stdout + run.stderr
    same_rows(pair, "sub_r")
    write(pair, next_id, "2026-12-03")
    same_rows(pair, "sub_r")
    assert worker_errors(pair) == []


def test_a_login_that_may_not_read_the_subscriptions_is_told(pair: Pair) -> None:
    """Any role reads what check needs; where a DBA revoked it, check says
    it cannot tell (a warning), and the rest of the check stands."""
    pair.run("pub", TABLE, OCT, NOV, "CREATE PUBLICATION whole FOR TABLE ev")
    pair.run("sub", TABLE, OCT, NOV)
    subscribe(pair, "sub_p", ["whole"])
    ops = make_role(pair.clusters.subscriber, "reader")
    login = as_role(pair.sub, ops)
    assert cli(["check", "--dsn", login, *N]).code == 0
    pair.run("sub", "REVOKE SELECT ON pg_catalog.pg_subscription_rel FROM PUBLIC")
    check = cli(["check", "--dsn", login, *N, "-f", "json"])
    assert check.code == 1, check.stdout + check.stderr
    (warning,) = problems(check, "subscription_missing_partition")
    assert "cannot read pg_subscription_rel: permission denied" in warning["message"]
    assert check.json()["tables"][0]["covered_until"] == "2026-12-01T00:00:00+00:00"
    write(pair, 1, "2026-11-03")
    same_rows(pair, "sub_p")
    assert worker_errors(pair) == []


def test_a_publisher_says_who_needs_its_new_partitions(pair: Pair) -> None:
    pair.run("pub", TABLE, OCT, "CREATE PUBLICATION whole FOR TABLE ev")
    (info,) = problems(cli(["check", "--dsn", pair.pub, *N, "-f", "json"]), "leaf_publication")
    assert info["severity"] == "info"
    assert 'publication "whole"' in info["message"]
    assert "no partition covers now" in info["message"]
    # maintain makes November, which takes rows at once: said, not a failure.
    run = cli(["maintain", "--dsn", pair.pub, *N])
    assert run.code == 0, run.stdout + run.stderr
    assert "public.ev_2026_11 takes rows at once (it covers now)" in run.stderr
    check = cli(["check", "--dsn", pair.pub, *N, "-f", "json"])
    assert check.code == 0
    (info,) = problems(check, "leaf_publication")
    assert "partitions exist through 2027-03-01 00:00+00:00 (3 ahead" in info["message"]
    # Published as the partitioned table, partitions are no one else's business.
    pair.run("pub", "ALTER PUBLICATION whole SET (publish_via_partition_root = true)")
    assert problems(cli(["check", "--dsn", pair.pub, *N, "-f", "json"]), "leaf_publication") == []
