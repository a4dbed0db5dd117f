"""Parse table names the way PostgreSQL does, without asking the server.

`to_regclass()` raises on malformed input (``invalid name syntax``), which
would abort a whole batched lookup; parsing here first turns any user text
into a (schema, name) pair or a clear error, so a name can never be SQL.
"""

from __future__ import annotations

import re

from pgpart.core.record import record


@record
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


_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


def display_part(part: str) -> str:
    """Quote a name part only when PostgreSQL would need it; a name holding a
    character that is not printable (a newline, an escape...) in PostgreSQL's
    Unicode-escaped form, U&"a\\000ab", so that what is shown stays on its
    line (a newline would end a ``--`` comment) and still names the table."""
    if _PLAIN.fullmatch(part):
        return part
    if part.isprintable():
        return quote_ident(part)
    return 'U&"' + "".join(_unicode_escaped(c) for c in part) + '"'


def _unicode_escaped(c: str) -> str:
    if c == '"':
        return '""'
    if c == "\\":
        return "\\\\"
    if c.isprintable():
        return c
    code = ord(c)
    return f"\\{code:04x}" if code <= 0xFFFF else f"\\+{code:06x}"


def display_name(schema: str, name: str) -> str:
    return f"{display_part(schema)}.{display_part(name)}"


# A quoted part, or an unquoted one: a letter, "_" or any non-ASCII character,
# then those, digits and "$". Written as negated ASCII classes: the class
# [\x80-\U0010ffff] costs ~30 ms to compile, on every start of the CLI.
_IDENT = re.compile(
    r'([Uu]&)?"((?:[^"]|"")+)"'
    r"|([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)"
)
_UNICODE_ESCAPE = re.compile(r"\\(?:\\|([0-9A-Fa-f]{4})|\+([0-9A-Fa-f]{6}))")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL's limit for any identifier


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_to_bytes(text: str, max_bytes: int) -> str:
    """Longest prefix of ``text`` within ``max_bytes`` UTF-8 bytes, whole characters."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def parse_table_name(text: str) -> tuple[str | None, str]:
    """Split "schema.table" or "table" as PostgreSQL reads it: the one parser
    of names written by users, on the command line or in the config.

    Unquoted parts fold ASCII letters to lower case, and only those
    (PostgreSQL's downcase_identifier: ``Événements`` stays ``Événements``);
    "Quoted" parts are kept as written. Raises ValueError for anything else.
    """
    parts: list[str] = []
    pos = 0
    while True:
        match = _IDENT.match(text, pos)
        if match is None:
            raise ValueError(f"{_show(text)} is not a table name (expected schema.table or table)")
        unicode, quoted, plain = match.groups()
        if quoted is None:
            part = plain.translate(_ASCII_LOWER)
        else:
            part = quoted.replace('""', '"')
            if unicode:
                part = _unescape(part, text)
        if "\x00" in part:
            raise ValueError(f"{_show(text)} is not a table name (it contains a NUL character)")
        if utf8_len(part) > MAX_NAME_BYTES:
            raise ValueError(f"{_show(part)} is longer than PostgreSQL's 63-byte limit for names")
        parts.append(part)
        pos = match.end()
        if pos == len(text):
            break
        if text[pos] != "." or len(parts) == 2:
            raise ValueError(f"{_show(text)} is not a table name (expected schema.table or table)")
        pos += 1
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


_SQL_SPACE = " \t\n\r\f\v"


def split_identifier_list(text: str) -> tuple[str, ...] | None:
    """A comma-separated list of names as PostgreSQL reads a search_path
    value (its SplitIdentifierString): "quoted" names kept, unquoted ones
    folded (ASCII letters only), each cut to 63 bytes; None when malformed."""
    names: list[str] = []
    pos, end = 0, len(text)

    def skip_space(at: int) -> int:
        while at < end and text[at] in _SQL_SPACE:
            at += 1
        return at

    pos = skip_space(pos)
    if pos == end:
        return ()
    while True:
        if text[pos] == '"':
            close = pos + 1
            while True:
                close = text.find('"', close)
                if close < 0:
                    return None
                if text[close + 1 : close + 2] != '"':
                    break
                close += 2
            name = text[pos + 1 : close].replace('""', '"')
            pos = close + 1
        else:
            start = pos
            while pos < end and text[pos] != "," and text[pos] not in _SQL_SPACE:
                pos += 1
            name = text[start:pos].translate(_ASCII_LOWER)
        if not name:
            return None
        names.append(cut_to_bytes(name, MAX_NAME_BYTES))
        pos = skip_space(pos)
        if pos == end:
            return tuple(names)
        if text[pos] != ",":
            return None
        pos = skip_space(pos + 1)
        if pos == end:
            return None


def _unescape(body: str, text: str) -> str:
    """The body of a U&"..." name with its escapes (the default \\) decoded."""
    if "\\" in _UNICODE_ESCAPE.sub("", body):
        raise ValueError(f"{_show(text)} is not a table name (invalid Unicode escape)")

    def one(m: re.Match[str]) -> str:
        digits = m.group(1) or m.group(2)
        if digits is None:
            return "\\"
        code = int(digits, 16)
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"{_show(text)} is not a table name (invalid Unicode escape)")
        return chr(code)

    return _UNICODE_ESCAPE.sub(one, body)


def parse_qualified_name(text: str) -> QualifiedName:
    schema, name = parse_table_name(text)
    return QualifiedName(schema, name)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
