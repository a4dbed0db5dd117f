"""Fleet performance, measured side by side on this machine (ratios, not times).

The cases of tests/benchmarks/fleet.py, with fewer runs: the real command in
a new process (start-up included), the one-database and the many-database
runs alternating, the best run of each side compared (the machine is shared:
the best run is the one least disturbed by others).

* lock waits: 4 databases whose table an application keeps locked until 3 s
  after pgpart arrives finish with --jobs 4 within 1.5x of one such database
  (one by one, they would take 4 waits);
* check of 20 databases x 500 partitions (5 daily tables x 100) with --jobs 4
  within 4x of one database's check (one by one: 20x; 2.5x to 3x on a quiet
  2-core machine, where reading each snapshot holds Python's one lock; the
  margin is for CI, which runs another suite beside this one);
* memory: the peak of a fleet check does not grow with the number of
  databases (each snapshot is dropped once its report exists).
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Iterator

import pytest

from devcluster import Server
from pgpart.core.snapshot import Snapshot
from tests.benchmarks import fleet as bench
from tests.support.cli_helpers import cli


@pytest.fixture(scope="module")
def bench_databases(pg_server: Server) -> Iterator[bench.Databases]:
    db = bench.Databases(pg_server.admin_dsn, f"pgpart_fleet_perf_{os.getpid()}", [])
    try:
        yield db
    finally:
        db.drop_all()


@pytest.fixture(scope="module")
def checked_fleet(bench_databases: bench.Databases) -> list[str]:
    return bench.check_fleet(bench_databases, bench.FLEET, bench.TABLES, bench.PARTS)


def test_lock_waits_overlap(bench_databases: bench.Databases) -> None:
    one, four = bench.side_by_side(
        3,
        lambda: bench.lock_wait_run(bench_databases, 1),
        lambda: bench.lock_wait_run(bench_databases, 4),
    )
    assert min(one) >= bench.HOLD_S  # it really waited
    ratio = min(four) / min(one)
    print(f"lock waits: 1 database {one}, 4 databases {four}: ratio {ratio:.2f}")
    assert ratio <= 1.5, (one, four)


def test_check_of_20_databases(checked_fleet: list[str]) -> None:
    single, fleet = bench.side_by_side(
        5, lambda: bench.check_run(checked_fleet[:1]), lambda: bench.check_run(checked_fleet)
    )
    ratio = min(fleet) / min(single)
    print(f"check: 1 database {single}, {len(checked_fleet)} databases {fleet}: {ratio:.2f}")
    assert ratio <= 4.0, (single, fleet)


def _peak(dsns: list[str]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run = cli(["check", "-q", "--jobs", "2", *bench.dsn_args(dsns)])
        assert run.code == 0, run.stderr
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_flat_in_the_number_of_databases(checked_fleet: list[str]) -> None:
    cli(["check", "-q", "--dsn", checked_fleet[0]])  # imports, caches: not the fleet's
    two = _peak(checked_fleet[:2])
    twenty = _peak(checked_fleet)
    print(f"peak traced memory: 2 databases {two} B, {len(checked_fleet)} databases {twenty} B")
    assert twenty <= 1.5 * two, (two, twenty)
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Snapshot)]
