"""What every output format shares: the formats, tables that fit the
terminal, CSV and JSON text, and how moments, sizes and row counts read."""

from __future__ import annotations

import csv
import io
import json
import os
import textwrap
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from enum import Enum
from typing import TextIO


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PROMETHEUS = "prometheus"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def tabulate(
    rows: Sequence[Sequence[object]],
    headers: Sequence[str],
    width: int | None = None,
    wrap: Sequence[int] = (),
    *,
    split_words: bool = True,
) -> str:
    """A tabulate table; wider than ``width``, the ``wrap`` columns are
    wrapped, in that order of preference, until it fits (or they cannot be
    narrower). Lines break between words, never inside a name, unless the
    table cannot fit otherwise and ``split_words``: then a name breaks after
    a "." or "_" where it can. Columns are two spaces apart, headers unpadded."""
    import tabulate as tab

    def render(cells: Sequence[Sequence[object]]) -> str:
        saved = tab.MIN_PADDING
        tab.MIN_PADDING = 0  # headers as wide as their text, not two more
        try:
            return tab.tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True)
        finally:
            tab.MIN_PADDING = saved

    text = render(rows)
    if width is None or not rows or not wrap:
        return text
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    for words_whole in (True, False) if split_words else (True,):
        for column in wrap:
            excess = max(len(line) for line in text.splitlines()) - width
            if excess <= 0:
                return text
            current = max(cell_width(r[column]) for r in cells)
            longest = max(_longest_word(r[column]) for r in cells) if words_whole else 0
            target = max(MIN_WRAP, len(headers[column]), longest, current - excess)
            if target >= current:
                continue
            for r in cells:
                r[column] = wrap_cell(r[column], target)
            text = render(cells)
    return text


MIN_WRAP = 13  # a wrapped column never gets narrower ("2026-11-01 .." fits)


def _longest_word(cell: str) -> int:
    """The longest unit no line break may split: a word, with the " .." of a
    span "a .. b" kept on its line (wrap_cell breaks after it)."""
    return max((len(word) for word in cell.replace(" ..", "\0..").split()), default=0)


def wrap_cell(cell: str, target: int) -> str:
    """A cell in lines of at most ``target``: a span "a .. b" breaks after
    "..", then lines break between words; a word still longer (a long name)
    breaks after a "." or "_" where it can."""
    if cell_width(cell) <= target:
        return cell
    if " .. " in cell and "\n" not in cell:
        head, tail = cell.split(" .. ", 1)
        cell = f"{head} ..\n{tail}"
    lines: list[str] = []
    for line in cell.split("\n"):
        span = line.endswith(" ..") and " " not in line[:-3]
        if span and len(line) > target:  # a long name, then the span's ".."
            *first, last = split_name(line[:-3], target)
            ending = [last + " .."] if len(last) + 3 <= target else [last, ".."]
            lines.extend([*first, *ending])
            continue
        for piece in textwrap.wrap(
            line, target, break_long_words=False, break_on_hyphens=False
        ) or [""]:
            lines.extend(split_name(piece, target))
    return "\n".join(lines)


def split_name(word: str, target: int) -> list[str]:
    """``word`` in pieces of at most ``target``, each ending after a "." or
    "_" where one lies in reach (``public.`` / ``events_2026_``), else cut."""
    pieces: list[str] = []
    while len(word) > target:
        cut = max(word.rfind(".", 0, target), word.rfind("_", 0, target)) + 1
        cut = cut if cut > 0 else target
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word]


def fits(text: str, width: int | None) -> bool:
    return width is None or max(len(line) for line in text.splitlines()) <= width


def cell_width(cell: str) -> int:
    return max((len(line) for line in cell.split("\n")), default=0)


def terminal_width(stream: TextIO) -> int | None:
    """Columns to fit: $COLUMNS, else the terminal's width; None (no limit)
    when the stream is not a terminal, so piped output is never cut."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):  # no fileno (a test's StringIO)
        return None
    return None


def wrap_line(text: str, width: int | None, indent: str = "  ", hang: str = "    ") -> str:
    """One message as lines of at most ``width`` (whole when width is None)."""
    if width is None or len(indent) + len(text) <= width:
        return indent + text
    return textwrap.fill(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    )


def printable(text: str) -> str:
    """``text`` with every character that is not printable (a newline, a
    carriage return, an escape...) shown as its Python escape: one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def sql_comment(text: str) -> str:
    """``text`` as SQL comment lines: a line break in it starts another
    ``--`` line, and whatever else would not print is escaped, so that
    nothing in it (a name, a server message) can end the comment and be
    read as SQL by psql."""
    return "\n".join("--" + (" " + printable(line) if line else "") for line in text.split("\n"))


def to_csv(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buf.getvalue()


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def short(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else ""


def compact(value: datetime | None) -> str:
    """A moment as short as it can be said exactly: the date alone at
    midnight UTC (or a naive midnight), else minutes and offset."""
    if value is None:
        return ""
    if value.time() == time(0) and value.utcoffset() in (None, UTC_OFFSET):
        return value.date().isoformat()
    return short(value)


UTC_OFFSET = timedelta(0)


def human(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def row_count(rows: int | None, exact: bool) -> str:
    if rows is None:
        return "unknown"
    return f"{rows:,}" if exact else f"~{rows:,}"
