"""The `pgpart` command: options, output formats, exit codes."""

from __future__ import annotations


def main() -> None:
    """The console script (also as ``pgpart.cli:main`` for installs made
    before the command moved to pgpart.__main__)."""
    from pgpart.__main__ import main as run

    run()
