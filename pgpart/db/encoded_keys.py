"""How the catalog reads an integer or uuid key: the encoding configured
(pgpart.toml's key_encoding, else pg_partman's part_config) or inferred from
the raw bounds (pgpart.core.bounds.choose_encoding), once per table before
its bounds are decoded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pgpart.core.bounds import BoundError, KeyChoice, KeyKind, choose_encoding, parse_raw_bound
from pgpart.core.encoding import KeyEncoding
from pgpart.core.snapshot import PartmanSettings

# The configured key_encoding of (schema, table, search path schemas), if any.
EncodingLookup = Callable[[str, str, Sequence[str]], "KeyEncoding | None"]


def configured_encoding(
    schema: str,
    name: str,
    listed: Sequence[str],
    lookup: EncodingLookup | None,
    partman: Sequence[PartmanSettings],
) -> tuple[KeyEncoding, str] | None:
    """An integer or uuid key's encoding as configured: pgpart.toml's
    key_encoding, else pg_partman's part_config (epoch; uuid7_time_encoder)."""
    from pgpart.core import handover

    found = lookup(schema, name, listed) if lookup is not None else None
    if found is not None:
        return found, "key_encoding"
    row = handover.find(partman, schema, name)
    encoding = handover.encoding_of(row) if row is not None else None
    return (encoding, "pg_partman's part_config") if encoding is not None else None


def encoded_keys(
    bounds: Sequence[tuple[int, str]],
    kinds: dict[int, KeyKind | None],
    configured: dict[int, tuple[KeyEncoding, str] | None],
) -> dict[int, KeyChoice]:
    """How each integer or uuid key encodes time: configured, else inferred
    from its raw bounds (pgpart.core.bounds.choose_encoding); ``bounds``:
    (parent oid, pg_get_expr's text) of every partition."""
    encoded = {oid for oid, kind in kinds.items() if kind is not None and kind.encoded}
    if not encoded:
        return {}
    raws: dict[int, list[tuple[Any, Any]]] = {oid: [] for oid in encoded}
    for parent, text in bounds:
        kind = kinds.get(parent)
        if parent not in encoded or kind is None:
            continue
        try:
            raw = parse_raw_bound(text, kind)
        except BoundError:
            continue
        if raw is not None:
            raws[parent].append(raw)
    out = {}
    for oid in encoded:
        kind = kinds[oid]
        assert kind is not None
        ordered = sorted(raws[oid], key=lambda r: (0, 0) if r[0] is None else (1, r[0]))
        given = configured.get(oid)
        choice = choose_encoding(kind, given[0] if given else None, ordered)
        if given is not None and given[1] != "key_encoding" and choice.kind.handled:
            note = f"key_encoding {given[0].value} taken from {given[1]}"
            choice = KeyChoice(choice.kind, note)
        out[oid] = choice
    return out
