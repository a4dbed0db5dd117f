"""A small SQL lexer: enough to split the SQL of a dump's entries into
statements and read the words each one starts with (and the few helpers
pgpart.core.dump_rules reads them with). Pure.

It follows PostgreSQL's lexical rules where a dump's SQL can use them
(https://www.postgresql.org/docs/current/sql-syntax-lexical.html), with
standard_conforming_strings on (a dump pgpart accepts says so): '...'
with '' inside, E'...' with backslash escapes, "..." with "" inside,
$tag$...$tag$, -- and nested /* */ comments. Whatever it cannot read
(U&'...', an unterminated string) raises ValueError: the caller refuses
what it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

from pgpart.core.record import record


class Kind(Enum):
    WORD = "word"  # a keyword or an unquoted identifier, lower-cased
    IDENT = "ident"  # a quoted identifier, unescaped
    STRING = "string"  # a string constant, its value
    NUMBER = "number"
    SYMBOL = "symbol"  # ( ) , ; . [ ] or an operator


@record
class Token:
    kind: Kind
    value: str

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.WORD and self.value in words

    def is_symbol(self, symbol: str) -> bool:
        return self.kind is Kind.SYMBOL and self.value == symbol

    @property
    def name(self) -> str | None:
        """The identifier this token is, if any."""
        return self.value if self.kind in (Kind.WORD, Kind.IDENT) else None


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_OPERATOR = re.compile(r"[+\-*/<>=~!@#%^&|`?:]+")
_E_ESCAPE = re.compile(r"\\(.)|''", re.DOTALL)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if m := _SPACE.match(text, i):
            i = m.end()
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
        elif text.startswith("/*", i):
            i = _comment_end(text, i)
        elif c == "'":
            value, i = _quoted(text, i, "'")
            out.append(Token(Kind.STRING, value))
        elif c == '"':
            value, i = _quoted(text, i, '"')
            out.append(Token(Kind.IDENT, value))
        elif c in "eE" and text.startswith("'", i + 1):
            value, i = _escaped(text, i + 1)
            out.append(Token(Kind.STRING, value))
        elif c in "uU" and text.startswith("&", i + 1):
            raise ValueError("U& strings and identifiers are not read")
        elif (m := _DOLLAR.match(text, i)) and not text[i + 1 : i + 2].isdigit():
            end = text.find(m.group(0), m.end())
            if end < 0:
                raise ValueError("an unterminated dollar-quoted string")
            out.append(Token(Kind.STRING, text[m.end() : end]))
            i = end + len(m.group(0))
        elif m := _WORD.match(text, i):
            out.append(Token(Kind.WORD, _fold(m.group(0))))
            i = m.end()
        elif m := _NUMBER.match(text, i):
            out.append(Token(Kind.NUMBER, m.group(0)))
            i = m.end()
        elif m := _OPERATOR.match(text, i):
            out.append(Token(Kind.SYMBOL, m.group(0)))
            i = m.end()
        else:
            out.append(Token(Kind.SYMBOL, c))
            i += 1
    return out


def statements(text: str) -> list[list[Token]]:
    """The statements of ``text``, split at each ``;`` (without it); empty
    ones dropped. A last statement without ``;`` is a statement too."""
    out: list[list[Token]] = [[]]
    for token in tokens(text):
        if token.is_symbol(";"):
            out.append([])
        else:
            out[-1].append(token)
    return [s for s in out if s]


def _fold(word: str) -> str:
    """An unquoted identifier as PostgreSQL reads it: ASCII letters lower-cased."""
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in word)


def _comment_end(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("an unterminated comment")


def _quoted(text: str, i: int, quote: str) -> tuple[str, int]:
    """A '...' or "..." starting at i: its value (doubled quotes undone) and
    where it ends."""
    parts: list[str] = []
    j = i + 1
    while True:
        end = text.find(quote, j)
        if end < 0:
            raise ValueError(f"an unterminated {quote}-quoted text")
        parts.append(text[j:end])
        if text.startswith(quote, end + 1):
            parts.append(quote)
            j = end + 2
            continue
        return "".join(parts), end + 1


def _escaped(text: str, i: int) -> tuple[str, int]:
    """An E'...' string (its quote at i): backslash escapes of the common
    kinds undone; any other escaped character taken as itself."""
    j = i + 1
    while True:
        if j >= len(text):
            raise ValueError("an unterminated E'' string")
        if text[j] == "\\":
            j += 2
        elif text[j] == "'":
            if text.startswith("'", j + 1):
                j += 2
                continue
            break
        else:
            j += 1
    value = _E_ESCAPE.sub(
        lambda m: "'" if m.group(0) == "''" else _SIMPLE_ESCAPES.get(m.group(1), m.group(1)),
        text[i + 1 : j],
    )
    return value, j + 1


# --- reading a statement ----------------------------------------------------


def starts(s: Sequence[Token], *words: str) -> bool:
    """Whether statement ``s`` begins with ``words`` (keywords; a word that is
    not alphabetic, such as "(", is matched as a symbol)."""
    if len(s) < len(words):
        return False
    for t, w in zip(s, words, strict=False):
        if not (t.is_word(w) or (not w.isalpha() and t.is_symbol(w))):
            return False
    return True


def closing(s: Sequence[Token], i: int) -> int:
    """The index of the ) matching the ( at i (len(s) when it has none)."""
    depth = 0
    for j in range(i, len(s)):
        depth += s[j].is_symbol("(") - s[j].is_symbol(")")
        if depth == 0:
            return j
    return len(s)


def split_commas(s: Sequence[Token]) -> list[list[Token]]:
    """``s`` cut at its commas outside parentheses."""
    out: list[list[Token]] = [[]]
    depth = 0
    for t in s:
        depth += t.is_symbol("(") - t.is_symbol(")")
        if depth == 0 and t.is_symbol(","):
            out.append([])
        else:
            out[-1].append(t)
    return out


def leading_words(s: Sequence[Token], n: int = 4) -> str:
    """The first ``n`` tokens of a statement, for a message."""
    return " ".join(t.value.upper() if t.kind is Kind.WORD else repr(t.value) for t in s[:n])
