"""A table's dump streamed into its file, verified on the way.

pg_dump's output is written to the file and hashed (sha256) as it comes,
while ``pg_restore --data-only`` reads the file back as it grows and a
thread counts the rows of the COPY blocks it prints: the verification runs
alongside the dump instead of after it, never makes pg_dump wait, and
nothing is held in memory beyond one chunk.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from typing import IO

from pgpart.core.record import record
from pgpart.db.archive.tools import Client, Tools, exit_text, read_last
from pgpart.errors import ArchiveError

_CHUNK = 1 << 20
# pg_restore decompresses the dump to verify it on pgpart's host, which may
# be the database's: that extra work runs on CPU time nothing else wants
# (SCHED_IDLE: chrt --idle, else nice 10), catching up after the dump when
# CPUs are busy. pg_dump runs as a pg_dump run by hand would, so an archive
# takes about as long as one, and slows the application no more than one.
# pgpart's threads that feed pg_restore and count what it prints run so too
# (at normal priority they made the application's inserts slower during a
# dump: p99 15 ms against 4 ms). They share the GIL with the thread draining
# pg_dump's pipe, so they hold it only briefly: the counting is bytes.count
# over whole chunks, the feeding pread and write, which release it.
_IDLE = (
    ("chrt", "--idle", "0")
    if shutil.which("chrt")
    else ("nice", "-n", "10")
    if shutil.which("nice")
    else ()
)


@record
class Dumped:
    rows: int  # in the dump's data section, as pg_restore reads it back
    sha256: str
    size: int


def stream_dump(tools: Tools, client: Client, command: Sequence[str], fd: int) -> Dumped:
    """Run pg_dump into the new, empty file open at ``fd`` (read-write),
    taking the sha256 of every byte on the way, while ``pg_restore
    --data-only`` reads the file back as it grows (_Follower) and a thread
    counts its COPY lines: the verification runs alongside the dump instead
    of after it, without ever making pg_dump wait for it, and nothing is
    held in memory beyond one chunk.

    A custom-format dump written through a pipe has no data offsets in its
    table of contents; pg_restore then reads it sequentially, which for one
    table is what it does anyway."""
    with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as restore_err:
        dumped, restored, counter = _stream(tools, client, command, fd, dump_err, restore_err)
        os.fsync(fd)
        if dumped.returncode != 0:
            raise ArchiveError(
                f"pg_dump failed ({exit_text(dumped.returncode)}): {read_last(dump_err)}"
            )
        if restored.returncode != 0 or not counter.fed:
            raise ArchiveError(
                "verification failed: pg_restore --data-only could not read the dump"
                f" ({exit_text(restored.returncode)}): {read_last(restore_err)}"
            )
    if counter.blocks != 1 or counter.inside:
        raise ArchiveError(f"verification failed: the dump holds {counter.blocks} data sections")
    return Dumped(counter.rows, counter.digest.hexdigest(), counter.size)


class _Counter:
    """Counts the rows of the COPY blocks pg_restore prints; hashes what
    pg_dump wrote.

    Outside a block, whole lines are read one by one (a few dozen: SET,
    comments, the COPY statement). Inside one, rows are counted by their
    line breaks in whole chunks, up to the line ``\\.`` that ends the block:
    a row never reads so (COPY writes a backslash in a value as two)."""

    def __init__(self) -> None:
        self.rows = self.blocks = self.size = 0
        self.inside = False
        self.fed = True  # pg_restore took every byte
        self.digest = hashlib.sha256()
        # A COPY statement spans lines when a name in it holds a line break
        # (quoted): it ends at "FROM stdin;" outside double quotes.
        self._header, self._quotes = False, 0

    def count(self, stream: IO[bytes]) -> None:
        _yield_cpu()
        rest = b""  # an unfinished line, carried to the next chunk
        while chunk := stream.read(_CHUNK):
            first = chunk.find(b"\n") + 1
            if not first:
                rest = self._carried(rest + chunk)
                continue
            if rest:  # only the line the chunks share is copied
                line = rest + chunk[:first]
                self._lines(line, 0, len(line))
            else:
                self._lines(chunk, 0, first)
            end = chunk.rfind(b"\n") + 1
            self._lines(chunk, first, end)
            rest = self._carried(chunk[end:])
        if rest and self.inside:
            self.rows += 1  # a last row without its line break: the block never ended

    def _carried(self, rest: bytes) -> bytes:
        """What of an unfinished line is kept: in a block, its first three
        bytes, enough to tell the end mark (a row may be gigabytes long);
        outside one, all of it (a statement)."""
        return rest[:3] if self.inside else rest

    def _lines(self, data: bytes, pos: int, end: int) -> None:
        """Count the whole lines data[pos:end]."""
        while pos < end:
            if self.inside:
                pos = self._rows(data, pos, end)
                continue
            nl = data.index(b"\n", pos) + 1
            self._outside(data[pos:nl])
            pos = nl

    def _rows(self, data: bytes, pos: int, end: int) -> int:
        """Rows from the start of a line at ``pos``; where counting stopped.
        The end mark is looked for by its backslash, rare in rows (a line
        break is in every one)."""
        at = pos - 1
        while (at := data.find(b"\\", at + 1, end)) >= 0:
            if data.startswith(b"\\.\n", at) and (at == pos or data[at - 1] == 10):
                break
        if at < 0:
            self.rows += data.count(b"\n", pos, end)
            return end
        self.rows += data.count(b"\n", pos, at)
        self.inside = False
        return at + 3

    def _outside(self, line: bytes) -> None:
        if self._header or line.startswith(b"COPY "):
            self._quotes += line.count(b'"')
            self._header = not (self._quotes % 2 == 0 and line.rstrip().endswith(b"FROM stdin;"))
            if not self._header:
                self.inside, self.blocks, self._quotes = True, self.blocks + 1, 0


def _stream(
    tools: Tools,
    client: Client,
    command: Sequence[str],
    fd: int,
    dump_err: IO[bytes],
    restore_err: IO[bytes],
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], _Counter]:
    counter = _Counter()
    try:
        dump = subprocess.Popen(
            [*command, f"--dbname={client.conninfo}"],
            env=client.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=dump_err,
        )
    except OSError as exc:
        raise ArchiveError(f"pg_dump could not run: {exc.strerror or exc}") from None
    try:
        restore = subprocess.Popen(
            [*_IDLE, str(tools.pg_restore), "--data-only", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=restore_err,
        )
    except OSError as exc:
        dump.kill()
        dump.wait()
        raise ArchiveError(f"pg_restore could not run: {exc.strerror or exc}") from None
    assert dump.stdout is not None and restore.stdin is not None and restore.stdout is not None
    for pipe in (dump.stdout, restore.stdin, restore.stdout):
        _widen(pipe)
    reader = threading.Thread(target=counter.count, args=(restore.stdout,), daemon=True)
    follower = _Follower(fd, restore.stdin, counter)
    reader.start()
    follower.start()
    try:
        while chunk := dump.stdout.read(_CHUNK):
            _write_all(fd, chunk)
            counter.digest.update(chunk)
            follower.wrote(len(chunk))
        dump.wait()
        follower.finish()
        reader.join()
        restore.wait()
    except BaseException:  # a full disk, Ctrl-C: stop both, keep nothing
        for proc in (dump, restore):
            proc.kill()
            proc.wait()
        follower.finish()
        raise
    counter.size = follower.size
    return dump, restore, counter


def _yield_cpu() -> None:
    """The calling thread (only: to these calls a thread's id is a process
    id) runs on idle CPU time as pg_restore does: SCHED_IDLE, else nice 10."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + 10)


