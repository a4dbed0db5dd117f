"""archive_dir, held so that no other account can redirect or read what
pgpart writes there.

pgpart often runs as root, and archive_dir may be a directory other
accounts can write (/var/backups shared with a backup user, a 1777 spool).
Whoever can create a name there could plant a symbolic link at a name
pgpart is about to open (a lock file, a temporary dump), and have pgpart
truncate or overwrite the file it points to. So:

* the directory is opened once and every name is resolved relative to that
  descriptor, never through a path again;
* a directory that accounts other than its owner (or root) may write is
  refused, unless it has the sticky bit, where nobody can remove or rename
  another's files; there, and everywhere, a file pgpart reads or reuses
  must be a regular file of the running user's (or root's), opened with
  O_NOFOLLOW;
* every file pgpart makes is created with O_CREAT | O_EXCL | O_NOFOLLOW,
  mode 0600 (dumps, manifests, locks, .sent): it never writes through a
  link, never clobbers a file, and nobody else can read the rows;
* a file reaches its final name by link(2), which fails rather than
  replace what stands there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from pgpart.errors import ArchiveError

MODE = 0o600
# Bytes pgpart reads from a small file of its own (a manifest, a lock).
SMALL_FILE = 1 << 20
_TRUSTED = frozenset({os.geteuid(), 0})


class ArchiveDir:
    """An archive directory opened once (close() when done)."""

    def __init__(self, path: Path, fd: int, shared: bool) -> None:
        self.path, self.fd, self.shared = path, fd, shared

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> ArchiveDir:
        """``path`` (made, 0700, when missing and ``create``), checked: a
        directory nobody but its owner (the running user or root) may write,
        or one with the sticky bit."""
        path = path.expanduser().absolute()
        with contextlib.suppress(OSError):
            link = os.lstat(path)
            if stat.S_ISLNK(link.st_mode) and link.st_uid not in _TRUSTED:
                raise ArchiveError(
                    f"archive_dir {path} is a symbolic link of another account's (uid"
                    f" {link.st_uid}): pgpart does not follow it"
                )
        try:
            if create:
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ArchiveError(
                f"archive_dir {path} is not a writable directory: {exc.strerror or exc}"
            ) from None
        if create and not os.access(path, os.W_OK | os.X_OK, effective_ids=True):
            os.close(fd)
            raise ArchiveError(f"archive_dir {path} is not a writable directory: permission denied")
        st = os.fstat(fd)
        others_write = st.st_uid not in _TRUSTED or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        sticky = bool(st.st_mode & stat.S_ISVTX)
        if others_write and not sticky:
            os.close(fd)
            raise ArchiveError(
                f"archive_dir {path} may be written by other accounts"
                f" (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}) and has no sticky"
                f" bit: anyone who can write there could redirect pgpart's files; make it"
                f" pgpart's own (chown, chmod go-w {path}) or set the sticky bit (chmod +t)"
            )
        return cls(path, fd, bool(others_write))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> ArchiveDir:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def show(self, name: str) -> Path:
        """The path of ``name`` (for messages and archive_command)."""
        return self.path / name

    # --- files pgpart makes ----------------------------------------------------

    def create(self, name: str) -> int:
        """A new file ``name``, 0600, opened read-write; FileExistsError when
        anything stands at that name (a link included: it is not followed)."""
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(name, flags, MODE, dir_fd=self.fd)

    def temporary(self, prefix: str) -> tuple[str, int]:
        """A new temporary file ``.<prefix>.<pid>-<random>.tmp`` (see stale)."""
        while True:
            name = f".{prefix}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
            try:
                return name, self.create(name)
            except FileExistsError:
                continue

    def publish(self, temporary: str, fd: int, final: str) -> None:
        """Give a complete temporary file its final name, flushed to disk;
        FileExistsError when the name is taken (nothing is replaced)."""
        os.fsync(fd)
        os.link(temporary, final, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
        self.remove(temporary)
        os.fsync(self.fd)

    def write_new(self, prefix: str, final: str, content: bytes) -> None:
        """``content`` under the new name ``final`` (FileExistsError if taken)."""
        name, fd = self.temporary(prefix)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            self.publish(name, fd, final)
        finally:
            os.close(fd)
            self.remove(name)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)

    # --- files pgpart reads back ---------------------------------------------------

    def owned(self, name: str) -> os.stat_result | None:
        """What stands at ``name`` if it is a regular file of the running user
        (or root), without following a link; None otherwise (nothing there,
        a link, a file of another account: pgpart made none of those)."""
        try:
            st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return st if stat.S_ISREG(st.st_mode) and st.st_uid in _TRUSTED else None

    def taken(self, name: str) -> bool:
        """Whether anything at all stands at ``name``."""
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def open_own(self, name: str, flags: int = os.O_RDONLY) -> int | None:
        """``name`` opened if it is a regular file of the running user's (or
        root's); None if it is missing or anything else."""
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EACCES, errno.ENXIO, errno.EPERM):
                return None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid not in _TRUSTED:
            os.close(fd)
            return None
        return fd

    def read_own(self, name: str, limit: int = SMALL_FILE) -> bytes | None:
        fd = self.open_own(name)
        if fd is None:
            return None
        try:
            data = os.read(fd, limit + 1)
        finally:
            os.close(fd)
        return None if len(data) > limit else data

    def names(self) -> Iterator[str]:
        with contextlib.suppress(OSError):
            yield from os.listdir(self.fd)

    def remove_stale(self, key: str) -> list[str]:
        """Remove the temporary files a killed run left under the claim
        ``key`` (``.<key>.<suffix>.<pid>-<random>.tmp``, regular files of the
        running user's, never a link). The caller holds that claim: nobody
        is writing one of them now."""
        pattern = re.compile(rf"\A\.{re.escape(key)}\.[a-z]+\.\d+-[0-9a-f]{{8}}\.tmp\Z")
        removed = []
        for name in list(self.names()):
            if pattern.match(name) and self.owned(name) is not None:
                self.remove(name)
                removed.append(name)
        return removed


