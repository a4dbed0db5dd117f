"""README.md and docs/ tell the truth about the CLI, the config and the output.

The README is the guide and docs/ the reference; read together (the README
first, then every page of docs/), the commands, options, config keys, problem
codes and metric names they show are compared with the real ones (collected from the typer app, the
config loader, the planner and real output), and every `pgpart ...` line of
its shell examples is parsed by the real CLI and run against the test
database (writing commands with --dry-run).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import typer.main

from pgpart import config as config_module
from pgpart.cli.app import app
from pgpart.config import values as config_values
from pgpart.errors import ExitCode
from tests.support.cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
WRITING = ("create", "maintain", "drop")

# --- the CLI as click sees it -------------------------------------------------


def cli_group() -> Any:
    return typer.main.get_command(app)


def command_options(command: Any) -> list[str]:
    """Every option string of a command (-f and --format alike), help left out."""
    names: list[str] = []
    for param in command.params:
        if type(param).__name__.endswith("Argument"):
            continue
        names += [*param.opts, *param.secondary_opts]
    return [n for n in names if n not in ("-h", "--help")]


def check_argv(argv: Sequence[str]) -> None:
    """Raise AssertionError unless the real CLI accepts `pgpart ARGV` (not run)."""
    group = cli_group()
    if not argv:
        return  # `pgpart` alone: the help (or shell completion through the environment)
    if argv[0].startswith("-"):
        known = {o for p in group.params for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
        unknown = [a for a in argv if a.startswith("-") and a not in known]
        assert not unknown, f"pgpart {' '.join(argv)}: unknown option(s) {unknown}"
        return
    name, *args = argv
    assert name in group.commands, f"pgpart {' '.join(argv)}: no command {name!r}"
    try:
        group.commands[name].make_context(f"pgpart {name}", list(args))
    except Exception as exc:  # click's UsageError, BadParameter, NoSuchOption...
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        raise AssertionError(f"pgpart {' '.join(argv)}: {message}") from None


# --- shell text -> pgpart invocations ----------------------------------------

_REDIRECT = re.compile(r"\s\d*(?:>>|>&|>|<)\s*(?:&?\d+\b|[^\s;&|()]+)")
_OPERATOR = re.compile(r"^[;&|()]+$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def simple_commands(shell: str) -> Iterator[list[str]]:
    """Each simple command (words, redirections and assignments removed) of a shell line."""
    lexer = shlex.shlex(_REDIRECT.sub(" ", " " + shell), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if _OPERATOR.match(token):
            if words:
                yield words
            words = []
        else:
            words.append(token)
    if words:
        yield words


def invocations(shell: str) -> Iterator[list[str]]:
    """The argv (after `pgpart`) of every pgpart command in one line of shell."""
    for words in simple_commands(shell):
        while words and _ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words and (words[0] == "pgpart" or words[0].endswith("/pgpart")):
            yield words[1:]


def shell_lines(block: str) -> Iterator[str]:
    """Logical lines of a shell code block: continuations joined, prompts stripped."""
    for line in block.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if line and not line.startswith("#"):
            yield line


_CRON_FIELD = r"[0-9*/,-]+"
_CRON_LINE = re.compile(rf"^#?\s*((?:{_CRON_FIELD}\s+){{4}}{_CRON_FIELD})\s+(\S.*)$")


def crontab_entries(text: str) -> list[tuple[str, str]]:
    """(schedule, command) of each crontab line, commented-out entries included."""
    entries = []
    for line in text.splitlines():
        match = _CRON_LINE.match(line.strip())
        if match:
            entries.append((match.group(1), match.group(2)))
    return entries


# --- README structure -----------------------------------------------------------


def documents() -> list[Path]:
    """The README, then the reference pages."""
    return [README, *sorted(DOCS.glob("*.md"))]


def readme() -> str:
    """The documentation as one text: the README, then every page of docs/."""
    return "\n".join(p.read_text(encoding="utf-8") for p in documents())


def code_blocks(text: str, *languages: str) -> list[str]:
    found = re.findall(r"^```([a-z]*)\n(.*?)^```", text, flags=re.S | re.M)
    return [body for lang, body in found if lang in languages]


def section(text: str, title: str) -> str:
    """From the heading `title` (any level) to the next heading of the same or a higher
    level; `#` lines inside code blocks are not headings."""
    lines = text.splitlines(keepends=True)
    fenced = False
    start: int | None = None
    level = 0
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = None if fenced else re.match(r"^(#+) (.*)$", line.rstrip("\n"))
        if heading is None:
            continue
        if start is None:
            if heading.group(2) == title:
                start, level = i + 1, len(heading.group(1))
        elif len(heading.group(1)) <= level:
            return "".join(lines[start:i])
    assert start is not None, f"README has no section {title!r}"
    return "".join(lines[start:])


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Markdown tables in text (header and rule left out)."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|") or re.match(r"^\|[-| :]+\|$", line):
            continue
        if i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
            continue  # a header
        cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def backticked(text: str) -> list[str]:
    """Inline code spans (code blocks left out)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", prose)