def _widen(pipe: IO[bytes]) -> None:
    """A pipe of one chunk rather than 64 KiB (Linux): pg_dump writes on
    while pgpart writes and hashes what it read, instead of waiting."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _CHUNK)


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:  # a write may take part of it (a full disk raises next)
        view = view[os.write(fd, view) :]


class _Follower(threading.Thread):
    """Feeds pg_restore the dump file as pg_dump writes it, reading it back
    (from the page cache, at its own offset: pread) instead of from pg_dump's
    pipe: pg_dump never waits for the verification, which catches up when
    CPUs are scarce."""

    def __init__(self, fd: int, sink: IO[bytes], counter: _Counter) -> None:
        super().__init__(daemon=True)
        self.fd, self.sink, self.counter = fd, sink, counter
        self.size = 0  # bytes written to the file so far
        self.done = False
        self.cond = threading.Condition()

    def wrote(self, n: int) -> None:
        with self.cond:
            self.size += n
            self.cond.notify()

    def finish(self) -> None:
        with self.cond:
            self.done = True
            self.cond.notify()
        self.join()

    def run(self) -> None:
        _yield_cpu()
        fed = 0
        try:
            while True:
                with self.cond:
                    while fed >= self.size and not self.done:
                        self.cond.wait()
                    if fed >= self.size:
                        break
                    upto = self.size
                while fed < upto:
                    data = os.pread(self.fd, min(_CHUNK, upto - fed), fed)
                    if not data:
                        raise OSError("the dump shrank while being verified")
                    self.sink.write(data)
                    fed += len(data)
        except (BrokenPipeError, OSError):
            self.counter.fed = False  # said by the caller, with pg_restore's message
        finally:
            with contextlib.suppress(OSError):
                self.sink.close()
