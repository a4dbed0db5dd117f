"""Everything under examples/ works: configs load, the schema behaves as its
comments say, the quickstart passes (and cleans up after itself however it
ends), and the crontab, systemd units, Kubernetes manifest and Prometheus
rules use pgpart's real commands, options, environment variables and metrics.

The YAML files are parsed with PyYAML when it is installed (it is not a
dependency); the structural checks run either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import ClusterError, find_bindir
from pgpart.config import Overrides, Settings, load_settings
from tests.cli.test_docs import (
    check_argv,
    crontab_entries,
    emitted_metrics,
    invocations,
    simple_commands,
)
from tests.support.cli_helpers import cli
from tests.support.fleet_helpers import UNREACHABLE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QUICKSTART = EXAMPLES / "quickstart.sh"
PGPART_SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "pgpart").rglob("*.py"))
# Environment variables pgpart itself reads (the test harness's PGPART_TEST_* excluded).
PGPART_VARIABLES = set(re.findall(r"\"(PGPART_[A-Z_]+)\"", PGPART_SOURCE))


def comparable(settings: Settings) -> tuple[object, ...]:
    return (settings.defaults, settings.tables, settings.statement_timeout, settings.retry_for)


# --- configs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(EXAMPLES.rglob("*.toml")), ids=lambda p: str(p.relative_to(EXAMPLES))
)
def test_example_config_loads(path: Path) -> None:
    settings = load_settings(Overrides(config=path), {}, path.parent)
    assert settings.tables, f"{path} configures no table"


def test_known_environment_variables() -> None:
    assert {"PGPART_DSN", "PGPART_CONFIG", "PGPART_NOW", "PGPART_LOCK_TIMEOUT"} <= PGPART_VARIABLES


# --- the schema and the quickstart story -----------------------------------------


def test_example_schema_then_maintain(pg_conn, pg_dsn) -> None:
    config = str(EXAMPLES / "pgpart.toml")
    pg_conn.execute((EXAMPLES / "schema.sql").read_text())
    insert = "INSERT INTO messages (\"timestamp\", channel, body) VALUES (now(), 'c', 'hi')"
    with pytest.raises(Exception, match='no partition of relation "messages" found for row'):
        pg_conn.execute(insert)

    before = cli(["check", "--dsn", pg_dsn, "--config", config, "--format", "json"])
    assert before.code == 2
    report = before.json()
    assert report["status"] == "critical"
    # Only the current period is missing: the migration's partitions end where it begins.
    # (DEFAULT holds rows of the current month, except in a month's first hour.)
    codes = {
        t["table"]: {p["code"] for p in t["problems"]} - {"default_has_rows"}
        for t in report["tables"]
    }
    assert codes == {
        "public.messages": {"missing_current"},
        "public.api_logs": {"missing_current"},
        "public.events": {"missing_current"},
        "public.livechat_messages": {"missing_current"},
    }

    run = cli(["maintain", "--dsn", pg_dsn, "--config", config])
    assert run.code == 0, run.stdout + run.stderr
    assert pg_conn.execute("SELECT count(*) FROM ONLY api_logs_default").fetchone()[0] == 0
    assert pg_conn.execute("SELECT count(*) FROM api_logs").fetchone()[0] == 500
    pg_conn.execute(insert)

    after = cli(["check", "--dsn", pg_dsn, "--config", config, "--format", "json"])
    assert after.code == 0, after.stdout
    assert all(not t["problems"] for t in after.json()["tables"])
    assert cli(["maintain", "--dsn", pg_dsn, "--config", config, "-q"]).code == 0


def quickstart_bindir() -> str:
    try:
        return str(find_bindir())
    except ClusterError as exc:
        # A missing PostgreSQL fails here as everywhere in the suite, never a skip.
        pytest.fail(f"the quickstart test needs PostgreSQL binaries: {exc}", pytrace=False)


@pytest.fixture
def qs_tmp() -> Iterator[Path]:
    """TMPDIR for one quickstart run, reachable by the server's OS user (pytest's is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="pgpart-qs-test-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        leftovers = server_processes(base)
        for pid in leftovers:  # only servers of this test's own directory
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)
        assert not leftovers, f"servers left running: {leftovers}"


