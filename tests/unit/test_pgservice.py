"""pg_service.conf found and read the way libpq does (only to validate names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgpart.db.pgservice import find, parse, service_files
from pgpart.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_search_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sysconf = tmp_path / "etc"
    user = write(home / ".pg_service.conf", "[a]\ndbname=from_home\n")
    system = write(sysconf / "pg_service.conf", "[a]\ndbname=from_sys\n[b]\ndbname=sys_b\n")
    own = write(tmp_path / "own.conf", "# mine\n[c]\ndbname=own\n")

    env = {"HOME": str(home), "PGSYSCONFDIR": str(sysconf)}
    assert service_files(env) == [user, system]
    a, b = find(["a", "b"], env)
    assert (a.params["dbname"], a.path) == ("from_home", user)  # the user's file first
    assert (b.params["dbname"], b.path) == ("sys_b", system)  # then the system's

    env["PGSERVICEFILE"] = str(own)  # replaces ~/.pg_service.conf, not the system file
    assert service_files(env) == [own, system]
    (c,) = find(["c"], env)
    assert (c.path, c.line) == (own, 2)
    assert find(["a"], env)[0].params["dbname"] == "from_sys"


def test_unknown_name_says_where_it_looked(tmp_path: Path) -> None:
    own = write(tmp_path / "svc.conf", "[eu-1]\nhost=h\n")
    env = {"PGSERVICEFILE": str(own), "PGSYSCONFDIR": str(tmp_path / "none")}
    with pytest.raises(ConfigError) as caught:
        find(["us-1"], env)
    assert str(caught.value) == (
        f"--service us-1: no such service in {own}, {tmp_path / 'none' / 'pg_service.conf'}"
        " (known: eu-1)"
    )


def test_parse() -> None:
    text = "\n# comment\n[one]\n host = h1 \npassword=p=q\n\n[two]\nport=6432\n[one]\nhost=late\n"
    found = parse(text, Path("x"))
    assert found["one"].params == {"host": "h1", "password": "p=q"}  # first section wins
    assert (found["two"].line, found["two"].params) == (7, {"port": "6432"})
    with pytest.raises(ConfigError, match=r"^x:2: syntax error"):
        parse("[a]\nno equals sign\n", Path("x"))