class Claim:
    """One run's hold on a name in archive_dir: an exclusive flock(2) on
    ``.<name>.lock``, so that two pgpart runs at once never dump, send or
    drop the same partition twice. The kernel drops the lock when the
    process dies, however it dies; the file is removed by its holder (a run
    that finds it gone or replaced after locking it tries again, so two
    runs never both hold one)."""

    def __init__(self, directory: ArchiveDir, name: str, fd: int) -> None:
        self.directory, self.name, self._fd = directory, name, fd

    def release(self) -> None:
        self.directory.remove(self.name)
        os.close(self._fd)


def claim(directory: ArchiveDir, key: str, *, wait_s: float = 0.0) -> Claim | str:
    """The claim on ``key``, or what the run holding it wrote in it (``pid N
    on HOST since TIME``) once ``wait_s`` seconds have passed without it
    being let go (0: not waited for at all)."""
    name = f".{key}.lock"
    deadline = time.monotonic() + wait_s
    while True:
        fd = _lock_file(directory, name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            if time.monotonic() >= deadline:
                return holder or "another process"
            time.sleep(0.05)
            continue
        try:
            same = os.stat(name, dir_fd=directory.fd, follow_symlinks=False).st_ino
            same_file = same == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False  # its holder removed it between our open and our lock
        if not same_file:
            os.close(fd)
            continue
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
        return Claim(directory, name, fd)


def _lock_file(directory: ArchiveDir, name: str) -> int:
    """``name`` opened (made, 0600, if missing), refused unless it is a
    regular file of the running user's (or root's): a link planted there is
    never followed, another account's file never written."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    where = directory.show(name)
    try:
        fd = os.open(name, flags, MODE, dir_fd=directory.fd)
    except OSError as exc:
        # A link is refused (ELOOP; EACCES where another account owns it in a
        # sticky directory): say what stands there.
        try:
            st = os.stat(name, dir_fd=directory.fd, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise ArchiveError(
                f"a symbolic link stands at {where} (of uid {st.st_uid}), where pgpart keeps a"
                " lock: pgpart never follows it; remove it (nothing was detached)"
            ) from None
        if st is not None and st.st_uid not in _TRUSTED:
            raise _not_ours(where, st.st_uid) from None
        raise ArchiveError(
            f"cannot open the lock {where}: {exc.strerror or exc} (nothing was detached)"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid not in _TRUSTED:
        os.close(fd)
        raise _not_ours(where, st.st_uid)
    return fd


def _not_ours(where: Path, uid: int) -> ArchiveError:
    return ArchiveError(
        f"{where} is not pgpart's lock (a file of uid {uid}): pgpart never writes another"
        " account's file; remove it (nothing was detached)"
    )
