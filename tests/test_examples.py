"""Every config shipped under examples/ must load; the schema must build."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgpart.config import Overrides, load_settings
from tests.cli_helpers import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_config_loads(path: Path) -> None:
    settings = load_settings(Overrides(config=path), {}, path.parent)
    assert settings.tables, f"{path} configures no table"


def test_example_schema_then_maintain(pg_conn, pg_dsn) -> None:
    pg_conn.execute((EXAMPLES / "schema.sql").read_text())
    before = cli(["check", "--dsn", pg_dsn, "--format", "json"]).json()
    assert before["status"] == "critical"
    config = str(EXAMPLES / "pgpart.toml")
    run = cli(["maintain", "--dsn", pg_dsn, "--config", config])
    assert run.code == 0, run.stdout + run.stderr
    # This month's rows moved out of DEFAULT; older ones wait for `create --from`.
    left_now = pg_conn.execute(
        "SELECT count(*) FROM ONLY api_logs_default WHERE \"timestamp\" >= date_trunc('month', now())"
    ).fetchone()[0]
    assert left_now == 0
    assert pg_conn.execute("SELECT count(*) FROM api_logs").fetchone()[0] == 500
    pg_conn.execute("INSERT INTO messages (\"timestamp\", channel, body) VALUES (now(), 'c', 'hi')")
    after = cli(["check", "--dsn", pg_dsn, "--config", config, "--format", "json"]).json()
    assert {t["status"] for t in after["tables"]} <= {"ok", "warning"}
    assert all("missing_current" not in {p["code"] for p in t["problems"]} for t in after["tables"])
