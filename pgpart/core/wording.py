"""How a count reads in a message: "1 row", "2 rows", "1,000 rows"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None, *, grouped: bool = True) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (``plural`` when the plural
    is not the noun plus "s"); ``grouped``: thousands separated by commas."""
    number = f"{n:,}" if grouped else str(n)
    return f"{number} {noun if n == 1 else plural or noun + 's'}"
