"""The alert rules and the Grafana dashboard, checked by Prometheus's own
tools against what `pgpart check --format prometheus` really prints.

* `promtool check rules` accepts examples/prometheus/alerts.yml.
* `promtool test rules` runs the rules on series made from real check runs
  on a real server (the seed incident, coverage running short, a healthy
  database, a fleet with a member down, a check that stopped, no metrics at
  all) and asserts which alerts fire, with their labels and annotations,
  and that every other alert stays silent.
* Every query of examples/grafana/pgpart.json is evaluated by promtool on
  the same series and must return data.
* Every metric the rules and the dashboard name is one pgpart writes.

promtool comes from Debian's `prometheus` package (.ci/run installs it);
without it these tests fail, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli_helpers import NOW, cli, daily_table, monthly_table
from tests.support.fleet_helpers import UNREACHABLE, Databases, databases

__all__ = ["databases"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ALERTS = EXAMPLES / "prometheus" / "alerts.yml"
DASHBOARD = EXAMPLES / "grafana" / "pgpart.json"
SEED_CONFIG = str(EXAMPLES / "pgpart.toml")
MINUTES = 180  # how long each scenario's series last, one sample a minute


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed: `apt-get install prometheus` (Debian's package, as"
            " .ci/run does) provides it; these tests check the alert rules and the dashboard"
            " with it",
            pytrace=False,
        )
    return found


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [r for group in document["groups"] for r in group["rules"]]


# --- real output as promtool input ------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    series: str  # as printed: name{labels}


def samples(text: str) -> list[Sample]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)
        out.append(Sample(name, dict(pairs), float(value), series))
    assert out, text
    return out


def check_output(args: list[str]) -> str:
    run = cli(["check", "--format", "prometheus", *args])
    assert run.code in (0, 1, 2, 3), run
    return run.stdout


def every_5_minutes(until: int = MINUTES) -> str:
    """A check's timestamp as node_exporter serves it: the cron job rewrites
    the file every 5 minutes (the test's clock starts at Unix time 0)."""
    return " ".join(str(300 * (i // 5)) for i in range(until + 1))


def input_series(found: list[Sample], timestamps: str | None = None) -> list[dict[str, str]]:
    """Each sample as a series lasting the scenario; the check's timestamp on
    the test's clock."""
    series = []
    for s in found:
        if s.name == "pgpart_check_timestamp_seconds":
            values = timestamps or every_5_minutes()
        else:
            values = f"{'+Inf' if s.value == float('inf') else repr(s.value)}x{MINUTES}"
        series.append({"series": s.series, "values": values})
    return series


# --- what should fire ----------------------------------------------------------------


def rendered_annotations(
    rule: dict[str, Any], labels: dict[str, str], value: float
) -> dict[str, str]:
    """The rule's annotations as Prometheus renders them for these labels and
    value; a template this does not know fails the test rather than guess."""

    def render(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1).strip()
            if expr.startswith("$labels."):
                return labels[expr.removeprefix("$labels.")]
            if expr == "$value":
                return f"{value:g}"
            if expr == "$value | humanizeDuration":
                return humanize_duration(value)
            raise AssertionError(f"template {expr!r} unknown to this test")

        def with_label(m: re.Match[str]) -> str:
            # {{ with $labels.x }}...{{ . }}...{{ end }}: the inner text when x is set
            value = labels.get(m.group(1), "")
            return m.group(2).replace("{{ . }}", value) if value else ""

        text = re.sub(r"\{\{ with \$labels\.(\w+) \}\}(.*?)\{\{ end \}\}", with_label, text)
        return re.sub(r"\{\{(.*?)\}\}", one, text)

    return {k: render(v) for k, v in rule.get("annotations", {}).items()}


def humanize_duration(seconds: float) -> str:
    """Prometheus's humanizeDuration, for whole seconds of a minute or more."""
    assert seconds >= 60 and seconds == int(seconds), seconds
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


@dataclass(frozen=True)
class Fires:
    """An alert expected to fire for one series (or, absent(), for none)."""

    alert: str
    labels: dict[str, str]
    value: float = 0.0


def alert_tests(expected: list[Fires], at: list[int]) -> list[dict[str, Any]]:
    """One alert_rule_test per rule and time: exactly the expected alerts
    (none for the others)."""
    by_name = {r["alert"]: r for r in rules()}
    unknown = {f.alert for f in expected} - set(by_name)
    assert not unknown, unknown
    tests = []
    for minute in at:
        for name, rule in by_name.items():
            fired = [f for f in expected if f.alert == name and _due(rule, minute)]
            tests.append(
                {
                    "eval_time": f"{minute}m",
                    "alertname": name,
                    "exp_alerts": [
                        {
                            "exp_labels": {**f.labels, **rule.get("labels", {})},
                            "exp_annotations": rendered_annotations(rule, f.labels, f.value),
                        }
                        for f in fired
                    ],
                }
            )
    return tests


def _due(rule: dict[str, Any], minute: int) -> bool:
    wait = rule.get("for", "0m")
    amount, unit = int(wait[:-1]), wait[-1]
    return minute >= amount * {"s": 1 / 60, "m": 1, "h": 60}[unit]


def problems(found: list[Sample], code: str) -> list[dict[str, str]]:
    return [
        s.labels for s in found if s.name == "pgpart_table_problem" and s.labels["code"] == code
    ]


def of(found: list[Sample], name: str) -> list[Sample]:
    return [s for s in found if s.name == name]


def run_promtool(promtool: str, tmp_path: Path, tests: list[dict[str, Any]], extra=()) -> None:
    document = {
        "rule_files": [str(ALERTS), *map(str, extra)],
        "evaluation_interval": "1m",
        "tests": tests,
    }
    path = tmp_path / "pgpart_test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    run = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr


# --- scenarios ---------------------------------------------------------------------------


def hourly(conn: Any, dsn: str) -> None:
    """An hourly table kept 3 hours ahead by maintain: healthy, and its coverage
    ahead is always under a day."""
    conn.execute("CREATE TABLE ticks (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    for hour in range(9, 12):
        conn.execute(
            f"CREATE TABLE ticks_{hour} PARTITION OF ticks"
            f" FOR VALUES FROM ('2026-11-22 {hour}:00+00') TO ('2026-11-22 {hour + 1}:00+00')"
        )
    run = cli(["maintain", "-q", "--dsn", dsn, "--now", NOW])
    assert run.code == 0, run


def healthy(conn: Any, dsn: str) -> None:
    monthly_table(conn, months=range(-2, 4))
    daily_table(conn)
    hourly(conn, dsn)


def test_promtool_accepts_the_alert_rules(promtool):
    run = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(rules())} rules found" in run.stdout


def test_the_seed_incident_fires_inserts_failing_and_rows_in_default(
    promtool, pg_conn, pg_dsn, tmp_path
):
    pg_conn.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8"))
    found = samples(check_output(["--dsn", pg_dsn, "--config", SEED_CONFIG]))
    failing = problems(found, "missing_current")
    assert len(failing) == 4  # messages, api_logs, events, livechat_messages
    in_default = [s for s in of(found, "pgpart_table_default_rows") if s.value > 0]
    assert [s.labels["table"] for s in in_default] == ["public.api_logs"]
    expected = [Fires("PgpartInsertsFailing", labels) for labels in failing]
    expected += [Fires("PgpartRowsInDefaultPartition", s.labels, s.value) for s in in_default]
    test = {"interval": "1m", "input_series": input_series(found)}
    test["alert_rule_test"] = alert_tests(expected, at=[5, 30, 90])
    run_promtool(promtool, tmp_path, [test])


def test_coverage_running_short_fires_the_warning_then_the_critical_alert(
    promtool, pg_conn, pg_dsn, tmp_path
):
    daily_table(pg_conn, "soon", days=range(-3, 2))  # ends in 36 hours
    daily_table(pg_conn, "today", days=range(-3, 1))  # ends in 12 hours
    found = samples(check_output(["--dsn", pg_dsn, "--now", NOW]))
    short = problems(found, "insufficient_ahead")
    assert sorted(p["table"] for p in short) == ["public.soon", "public.today"]
    assert {p["severity"] for p in short} == {"warning"}
    ahead = {s.labels["table"]: s for s in of(found, "pgpart_table_coverage_ahead_seconds")}
    assert ahead["public.today"].value == 12 * 3600
    status = of(found, "pgpart_table_status")
    expected = [Fires("PgpartPartitionsEndSoon", p) for p in short]
    expected += [
        Fires("PgpartPartitionsEndWithinADay", ahead["public.today"].labels, 12 * 3600),
        *[Fires("PgpartTableWarning", s.labels) for s in status],  # after its 2 hours
    ]
    test = {"interval": "1m", "input_series": input_series(found)}
    test["alert_rule_test"] = alert_tests(expected, at=[10, 30, 130])
    run_promtool(promtool, tmp_path, [test])


def test_a_healthy_database_fires_nothing_and_a_stale_check_fires_its_alert(
    promtool, pg_conn, pg_dsn, tmp_path
):
    healthy(pg_conn, pg_dsn)
    found = samples(check_output(["--dsn", pg_dsn, "--now", NOW]))
    assert of(found, "pgpart_check_status")[0].value == 0
    ahead = {s.labels["table"]: s.value for s in of(found, "pgpart_table_coverage_ahead_seconds")}
    assert ahead["public.ticks"] < 86400  # an hourly table keeps hours, not days, ahead
    fine = {"interval": "1m", "input_series": input_series(found)}
    fine["alert_rule_test"] = alert_tests([], at=[5, 30, 130, 179])
    # The cron job stopped after its second run (minute 5): the file stays as it was.
    stale_values = every_5_minutes(5) + f" 300x{MINUTES - 6}"
    stale = {"interval": "1m", "input_series": input_series(found, stale_values)}
    stale["alert_rule_test"] = alert_tests(
        [Fires("PgpartCheckNotRunning", {}, 30 * 60 - 300)], at=[30]
    ) + alert_tests([], at=[15])
    nothing = {
        "interval": "1m",
        "input_series": [],
        "alert_rule_test": alert_tests([Fires("PgpartCheckMissing", {})], at=[20]),
    }
    run_promtool(promtool, tmp_path, [fine, stale, nothing])


def test_a_fleet_keeps_each_databases_alerts_apart(promtool, databases: Databases, tmp_path):
    """The same table name in two databases: one's missing partition must not
    hide the other's critical coverage; a member that cannot be checked alerts."""
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\ncritical_ahead = "30 days"\n', encoding="utf-8")
    (missing,) = databases.make(1, lambda c, i: monthly_table(c, months=range(-3, 0)))
    (short,) = databases.make(1, lambda c, i: monthly_table(c, months=range(-2, 1)))
    members = ["--dsn", missing, "--dsn", short, "--dsn", UNREACHABLE]
    found = samples(check_output([*members, "--config", str(config), "--now", NOW]))
    unknown = [s for s in of(found, "pgpart_check_status") if s.value == 3]
    (gone,) = [s.labels for s in unknown]
    statuses = {s.labels["database"]: s for s in of(found, "pgpart_table_status")}
    (inserts_failing,) = problems(found, "missing_current")
    critical_short = statuses[next(d for d in statuses if d != inserts_failing["database"])]
    assert critical_short.value == 2
    expected = [
        Fires("PgpartInsertsFailing", inserts_failing),
        Fires("PgpartTableCritical", critical_short.labels),
        Fires("PgpartDatabaseUnknown", gone),
    ]
    (rule,) = [r for r in rules() if r.get("alert") == "PgpartInsertsFailing"]
    summary = rendered_annotations(rule, inserts_failing, 1)["summary"]
    assert summary.startswith(f"{inserts_failing['database']}: {inserts_failing['table']}: ")
    test = {"interval": "1m", "input_series": input_series(found)}
    test["alert_rule_test"] = alert_tests(expected, at=[20, 40])
    run_promtool(promtool, tmp_path, [test])


# --- the dashboard -------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return board


def dashboard_queries() -> list[str]:
    """Every PromQL query of the panels, the template variables substituted."""
    found = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    return [q.replace("$database", ".*").replace("$table", ".*") for q in found]


def variable_metrics() -> list[str]:
    """The metrics of the template variables' label_values(METRIC..., LABEL)."""
    variables = dashboard()["templating"]["list"]
    queries = [v["query"]["query"] for v in variables if v["type"] == "query"]
    return [re.match(r"label_values\((\w+)", q).group(1) for q in queries]  # type: ignore[union-attr]


def test_the_dashboard_is_a_grafana_dashboard_on_its_variables():
    board = dashboard()
    assert board["uid"] == "pgpart-coverage" and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("database", "table"):
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["description"], p["title"]
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        for t in p["targets"]:
            assert 'database=~"$database"' in t["expr"], (p["title"], t["expr"])
    titles = {p["title"] for p in panels}
    for wanted in (
        "Coverage ahead per table",
        "Coverage ahead per database",
        "Rows in DEFAULT",
        "Problems by severity and code",
        "Age of the last check",
        "Retention overdue",
    ):
        assert wanted in titles


def test_every_dashboard_query_returns_data_on_real_output(promtool, databases, tmp_path):
    (seed,) = databases.make(
        1, lambda c, i: c.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8"))
    )
    (fine,) = databases.make(1, lambda c, i: monthly_table(c, months=range(-2, 4)))
    found = samples(check_output(["--dsn", seed, "--dsn", fine, "--config", SEED_CONFIG]))
    checks = [f"count({q}) > bool 0" for q in dashboard_queries()]
    checks += [f"count({m}) > bool 0" for m in variable_metrics()]
    test: dict[str, Any] = {
        "interval": "1m",
        "input_series": input_series(found),
        "promql_expr_test": [
            {"expr": q, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 1}]}
            for q in checks
        ],
    }
    # Both databases can be chosen: the variable's label_values finds them.
    test["promql_expr_test"].append(
        {
            "expr": "count(count by (database) (pgpart_check_status))",
            "eval_time": "10m",
            "exp_samples": [{"labels": "{}", "value": 2}],
        }
    )
    run_promtool(promtool, tmp_path, [test])


# --- rules, dashboard and real output in step ----------------------------------------------

# PromQL's own words: functions, aggregations, operators and modifiers.
PROMQL = {
    "and", "or", "unless", "on", "ignoring", "by", "without", "group_left", "group_right",
    "bool", "offset", "time", "absent", "max", "min", "sum", "count", "avg", "sort",
    "sort_desc", "vector", "scalar", "rate", "increase", "topk", "bottomk", "clamp_min",
    "inf", "Inf", "NaN",
}  # fmt: skip


def used_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression (or Grafana's label_values) uses."""
    values = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr)
    if values:
        metrics, labels = used_names(values.group(1))
        return metrics, labels | {values.group(2)}
    labels = set(re.findall(r"(\w+)\s*=~?", " ".join(re.findall(r"\{([^}]*)\}", expr))))
    for grouping in re.findall(r"\b(?:on|ignoring|by|without)\s*\(([^)]*)\)", expr):
        labels |= {w.strip() for w in grouping.split(",") if w.strip()}
    bare = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\b(?:on|ignoring|by|without)\s*\([^)]*\)", " ", expr)
    bare = re.sub(r"\$\w+|\b\d+(?:\.\d+)?\b", " ", bare)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))
    return words - PROMQL - labels, labels


