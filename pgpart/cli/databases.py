"""Which databases a command works on, and the settings it reads for them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pgpart.cli.console import say
from pgpart.cli.exit_codes import reported
from pgpart.errors import PgpartError

if TYPE_CHECKING:
    from pgpart.cli.fleet import Fleet
    from pgpart.cli.requests import Where
    from pgpart.config import Settings


def load_settings(where: Where, dsn: str | None) -> Settings:
    """The settings: flags over environment over config file over defaults."""
    from pgpart.config import load_settings as load

    return load(where.overrides(dsn), os.environ, Path.cwd())


def choose(where: Where) -> Fleet | None:
    """None for one database as always (``where.dsn``); a Fleet for many
    databases: repeated --dsn, any --service, or [[database]] blocks in the config
    (unless $PGPART_DSN names one database). See pgpart.cli.fleet."""
    dsn = where.dsn
    if len(where.dsns) <= 1 and not where.services and not _config_names_many(where, dsn):
        return None
    from pgpart.cli.fleet import Fleet

    with reported(dsn):
        return Fleet.create(where, load_settings(where, None))


def _config_names_many(where: Where, dsn: str | None) -> bool:
    """Without --dsn: the config's [[database]] blocks, unless $PGPART_DSN is set."""
    if dsn is not None:
        return False
    try:
        settings = load_settings(where, None)
    except PgpartError:
        return False  # the single-database path says what is wrong, as always
    if settings.databases and os.environ.get("PGPART_DSN"):
        say(
            f"PGPART_DSN is set: working on that one database, not on the "
            f"[[database]] blocks of {settings.config_path} (unset it for them)"
        )
        return False
    return bool(settings.databases)