def shared_option_rows() -> dict[str, set[str]]:
    """'Options of every command': each option string -> the commands it is said to belong to."""
    group = cli_group()
    out: dict[str, set[str]] = {}
    for cells in table_rows(section(readme(), "Options of every command")):
        options = [w for code in backticked(cells[0]) for w in code.replace(",", " ").split()]
        options = [o for o in options if o.startswith("-")]
        listed = (
            set(group.commands)
            if cells[1].strip() == "all"
            else {c.strip() for c in cells[1].split(",")}
        )
        for option in options:
            out[option] = listed
    return out


# --- the tests that need no database ---------------------------------------------


def test_every_command_has_a_section_and_a_row() -> None:
    text = readme()
    commands_table = section(text, "Commands")
    for name in cli_group().commands:
        assert re.search(rf"^### {name}$", text, flags=re.M), f"no '### {name}' section"
        assert f"`pgpart {name}" in commands_table, f"pgpart {name} missing from the table"


def test_every_option_of_every_command_is_documented() -> None:
    text = readme()
    shared = shared_option_rows()
    missing = []
    for name, command in cli_group().commands.items():
        own = section(text, name)
        for option in command_options(command):
            if name in shared.get(option, set()):
                continue
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", own):
                missing.append(f"pgpart {name} {option}")
    assert not missing, f"options not documented in their command's section: {missing}"


def test_shared_options_table_names_exactly_the_commands_that_take_them() -> None:
    group = cli_group()
    for option, listed in shared_option_rows().items():
        having = {n for n, c in group.commands.items() if option in command_options(c)}
        assert listed == having, f"{option}: README says {sorted(listed)}, CLI has {sorted(having)}"


def test_top_level_options_are_documented() -> None:
    text = readme()
    for param in cli_group().params:
        for option in param.opts:
            assert option in text, f"pgpart {option} is not in the README"


def test_show_completion_works() -> None:
    # As from a user's shell: the flag finds the shell among the process's
    # ancestors (shellingham), and a test run from a detached job has none.
    run = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m pgpart --show-completion; exit $?'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "COMPLETE=complete_bash" in run.stdout and "complete -o default -F" in run.stdout


def readme_invocations() -> list[list[str]]:
    text = readme()
    found = [
        argv
        for block in code_blocks(text, "sh", "bash", "console")
        for line in shell_lines(block)
        for argv in invocations(line)
    ]
    for block in code_blocks(text, "crontab"):
        found += [argv for _, command in crontab_entries(block) for argv in invocations(command)]
    return found


def test_readme_shows_every_command() -> None:
    shown = {argv[0] for argv in readme_invocations() if argv and not argv[0].startswith("-")}
    assert shown == set(cli_group().commands)


@pytest.mark.parametrize("argv", readme_invocations(), ids=lambda a: " ".join(a)[:60])
def test_readme_command_parses(argv: list[str]) -> None:
    check_argv(argv)


def test_check_argv_catches_mistakes() -> None:
    for bad in (["chek"], ["check", "--nope"], ["maintain", "--format", "csv"], ["create"]):
        with pytest.raises(AssertionError):
            check_argv(bad)
    assert list(invocations("PGPART_DSN=x pgpart check -q > f.prom 2>&1; test -s f")) == [
        ["check", "-q"]
    ]
    assert list(simple_commands("pgpart check > a.tmp; test -s a.tmp && mv a.tmp a")) == [
        ["pgpart", "check"],
        ["test", "-s", "a.tmp"],
        ["mv", "a.tmp", "a"],
    ]