def test_every_metric_and_label_the_rules_and_dashboard_use_is_in_real_output(
    databases: Databases,
) -> None:
    def check(args: list[str]) -> list[Sample]:
        return samples(check_output(args))

    (seed,) = databases.make(
        1, lambda c, i: c.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8"))
    )
    found = check(["--dsn", seed, "--config", SEED_CONFIG])
    found += check(["--dsn", seed, "--dsn", UNREACHABLE, "--config", SEED_CONFIG])
    stats = cli(["stats", "--format", "prometheus", "--dsn", seed])
    found += samples(stats.stdout)
    emitted = {s.name for s in found}
    labels = {k for s in found for k in s.labels}
    expressions = [r["expr"] for r in rules()]
    expressions += [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]
    variables = dashboard()["templating"]["list"]
    expressions += [v["query"]["query"] for v in variables if v["type"] == "query"]
    used_metrics: set[str] = set()
    for expr in expressions:
        metrics, used_labels = used_names(expr)
        assert metrics, expr
        assert metrics <= emitted, f"{expr}: pgpart writes no {metrics - emitted}"
        assert used_labels <= labels, f"{expr}: pgpart writes no label {used_labels - labels}"
        used_metrics |= metrics
    # The dashboard shows what check writes (stats' metrics are for capacity graphs).
    assert {s.name for s in found if s.name.startswith(("pgpart_check", "pgpart_table_"))} - {
        "pgpart_table_rows",
        "pgpart_table_bytes",
    } <= used_metrics
    codes = {v for e in expressions for v in re.findall(r'code="(\w+)"', e)}
    from pgpart.core.plan import ProblemCode

    assert codes <= {c.value for c in ProblemCode}
