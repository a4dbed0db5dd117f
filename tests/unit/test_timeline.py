"""check --timeline, drawn from hand-built records (pure: no server).

The states of each column come from pgpart.cli.output.timeline_scale; the
text (widths, glyphs, the now mark, notes, legend) from
pgpart.cli.output.timeline.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pgpart.cli.output.timeline import ASCII, UNICODE, Block, glyphs_for, render_timeline
from pgpart.cli.output.timeline_scale import State, scale, states
from pgpart.core import calendar as cal
from pgpart.core.interval import Interval, Unit
from pgpart.core.plan import CoverageMap, Plan, Problem, ProblemCode, Span, Status, TablePlan

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
D, M, X, C, E = State.DEFAULT, State.MISSING, State.OUTSIDE, State.COVERED, State.EXPIRING


def periods(start: datetime, n: int, interval: Interval, zone: ZoneInfo) -> list[Span]:
    out, lower = [], start
    for _ in range(n):
        upper = cal.shift(lower, interval, 1, zone)
        out.append(Span(lower, upper))
        lower = upper
    return out


def midnight(d: date, zone: ZoneInfo = UTC) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=zone)


def cmap(parts, interval=Interval.DAILY, zone=UTC, **kw) -> CoverageMap:
    return CoverageMap(zone, interval, tuple(parts), **kw)


def table(name, coverage, status=Status.OK, rows=0, problems=()) -> TablePlan:
    interval = coverage.interval.value if coverage and coverage.interval else None
    return TablePlan(
        name, status, interval, "inferred", 0, None, None, rows, tuple(problems), coverage=coverage
    )


def draw(tables, width, glyphs=ASCII, quiet=False, now=NOW) -> str:
    return render_timeline([Block(None, Plan(now, tuple(tables)))], width, glyphs, quiet=quiet)


def line_of(text: str, name: str) -> str:
    (line,) = [x for x in text.splitlines() if x.startswith(name + " ")]
    return line


def now_column(text: str, glyphs=ASCII) -> int:
    """Where the first scale marks now."""
    line = next(x for x in text.splitlines() if x.startswith("now"))
    return line.rindex(glyphs.now)


def run_lengths(values: list[State]) -> list[tuple[State, int]]:
    out: list[tuple[State, int]] = []
    for v in values:
        if out and out[-1][0] is v:
            out[-1] = (v, out[-1][1] + 1)
        else:
            out.append((v, 1))
    return out


# --- the seed incident: this month missing, its rows in the DEFAULT ---------------------


def seed_tables() -> list[TablePlan]:
    months = periods(midnight(date(2026, 8, 1)), 3, Interval.MONTHLY, UTC)  # Aug .. Oct
    horizon = midnight(date(2027, 3, 1))
    nov = midnight(date(2026, 11, 1))
    missing = Problem(Status.CRITICAL, ProblemCode.MISSING_CURRENT, "no partition covers now")
    return [
        table(
            "public.messages",
            cmap(months, Interval.MONTHLY, horizon=horizon),
            Status.CRITICAL,
            problems=[missing],
        ),
        table(
            "public.api_logs",
            cmap(
                months,
                Interval.MONTHLY,
                horizon=horizon,
                has_default=True,
                default_periods=(Span(nov, midnight(date(2026, 12, 1)), 500),),
            ),
            Status.CRITICAL,
            rows=500,
            problems=[missing],
        ),
        table(
            "public.events",
            cmap(periods(midnight(date(2026, 11, 12)), 10, Interval.DAILY, UTC), horizon=None),
            Status.CRITICAL,
            problems=[missing],
        ),
    ]


@pytest.mark.parametrize("width", [40, 80, 200])
def test_the_seed_incident_at_40_80_and_200_columns(width):
    text = draw(seed_tables(), width)
    assert all(len(line) <= width for line in text.splitlines()), text
    column = now_column(text)
    # Under the now mark: no partition for messages, rows in the DEFAULT for api_logs.
    messages = next(x for x in text.splitlines() if "messages" in x and "CRIT" in x)
    api_logs = next(x for x in text.splitlines() if "api_logs" in x)
    assert messages[column] == "."
    assert api_logs[column] == "D"
    assert "500" in api_logs and ("500 in DEFAULT" in api_logs or width < 64)
    assert text.endswith("CRITICAL: 3 critical\n")
    assert "D rows in DEFAULT" in text and ". no partition" in text
    if width == 200:
        assert "public.messages  CRITICAL" in text  # whole names and status words


def test_months_get_equal_columns_and_the_bar_ends_at_the_horizon():
    (messages, api_logs, _) = seed_tables()
    assert messages.coverage is not None and api_logs.coverage is not None
    maps = [messages.coverage, api_logs.coverage]
    s = scale(maps, NOW, 60)
    assert len(s.columns) == 7 * 8  # Aug .. Feb: 7 months of 8 columns
    assert s.tick_width == 8 and [t for _, t in s.ticks][3] == midnight(date(2026, 11, 1))
    assert run_lengths(states(messages.coverage, s, NOW)) == [(C, 24), (M, 32)]
    assert run_lengths(states(api_logs.coverage, s, NOW)) == [(C, 24), (D, 8), (M, 24)]


def test_a_daily_table_of_200_partitions_in_60_columns_shows_the_worst_of_each_column():
    first = midnight(date(2026, 5, 6))
    parts = periods(first, 200, Interval.DAILY, UTC)
    gap_day = parts[100]
    parts.remove(gap_day)
    m = cmap(
        parts,
        horizon=midnight(date(2026, 12, 6)),
        default_periods=(Span(midnight(date(2026, 5, 1)), midnight(date(2026, 5, 2)), 7),),
    )
    s = scale([m], NOW, 60)
    assert len(s.columns) <= 60
    spans = {hi - lo for lo, hi in s.columns}
    assert spans == {timedelta(days=4)}  # 214 days: 4 whole days per column
    got = states(m, s, NOW)
    gap = [i for i, v in enumerate(got) if v is M and s.columns[i][1] <= NOW]
    (only,) = gap  # one day missing: one column, the one holding that day
    lo, hi = s.columns[only]
    assert gap_day.lower is not None and gap_day.upper is not None
    assert lo <= gap_day.lower and gap_day.upper <= hi
    assert got[only - 1] is C and got[only + 1] is C
    # the DEFAULT's rows of a day before the first partition: outside the bar,
    # drawn in its left margin
    text = draw([table("public.events", m, Status.WARNING, rows=7)], 80)
    assert line_of(text, "public.events").split("WARNING")[1].lstrip().startswith("D#")


@pytest.mark.parametrize(("gap_day", "hours"), [(date(2026, 10, 25), 25), (date(2026, 3, 29), 23)])
def test_dst_days_are_one_column_on_the_tables_calendar(gap_day, hours):
    first = midnight(gap_day - timedelta(days=7), BERLIN)
    parts = periods(first, 15, Interval.DAILY, BERLIN)
    gap = next(p for p in parts if p.lower == midnight(gap_day, BERLIN))
    parts.remove(gap)
    now = midnight(gap_day + timedelta(days=6), BERLIN) + timedelta(hours=12)
    m = cmap(parts, zone=BERLIN, horizon=parts[-1].upper)
    s = scale([m], now, None)  # one column per day
    assert len(s.columns) == 15
    day = s.columns[7]
    assert day == (gap.lower, gap.upper) and day[1] - day[0] == timedelta(hours=hours)
    assert run_lengths(states(m, s, now)) == [(C, 7), (M, 1), (C, 7)]
    # Three columns a day: the gap is exactly its three, none of its neighbours'.
    s3 = scale([m], now, 45)
    assert s3.tick_width == 3
    assert run_lengths(states(m, s3, now)) == [(C, 21), (M, 3), (C, 21)]


def test_monthly_years_with_retention_show_what_retention_takes_next():
    first = midnight(date(2020, 1, 1))
    parts = periods(first, 83, Interval.MONTHLY, UTC)  # 2020-01 .. 2026-11
    cutoff = midnight(date(2024, 11, 22))  # "2 years"
    m = cmap(parts, Interval.MONTHLY, horizon=midnight(date(2027, 3, 1)), retention_cutoff=cutoff)
    s = scale([m], NOW, 60)
    assert len(s.columns) <= 60 and s.interval == Interval.MONTHLY
    got = states(m, s, NOW)
    runs = run_lengths(got)
    assert [v for v, _ in runs] == [E, C, M]
    last_expiring = s.columns[runs[0][1] - 1]
    assert last_expiring[0] < cutoff  # the column holding the cutoff is the last one
    text = draw([table("public.messages", m, Status.WARNING)], 80, UNICODE)
    assert "▒ past the retention cutoff" in text
    assert "2020-01" in text.splitlines()[0]


def test_a_15_minute_table_missing_now():
    fifteen = Interval(15, Unit.MINUTE)
    start = datetime(2026, 11, 21, 21, tzinfo=timezone.utc)
    parts = periods(start, 12, fifteen, UTC)  # 21:00 .. 24:00
    now = datetime(2026, 11, 22, 0, 20, tzinfo=timezone.utc)
    horizon = datetime(2026, 11, 22, 1, 15, tzinfo=timezone.utc)
    m = cmap(parts, fifteen, horizon=horizon)
    s = scale([m], now, 60)
    assert {hi - lo for lo, hi in s.columns} == {timedelta(minutes=15) / 3}
    assert run_lengths(states(m, s, now)) == [(C, 36), (M, 15)]
    text = draw([table("public.ticks", m, Status.CRITICAL)], 80, now=now)
    scale_line = text.splitlines()[0]
    assert scale_line.startswith("15 minutes, UTC")
    assert "21:00" in scale_line and "11-22" in scale_line  # midnight names the day
    assert line_of(text, "public.ticks")[now_column(text)] == "."


def test_minvalue_and_maxvalue_partitions_are_drawn_in_the_margins():
    nov, dec = midnight(date(2026, 11, 1)), midnight(date(2026, 12, 1))
    m = cmap(
        [Span(None, nov), Span(nov, dec), Span(dec, None)],
        Interval.MONTHLY,
        horizon=midnight(date(2027, 3, 1)),
    )
    text = draw([table("public.catchall", m)], 80)
    bar = line_of(text, "public.catchall").split("OK", 1)[1].strip()
    assert bar.startswith("<#") and bar.endswith("#>") and set(bar[1:-1]) == {"#"}
    assert "< MINVALUE" in text and "> MAXVALUE" in text


def test_tables_without_partitions_and_tables_pgpart_cannot_draw():
    empty = cmap([], horizon=midnight(date(2026, 11, 26)))
    unknown_interval = CoverageMap(UTC, None, ())
    problem = Problem(
        Status.UNKNOWN, ProblemCode.UNSUPPORTED_KEY, "public.t is partitioned by list"
    )
    text = draw(
        [
            table("public.empty", empty, Status.CRITICAL),
            table("public.nothing", unknown_interval, Status.WARNING),
            table("public.t", None, Status.UNKNOWN, problems=[problem]),
        ],
        80,
    )
    empty_bar = line_of(text, "public.empty").split("CRITICAL", 1)[1].strip()
    assert set(empty_bar) == {"."} and len(empty_bar) % 4 == 0  # today through the horizon
    assert line_of(text, "public.nothing").endswith("WARNING  no partitions")
    note = line_of(text, "public.t")
    assert "UNKNOWN  unsupported_key: public.t is partitioned by list" in note
    long = Problem(Status.UNKNOWN, ProblemCode.UNSUPPORTED_KEY, "why " * 40)
    cut = draw([table("public.t", None, Status.UNKNOWN, problems=[long])], 80)
    assert all(len(x) <= 80 for x in cut.splitlines()) and line_of(cut, "public.t").endswith("~")


def test_quiet_prints_nothing_when_all_is_well_and_only_what_is_wrong_otherwise():
    ok = table("public.ok", cmap(periods(midnight(date(2026, 11, 20)), 10, Interval.DAILY, UTC)))
    assert draw([ok], 80, quiet=True) == ""
    assert draw([], 80) == ""
    text = draw([ok, *seed_tables()], 80, quiet=True)
    assert "public.ok" not in text and "public.messages" in text
    assert draw([ok], 80).endswith("OK: 1 ok\n")


def test_wide_gives_every_period_its_column_and_names_whole():
    parts = periods(midnight(date(2026, 5, 6)), 200, Interval.DAILY, UTC)
    m = cmap(parts, horizon=midnight(date(2026, 12, 6)))
    name = "analytics.a_table_with_a_rather_long_name"
    text = draw([table(name, m)], None)
    bar = line_of(text, name).split("OK", 1)[1].strip()
    assert len(bar) == 214 and bar == "#" * 200 + "." * 14


def test_unicode_glyphs_and_the_ascii_fallback():
    text = draw(seed_tables(), 80, UNICODE)
    assert "█" in text and "░" in text and "▚" in text and "▼" in text
    ascii_text = draw(seed_tables(), 80, ASCII)
    assert ascii_text.isascii()
    assert glyphs_for("utf-8", {"LANG": "en_US.UTF-8"}, False) is UNICODE
    assert glyphs_for("utf-8", {"LC_ALL": "de_DE.utf8", "LANG": "C"}, False) is UNICODE
    # LANG=C: Python turned on its UTF-8 mode and set LC_CTYPE=C.UTF-8 itself
    assert glyphs_for("utf-8", {"LANG": "C", "LC_CTYPE": "C.UTF-8"}, True) is ASCII
    assert glyphs_for("utf-8", {"LC_CTYPE": "C.UTF-8"}, False) is UNICODE  # set on purpose
    assert glyphs_for("utf-8", {}, False) is ASCII  # no locale at all: C
    assert glyphs_for("latin-1", {"LANG": "en_US.UTF-8"}, False) is ASCII
    assert glyphs_for("ascii", {"LANG": "en_US.UTF-8"}, False) is ASCII


def test_many_databases_one_block_each():
    seed = Plan(NOW, tuple(seed_tables()))
    fine = Plan(
        NOW,
        (table("public.ok", cmap(periods(midnight(date(2026, 11, 20)), 9, Interval.DAILY, UTC))),),
    )
    blocks = [Block("eu-1", seed), Block("eu-2", fine), Block("us-1", None, "could not connect")]
    text = render_timeline(blocks, 80, ASCII)
    lines = text.splitlines()
    assert lines[0] == "database eu-1"
    assert "database eu-2" in lines and "database us-1: UNKNOWN: could not connect" in lines
    assert lines[-1] == "CRITICAL: 3 databases (1 not checked); tables: 3 critical, 1 ok"
    assert all(len(x) <= 80 for x in lines)
    assert render_timeline(blocks[1:2], 80, ASCII, quiet=True) == ""
    quiet = render_timeline(blocks[1:], 80, ASCII, quiet=True)  # what is wrong, only
    assert quiet.startswith("database us-1: UNKNOWN") and "eu-2" not in quiet
