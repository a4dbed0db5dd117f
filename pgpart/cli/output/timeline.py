"""``check --timeline``: each table's coverage as one line of a terminal.

Pure: it takes check's plans (each table's :class:`CoverageMap`), a width and
a set of glyphs, and returns text. Tables of one interval and zone share a
scale: a line of dates, a line marking now, then one bar per table, from
its oldest partition to its premake horizon (where coverage should reach).
Tables pgpart cannot draw get a one-line note. Over many databases, one
block per database. The status words are check's verdict, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple
from datetime import datetime

from pgpart.cli.output.common import wrap_line
from pgpart.cli.output.report import Report, closing
from pgpart.cli.output.timeline_scale import (
    Scale,
    State,
    outside_defaults,
    scale,
    states,
    unbounded,
)
from pgpart.core.interval import Unit
from pgpart.core.plan import Plan, Status, TablePlan
from pgpart.core.record import record


@record
class Glyphs:
    """What each state and mark looks like."""

    covered: str
    expiring: str
    missing: str
    default: str
    now: str
    minvalue: str
    maxvalue: str
    cut: str  # ends a shortened name

    def of(self, state: State) -> str:
        return {
            State.OUTSIDE: " ",
            State.COVERED: self.covered,
            State.EXPIRING: self.expiring,
            State.MISSING: self.missing,
            State.DEFAULT: self.default,
        }[state]


UNICODE = Glyphs("█", "▒", "░", "▚", "▼", "◀", "▶", "…")
ASCII = Glyphs("#", "=", ".", "D", "v", "<", ">", "~")


def glyphs_for(encoding: str | None, environ: Mapping[str, str], utf8_mode: bool) -> Glyphs:
    """Unicode blocks when the output's encoding can carry them and the
    locale says UTF-8; ASCII otherwise (LANG=C, a Latin-1 terminal).
    ``utf8_mode``: Python's, which it turns on (setting LC_CTYPE=C.UTF-8)
    when the locale was C or POSIX: that LC_CTYPE says nothing of the terminal."""
    try:
        "".join(astuple(UNICODE)).encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(var, "")
        if not value or (var == "LC_CTYPE" and utf8_mode and value.upper() == "C.UTF-8"):
            continue
        return UNICODE if "utf8" in value.lower().replace("-", "") else ASCII
    return ASCII


@record
class Block:
    """One database's check: its plan, or why there is none."""

    database: str | None  # None: the only database
    plan: Plan | None
    error: str | None = None


MIN_BAR = 16
_SHORT_STATUS = {"ok": "OK", "warning": "WARN", "critical": "CRIT", "unknown": "UNKN"}
_HIDDEN_SCHEMA = "public."  # the first thing a short name gives up
_NOW_FORMATS = ("now %Y-%m-%d %H:%M", "now %m-%d %H:%M")


@record
class _Layout:
    """Columns of a line: name, status, then the bar between two margins
    (MINVALUE/MAXVALUE, or DEFAULT rows beyond the bar), then the note."""

    name: int
    short: bool  # short status words and notes
    bar: int | None  # None: as many columns as the periods need

    @property
    def left(self) -> int:
        """Columns before a bar's left margin."""
        return self.name + 2 + (4 if self.short else 8) + 1


@record
class _Drawing:
    layout: _Layout
    glyphs: Glyphs
    used: set[str]  # the glyphs drawn, for the legend
    names: tuple[str, ...]  # of every table drawn, shortened alike
    width: int | None


def render_timeline(
    blocks: Sequence[Block], width: int | None, glyphs: Glyphs, *, quiet: bool = False
) -> str:
    """The timeline of every block; "" with ``quiet`` when all is well."""
    shown = [(b, _shown_tables(b, quiet)) for b in blocks]
    if not any(tables or b.plan is None for b, tables in shown):
        return ""  # no tables, or (-q) all is well
    tables = [t for _, listed in shown for t in listed]
    names = tuple(t.table for t in tables)
    drawing = _Drawing(_layout(tables, width), glyphs, set(), names, width)
    named = len(blocks) > 1
    parts = [_block(b, tables, drawing, named) for b, tables in shown if tables or b.plan is None]
    legend = _legend(drawing, width)
    return "\n\n".join(parts) + "\n\n" + (legend + "\n" if legend else "") + _closing(blocks) + "\n"


