"""`stats -f json` is written without json's (pure Python) indenting encoder:
the text must be exactly what json.dumps(indent=2) makes of stats_json."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from pgpart.cli.output.common import Format, dumps
from pgpart.cli.output.stats import render_stats, stats_json, stats_json_text
from pgpart.db.archive.summary import ArchiveSummary
from pgpart.db.stats import PartitionStats, TableStats

names = st.text(min_size=1, max_size=12)  # quotes, backslashes, control and non-ASCII characters
moments = st.none() | st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
)
counts = st.none() | st.integers(min_value=0, max_value=2**62)

partitions = st.builds(
    PartitionStats,
    name=names,
    lower=moments,
    upper=moments,
    rows=counts,
    rows_exact=st.booleans(),
    bytes=counts,
    is_default=st.booleans(),
    pending_detach=st.booleans(),
)
archives = st.none() | st.builds(
    ArchiveSummary,
    directory=names,
    count=st.integers(min_value=0, max_value=10),
    oldest_from=st.none() | names,
    newest_to=st.none() | names,
    rows=st.integers(min_value=0),
    bytes=st.integers(min_value=0),
)
tables = st.builds(
    TableStats,
    table=names,
    partitions=st.lists(partitions, max_size=4).map(tuple),
    archives=archives,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(tables, max_size=4))
def test_json_text_is_what_json_dumps_writes(stats: list[TableStats]) -> None:
    expected = dumps(stats_json(stats))
    assert stats_json_text(stats) == expected
    assert render_stats(stats, Format.JSON) == expected
