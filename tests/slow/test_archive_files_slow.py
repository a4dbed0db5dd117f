"""The slow half of tests/db/test_archive_files.py: two clusters, each with a
database of the same name, archiving into one directory (a second cluster is
started for it)."""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

from tests.db.test_archive import EXPIRED, build, manifests, pg_bin, write_config
from tests.support.cli_helpers import NOW, cli

__all__ = ["pg_bin"]  # the fixture, used by name


def test_databases_of_one_name_in_two_clusters_share_an_archive_dir(
    pg_server, tmp_path, pg_bin
) -> None:
    """A fleet's two clusters each hold a database of the same name, with the
    same table, archiving into one directory: both are archived (the second
    under ~2), each manifest says which cluster it came from, and each
    archive restores only into its own database."""
    from psycopg.conninfo import make_conninfo

    from devcluster import destroy_cluster, start_cluster

    name = f"app_{os.getpid()}"
    second = start_cluster(bindir=pg_bin)
    dsns = []
    try:
        for admin in (pg_server.admin_dsn, second.dsn):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            dsn = make_conninfo(admin, dbname=name)
            with psycopg.connect(dsn, autocommit=True) as conn:
                build(conn)
            dsns.append(dsn)
        out = tmp_path / "archive"
        config = write_config(tmp_path, out, pg_bin)
        run = cli(["maintain", "--dsn", dsns[0], "--dsn", dsns[1], "--jobs", "2",
                   "--config", str(config), "--now", NOW])  # fmt: skip
        assert run.code == 0, run.stderr
        found = manifests(out)
        assert len(found) == 4 and len({m["system_identifier"] for m in found}) == 2
        assert len([m for m in found if m["file"].endswith("~2.dump")]) == 2
        mine = [m for m in found if m["table"] == EXPIRED[0]]
        for dsn in dsns:
            with psycopg.connect(dsn) as conn:
                here = conn.execute(
                    "SELECT system_identifier::text FROM pg_control_system()"
                ).fetchone()
            assert here is not None
            [own] = [m for m in mine if m["system_identifier"] == here[0]]
            [other] = [m for m in mine if m is not own]
            refused = cli(["restore", str(out / other["file"]), "--dsn", dsn,
                           "--config", str(config)])  # fmt: skip
            assert refused.code == 2 and "--from-other-database" in refused.stderr
            back = cli(["restore", str(out / own["file"]), "--dsn", dsn, "--config", str(config)])
            assert back.code == 0, back.stderr
    finally:
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        destroy_cluster(second)