def server_processes(under: Path) -> list[int]:
    """Live (not zombie) processes whose command line mentions a path under `under`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(under).encode() in cmdline and state != "Z" and b"quickstart.sh" not in cmdline:
            found.append(int(proc.name))
    return found


def quickstart_env(tmp: Path, **extra: str) -> dict[str, str]:
    # PGPART_TEST_PGBIN stays: the quickstart uses the server the suite runs against.
    env = {**os.environ, "TMPDIR": str(tmp), "PGPART_PYTHON": sys.executable}
    return {**env, **extra}


def wrapper(tmp: Path, body: str) -> str:
    """A PGPART_PYTHON that misbehaves as `body` says, else runs the real Python."""
    path = tmp / "python-wrapper"
    path.write_text(f'#!/bin/bash\n{body}\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def assert_cleaned_up(tmp: Path) -> None:
    assert not list(tmp.glob("pgpart-quickstart.*")), "the quickstart left its directory"
    deadline = time.monotonic() + 5
    while server_processes(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server_processes(tmp), "the quickstart left its server running"


def test_quickstart_passes(qs_tmp: Path) -> None:
    quickstart_bindir()
    started = time.monotonic()
    res = subprocess.run(
        ["bash", str(QUICKSTART)],
        env=quickstart_env(qs_tmp),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert 'no partition of relation "messages" found for row' in out
    assert out.count("exit 2, as expected") == 1  # check: CRITICAL
    assert out.count("exit 0, as expected") == 4  # maintain, check, maintain again, stats
    assert "INSERT 0 1" in out
    assert "quickstart passed" in out
    assert elapsed < 30, f"the quickstart took {elapsed:.1f} s"
    assert_cleaned_up(qs_tmp)


def test_quickstart_fails_when_an_outcome_is_wrong(qs_tmp: Path) -> None:
    quickstart_bindir()
    python = wrapper(qs_tmp, 'if [[ "$1 $2 $3" == "-m pgpart maintain" ]]; then exit 2; fi')
    res = subprocess.run(
        ["bash", str(QUICKSTART)],
        env=quickstart_env(qs_tmp, PGPART_PYTHON=python),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "expected exit 0 from 'pgpart maintain', got 2" in res.stderr
    assert_cleaned_up(qs_tmp)


def test_quickstart_stops_a_half_started_server(qs_tmp: Path) -> None:
    # `devcluster start` dies after the server came up, before it wrote its
    # state file: the server is found by its postmaster.pid and stopped.
    quickstart_bindir()
    body = (
        'if [[ "$1 $2 $3" == "-m devcluster start" ]]; then\n'
        f'  "{sys.executable}" "$@" >/dev/null; rm -f "$4/devcluster.json"; exit 1\n'
        "fi"
    )
    res = subprocess.run(
        ["bash", str(QUICKSTART)],
        env=quickstart_env(qs_tmp, PGPART_PYTHON=wrapper(qs_tmp, body)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "stopping the half-started server" in res.stderr
    assert_cleaned_up(qs_tmp)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_quickstart_cleans_up_when_interrupted(qs_tmp: Path, sig: signal.Signals) -> None:
    quickstart_bindir()
    proc = subprocess.Popen(
        ["bash", str(QUICKSTART)],
        env=quickstart_env(qs_tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(qs_tmp.glob("pgpart-quickstart.*/pg/devcluster.json")):
            assert proc.poll() is None, "the quickstart ended before its server started"
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.01)
        # Ctrl-C reaches the whole foreground process group; kill only the script.
        if sig is signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, out.decode(errors="replace")
    assert_cleaned_up(qs_tmp)


def test_quickstart_help() -> None:
    res = subprocess.run(
        ["bash", str(QUICKSTART), "--help"], capture_output=True, text=True, check=True
    )
    assert "--wheel" in res.stdout
    assert "set -euo pipefail" in QUICKSTART.read_text(encoding="utf-8")


# --- crontab -------------------------------------------------------------------------


def check_shell_command(command: str) -> list[list[str]]:
    """Every pgpart invocation in a line of shell is valid; other programs exist."""
    found = []
    for words in simple_commands(command):
        while words and "=" in words[0] and not words[0].startswith("-"):
            words = words[1:]
        if not words:
            continue
        if words[0] == "pgpart" or words[0].endswith("/pgpart"):
            check_argv(words[1:])
            found.append(words[1:])
        else:
            assert shutil.which(words[0]), f"{words[0]!r} is not a command here"
    return found


def test_crontab() -> None:
    text = (EXAMPLES / "crontab").read_text(encoding="utf-8")
    entries = crontab_entries(text)
    assert entries
    by_command: dict[str, tuple[str, list[str], str]] = {}
    for schedule, command in entries:
        pgparts = check_shell_command(command)
        assert pgparts, f"no pgpart in: {command}"
        by_command[pgparts[0][0]] = (schedule, pgparts[0], command)
    for line in text.splitlines():
        variable = re.match(r"^(PGPART_[A-Z_]+)=", line)
        if variable:
            assert variable.group(1) in PGPART_VARIABLES, line

    schedule, argv, _ = by_command["maintain"]
    assert re.fullmatch(r"\d+ \* \* \* \*", schedule), "maintain: every hour"
    assert "-q" in argv or "--quiet" in argv

    schedule, argv, command = by_command["check"]
    assert schedule.split()[0] == "*/5" and schedule.split()[1:] == ["*"] * 4
    assert argv[argv.index("--format") + 1] == "prometheus"
    # Written to a temporary file, then renamed over the .prom file in the same directory.
    written = re.search(r"pgpart check [^>;]*>\s*(\S+)\s*;", command)
    assert written, command
    tmp = written.group(1)
    moved = re.search(rf"mv {re.escape(tmp)} (\S+)", command)
    assert moved, f"no mv of {tmp}: {command}"
    final = moved.group(1)
    assert not tmp.endswith(".prom") and final.endswith(".prom")
    assert Path(tmp).parent == Path(final).parent
    assert "&& mv" in command and "pgpart check" in command.split(";")[0]


def test_readme_crontab_matches_the_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = {c for _, c in crontab_entries((EXAMPLES / "crontab").read_text(encoding="utf-8"))}
    block = re.search(r"^```crontab\n(.*?)^```", readme, flags=re.S | re.M)
    assert block
    for _, command in crontab_entries(block.group(1)):
        assert command in example, command


# --- systemd ---------------------------------------------------------------------


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        assert current is not None, f"{path}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not key=value: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_units() -> None:
    service = unit_file(EXAMPLES / "systemd" / "pgpart-maintain.service")
    timer = unit_file(EXAMPLES / "systemd" / "pgpart-maintain.timer")
    assert service["Service"]["Type"] == ["oneshot"]
    (exec_start,) = service["Service"]["ExecStart"]
    assert exec_start.startswith("/"), "ExecStart needs an absolute path"
    (argv,) = list(invocations(exec_start))
    check_argv(argv)
    assert argv[0] == "maintain"
    for assignment in service["Service"].get("Environment", []):
        name = assignment.split("=", 1)[0]
        assert name in PGPART_VARIABLES, assignment
    assert timer["Timer"]["OnCalendar"] == ["hourly"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    assert "Unit" not in timer["Timer"], "the timer starts the service of its own name"


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    pgpart_exe = shutil.which("pgpart") or sys.executable
    for name in ("pgpart-maintain.service", "pgpart-maintain.timer"):
        text = (EXAMPLES / "systemd" / name).read_text(encoding="utf-8")
        text = text.replace("ExecStart=/usr/local/bin/pgpart", f"ExecStart={pgpart_exe}")
        (tmp_path / name).write_text(text, encoding="utf-8")
    res = subprocess.run(
        [analyze, "verify", str(tmp_path / "pgpart-maintain.timer")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "pgpart-maintain" not in res.stderr, res.stderr


# --- Kubernetes ------------------------------------------------------------------


CRONJOB = EXAMPLES / "kubernetes" / "cronjob.yaml"


def block_scalar(text: str, key: str) -> str:
    """The value of a `key: |` block scalar, without a YAML parser."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.fullmatch(rf"(\s*){re.escape(key)}: \|", line)
        if not match:
            continue
        body: list[str] = []
        indent = None
        for following in lines[i + 1 :]:
            if following.strip() == "":
                body.append("")
                continue
            width = len(following) - len(following.lstrip())
            if indent is None:
                indent = width
            if width < indent or width <= len(match.group(1)):
                break
            body.append(following[indent:])
        return "\n".join(body).rstrip("\n") + "\n"
    raise AssertionError(f"no `{key}: |` block")


