"""On a hot standby `maintain` is a deliberate no-op (exit 0, says why: the
same cron runs on every node to survive a failover); create and drop refuse
with exit 2; check still works."""

from __future__ import annotations

import pytest

from devcluster import destroy_cluster, start_standby
from tests.support.cli_helpers import NOW, cli, monthly_table


@pytest.fixture
def standby_dsn(pg_cluster_control, pg_conn):
    monthly_table(pg_conn, months=range(-1, 1))  # current month only: maintain has work
    standby = start_standby(pg_cluster_control)
    try:
        yield standby.dsn_for(pg_conn.info.dbname)
    finally:
        destroy_cluster(standby)


def test_writing_commands_refuse_in_recovery(standby_dsn):
    maintain = cli(["maintain", "--dsn", standby_dsn, "--now", NOW])
    assert maintain.code == 0, maintain
    assert maintain.stdout == ""
    assert maintain.stderr == (
        "pgpart: the server is in recovery (a hot standby): nothing to do here;"
        " maintain runs on the primary\n"
    )
    quiet = cli(["maintain", "-q", "--dsn", standby_dsn, "--now", NOW])
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")  # cron mail stays empty
    for args in (
        ["create", "messages"],
        ["drop", "messages", "--older-than", "1 day", "--yes"],
    ):
        run = cli([*args, "--dsn", standby_dsn, "--now", NOW])
        assert run.code == 2, (args, run.stdout, run.stderr)
        assert "in recovery" in run.stderr
        assert "Traceback" not in run.stderr
    check = cli(["check", "--dsn", standby_dsn, "--now", NOW, "--format", "json"])
    assert check.code == 0  # read-only: works on a standby
    assert check.json()["tables"][0]["table"] == "public.messages"
    # A dry run is allowed: it changes nothing and shows what the primary needs.
    dry = cli(["maintain", "--dsn", standby_dsn, "--now", NOW, "--dry-run"])
    assert dry.code == 0, dry.stdout + dry.stderr
    assert "ATTACH PARTITION" in dry.stdout