def _shown_tables(block: Block, quiet: bool) -> list[TablePlan]:
    if block.plan is None:
        return []
    return [t for t in block.plan.tables if not quiet or t.status is not Status.OK]


def _note(t: TablePlan, short: bool) -> str:
    rows = t.default_rows or 0
    if not rows:
        return ""
    return f"{rows:,} D" if short else f"{rows:,} in DEFAULT"


def _layout(tables: Sequence[TablePlan], width: int | None) -> _Layout:
    names = [t.table for t in tables] or [""]
    if width is None:
        return _Layout(max(map(len, names)), False, None)
    for short, least in ((False, 16), (True, 10)):
        note = max(len(_note(t, short)) for t in tables) if tables else 0
        fixed = _Layout(0, short, 0).left + 2 + (note + 1 if note else 0)
        room = max(least, width - fixed - max(MIN_BAR, width * 2 // 5))
        name = max(len(_short_name(n, room, "~", names)) for n in names)
        bar = width - fixed - name
        if bar >= MIN_BAR or short:
            return _Layout(name, short, max(bar, 4))
    raise AssertionError("unreachable")


def _short_name(name: str, width: int, mark: str, names: Sequence[str]) -> str:
    """``name`` in ``width`` columns: whole when all ``names`` fit, else
    without "public." (as every other name then), else cut."""
    if all(len(n) <= width for n in names):
        return name
    name = name.removeprefix(_HIDDEN_SCHEMA)
    return name if len(name) <= width else name[: max(0, width - len(mark))] + mark


def _block(block: Block, tables: Sequence[TablePlan], drawing: _Drawing, named: bool) -> str:
    if block.plan is None:
        width = drawing.width
        return wrap_line(f"database {block.database}: UNKNOWN: {block.error}", width, "", "  ")
    lines = [f"database {block.database}"] if named else []
    groups: dict[tuple[str, str], list[TablePlan]] = {}
    notes: list[TablePlan] = []
    for t in tables:
        m = t.coverage
        if m is None or (m.interval is None and not m.covered):
            notes.append(t)
            continue
        key = (m.interval.value if m.interval else "", m.zone.key)
        groups.setdefault(key, []).append(t)
    chunks = [_group(members, block.plan.now, drawing) for members in groups.values()]
    if notes:
        chunks.append("\n".join(_note_line(t, drawing) for t in notes))
    return "\n".join([*lines, "\n\n".join(chunks)]) if chunks else "\n".join(lines)


def _group(tables: Sequence[TablePlan], now: datetime, drawing: _Drawing) -> str:
    """The scale of tables of one interval and zone, and a bar for each."""
    layout = drawing.layout
    maps = [t.coverage for t in tables if t.coverage is not None]
    s = scale(maps, now, layout.bar)
    title = f"{s.interval.value if maps[0].interval else 'interval unknown'}, {s.zone.key}"
    local = now.astimezone(s.zone)
    when = next((w for f in _NOW_FORMATS if len(w := local.strftime(f)) < layout.left), "now")
    column = s.column_of(now)
    mark = "" if column is None else " " * (column + 1) + drawing.glyphs.now
    lines = [
        (_fit(title, layout.left) + _labels(s)).rstrip(),
        (_fit(when, layout.left) + mark).rstrip(),
    ]
    drawing.used.add(drawing.glyphs.now)
    lines += [_bar_line(t, s, now, drawing) for t in tables]
    return "\n".join(lines)


def _bar_line(t: TablePlan, s: Scale, now: datetime, drawing: _Drawing) -> str:
    m, glyphs = t.coverage, drawing.glyphs
    assert m is not None
    bar = "".join(glyphs.of(x) for x in states(m, s, now))
    low, high = unbounded(m)
    before, after = outside_defaults(m, s)
    left = glyphs.default if before else glyphs.minvalue if low else " "
    right = glyphs.default if after else glyphs.maxvalue if high else " "
    drawing.used.update(left + bar + right)
    note = _note(t, drawing.layout.short)
    line = _head(t, drawing) + left + bar + right
    return (line + " " + note if note else line).rstrip()


def _head(t: TablePlan, drawing: _Drawing) -> str:
    layout = drawing.layout
    status = _SHORT_STATUS[t.status.value] if layout.short else t.status.value.upper()
    name = _short_name(t.table, layout.name, drawing.glyphs.cut, drawing.names)
    return f"{name:<{layout.name}}  {status:<{4 if layout.short else 8}} "


def _note_line(t: TablePlan, drawing: _Drawing) -> str:
    """A table with no bar: what check says of it, in one line."""
    problem = next((p for p in t.problems if p.severity is not Status.INFO), None)
    problem = problem or (t.problems[0] if t.problems else None)
    why = f"{problem.code}: {problem.message}" if problem else "no partitions"
    layout = drawing.layout
    total = None if layout.bar is None else layout.left + layout.bar + 2
    return _fit(_head(t, drawing) + why, total, drawing.glyphs.cut).rstrip()


def _fit(text: str, width: int | None, mark: str = "") -> str:
    """``text`` in exactly ``width`` columns (cut, or padded); whole for None."""
    if width is None or len(text) == width:
        return text
    if len(text) < width:
        return text.ljust(width)
    return text[: max(0, width - len(mark))] + mark


def _labels(s: Scale) -> str:
    """Dates at the ticks, as many as fit one space apart, evenly spaced."""
    fmt = _label_format(s)
    size = max(len(at.astimezone(s.zone).strftime(fmt)) for _, at in s.ticks)
    stride = -(-(size + 1) // s.tick_width)
    out = [" "] * (len(s.columns) + 2)
    for n, (column, at) in enumerate(s.ticks):
        local = at.astimezone(s.zone)
        text = local.strftime("%m-%d" if _midnight_label(s, local) else fmt)
        start = column + 1  # past the left margin
        if n % stride or start + len(text) > len(out):
            continue
        out[start : start + len(text)] = text
    return "".join(out).rstrip()


def _label_format(s: Scale) -> str:
    unit = s.interval.unit
    if unit is Unit.YEAR:
        return "%Y"
    if unit is Unit.MONTH:
        return "%Y-%m"
    if unit in (Unit.DAY, Unit.WEEK):
        return "%m-%d"
    return "%H:%M"


def _midnight_label(s: Scale, local: datetime) -> bool:
    """Hours and minutes: a tick at midnight names the day instead."""
    return s.interval.unit.elapsed and local.hour == local.minute == 0


def _legend(drawing: _Drawing, width: int | None) -> str:
    """What the glyphs drawn mean, in as few lines as the width allows."""
    g = drawing.glyphs
    meanings = [
        (g.covered, f"{g.covered} partition"),
        (g.expiring, f"{g.expiring} past the retention cutoff"),
        (g.missing, f"{g.missing} no partition, to the premake horizon"),
        (g.default, f"{g.default} rows in DEFAULT"),
        (g.now, f"{g.now} now"),
        (g.minvalue, f"{g.minvalue} MINVALUE"),
        (g.maxvalue, f"{g.maxvalue} MAXVALUE"),
    ]
    lines: list[str] = []
    for glyph, item in meanings:
        if glyph not in drawing.used:
            continue
        if lines and (width is None or len(lines[-1]) + 2 + len(item) <= width):
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return "\n".join(lines)


def _closing(blocks: Sequence[Block]) -> str:
    """check's last line: the verdict and the tables by status (over many
    databases as check's exit code ranks them: critical outranks unknown)."""
    return closing([Report(b.database, b.plan, b.error) for b in blocks])
