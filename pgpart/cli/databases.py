"""Which databases a command works on, and the settings it reads for them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pgpart.cli.console import say
from pgpart.cli.exit_codes import reported

if TYPE_CHECKING:
    from pgpart.cli.fleet import Fleet
    from pgpart.cli.requests import Where
    from pgpart.config import Settings


def load_settings(where: Where, dsn: str | None) -> Settings:
    """The settings: flags over environment over config file over defaults."""
    from pgpart.config import load_settings as load

    return load(where.overrides(dsn), os.environ, Path.cwd())


def choose(where: Where) -> Fleet:
    """The databases of this run, a fleet of one for one database: repeated
    --dsn, any --service, or the config's [[database]] blocks (unless
    $PGPART_DSN names one database); else the one --dsn, $PGPART_DSN or
    libpq's defaults. The settings are read once; a bad config is exit 3."""
    from pgpart.cli.fleet import Fleet

    dsn = where.dsn
    several = len(where.dsns) > 1 or bool(where.services)
    with reported(dsn):
        settings = load_settings(where, None if several else dsn)
        if not several and dsn is None and settings.databases and os.environ.get("PGPART_DSN"):
            say(
                f"PGPART_DSN is set: working on that one database, not on the "
                f"[[database]] blocks of {settings.config_path} (unset it for them)"
            )
        return Fleet.of(where, settings)
