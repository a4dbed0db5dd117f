"""What every part of devcluster shares: environment variable names, file
names, the server's defaults, and ClusterError."""

from __future__ import annotations

from collections.abc import Mapping

ENV_PGBIN = "PGPART_TEST_PGBIN"
ENV_DSN = "PGPART_TEST_DSN"
ENV_OS_USER = "PGPART_TEST_OS_USER"
ENV_TMPDIR = "PGPART_TEST_TMPDIR"
ENV_PGROOT = "PGPART_TEST_PGROOT"

REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres")
STATE_FILE = "devcluster.json"
LOG_FILE = "postgres.log"
SETTINGS_FILE = "pgpart_devcluster.conf"
SUPERUSER = "postgres"
FALLBACK_OS_USER = "pgpart-test"
START_TIMEOUT_S = 30

# A throwaway cluster: durability off, memory small, output predictable.
DEFAULT_SETTINGS: Mapping[str, str | int | bool] = {
    "listen_addresses": "127.0.0.1",
    "max_connections": 100,
    "shared_buffers": "32MB",
    "fsync": False,
    "synchronous_commit": False,
    "full_page_writes": False,
    "password_encryption": "scram-sha-256",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "lc_messages": "C",
    "logging_collector": False,
    "log_line_prefix": "%m [%p] %q%u@%d ",
}

HOW_TO_PROVIDE = (
    "Provide PostgreSQL server binaries (initdb, pg_ctl, postgres) in one of these ways: "
    "install PostgreSQL (e.g. `apt-get install postgresql`), "
    f"or set {ENV_PGBIN} to the directory holding initdb, pg_ctl and postgres, "
    f"or set {ENV_DSN} to a superuser DSN of a running server to test against."
)


class ClusterError(Exception):
    """A throwaway cluster could not be found, started, controlled or removed."""
