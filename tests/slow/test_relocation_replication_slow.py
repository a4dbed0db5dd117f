"""The slow half of tests/db/test_relocation_replication.py: 3,000,000 DEFAULT
rows drained while an application writes, with a subscriber in root mode."""

from __future__ import annotations

from pathlib import Path

from tests.db.test_relocation_replication import (
    ALL,
    COLUMNS,
    assert_same,
    build_publisher,
    pair,
)
from tests.support.cli_helpers import NOW, cli
from tests.support.relocation_clusters import (
    Pair,
    ServerLog,
    logical_databases,
    subscribe,
)
from tests.support.replication_helpers import replication_pair

__all__ = ["pair", "replication_pair"]  # the fixtures, used by name


def test_done_when_three_million_rows_move_while_the_application_writes(
    pair: Pair, tmp_path: Path
) -> None:
    """Issue 20's end: 3,000,000 DEFAULT rows, an application inserting
    throughout, maintain with drain: no failed statement, the worst wait
    within about the lock timeout, every row where it belongs, and a
    subscriber (root mode) that agrees with the publisher."""
    from datetime import datetime, timedelta, timezone

    from tests.support.app_sessions import Writer, misplaced, summary, writing

    with logical_databases(pair, "done when") as db:
        with db.pub() as conn:
            build_publisher(conn)
            conn.execute(
                "INSERT INTO app.ev (ts, v, payload) SELECT '2026-11-23'::timestamptz"
                " + (i % 86000) * interval '1 s', i, md5(i::text)"
                " FROM generate_series(1, 2995000) i"
            )
            conn.execute(
                "CREATE PUBLICATION p FOR TABLE app.ev WITH (publish_via_partition_root = true)"
            )
        with db.sub() as conn:
            conn.execute(
                f"CREATE SCHEMA app; CREATE TABLE app.ev ({COLUMNS}, PRIMARY KEY (id, ts))"
            )
        subscribe(db, "p")
        log = ServerLog(pair.subscriber)
        day = datetime(2026, 11, 23, tzinfo=timezone.utc)
        apps = [
            Writer(db.pub_dsn, "app.ev", "moved day", day + timedelta(hours=5)),
            Writer(db.pub_dsn, "app.ev", "covered", day - timedelta(hours=5)),
            Writer(db.pub_dsn, "app.ev", "DEFAULT only", day + timedelta(days=300)),
        ]
        config = tmp_path / "pgpart.toml"
        config.write_text('[defaults]\nrelocation = "drain"\nlock_timeout = "500ms"\n')
        with writing(apps):
            run = cli(
                ["maintain", "app.ev", "--dsn", db.pub_dsn, "--now", NOW, "--config", str(config)]
            )
        print(f"\n3,000,000 rows, drain, root mode: {summary(apps)}")
        assert run.code == 0, run.stdout + run.stderr
        assert all(not w.failures for w in apps), [w.failures[:2] for w in apps]
        assert max(w.worst_s for w in apps) < 1.5, summary(apps)
        with db.pub() as conn:
            assert misplaced(conn, "app.ev", apps) == []
        assert_same(db, ALL, ALL, log)