def test_config_keys_table_is_complete_and_true() -> None:
    rows = table_rows(section(readme(), "Configuration (`pgpart.toml`)"))
    where = {backticked(r[0])[0]: r[1] for r in rows if len(r) >= 4 and backticked(r[0])}
    policy = set(config_values.POLICY_KEYS)
    settings = set(config_values.SETTINGS_KEYS)
    assert set(where) == {"name"} | policy | settings
    for key, place in where.items():
        table_only = key == "name" or key not in config_values.DEFAULTS_KEYS
        expected = "table" if table_only else "defaults" if key in settings else "both"
        assert place == expected, f"{key}: README says {place!r}, the loader allows {expected!r}"


def test_readme_toml_examples_load(tmp_path: Path) -> None:
    blocks = code_blocks(readme(), "toml")
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block, encoding="utf-8")
        settings = config_module.load_settings(config_module.Overrides(config=path), {}, tmp_path)
        assert settings.tables


def _planner_codes() -> set[str]:
    """The codes the planner's modules report (ProblemCode.X, or a bare string)."""
    from pgpart.core.plan import ProblemCode

    codes: set[str] = set()
    for path in (ROOT / "pgpart" / "core").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r"Status\.[A-Z]+,\s*\"([a-z_]+)\"", source))
        codes |= {ProblemCode[m].value for m in re.findall(r"ProblemCode\.([A-Z_]+)\b", source)}
    return codes


def test_problem_codes_documented_are_the_real_ones() -> None:
    text = section(readme(), "check")
    documented = {code for row in table_rows(text) for code in backticked(row[0])}
    also = re.search(r"may also report(.*?)\n\n", text, flags=re.S)
    assert also, "the check section no longer lists the codes of writing commands"
    documented |= {c for c in backticked(also.group(1)) if re.fullmatch(r"[a-z_]+", c)}
    real = _planner_codes()
    assert real, "no problem codes found in planner.py"
    assert real <= documented, f"undocumented problem codes: {sorted(real - documented)}"
    invented = documented - real - {"max_new_partitions", "interval"}
    assert not invented, f"README documents problem codes pgpart never reports: {invented}"


def test_exit_codes_table() -> None:
    rows = table_rows(section(readme(), "Exit codes"))
    assert [int(r[0]) for r in rows] == [int(c) for c in ExitCode]


def test_readme_names_every_alert() -> None:
    rules = (EXAMPLES / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
    names = re.findall(r"^\s*- alert: (\w+)$", rules, flags=re.M)
    assert names
    monitoring = section(readme(), "Monitoring")
    assert set(backticked(monitoring)) >= set(names)


def test_readme_links_to_files_that_exist() -> None:
    """Every relative link of every page leads to a file, and its #anchor
    to a heading of that file."""
    for page in documents():
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", code_free(text)):
            if re.match(r"^[a-z]+:", target):
                continue  # a URL
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.relative_to(ROOT)} links to missing {path}"
            if anchor and file.suffix == ".md":
                assert anchor in anchors(file.read_text(encoding="utf-8")), (
                    f"{page.relative_to(ROOT)} links to #{anchor}, which {path or 'it'} lacks"
                )


