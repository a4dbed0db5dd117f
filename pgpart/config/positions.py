"""Line numbers of sections and keys in a pgpart.toml, for messages (tomllib gives none)."""

from __future__ import annotations

import re

from pgpart.core.record import record
from pgpart.errors import ConfigError

# -- finding the line of a key -------------------------------------------------

_KEY_START = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")


def dotted_key(text: str, pos: int) -> tuple[list[str], int]:
    """Read a TOML dotted key from text[pos:]; returns its parts and where it ends."""
    parts: list[str] = []
    while True:
        match = _KEY_START.match(text, pos)
        if match is None:
            return parts, pos
        parts.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


class Locator:
    """Line numbers of sections and keys, by scanning the text (tomllib gives none).

    Best effort: keys inside inline tables or multi-line values are not
    seen; line() then falls back to the enclosing section or key.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, int | None, str | None], int] = {}
        section: tuple[str, int | None] | None = ("", None)
        tables = -1
        in_string = False
        # split on "\n" only: str.splitlines() also breaks at \x0c, \u2028...,
        # which TOML (and tomllib's line numbers) do not count as newlines
        for number, line in enumerate(text.split("\n"), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if quotes % 2 == 1:
                in_string = True
            stripped = line.lstrip()
            if stripped.startswith("["):
                is_array = stripped.startswith("[[")
                path, _ = dotted_key(stripped, 2 if is_array else 1)
                if not path:
                    section = None
                    continue
                self._remember(("", None, path[0]), number)
                if path == ["table"] and is_array:
                    tables += 1
                    section = ("table", tables)
                    self._remember(("table", tables, None), number)
                elif path == ["defaults"] and not is_array:
                    section = ("defaults", None)
                    self._remember(("defaults", None, None), number)
                else:
                    if path[0] == "table" and len(path) > 1 and tables >= 0:
                        self._remember(("table", tables, path[1]), number)
                    elif path[0] == "defaults" and len(path) > 1:
                        self._remember(("defaults", None, path[1]), number)
                    section = None
                continue
            path, end = dotted_key(line, 0)
            if section is not None and path and line[end : end + 1] in ("=", "."):
                self._remember((section[0], section[1], path[0]), number)

    def _remember(self, where: tuple[str, int | None, str | None], number: int) -> None:
        self._lines.setdefault(where, number)

    def line(self, section: str, index: int | None, key: str | None) -> int | None:
        for where in ((section, index, key), (section, index, None), ("", None, section)):
            if where in self._lines:
                return self._lines[where]
        return None


@record
class Place:
    """One section of the file, to name it in messages."""

    file: str
    locator: Locator
    section: str  # "", "defaults" or "table"
    index: int | None
    title: str  # '[defaults]', '[[table]] "public.events"'

    def error(self, key: str | None, reason: str) -> ConfigError:
        line = self.locator.line(self.section, self.index, key)
        at = f"{self.file}:{line}" if line is not None else self.file
        title = f" {self.title}:" if self.title else ""
        return ConfigError(f"{at}:{title} {reason}")


# -- reading the file --------------------------------------------------------
