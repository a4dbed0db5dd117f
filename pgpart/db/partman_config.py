"""pg_partman's part_config, as far as pgpart reads it: which tables it
manages, and their interval, premake and retention (pgpart init, and the
planner that leaves pg_partman's tables alone unless told)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.snapshot import PartmanSettings

if TYPE_CHECKING:
    import psycopg


# part_config is read only while it is pg_partman's own table: whoever owns
# the extension's schema may drop it and put a view in its place, and a view
# runs the functions it calls as the role reading it.
_PARTMAN_TABLE_SQL = """
SELECT c.relkind = 'r' AND EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
            AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
            AND e.extname = 'pg_partman')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = 'part_config'
"""


def read_partman_config(
    conn: psycopg.Connection[Any], schema: str
) -> tuple[tuple[PartmanSettings, ...], str | None]:
    """pg_partman's part_config (columns common to pg_partman 4 and 5); or why
    it could not be read (then any table may be managed: the planner fails
    closed)."""
    import psycopg

    own = conn.execute(_PARTMAN_TABLE_SQL, (schema,)).fetchone()
    if not (own and own[0]):
        return (), (
            f"cannot read {display_name(schema, 'part_config')}: it is not pg_partman's"
            " own table (dropped, or replaced by something else)"
        )
    # epoch (pg_partman 4 and 5) and time_encoder (5) read through the row's
    # JSON: a version without the column gives NULL instead of an error.
    query = sql.SQL(
        "SELECT parent_table, partition_interval, premake, retention, retention_keep_table,"
        " pg_catalog.to_jsonb(c) ->> 'epoch', pg_catalog.to_jsonb(c) ->> 'time_encoder'"
        " FROM {}.part_config c"
    ).format(sql.Identifier(schema))
    try:
        with conn.transaction():
            rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:  # e.g. no privilege on part_config
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return (), f"cannot read {schema}.part_config: {reason}"
    return tuple(PartmanSettings(str(r[0]), str(r[1]), *r[2:]) for r in rows), None