def code_free(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings."""
    found = set()
    for title in re.findall(r"^#+ (.*)$", code_free(text), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


# --- against the test database ------------------------------------------------------


def prepared_database(conn: Any, dsn: str, *, maintained: bool = True) -> None:
    """examples/schema.sql, the README's own SQL (audit_log), maintained by examples/pgpart.toml."""
    conn.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8"))
    for block in code_blocks(readme(), "sql"):
        if block.lstrip().upper().startswith("CREATE TABLE"):
            conn.execute(block)
    if maintained:
        run = cli(["maintain", "-q", "--dsn", dsn, "--config", str(EXAMPLES / "pgpart.toml")])
        assert run.code == 0, run.stdout + run.stderr


def emitted_metrics(dsn: str) -> dict[str, set[str]]:
    """Every metric `check` and `stats` write in Prometheus format, with their label names."""
    metrics: dict[str, set[str]] = {}
    for command in ("check", "stats"):
        run = cli([command, "--format", "prometheus", "--dsn", dsn, "--exact"])
        assert run.code in (0, 1, 2), run.stderr
        for line in run.stdout.splitlines():
            if line.startswith("# TYPE "):
                metrics.setdefault(line.split()[2], set())
            elif line and not line.startswith("#"):
                name, _, rest = line.partition("{")
                name = name.split()[0]
                labels = set(re.findall(r"(\w+)=\"", rest)) if rest else set()
                metrics.setdefault(name, set()).update(labels)
    return metrics


def test_readme_commands_run(pg_conn, pg_dsn, tmp_path, monkeypatch) -> None:
    prepared_database(pg_conn, pg_dsn)
    config = tmp_path / "config" / "pgpart.toml"
    config.parent.mkdir()
    config.write_text((EXAMPLES / "pgpart.toml").read_text(encoding="utf-8"), encoding="utf-8")
    # Every --service NAME the README uses names this test database.
    services = sorted(
        {a[i + 1] for a in readme_invocations() for i in range(len(a) - 1) if a[i] == "--service"}
    )
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        "".join(f"[{name}]\n" + pg_dsn.replace(" ", "\n") + "\n\n" for name in services),
        encoding="utf-8",
    )
    failures = []
    for i, argv in enumerate(readme_invocations()):
        if not argv or argv[0].startswith("-"):
            continue  # --version, completion: no database
        args = list(argv)
        if args[0] == "restore":
            continue  # needs an archive that maintain wrote: tests/db/test_archive.py runs it
        if "--dsn" in args:
            args[args.index("--dsn") + 1] = pg_dsn
        if args[0] in WRITING and "--dry-run" not in args:
            args.append("--dry-run")
        cwd = tmp_path / f"cwd{i}"
        cwd.mkdir()
        monkeypatch.chdir(cwd)  # init writes ./pgpart.toml
        env = {"PGPART_DSN": pg_dsn, "PGPART_CONFIG": str(config), "PGPART_NOW": ""}
        env["PGSERVICEFILE"] = str(service_file)
        run = cli(args, env=env)
        allowed = (0, 1, 2) if args[0] == "check" else (0,)
        if run.code not in allowed:
            failures.append(f"pgpart {' '.join(argv)} -> exit {run.code}: {run.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_readme_library_example_runs(pg_conn, pg_dsn, tmp_path, monkeypatch) -> None:
    prepared_database(pg_conn, pg_dsn, maintained=False)
    (tmp_path / "pgpart.toml").write_text(
        (EXAMPLES / "pgpart.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGPART_DSN", pg_dsn)
    for name in ("PGPART_CONFIG", "PGPART_LOCK_TIMEOUT", "PGPART_TIMEZONE", "PGPART_PREMAKE"):
        monkeypatch.delenv(name, raising=False)
    (block,) = [b for b in code_blocks(readme(), "python") if "from pgpart import" in b]
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    assert re.fullmatch(r"critical -> ok: \d+ actions, 0 failed\n", out.getvalue()), out.getvalue()


def test_readme_metrics_table_is_what_pgpart_emits(pg_conn, pg_dsn) -> None:
    prepared_database(pg_conn, pg_dsn)
    emitted = emitted_metrics(pg_dsn)
    rows = table_rows(section(readme(), "Monitoring"))
    documented = {backticked(r[0])[0]: set(backticked(r[1])) for r in rows if backticked(r[0])}
    assert set(documented) == set(emitted)
    for name, labels in documented.items():
        if emitted[name]:  # a metric without samples here shows no labels
            assert labels == emitted[name], f"{name}: README {labels}, pgpart {emitted[name]}"


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_readme_json_shapes_use_real_keys(pg_conn, pg_dsn) -> None:
    prepared_database(pg_conn, pg_dsn, maintained=False)
    real: set[str] = set()
    for args in (["check"], ["stats"], ["maintain", "--dry-run"]):
        run = cli([*args, "--format", "json", "--dsn", pg_dsn])
        real |= _keys(json.loads(run.stdout))
    shapes = section(readme(), "Output formats")
    shown = set(re.findall(r"\"([a-z_]+)\":", shapes))
    assert shown, "no JSON shapes in 'Output formats'"
    assert shown <= real, f"README shows keys pgpart does not write: {sorted(shown - real)}"


def test_the_repository_stands_alone() -> None:
    """Code, tests and docs cite only what is in the repository: the rules
    they follow are written in README.md and docs/, never in a file outside."""
    outside = re.compile(r"CONTRACT\.md|DESIGN\.md|\.\./shared|the CONTRACT\b")
    roots = ["pgpart", "tests", "docs", "devtools", "examples", ".ci"]
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    files += [p for r in roots for p in (ROOT / r).rglob("*") if p.is_file()]
    cited = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        if p.suffix in {".py", ".md", ".toml", ".sh", ".yml", ".yaml", ".json", ""}
        and p != Path(__file__)
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert cited == []
