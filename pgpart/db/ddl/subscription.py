"""The refresh of a subscription: ALTER SUBSCRIPTION ... REFRESH PUBLICATION,
so that a subscriber applies the changes of partitions it did not know
(why copy_data is true: pgpart.core.replication).

It cannot run inside a transaction block, so, as DETACH ... CONCURRENTLY
(pgpart.db.ddl.retention), its statements go one by one with the timeouts
set for the session and reset afterwards. It locks the subscription against
other changes of it, and waits for its connection to the publisher, which
reads the tables the publications send: lock_timeout bounds the first,
statement_timeout the second.
https://www.postgresql.org/docs/current/sql-altersubscription.html
"""

from __future__ import annotations

from psycopg import sql

from pgpart.core.identifiers import display_part
from pgpart.core.plan import RefreshSubscription
from pgpart.db.ddl.step import DdlOptions, Guard, LockTarget, Outcome, Step, Verdict


def refresh_step(a: RefreshSubscription, o: DdlOptions) -> Step:
    name = sql.Identifier(a.subscription)
    copy = sql.SQL("true" if a.copy_data else "false")
    stmts = (
        sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{o.lock_timeout_ms}ms")),
        sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{o.statement_timeout_ms}ms")),
        refresh_guard(a),
        sql.SQL(
            "SELECT pg_catalog.set_config('role', {owner}, false)"
            " WHERE NOT pg_catalog.pg_has_role(current_user, {owner}, 'USAGE')"
        ).format(owner=sql.Literal(a.owner)),
        sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION WITH (copy_data = {})").format(
            name, copy
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=False,
        description=(
            f'refresh subscription "{a.subscription}" (every table its publications send'
            " must exist here)"
        ),
        guards=(Guard(2, _outcomes(a)),),
        cleanup=(
            sql.SQL("RESET lock_timeout"),
            sql.SQL("RESET statement_timeout"),
            sql.SQL("RESET ROLE"),
        ),
        locks=(LockTarget(f"subscription {a.subscription}", "ACCESS EXCLUSIVE"),),
    )


def refresh_guard(a: RefreshSubscription) -> sql.Composed:
    """No row (go on), or (state, detail): the subscription is gone or
    disabled, or a partition it would bring in already holds rows (its
    files are not empty), which copying the publisher's would duplicate."""
    return sql.SQL(
        "SELECT g.state, g.detail FROM (SELECT CASE WHEN s.oid IS NULL THEN 'gone'"
        " WHEN NOT s.subenabled THEN 'disabled' WHEN f.part IS NOT NULL THEN 'has_rows' END"
        " AS state, f.part AS detail FROM (VALUES (1)) AS one(x)"
        " LEFT JOIN pg_catalog.pg_subscription s ON s.subname = {name} AND s.subdbid ="
        " (SELECT d.oid FROM pg_catalog.pg_database d"
        " WHERE d.datname = pg_catalog.current_database())"
        " LEFT JOIN LATERAL (SELECT u.part FROM"
        " (SELECT pg_catalog.format('%I.%I', x.sch, x.rel) AS part"
        " FROM ROWS FROM (pg_catalog.unnest({schemas}::text[]), pg_catalog.unnest({names}::text[]))"
        " AS x(sch, rel)) AS u,"
        " pg_catalog.pg_partition_tree(pg_catalog.to_regclass(u.part)) AS t"
        " WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_subscription_rel r"
        " WHERE r.srsubid = s.oid AND r.srrelid = t.relid)"
        " GROUP BY u.part HAVING pg_catalog.sum(pg_catalog.pg_relation_size(t.relid)) > 0"
        " LIMIT 1) AS f ON true) AS g WHERE g.state IS NOT NULL"
    ).format(
        name=sql.Literal(a.subscription),
        schemas=sql.Literal([schema for schema, _ in a.partitions]),
        names=sql.Literal([name for _, name in a.partitions]),
    )


def _outcomes(a: RefreshSubscription) -> tuple[Outcome, ...]:
    name = display_part(a.subscription)
    return (
        Outcome("gone", Verdict.SKIP, f'subscription "{a.subscription}" no longer exists'),
        Outcome(
            "disabled",
            Verdict.FAIL,
            f'subscription "{a.subscription}" is disabled, and PostgreSQL refreshes only an'
            f" enabled one: ALTER SUBSCRIPTION {name} ENABLE, then run pgpart maintain again",
        ),
        Outcome(
            "has_rows",
            Verdict.FAIL,
            f'{{detail}} already holds rows and subscription "{a.subscription}" does not know'
            " it: copying the publisher's rows into it would duplicate them. If its rows are"
            f" the publisher's: ALTER SUBSCRIPTION {name} REFRESH PUBLICATION WITH (copy_data"
            " = false) (rows the publisher wrote there since are lost); else empty it (TRUNCATE)"
            " and run pgpart maintain again",
        ),
    )
