"""The OS user the server runs as: ourselves, or (as root, which PostgreSQL
refuses) $PGPART_TEST_OS_USER, postgres, or pgpart-test created with useradd."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.common import ENV_OS_USER, FALLBACK_OS_USER, ClusterError


@dataclass(frozen=True, slots=True)
class OsUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    switch: bool  # we are root and must drop to this user for every server program

    def subprocess_kwargs(self) -> dict[str, Any]:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def _current_user() -> OsUser:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return OsUser(name, uid, os.getegid(), tuple(os.getgroups()), switch=False)


def _lookup_user(name: str) -> OsUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid == 0:
        raise ClusterError(f"OS user {name!r} is root; PostgreSQL refuses to run as root")
    groups = tuple(os.getgrouplist(name, entry.pw_gid))
    return OsUser(name, entry.pw_uid, entry.pw_gid, groups, switch=True)


def resolve_os_user(requested: str | None) -> OsUser:
    if os.geteuid() != 0:
        current = _current_user()
        if requested and requested != current.name:
            raise ClusterError(
                f"cannot run the server as {requested!r}: only root can switch users"
            )
        return current
    name = requested or os.environ.get(ENV_OS_USER)
    if name:
        user = _lookup_user(name)
        if user is None:
            raise ClusterError(
                f"OS user {name!r} (from ${ENV_OS_USER} or the caller) does not exist"
            )
        return user
    user = _lookup_user("postgres") or _lookup_user(FALLBACK_OS_USER)
    return user or _create_fallback_user()


def _create_fallback_user() -> OsUser:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ClusterError(
            "running as root, and neither OS user 'postgres' nor "
            f"{FALLBACK_OS_USER!r} exists, and useradd is missing to create one; "
            f"create an unprivileged user and name it in ${ENV_OS_USER}"
        )
    res = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_OS_USER,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    user = _lookup_user(FALLBACK_OS_USER)  # a concurrent useradd may have won the race
    if user is None:
        raise ClusterError(f"useradd {FALLBACK_OS_USER} failed: {res.stderr.strip()}")
    return user


def user_named(name: str) -> OsUser:
    if os.geteuid() != 0:
        return _current_user()
    user = _lookup_user(name)
    if user is None:
        raise ClusterError(f"OS user {name!r} of the cluster no longer exists")
    return user


def blocked_dir(path: Path, user: OsUser) -> Path | None:
    """The first directory from / down to path that user cannot enter, if any."""
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid or st.st_gid in user.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return directory
    return None
