"""The databases of a run: who the members are, and running them in parallel.

One database is a run of one member; many are worked on ``--jobs`` at a time.
A member is one database with its own settings (its DSN or ``service=NAME``,
its [[database]] defaults) and its own connection; nothing is shared
between members but the thread pool. A member that cannot be reached, or
fails in any way, becomes an outcome with an error: it never stops the
others. Each member's work returns only its report (a Plan, stats rows,
action results): the catalog snapshot it read is garbage as soon as its
report exists, so memory does not grow with the number of members.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Generic, TypeVar

from pgpart.config import Settings
from pgpart.core.record import record
from pgpart.db.connect import scrub
from pgpart.errors import ConfigError

T = TypeVar("T")


@record
class Member:
    name: str  # what reports show: [[database]] name, service name, or host/db
    settings: Settings  # dsn set to this member's DSN or "service=NAME"
    tables: tuple[str, ...] = ()  # TABLE arguments when the command line gives none
    secret: str | None = None  # a conninfo holding the password, to mask it
    service: str | None = None  # the pg_service.conf entry it connects through

    def scrub(self, text: str) -> str:
        text = scrub(text, self.settings.dsn)
        return scrub(text, self.secret) if self.secret else text


@record
class Outcome(Generic[T]):
    member: Member
    value: T | None  # None when the member failed
    error: str | None = None  # one line, password masked
    code: int = 0  # the exit code of a failed member

    @property
    def failed(self) -> bool:
        return self.error is not None


def dsn_name(dsn: str) -> str:
    """host[:port]/dbname (or the service) of a DSN: never its user or password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # malformed: connecting will say so, with the password masked
        return "invalid-dsn"
    if params.get("service") and not params.get("host"):
        return str(params["service"])
    host = str(params.get("host") or params.get("hostaddr") or "local")
    if host.startswith("/") or host.startswith("@"):  # a socket directory
        host = "local"
    port = str(params.get("port") or "")
    if port and port != "5432":
        host = f"{host}:{port}"
    db = params.get("dbname")
    return f"{host}/{db}" if db else host


def _unique(members: list[Member], origin: str) -> list[Member]:
    seen: set[str] = set()
    for m in members:
        if m.name in seen:
            raise ConfigError(
                f"{origin}: two databases are both called {m.name!r}; give each its "
                "name in a [[database]] block of the config"
            )
        seen.add(m.name)
    return members


def members(
    dsns: Sequence[str],
    services: Sequence[str],
    settings: Settings,
    environ: Mapping[str, str] | None = None,
) -> list[Member] | None:
    """The members of this run, or None for the one database pgpart always
    took (pgpart.cli.fleet makes it the only member).

    --dsn/--service flags name the members (one --dsn alone is one database,
    as always); else $PGPART_DSN means one database; else the config's
    [[database]] blocks; else one database from libpq's defaults.
    """
    env = os.environ if environ is None else environ
    if len(dsns) > 1 or services:
        from pgpart.db import pgservice

        found = pgservice.find(list(services), env)
        out = [Member(dsn_name(d), replace(settings, dsn=d, databases=())) for d in dsns]
        out += [
            Member(
                s.name,
                replace(settings, dsn=f"service={s.name}", databases=()),
                secret=_service_secret(s.params),
                service=s.name,
            )
            for s in found
        ]
        return _unique(out, "--dsn/--service")
    if dsns or env.get("PGPART_DSN") or not settings.databases:
        return None
    where = f"{settings.config_path}" if settings.config_path else "config"
    out = []
    for d in settings.databases:
        secret: str | None = None
        if d.service is not None:
            from pgpart.db import pgservice

            at = f"{where}:{d.line}" if d.line is not None else where
            entry = pgservice.find([d.service], env, f"{at}: [[database]] {d.name}: service")[0]
            secret = _service_secret(entry.params)
        out.append(Member(d.name, d.settings, d.tables, secret, d.service))
    return out


def _service_secret(params: Mapping[str, str]) -> str | None:
    password = params.get("password")
    if not password:
        return None
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", password=password)


def run(
    members: Sequence[Member],
    work: Callable[[Member], T],
    jobs: int,
    finished: Callable[[Outcome[T], int], None] | None = None,
    *,
    alone: bool = False,
) -> list[Outcome[T]]:
    """``work`` for every member, ``jobs`` at a time; outcomes in member order.

    Every expected failure a member raises is caught and becomes its
    outcome, and so does a bug, unless the member is ``alone`` (the run's
    only database: nothing else to carry on with, and its traceback is worth
    seeing). ``finished(outcome, how_many_so_far)`` is called as each member ends.
    """
    workers = max(1, min(jobs, len(members)))
    if workers == 1:
        outcomes = []
        for m in members:
            outcomes.append(_one(m, work, alone))
            if finished is not None:
                finished(outcomes[-1], len(outcomes))
        return outcomes
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pgpart-member") as pool:
        futures = [pool.submit(_one, m, work, alone) for m in members]
        try:
            for count, future in enumerate(as_completed(futures), start=1):
                if finished is not None:
                    finished(future.result(), count)
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _one(member: Member, work: Callable[[Member], T], alone: bool) -> Outcome[T]:
    from pgpart.cli.exit_codes import expected_failure, member_failure

    try:
        return Outcome(member, work(member))
    # The boundary of one member: whatever it raises, even a bug, becomes its
    # outcome (with its name) and the other members carry on.
    except Exception as exc:
        if alone and expected_failure(exc) is None:
            raise
        stop = member_failure(exc)
        return Outcome(member, None, member.scrub(stop.message), int(stop.code))
