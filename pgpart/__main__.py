"""`python -m pgpart`, and the `pgpart` console script.

``pgpart --version`` is answered here, before the CLI is imported: typer
and click cost more to import than Python takes to start, and a version
check (a package manager's, a monitoring probe's) needs neither.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from pgpart import __version__

        sys.stdout.write(f"pgpart {__version__}\n")
        sys.stdout.flush()
        return
    from pgpart.cli.app import main as run

    run()


if __name__ == "__main__":
    main()
