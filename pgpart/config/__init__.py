"""pgpart.toml + PGPART_* environment + command-line flags -> frozen settings.

Precedence, highest first: flags (Overrides), PGPART_* environment variables,
the file ([[table]] entry, then [defaults]), built-in defaults. Every problem
is a one-line ConfigError naming the file, line, section and key.

The package, by job: policy (the records), values (each key's check and the
built-in defaults), positions (line numbers for messages), file (choosing,
reading and checking pgpart.toml), database ([[database]] blocks), layers
(environment and flags; load_settings), render (writing a pgpart.toml).
"""

from __future__ import annotations

from pgpart.config.file import DEFAULT_FILE
from pgpart.config.layers import load_settings
from pgpart.config.policy import Database, Overrides, RetentionMode, Settings, TablePolicy
from pgpart.config.render import render_toml
from pgpart.core.identifiers import parse_table_name
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