def test_kubernetes_manifest_structure(tmp_path: Path) -> None:
    text = CRONJOB.read_text(encoding="utf-8")
    assert [k for k in re.findall(r"^kind: (\w+)$", text, flags=re.M)] == [
        "Secret",
        "ConfigMap",
        "CronJob",
    ]
    assert re.search(r"^\s+concurrencyPolicy: Forbid$", text, flags=re.M)
    assert re.search(r"^\s+restartPolicy: Never$", text, flags=re.M)
    # The ConfigMap's pgpart.toml says what examples/pgpart.toml says.
    path = tmp_path / "pgpart.toml"
    path.write_text(block_scalar(text, "pgpart.toml"), encoding="utf-8")
    assert comparable(load_settings(Overrides(config=path), {}, tmp_path)) == comparable(
        load_settings(Overrides(config=EXAMPLES / "pgpart.toml"), {}, EXAMPLES)
    )
    command = re.search(r"^\s+command: (\[.*\])$", text, flags=re.M)
    assert command
    argv = json.loads(command.group(1))
    assert argv[0] == "pgpart"
    check_argv(argv[1:])
    for name in re.findall(r"- name: (PGPART_[A-Z_]+)", text):
        assert name in PGPART_VARIABLES, name


def test_kubernetes_manifest_yaml(tmp_path: Path) -> None:
    import yaml  # PyYAML is in the test extra: missing, the test fails

    docs = [d for d in yaml.safe_load_all(CRONJOB.read_text(encoding="utf-8")) if d]
    by_kind = {d["kind"]: d for d in docs}
    secret, config_map, cronjob = by_kind["Secret"], by_kind["ConfigMap"], by_kind["CronJob"]
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert len(spec["schedule"].split()) == 5
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][0] == "pgpart"
    check_argv(container["command"][1:])
    env = {e["name"]: e for e in container["env"]}
    ref = env["PGPART_DSN"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (config_volume,) = [n for n, v in volumes.items() if "configMap" in v]
    assert volumes[config_volume]["configMap"]["name"] == config_map["metadata"]["name"]
    config_path = env["PGPART_CONFIG"]["value"]
    assert config_path == f"{mounts[config_volume]}/pgpart.toml"
    path = tmp_path / "pgpart.toml"
    path.write_text(config_map["data"]["pgpart.toml"], encoding="utf-8")
    assert load_settings(Overrides(config=path), {}, tmp_path).tables


# --- Prometheus ----------------------------------------------------------------------


ALERTS = EXAMPLES / "prometheus" / "alerts.yml"
# PromQL words that are not metric names.
PROMQL_WORDS = {
    "and", "or", "unless", "on", "ignoring", "by", "without", "group_left", "group_right",
    "bool", "offset", "time", "absent", "absent_over_time", "max", "min", "sum", "count",
    "avg", "rate", "increase", "changes", "max_over_time", "min_over_time", "avg_over_time",
    "predict_linear", "deriv", "clamp_min", "clamp_max", "abs", "vector", "scalar", "inf",
}  # fmt: skip


def alert_rules_structurally() -> list[dict[str, str]]:
    """alert / expr / for of each rule, read without a YAML parser."""
    rules: list[dict[str, str]] = []
    for line in ALERTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*-?\s*(alert|expr|for):\s*(.+?)\s*$", line)
        if not match:
            continue
        key, value = match.groups()
        if key == "alert":
            rules.append({})
        assert rules, f"{key} outside a rule"
        rules[-1][key] = value
    return rules


def expression_names(expr: str) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """(metric names, label names, label values by label) used by a PromQL expression."""
    labels: set[str] = set()
    values: dict[str, set[str]] = {}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        for label, value in re.findall(r"(\w+)\s*=~?\s*\"([^\"]*)\"", matchers):
            labels.add(label)
            values.setdefault(label, set()).add(value)
    for grouping in re.findall(r"\b(?:on|ignoring|by|without)\s*\(([^)]*)\)", expr):
        labels |= {w.strip() for w in grouping.split(",") if w.strip()}
    bare = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\b(?:on|ignoring|by|without)\s*\([^)]*\)", " ", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))
    return words - PROMQL_WORDS, labels, values


