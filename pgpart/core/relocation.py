"""How rows leave a DEFAULT partition, and what it costs the application.

Every partition pgpart creates on a table that has a DEFAULT partition is
made by a *settle*: one transaction that blocks the table's writers at the
parent (SHARE ROW EXCLUSIVE: readers go on), takes the DEFAULT's rows of the
new range aside, creates and attaches the partition, and inserts those rows
through the parent. Writers wait for all of it, and PostgreSQL must scan the
whole DEFAULT to prove it holds no row of the new range: the wait grows with
the rows moved and with the DEFAULT's size. pgpart estimates it before
starting (``settle_estimate``) and runs a settle on its own only when the
estimate fits the table's budget (``relocation_max_wait``, by default its
lock_timeout). Beyond it the user chooses (``relocation``):

* ``lock``: settle anyway; writers wait as long as estimated;
* ``drain``: move the range's rows in short batches into the new partition
  while it is still a standalone table (invisible to readers of the parent
  meanwhile), VACUUM the DEFAULT, then settle what is left, which is cheap.

Pure: records, the measured cost constants, the estimates and the choice.
docs/relocation.md tells the whole story.
"""

from __future__ import annotations

from enum import Enum

from pgpart.core.marks import Mark
from pgpart.core.record import record
from pgpart.core.siblings import MoveWatcher

# Cost constants, measured with tests/benchmarks/relocation.py on the
# development machine (PostgreSQL 15, 2 cores, data in the page cache) and
# then made conservative, so that an estimate errs towards asking:
# - a sequential scan of the DEFAULT (ATTACH's proof, a DELETE without an
#   index on the key) costs per page and per live tuple: 10,300 pages of 1M
#   rows took 80 ms, the same pages nearly empty after a VACUUM 18-32 ms,
#   i.e. ~1.8-3.1 us a page and ~0.06-0.07 us a tuple: 5 us and 0.15 us are
#   assumed;
# - moving a row (DELETE ... RETURNING into the stash, INSERT through the
#   parent with a primary key) cost ~3.1-3.2 us: 6 us is assumed;
# - the catalog work of one create (CREATE, sibling copy, ATTACH) ~10 ms: 30 ms.
SCAN_PAGE_S = 5e-6
SCAN_TUPLE_S = 0.15e-6
SETTLE_ROW_S = 6e-6
SETTLE_FIXED_S = 0.03
# Tuples per page assumed where the statistics say nothing (never analyzed).
DENSE_TUPLES_PER_PAGE = 60
# A drain batch moves ~300,000 rows/s here (DELETE ... RETURNING into the
# standalone table with its indexes): 100,000 rows/s is assumed for the
# window during which the rows in transit are invisible.
DRAIN_ROWS_PER_S = 100_000.0
PAGE_BYTES = 8192


class Strategy(str, Enum):
    """What the user allows when a settle would not fit the budget."""

    AUTO = "auto"  # settle within the budget, else ask (relocation_needs_choice)
    LOCK = "lock"  # settle whatever the wait
    DRAIN = "drain"  # batches into a standalone table, invisible meanwhile

    def __str__(self) -> str:
        return self.value


class Method(str, Enum):
    SETTLE = "settle"
    DRAIN = "drain"

    def __str__(self) -> str:
        return self.value


@record
class Publications:
    """Publications of the database that matter to relocation."""

    any: bool = False  # a publication or a logical replication slot exists
    all_tables: tuple[str, ...] = ()  # FOR ALL TABLES publications
    schemas: tuple[tuple[str, str], ...] = ()  # (publication, schema) FOR TABLES IN SCHEMA


@record
class DefaultFacts:
    """What relocating out of one table's DEFAULT depends on, beyond the
    parent's facts (read by pgpart.db.probe with the rows)."""

    bytes: int = 0  # the DEFAULT's heap, all its partitions when it is partitioned
    # Every leaf a permanent heap without a single page: no row to look for
    # (a foreign or unlogged leaf's size says nothing of its rows).
    no_pages: bool = False
    rows_estimate: int = 0  # pg_class.reltuples of the DEFAULT (0: never analyzed)
    key_indexed: bool = False  # an index of the DEFAULT leads with the key column
    partitioned: bool = False  # the DEFAULT is itself partitioned
    # what else sees the move: the parent's INSERT triggers and rules, the
    # DEFAULT's DELETE rules (its DELETE triggers are in ParentFacts)
    watchers: tuple[MoveWatcher, ...] = ()
    force_rls: tuple[str, ...] = ()  # the DEFAULT or parent, when FORCE ROW LEVEL SECURITY
    temp_denied: bool = False  # the owner may not create the temporary stash
    publications: Publications = Publications()


@record
class Estimate:
    """How long a settle blocks the table's writers."""

    rows: int  # rows of the range in DEFAULT (as the probe counted them)
    scan_bytes: int  # bytes PostgreSQL reads from the DEFAULT
    seconds: float

    def describe(self) -> str:
        return (
            f"{self.rows:,} rows, {size_text(self.scan_bytes)} of DEFAULT scanned: "
            f"about {seconds_text(self.seconds)}"
        )


