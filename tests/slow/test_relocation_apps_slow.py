"""The slow half of tests/db/test_relocation_apps.py: the drain with 1,000,000
and 3,000,000 rows in the DEFAULT while the application writes: no insert
fails, no wait grows with the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db import test_relocation_apps as fast


@pytest.mark.parametrize("rows", [1_000_000, 3_000_000])
def test_drain_fails_no_insert_and_no_wait_grows_with_the_default(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, rows: int
) -> None:
    fast.test_drain_fails_no_insert_and_no_wait_grows_with_the_default(
        pg_conn, pg_dsn, tmp_path, rows
    )