def test_alert_rules_use_real_metrics(pg_conn, pg_dsn) -> None:
    from tests.cli.test_docs import prepared_database

    prepared_database(pg_conn, pg_dsn, maintained=False)  # every problem has a sample
    emitted = emitted_metrics(pg_dsn)
    all_labels = set().union(*emitted.values())
    from pgpart.core.plan import ProblemCode

    codes = {c.value for c in ProblemCode}
    severities = {"warning", "critical", "unknown"}
    rules = alert_rules_structurally()
    assert len(rules) >= 5
    text = ALERTS.read_text(encoding="utf-8")
    for rule in rules:
        assert rule.get("expr"), rule
        metrics, labels, values = expression_names(rule["expr"])
        assert metrics, rule
        assert metrics <= set(emitted), (
            f"{rule['alert']}: unknown metric(s) {metrics - set(emitted)}"
        )
        assert labels <= all_labels, f"{rule['alert']}: unknown label(s) {labels - all_labels}"
        assert values.get("code", set()) <= codes, rule
        assert values.get("severity", set()) <= severities, rule
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule
    # over many databases every series also carries the database's name
    fleet = cli(["check", "--format", "prometheus", "--dsn", pg_dsn, "--dsn", UNREACHABLE])
    all_labels |= set(re.findall(r"(\w+)=\"", fleet.stdout))
    assert "database" in all_labels, fleet.stdout
    for label in re.findall(r"\$labels\.(\w+)", text):
        assert label in all_labels, f"annotation uses unknown label {label}"


def test_alert_rules_yaml() -> None:
    import yaml  # PyYAML is in the test extra: missing, the test fails

    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [r for group in document["groups"] for r in group["rules"]]
    assert [r["alert"] for r in rules] == [r["alert"] for r in alert_rules_structurally()]
    assert [r["expr"] for r in rules] == [r["expr"] for r in alert_rules_structurally()]
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
