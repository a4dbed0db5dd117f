"""Whether now has a partition, in a table whose key pgpart cannot read as time.

A table partitioned on an expression (``date_trunc('day', at)``,
``(extract(epoch FROM at))::bigint``) or on several columns is not one
pgpart works on (``unsupported_key``), but inserts into it fail all the same
when no partition takes the rows of now. The server decides
(pgpart.db.opaque_keys): it computes the key of a row whose date and time
columns hold now and compares it with every bound, as routing would.
Sound, and no more:

* only keys computed from the row's date/time columns alone, with
  PostgreSQL's own functions, operators and types (no user code is run);
  an integer id, a key over other columns, a user function: cannot tell;
* of a multi-column key, the first column only: no partition whose first
  column's range holds now means inserts of now fail, whatever the other
  columns; one that does may still not take every row;
* now as of the check (``--now``), and the database's TimeZone for
  ``timestamp``/``date`` columns (what an application's ``now()`` writes).

Not judged for such tables: what lies ahead, gaps, rows in DEFAULT. What
check reports: pgpart.core.findings.
"""

from __future__ import annotations

from pgpart.core.record import record


@record
class OpaqueCurrent:
    """What the server said about now, for a key pgpart cannot read."""

    key: str  # the key (its first column or expression) as PostgreSQL prints it
    value: str  # its value for a row whose date/time columns hold now
    covered: bool  # a partition takes it (for a multi-column key: its first column)
    columns: int  # how many columns the key has
    when: str  # now, as the check saw it
    has_default: bool
