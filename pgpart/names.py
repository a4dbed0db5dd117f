"""Parse table names the way PostgreSQL does, without asking the server.

`to_regclass()` raises on malformed input (``invalid name syntax``), which
would abort a whole batched lookup; parsing here first turns any user text
into a (schema, name) pair or a clear error, so a name can never be SQL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QualifiedName:
    schema: str | None
    name: str

    def quoted(self) -> str:
        """The name in SQL syntax, every part quoted (for to_regclass)."""
        parts = [self.name] if self.schema is None else [self.schema, self.name]
        return ".".join(quote_ident(p) for p in parts)

    def __str__(self) -> str:
        return display_name(self.schema, self.name) if self.schema else display_part(self.name)


def quote_ident(part: str) -> str:
    return '"' + part.replace('"', '""') + '"'


def display_part(part: str) -> str:
    """Quote a name part only when PostgreSQL would need it."""
    if (
        part
        and (part[0].isalpha() or part[0] == "_")
        and all(
            ch.isdigit() or ch == "_" or (ch.isalpha() and ch.islower() and ch.isascii())
            for ch in part
        )
    ):
        return part
    return quote_ident(part)


def display_name(schema: str, name: str) -> str:
    return f"{display_part(schema)}.{display_part(name)}"


def parse_qualified_name(text: str) -> QualifiedName:
    """Split ``schema.table`` into parts: unquoted parts fold to lower case,
    ``"quoted"`` parts keep their case and may hold dots and spaces."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            j = i + 1
            buf: list[str] = []
            while True:
                if j >= n:
                    raise ValueError(f"unterminated quoted identifier in {text!r}")
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            if not buf:
                raise ValueError(f"empty quoted identifier in {text!r}")
            parts.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and text[j] != ".":
                j += 1
            raw = text[i:j]
            if not raw or not all(ch.isalnum() or ch in "_$" for ch in raw) or raw[0].isdigit():
                raise ValueError(f"{text!r} is not a valid table name")
            parts.append(raw.lower())
            i = j
        if i >= n:
            break
        if text[i] != ".":
            raise ValueError(f"{text!r} is not a valid table name")
        i += 1
    if len(parts) == 1:
        return QualifiedName(None, parts[0])
    if len(parts) == 2:
        return QualifiedName(parts[0], parts[1])
    raise ValueError(f"{text!r} has too many dots: use schema.table (quote names that hold dots)")
