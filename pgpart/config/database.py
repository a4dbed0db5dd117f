"""[[database]] blocks of pgpart.toml: the members of a fleet (see pgpart.cli.fleet_members).

Each block: ``name`` (what reports show, unique), exactly one of ``dsn`` or
``service`` (an entry of libpq's pg_service.conf), optional ``tables``, and
any [defaults] key as this database's defaults. Every problem is a
ConfigError naming the file, the line and the key, as for the rest of the file.
"""

from __future__ import annotations

import difflib

from pgpart.config.layer import Layer
from pgpart.config.positions import dotted_key
from pgpart.config.values import DEFAULTS_KEYS, BadValue, layer_of, show, type_name
from pgpart.core.identifiers import parse_table_name
from pgpart.core.record import record
from pgpart.errors import ConfigError


@record
class DatabaseBlock:
    name: str
    dsn: str | None
    service: str | None
    tables: tuple[str, ...]
    values: Layer  # its own [defaults] keys, checked
    line: int | None


_DATABASE_KEYS = ("name", "dsn", "service", "tables", *DEFAULTS_KEYS)


def _database_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """Per [[database]] header: its line and the line of each key below it."""
    blocks: list[tuple[int, dict[str, int]]] = []
    keys: dict[str, int] | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.lstrip()
        if stripped.startswith("["):
            path, _ = dotted_key(stripped, 2 if stripped.startswith("[[") else 1)
            keys = None
            if stripped.startswith("[[") and path == ["database"]:
                keys = {}
                blocks.append((number, keys))
            continue
        path, end = dotted_key(line, 0)
        if keys is not None and path and line[end : end + 1] == "=":
            keys.setdefault(path[0], number)
    return blocks


def read_databases(raw: object, text: str, shown: str) -> tuple[DatabaseBlock, ...]:
    """[[database]] blocks: name, exactly one of dsn/service, optional tables and
    per-database defaults; every problem names file:line and the key."""
    if not isinstance(raw, list):
        hint = ": write [[database]], not [database]" if isinstance(raw, dict) else ""
        raise ConfigError(f"{shown}: database must be an array of tables{hint}")
    lines = _database_lines(text)
    out: list[DatabaseBlock] = []
    seen: dict[str, int | None] = {}
    for index, entry in enumerate(raw):
        header, keys = lines[index] if index < len(lines) else (None, {})

        def fail(
            key: str | None,
            reason: str,
            keys: dict[str, int] = keys,
            header: int | None = header,
            number: int = index + 1,
        ) -> ConfigError:
            line = keys.get(key, header) if key is not None else header
            at = f"{shown}:{line}" if line is not None else shown
            return ConfigError(f"{at}: [[database]] #{number}: {reason}")

        if not isinstance(entry, dict):
            raise fail(None, f"must be a table with a name, not {type_name(entry)}")
        for key in entry:
            if key not in _DATABASE_KEYS:
                close = difflib.get_close_matches(key, _DATABASE_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(key, f"key {show(key)} is unknown{hint}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or not name.isprintable():
            raise fail("name", "key 'name' must be a non-empty string such as \"eu-1\"")
        if name in seen:
            first = seen[name]
            where = f"line {first}" if first is not None else "an earlier block"
            raise fail("name", f"name {name!r} is already used at {where}")
        seen[name] = header
        given = [k for k in ("dsn", "service") if k in entry]
        if len(given) != 1:
            reason = "both dsn and service" if given else "neither dsn nor service"
            raise fail(
                given[-1] if given else None,
                f"{name}: give exactly one of dsn or service, not {reason}",
            )
        where = entry[given[0]]
        if not isinstance(where, str) or not where.strip():
            raise fail(given[0], f"{given[0]} must be a non-empty string")
        tables = entry.get("tables", [])
        if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
            raise fail("tables", 'tables must be an array of names, e.g. ["public.events"]')
        for table in tables:
            try:
                parse_table_name(table)
            except ValueError as exc:
                raise fail("tables", f"tables: {exc}") from None
        try:
            values = layer_of({k: v for k, v in entry.items() if k in DEFAULTS_KEYS})
        except BadValue as exc:
            raise fail(exc.key, str(exc)) from None
        out.append(
            DatabaseBlock(
                name=name,
                dsn=where if given[0] == "dsn" else None,
                service=where.strip() if given[0] == "service" else None,
                tables=tuple(tables),
                values=values,
                line=header,
            )
        )
    return tuple(out)
