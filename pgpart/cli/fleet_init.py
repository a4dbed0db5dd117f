"""`pgpart init` on many databases: one pgpart.toml with a [[database]] block each.

Each database is introspected as `init` does for one (pgpart.cli.read_run);
here its suggestion is merged with the others': the [[table]] entries
are the union of what they hold (the first database that has a table gives
its entry); a database whose tables differ from the union lists its own
(`tables = [...]`). A DSN is written without its password (use ~/.pgpass):
pgpart never writes or prints a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgpart.cli.console import say

if TYPE_CHECKING:
    from pgpart.cli.fleet import Fleet
    from pgpart.cli.fleet_members import Member
    from pgpart.cli.init_config import Suggestion


FLEET_HEADER = """\
# [[database]]: one block per database. name is what reports show; exactly one of
# dsn (no password: ~/.pgpass) or service (an entry of pg_service.conf); tables
# when it holds other tables than the [[table]] entries; any [defaults] key as
# this database's own default.

"""


def without_password(dsn: str) -> str:
    """The DSN as written, or rebuilt without its password when it has one."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # malformed: masked as it is
        from pgpart.db.connect import mask_dsn

        return mask_dsn(dsn)
    if "password" not in params:
        return dsn
    params.pop("password")
    return make_conninfo("", **params)


def fleet_config(fleet: Fleet, suggestions: Sequence[tuple[Member, Suggestion]]) -> str:
    """The text of the file: the union of the databases' [[table]] entries
    (the first database that has a table gives its entry), then a
    [[database]] block each."""
    from pgpart.config import render_toml
    from pgpart.core import handover

    union: dict[str, dict[str, object]] = {}
    owned: dict[str, list[str]] = {}
    comments: dict[str, str] = {}
    for member, suggestion in suggestions:
        owned[member.name] = []
        for entry in suggestion.tables:
            name = str(entry["name"])
            owned[member.name].append(name)
            first = union.setdefault(name, entry)
            if first is entry:
                if name in suggestion.comments:
                    comments[name] = suggestion.comments[name]
            elif first.get("interval") != entry.get("interval"):
                fleet.say(
                    member,
                    f"{name} is {entry.get('interval')} here but "
                    f"{first.get('interval')} elsewhere: the [[table]] entry says "
                    f"{first.get('interval')}; pgpart infers the interval from the existing "
                    "partitions only for tables without one",
                )
    defaults = suggestions[0][1].defaults if suggestions else {}
    text = handover.annotate(render_toml(defaults, list(union.values())), comments)
    return text + "\n" + FLEET_HEADER + "\n".join(_blocks(fleet, owned, list(union)))


def _blocks(fleet: Fleet, owned: dict[str, list[str]], union: list[str]) -> list[str]:
    """A [[database]] block per member; a DSN without its password (said)."""
    import tomli_w

    blocks = []
    stripped = []
    for m in fleet.members:
        block: dict[str, object] = {"name": m.name}
        if m.service is not None:
            block["service"] = m.service
        else:
            dsn = m.settings.dsn or ""
            block["dsn"] = without_password(dsn)
            if block["dsn"] != dsn:
                stripped.append(m.name)
        if sorted(owned[m.name]) != sorted(union):
            block["tables"] = owned[m.name]
        blocks.append("[[database]]\n" + tomli_w.dumps(block))
    if stripped:
        say(
            f"the password of {', '.join(stripped)} is not written to the file: "
            "put it in ~/.pgpass (or PGPASSFILE)"
        )
    return blocks
