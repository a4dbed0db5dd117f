"""The slow half of tests/db/test_lock_waits.py: maintain waits out a short
migration for the other combinations of what is locked, lock_timeout and
retry_for (each waits the migration's 2 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db import test_lock_waits as fast


@pytest.mark.parametrize(
    ("locked", "lock_timeout", "retry_for"),
    [
        ("newest partition", "200ms", "10s"),
        ("whole table", "3s", "30s"),
        ("parent only", "3s", "30s"),
        ("parent only", "200ms", "10s"),
    ],
)
def test_maintain_waits_out_a_short_migration_and_creates_what_it_should(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    tmp_path: Path,
    locked: str,
    lock_timeout: str,
    retry_for: str,
) -> None:
    fast.test_maintain_waits_out_a_short_migration_and_creates_what_it_should(
        pg_conn, pg_dsn, tmp_path, locked, lock_timeout, retry_for
    )
