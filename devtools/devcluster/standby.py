"""A hot standby of a running cluster (tests of commands refusing recovery)."""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import psycopg

from devcluster.cluster import Cluster, kill, pg_ctl, remove_dirs
from devcluster.common import LOG_FILE, START_TIMEOUT_S, SUPERUSER, ClusterError
from devcluster.osuser import user_named
from devcluster.programs import failure, run_program
from devcluster.start import (
    default_parent,
    free_port,
    make_private_dir,
    wait_connectable,
    write_owned,
    write_settings,
)


def start_standby(primary: Cluster) -> Cluster:
    """A hot standby of ``primary`` (pg_basebackup -R), started on its own port.

    Used to test that writing commands refuse to run in recovery. Remove it
    with destroy_cluster() before the primary.
    """
    user = user_named(primary.os_user)
    hba = primary.datadir / "pg_hba.conf"
    if "local replication all trust" not in hba.read_text(encoding="utf-8"):
        write_owned(hba, hba.read_text(encoding="utf-8") + "local replication all trust\n", user)
        with psycopg.connect(primary.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
    base = Path(tempfile.mkdtemp(prefix="pgpart-standby-", dir=default_parent())).resolve()
    sockdir = base / "sock"
    cluster: Cluster | None = None
    try:
        make_private_dir(base, user)
        make_private_dir(sockdir, user)
        datadir = base / "data"
        res = run_program(
            [
                primary.bindir / "pg_basebackup",
                "-h",
                primary.sockdir,
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                datadir,
                "-R",
                "-X",
                "stream",
            ],
            user,
            cwd=base,
        )
        if res.returncode != 0:
            raise ClusterError(failure("pg_basebackup", res, None))
        port = free_port()
        write_settings(datadir, user, port, sockdir)
        cluster = Cluster(primary.bindir, datadir, sockdir, port, user.name, 0, base)
        res = pg_ctl(cluster, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(base / LOG_FILE))
        if res.returncode != 0:
            raise ClusterError(failure("pg_ctl start (standby)", res, base / LOG_FILE))
        version_num = wait_connectable(cluster.dsn, time.monotonic() + START_TIMEOUT_S)
        return Cluster(primary.bindir, datadir, sockdir, port, user.name, version_num, base)
    except BaseException:
        if cluster is not None:
            with contextlib.suppress(ClusterError):
                kill(cluster)
        remove_dirs(base, sockdir, remove_base=True)
        raise