@record
class Relocating:
    """How one create moves rows out of the DEFAULT partition."""

    method: Method
    estimate: Estimate  # of its settle
    strategy: Strategy  # what the user allowed
    budget_s: float  # relocation_max_wait
    republish: bool = False  # drain: rewrite the moved rows for subscribers after ATTACH
    resume: Mark | None = None  # drain: what an earlier run left (phase, blocks)
    rows_per_block: float = 60.0  # of the DEFAULT, to size drain batches in blocks
    default_partitioned: bool = False  # read and delete through it, not ONLY
    # The settle takes the rows of the range the DEFAULT holds then (some may
    # arrive after the probe): False only when the move is refused, and then
    # the probe found none (ATTACH fails, changing nothing, if some arrive).
    stash: bool = True


# A drain leaves the DEFAULT compacted (pgpart.db.relocate_run): when it has
# more than twice the blocks its remaining rows need (at least this many),
# those rows are written again at its start and VACUUM truncates the rest.
COMPACT_MIN_BLOCKS = 64


def compacted_bytes(facts: DefaultFacts, before: int, after: int) -> int:
    """The DEFAULT's size once a drain took it from ``before`` live tuples to
    ``after`` and compacted it: twice what the remaining rows need, at least
    COMPACT_MIN_BLOCKS, never more than it was."""
    if before <= 0:
        return facts.bytes
    need = int(facts.bytes * after / before) * 2
    return min(facts.bytes, max(COMPACT_MIN_BLOCKS * PAGE_BYTES, need))


def scan_seconds(pages: int, tuples: int) -> float:
    """A sequential scan of a table of ``pages`` holding ``tuples``."""
    return pages * SCAN_PAGE_S + tuples * SCAN_TUPLE_S


def tuples_of(facts: DefaultFacts) -> int:
    """The DEFAULT's live tuples: its statistics, else as if its pages were full."""
    pages = facts.bytes // PAGE_BYTES
    return facts.rows_estimate if facts.rows_estimate > 0 else pages * DENSE_TUPLES_PER_PAGE


def settle_estimate(
    rows: int, facts: DefaultFacts, *, stash: bool, tuples: int | None = None
) -> Estimate:
    """The writers' wait for a settle moving ``rows`` (``stash``: rows are
    looked for, by a second scan unless an index leads with the key), the
    DEFAULT holding ``tuples`` (default: what its facts say)."""
    scans = 1 + (1 if stash and not facts.key_indexed else 0)
    live = tuples_of(facts) if tuples is None else tuples
    scan = scan_seconds(facts.bytes // PAGE_BYTES, live)
    seconds = SETTLE_FIXED_S + scans * scan + rows * SETTLE_ROW_S
    return Estimate(rows, scans * facts.bytes, seconds)


def drain_seconds(rows: int, facts: DefaultFacts) -> float:
    """How long rows in transit stay invisible to readers under drain."""
    pages = facts.bytes // PAGE_BYTES
    return rows / DRAIN_ROWS_PER_S + 2 * scan_seconds(pages, tuples_of(facts)) + SETTLE_FIXED_S


def rows_per_block(rows: int, facts: DefaultFacts) -> float:
    pages = max(1, facts.bytes // PAGE_BYTES)
    return max(1.0, rows / pages) if rows else 60.0


def drain_unavailable(facts: DefaultFacts, schema: str, subpartitioned: bool) -> str | None:
    """Why drain cannot be used for a new partition in ``schema``; None: it can."""
    if facts.partitioned:
        return "its DEFAULT partition is itself partitioned"
    if subpartitioned:
        return "its partitions are sub-partitioned"
    pubs = facts.publications
    # While it fills, the new partition is a table of its own: a publication
    # of all tables, or of its schema, would publish it as such, and
    # subscribers have no such table.
    publishing = [*pubs.all_tables, *(p for p, s in pubs.schemas if s == schema)]
    if publishing:
        return (
            f"publication {publishing[0]} would publish the standalone table rows move into"
            f" (FOR ALL TABLES or FOR TABLES IN SCHEMA {schema})"
        )
    return None


def choose(
    strategy: Strategy, estimate: Estimate, budget_s: float, drain_why_not: str | None
) -> Method | None:
    """The method for one create; None: over the budget, the user must choose."""
    if strategy is Strategy.LOCK or estimate.seconds <= budget_s:
        return Method.SETTLE
    if strategy is Strategy.DRAIN and drain_why_not is None and estimate.rows > 0:
        return Method.DRAIN
    return None


def size_text(n: int) -> str:
    """Bytes as the estimates say them, in MB."""
    return f"{n / 1e6:,.0f} MB" if n >= 10e6 else f"{n / 1e6:,.1f} MB"


def seconds_text(s: float) -> str:
    """A wait as the estimates say it: ms under a second, minutes past two."""
    if s < 1:
        return f"{s * 1000:,.0f} ms"
    if s < 120:
        return f"{s:,.1f} s"
    return f"{s / 60:,.0f} min"


def settle_allowance(budget_s: float, pages: int, tuples: int) -> int:
    """How many rows a settle may move within ``budget_s`` when the DEFAULT
    has ``pages`` holding ``tuples`` (scanned twice: no index assumed)."""
    spare = budget_s - SETTLE_FIXED_S - 2 * scan_seconds(pages, tuples)
    return max(0, int(spare / SETTLE_ROW_S))


def batch_rows(budget_s: float) -> int:
    """Rows per republish batch: writers of the partition wait for one, so
    it takes at most half the budget."""
    return max(1_000, int(budget_s / 2 / SETTLE_ROW_S))
