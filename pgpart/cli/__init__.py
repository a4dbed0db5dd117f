"""The `pgpart` command: options, output formats, exit codes."""

from __future__ import annotations


def main() -> None:
    """The console script (also as ``pgpart.cli:main`` for installs made
    before the command moved to pgpart.cli.app)."""
    from pgpart.cli.app import main as run

    run()
