"""Several databases of the test cluster for fleet tests, dropped afterwards."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devcluster import Server

_counter = itertools.count(1)

# Connection refused at once: a member that cannot be reached.
UNREACHABLE = "host=127.0.0.1 port=1 dbname=gone connect_timeout=3"

Setup = Callable[[psycopg.Connection[Any], int], object]  # what it returns is not used


def _admin(server: Server) -> psycopg.Connection[Any]:
    return psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10)


class Databases:
    """make(n, setup) -> DSNs of n new databases (setup(conn, i) run in each)."""

    def __init__(self, server: Server, template: str) -> None:
        self.server = server
        self.template = template
        self.names: list[str] = []
        self.dsns: list[str] = []

    def make(self, n: int, setup: Setup | None = None, *, template: str | None = None) -> list[str]:
        dsns = []
        with _admin(self.server) as admin:
            for i in range(n):
                name = f"fleet_{os.getpid()}_{next(_counter)}"
                create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template or self.template)
                )
                if self.server.version_num >= 150000:
                    create += sql.SQL(" STRATEGY FILE_COPY")
                admin.execute(create)
                self.names.append(name)
                dsn = make_conninfo(self.server.admin_dsn, dbname=name)
                if setup is not None:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        setup(conn, i)
                dsns.append(dsn)
        self.dsns += dsns
        return dsns

    def drop_all(self) -> None:
        with _admin(self.server) as admin:
            for name in self.names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture
def databases(pg_server: Server, _pg_template: str) -> Iterator[Databases]:
    made = Databases(pg_server, _pg_template)
    try:
        yield made
    finally:
        made.drop_all()


def dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])


def service_file(
    path: Any, services: dict[str, str], passwords: dict[str, str] | None = None
) -> str:
    """A pg_service.conf with one section per name -> DSN; returns its path."""
    lines = ["# written by the fleet tests"]
    for name, dsn in services.items():
        lines.append(f"[{name}]")
        for key, value in conninfo_to_dict(dsn).items():
            lines.append(f"{key}={value}")
        if passwords and name in passwords:
            lines.append(f"password={passwords[name]}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)
