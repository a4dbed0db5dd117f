"""The snapshot's records built from the catalog's rows (pgpart.db.catalog):
partitions with their bounds (typed by the server, else read from their
text), sorted in bound order, under their tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pgpart.core.bounds import BoundError, KeyKind, RangeBound, parse_range_bound
from pgpart.core.encoding import KeyEncoding
from pgpart.core.identifiers import display_name
from pgpart.core.restore_mark import kept_until
from pgpart.core.snapshot import Partition, PartitionedTable
from pgpart.db.encoded_keys import encoded_keys


def build_tables(
    table_rows: Sequence[Any],
    part_rows: Sequence[Any],
    kinds: dict[int, KeyKind | None],
    managed: set[str],
    configured: dict[int, tuple[KeyEncoding, str] | None],
    sizes: dict[int, int] | None = None,
) -> list[PartitionedTable]:
    keys = encoded_keys([(r[0], r[3]) for r in part_rows], kinds, configured)
    kinds = kinds | {oid: choice.kind for oid, choice in keys.items()}
    by_parent: dict[int, list[Partition]] = {}
    for (
        parent, schema, name, expr, lo_tz, hi_tz, lo, hi,
        reltuples, pending, relopts, spc, replident, size, powner, poid, restored,
    ) in part_rows:  # fmt: skip
        bound, error = _bound(expr, lo_tz, hi_tz, lo, hi, kinds.get(parent))
        if error and (source := configured.get(parent)) is not None:
            error += f"; is the {source[1]} encoding ({source[0].value}) right for this table?"
        by_parent.setdefault(parent, []).append(
            Partition(
                schema=schema,
                name=name,
                bound=bound,
                rows_estimate=None if reltuples < 0 else int(reltuples),
                bytes=size if sizes is None else sizes.get(poid),
                pending_detach=bool(pending),
                reloptions=tuple(relopts),
                tablespace=spc,
                replica_identity=replident,
                bound_error=error,
                owner=powner,
                oid=poid,
                kept_until=kept_until(restored),
                bound_text=expr,
            )
        )

    tables = []
    for oid, schema, name, owner, relkind, strategy, keycol, keytype, _regtype, acl in table_rows:
        parts = sorted(by_parent.get(oid, []), key=partition_order)
        tables.append(
            PartitionedTable(
                oid=oid,
                schema=schema,
                name=name,
                owner=owner,
                relkind=relkind,
                strategy=strategy,
                key_column=keycol,
                key_type=keytype,
                key_kind=kinds[oid],
                key_note=keys[oid].note if oid in keys else None,
                partitions=tuple(parts),
                managed_by_partman=display_name(schema, name) in managed
                or f"{schema}.{name}" in managed,
                acl=tuple(acl),
            )
        )
    return tables


def _bound(
    expr: str,
    lo_tz: datetime | None,
    hi_tz: datetime | None,
    lo: datetime | None,
    hi: datetime | None,
    kind: KeyKind | None,
) -> tuple[RangeBound | None, str | None]:
    """A partition's bound, and why it cannot be read: typed by the server
    (_PARTITIONS_SQL), else read from its text."""
    if lo_tz is not None and hi_tz is not None:
        if lo_tz.tzinfo is not timezone.utc or hi_tz.tzinfo is not timezone.utc:
            lo_tz, hi_tz = lo_tz.astimezone(timezone.utc), hi_tz.astimezone(timezone.utc)
        return RangeBound(lo_tz, hi_tz), None
    if lo is not None and hi is not None:
        return RangeBound(lo, hi), None
    if kind is None or not kind.handled:
        return None, None if expr == "DEFAULT" else f"bound not on a time key: {expr}"
    try:
        return parse_range_bound(expr, kind), None
    except BoundError as exc:
        return None, str(exc)


def partition_order(p: Partition) -> tuple[int, datetime | str]:
    # A table's bounds are all aware (timestamptz key) or all naive.
    if p.bound is None:
        return (2, p.name)  # default and unreadable ones last
    if p.bound.lower is None:
        return (0, p.name)
    return (1, p.bound.lower)
