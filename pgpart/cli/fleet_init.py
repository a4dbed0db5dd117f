"""`pgpart init` on many databases: one pgpart.toml with a [[database]] block each.

Each database is introspected as `init` does for one; the [[table]] entries
are the union of what they hold (the first database that has a table gives
its entry); a database whose tables differ from the union lists its own
(`tables = [...]`). A DSN is written without its password (use ~/.pgpass):
pgpart never writes or prints a password.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.cli.console import fail, say
from pgpart.cli.fleet_members import Member
from pgpart.errors import ExitCode, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

if TYPE_CHECKING:
    from pgpart.cli.fleet import Fleet


FLEET_HEADER = """\
# [[database]]: one block per database. name is what reports show; exactly one of
# dsn (no password: ~/.pgpass) or service (an entry of pg_service.conf); tables
# when it holds other tables than the [[table]] entries; any [defaults] key as
# this database's own default.

"""


def _suggest(member: Member, tables: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    from pgpart import api
    from pgpart.cli.init_config import not_time_partitioned, suggest_config

    names = list(tables or member.tables)
    with api.open_connection(member.settings) as conn:
        gathered = api.gather(conn, member.settings, names, probe=False, templates=False)
    refused = not_time_partitioned(gathered, names)
    if refused:
        raise UsageError("; ".join(refused))
    text, skipped = suggest_config(gathered, member.settings)
    return tomllib.loads(text), skipped


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


def fleet_config(fleet: Fleet, tables: Sequence[str], *, quiet: bool = False) -> str:
    """The text of the file, or exit 3 (nothing written) when a database failed."""
    import tomli_w

    from pgpart.config import render_toml

    outcomes = fleet.run_members(lambda m: _suggest(m, tables), quiet=quiet)
    failed = [o for o in outcomes if o.failed]
    if failed:
        fail("nothing written", ExitCode.UNKNOWN)
    union: dict[str, dict[str, Any]] = {}
    owned: dict[str, list[str]] = {}
    defaults: dict[str, Any] = {}
    for o in outcomes:
        assert o.value is not None
        document, skipped = o.value
        for line in skipped:
            say(f"{o.member.name}: skipped {line}")
        defaults = defaults or document.get("defaults", {})
        owned[o.member.name] = []
        for entry in document.get("table", []):
            owned[o.member.name].append(entry["name"])
            first = union.setdefault(entry["name"], entry)
            if first is not entry and first.get("interval") != entry.get("interval"):
                say(
                    f"{o.member.name}: {entry['name']} is {entry.get('interval')} here but "
                    f"{first.get('interval')} elsewhere: the [[table]] entry says "
                    f"{first.get('interval')}; pgpart infers the interval from the existing "
                    "partitions only for tables without one"
                )
    blocks = []
    stripped = []
    for m in fleet.members:
        block: dict[str, Any] = {"name": m.name}
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
    text = render_toml(defaults, list(union.values())) + "\n" + FLEET_HEADER + "\n".join(blocks)
    tomllib.loads(text)  # what pgpart writes, it reads
    return text
