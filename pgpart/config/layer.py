"""One layer of configuration, checked and typed, and how layers merge into a
table's policy.

A layer is what one source says: [defaults], a [[database]] block, a
[[table]] entry, the PGPART_* environment, the command-line flags. A key
the source does not mention is UNSET (``retention = "none"`` is a value,
None, not UNSET). Layers merge over the built-in defaults, which are
TablePolicy's own (pgpart.core.policy): the last layer that sets a key wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from enum import Enum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pgpart.core.durations import Duration
from pgpart.core.encoding import KeyEncoding
from pgpart.core.interval import Interval
from pgpart.core.policy import RetentionMode, TablePolicy
from pgpart.core.record import record
from pgpart.core.relocation import Strategy


class Unset(Enum):
    UNSET = "unset"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET
T = TypeVar("T")


@record
class Layer:
    """What one source of configuration sets, key by key (each checked by
    pgpart.config.values); UNSET where it says nothing."""

    interval: Interval | Unset = UNSET
    previous_interval: Interval | Unset = UNSET
    premake: int | Unset = UNSET
    retention: Duration | Unset | None = UNSET
    retention_mode: RetentionMode | Unset = UNSET
    timezone: ZoneInfo | Unset = UNSET
    naming: str | Unset = UNSET
    warn_ahead: Duration | Unset = UNSET
    critical_ahead: Duration | Unset = UNSET
    lock_timeout: Duration | Unset = UNSET
    relocation: Strategy | Unset = UNSET
    relocation_max_wait: Duration | Unset = UNSET
    archive_dir: str | Unset = UNSET
    archive_command: str | Unset = UNSET
    archive_timeout: Duration | Unset = UNSET
    pg_bin: str | Unset = UNSET
    analyze: bool | Unset = UNSET
    key_encoding: KeyEncoding | Unset = UNSET
    statement_timeout: Duration | Unset = UNSET
    retry_for: Duration | Unset = UNSET
    max_new_partitions: int | Unset = UNSET
    move_batch_rows: int | Unset = UNSET

    def given(self) -> dict[str, Any]:
        """The keys this layer sets, with their values."""
        pairs = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {key: value for key, value in pairs if value is not UNSET}

    def over(self, below: Layer) -> Layer:
        """This layer on top of ``below``: its keys win."""
        return replace(below, **self.given())


KEYS = tuple(f.name for f in fields(Layer))


def first(*values: T | Unset) -> T | Unset:
    """The first value that is set, else UNSET (a layer, then the one below)."""
    return next((v for v in values if v is not UNSET), UNSET)


def policy(name: str | None, layers: Sequence[Layer]) -> TablePolicy:
    """The policy of table ``name`` (None: of tables the file does not list):
    ``layers``, lowest first, over the built-in defaults."""
    merged = Layer()
    for layer in layers:
        merged = layer.over(merged)
    given = merged.given()
    return replace(TablePolicy(name=name, configured_keys=frozenset(given)), **given)
