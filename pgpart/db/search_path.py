"""The search path a session would have had, for TABLE arguments given bare.

pgpart's sessions run with an empty search_path (pgpart.db.startup), yet
``pgpart check events`` must find the ``events`` that ``psql`` would find.
So the path is worked out without ever being set: the value PostgreSQL
would have started the session with, taken where PostgreSQL takes it (the
first that sets it wins):

1. the user's own libpq options (the DSN, the service, PGOPTIONS);
2. ``ALTER ROLE login IN DATABASE db SET``, then ``ALTER ROLE login SET``,
   then ``ALTER DATABASE db SET``, then ``ALTER ROLE ALL SET``
   (pg_db_role_setting, which every role may read);
3. the server's configuration (pg_file_settings, which only superusers may
   read by default); else PostgreSQL's built-in ``"$user", public``.

Then expanded as PostgreSQL expands it: ``$user`` is the login role, a
schema that does not exist or that the role may not USAGE is left out,
and pg_catalog is searched first unless listed.
https://www.postgresql.org/docs/current/ddl-schemas.html#DDL-SCHEMAS-PATH
https://www.postgresql.org/docs/current/config-setting.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgpart.core.identifiers import split_identifier_list
from pgpart.core.record import record
from pgpart.db.startup import user_settings

if TYPE_CHECKING:
    import psycopg

BUILT_IN = '"$user", public'

# Every row that may set it, most specific first (the order in which
# PostgreSQL prefers them); and whether this role may read the server's
# configuration files (a function's EXECUTE right is checked before the
# query runs, whatever a CASE around the call says: so two queries).
_SETTINGS_SQL = """
SELECT pg_catalog.has_function_privilege('pg_catalog.pg_show_all_file_settings()', 'EXECUTE'),
       ARRAY(SELECT c FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS c
              WHERE s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d
                                           WHERE d.datname = pg_catalog.current_database()))
                AND s.setrole IN (0, (SELECT r.oid FROM pg_catalog.pg_roles r
                                       WHERE r.rolname = SESSION_USER))
              ORDER BY s.setrole <> 0 DESC, s.setdatabase <> 0 DESC)
"""
_FILE_SQL = """
SELECT f.setting FROM pg_catalog.pg_show_all_file_settings() f
 WHERE f.name = 'search_path' AND f.applied AND f.error IS NULL
"""
_EXPAND_SQL = """
SELECT coalesce(pg_catalog.array_agg(n.nspname::text ORDER BY p.i), '{}')
  FROM pg_catalog.unnest(%(names)s::text[]) WITH ORDINALITY AS p(name, i)
  JOIN pg_catalog.pg_namespace n
    ON n.nspname = CASE WHEN p.name = '$user' THEN CURRENT_USER ELSE p.name END
 WHERE pg_catalog.has_schema_privilege(n.oid, 'USAGE')
"""


@record
class SearchPath:
    """The schemas a bare name is looked for in, in order."""

    listed: tuple[str, ...]  # those of the value that exist and may be used
    searched: tuple[str, ...]  # with pg_catalog first unless listed: where names resolve


def would_be_value(conn: psycopg.Connection[Any]) -> str:
    """The search_path value the session would have started with."""
    own = user_settings(conn.info.options or "")
    if "search_path" in own:
        return own["search_path"]
    row = conn.execute(_SETTINGS_SQL).fetchone()
    may_read_files, settings = row if row else (False, [])
    for item in settings:
        name, _, value = str(item).partition("=")
        if name.lower() == "search_path":
            return value
    if may_read_files:
        files = conn.execute(_FILE_SQL).fetchall()
        if files:
            return str(files[-1][0])
    return BUILT_IN


def search_path(conn: psycopg.Connection[Any]) -> SearchPath:
    names = split_identifier_list(would_be_value(conn))
    if names is None:  # PostgreSQL would have refused to set it
        names = split_identifier_list(BUILT_IN) or ()
    listed: list[str] = []
    if names:
        row = conn.execute(_EXPAND_SQL, {"names": list(names)}).fetchone()
        for name in row[0] if row else ():
            if name not in listed:
                listed.append(name)
    searched = listed if "pg_catalog" in listed else ["pg_catalog", *listed]
    return SearchPath(tuple(listed), tuple(searched))
