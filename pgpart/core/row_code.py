"""Code of a table's owner that PostgreSQL runs for rows moved out of DEFAULT.

Moving rows into a new partition evaluates, for each row and in pgpart's
own session, the CHECK constraints the new partition has (the parent's,
and the newest sibling's own, which are validated over the moved rows) and
its generated columns. A function they call runs with pgpart's login as
the session user, and may ``SET ROLE`` to any role that login may use: a
superuser login makes it a superuser; a login that is a member of several
owner roles makes it any of them. (Verified on PostgreSQL 15: a CHECK
function of a non-superuser owner made its owner SUPERUSER when a superuser
pgpart moved rows, and dropped another owner's table when the login was a
member of both.)

Triggers are the relocation's own business (siblings.relocation_for: they
are silenced or the move is refused); index expressions run as a
security-restricted operation when an index is built, which forbids SET
ROLE, and pgpart builds indexes after the rows are in; RLS policies never
run (pgpart's sessions pin row_security off: a query they would filter
fails instead). Functions called by these functions are not followed.

https://www.postgresql.org/docs/current/sql-set-role.html
https://www.postgresql.org/docs/current/ddl-constraints.html#DDL-CONSTRAINTS-CHECK-CONSTRAINTS
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from pgpart.core.record import record


class RowCodeKind(str, Enum):
    CHECK = "check"  # a CHECK constraint (of the parent, or of the newest sibling)
    GENERATED = "generated"  # a generated column's expression
    INDEX = "index"  # an index expression or predicate (evaluated on insert once built)


@record
class RowCode:
    """A function owned by a role that is not a superuser, reached from what
    PostgreSQL evaluates for each row inserted into a new partition of the
    table (read by pgpart.db.row_code; superusers' functions, pg_catalog's
    among them, are not listed)."""

    function: str  # as regprocedure prints it, schema-qualified: public.f(bigint)
    owner: str
    kind: RowCodeKind
    where: str  # what calls it: "CHECK constraint c of public.events"


def untrusted(
    code: Sequence[RowCode], login: str, login_is_superuser: bool, *, indexes_filled: bool = False
) -> tuple[RowCode, ...]:
    """The functions that would run with more than their owner's rights:
    pgpart's login is a superuser, or is another role than the function's
    owner (code run in its session may SET ROLE to whatever the login may).
    Logged in as the owner itself, the code can do nothing its owner could
    not. ``indexes_filled``: the new partition's indexes exist while rows
    are inserted (then their expressions run outside a security-restricted
    operation)."""
    return tuple(
        c
        for c in code
        if (login_is_superuser or c.owner != login)
        and (c.kind is not RowCodeKind.INDEX or indexes_filled)
    )


def relocation_refusal(
    code: Sequence[RowCode],
    login: str,
    login_is_superuser: bool,
    *,
    indexes_filled: bool = False,
) -> str | None:
    """Why rows must not be moved out of DEFAULT by this login (the message
    of relocation_blocked), or None."""
    found = untrusted(code, login, login_is_superuser, indexes_filled=indexes_filled)
    if not found:
        return None
    first = found[0]
    owners = sorted({c.owner for c in found})
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    rights = "a superuser's" if login_is_superuser else f"role {login}'s"
    login_as = " or ".join(owners)
    return (
        f"moving rows out of DEFAULT would run {first.function}, owned by role {first.owner},"
        f" for each row ({first.where}){more} inside pgpart's session, where it could take"
        f" {rights} rights (SET ROLE); move them with pgpart logged in as role {login_as}"
        f" itself, or have a superuser own the function (ALTER FUNCTION {first.function}"
        " OWNER TO ...)"
    )
