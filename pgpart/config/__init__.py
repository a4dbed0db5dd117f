"""pgpart.toml + PGPART_* environment + command-line flags -> frozen settings.

Precedence, highest first: flags (Overrides), PGPART_* environment variables,
the file ([[table]] entry, then [defaults]), built-in defaults. Every problem
is a one-line ConfigError naming the file, line, section and key.

The package parses into the core's records (TablePolicy and RetentionMode
live in pgpart.core.policy; re-exported here). By job: settings (the run's
records), layer (one source's keys, typed, and how layers merge), values
(each key's check), positions (line numbers for messages), file (choosing,
reading and checking pgpart.toml), database ([[database]] blocks), layers
(environment and flags; load_settings), render (writing a pgpart.toml).
"""

from __future__ import annotations

from pgpart.config.file import DEFAULT_FILE
from pgpart.config.layers import load_settings
from pgpart.config.render import render_toml
from pgpart.config.settings import Database, Overrides, Settings
from pgpart.core.identifiers import parse_table_name
from pgpart.core.policy import RetentionMode, TablePolicy
from pgpart.errors import ConfigError

__all__ = [
    "DEFAULT_FILE",
    "ConfigError",
    "Database",
    "Overrides",
    "RetentionMode",
    "Settings",
    "TablePolicy",
    "load_settings",
    "parse_table_name",
    "render_toml",
]
