"""Retrying a step whose lock was not granted: lock_timeout (or a
deadlock) rolls the attempt back; it is tried again after an exponential
backoff with full jitter until the action's time budget is spent, then the
action fails naming the lock and who holds it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgpart.db.ddl.step import Step, Verdict, probing
from pgpart.db.diagnosis import (
    Blocker,
    PendingDetach,
    find_blocker,
    lock_message,
    pending_detach,
    pending_detach_message,
)
from pgpart.db.results import ActionFailed, Failure, FailureKind

if TYPE_CHECKING:
    import psycopg

BACKOFF_START_S = 0.05
BACKOFF_CAP_S = 2.0
# While an action's retry budget is in its first PROBE_SHARE, each attempt
# waits for a lock BRIEF_WAIT_MS at most (pgpart.db.ddl.step.probing), not
# the table's lock_timeout: what stands in a queue behind pgpart, or behind
# a lock it holds, waits that long per attempt. After it, the whole
# lock_timeout: sessions that overlap without a pause, each holding the
# lock longer than the brief wait, would otherwise never let it through.
PROBE_SHARE = 0.5
BRIEF_WAIT_MS = 50


@dataclass(slots=True)
class RetryBudget:
    """One action's time for retrying lock waits, shared by its steps: the
    time its attempts were stopped by a lock and its backoff, not the time
    its work took (an archive's dump before its DROP, say)."""

    seconds: float
    attempts: int = 0  # attempts of all the action's steps so far
    waited: float = 0.0

    def spend(self, seconds: float) -> None:
        self.waited += seconds

    def elapsed(self) -> float:
        return self.waited

    def remaining(self) -> float:
        return self.seconds - self.waited


def backoff_delay(waits: int) -> float:
    """Full jitter: uniform below an exponentially growing cap."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_START_S * 2 ** (waits - 1)))


Attempt = Callable[[Step, list[str]], tuple[Verdict, str]]


def run_step(
    conn: psycopg.Connection[Any],
    step: Step,
    retry_for_s: float,
    log: Callable[[str], None] | None = None,
) -> tuple[Verdict, str]:
    """A step of no planned action (restore's): sent as an action's steps are
    (pgpart.db.step_sender), its lock waits retried within ``retry_for_s``.
    A budget spent raises ActionFailed (kind LOCK, naming who holds the
    lock); any other server error is raised as it is."""
    from pgpart.db.step_sender import StepSender

    sender = StepSender(log)
    return until_granted(
        conn,
        step,
        lambda sent, out: sender.attempt(conn, sent, out),
        RetryBudget(retry_for_s),
        [],
        on_wait=lambda _blocker, _waits: None,
        give_up_now=lambda: False,
    )


def until_granted(
    conn: psycopg.Connection[Any],
    step: Step,
    attempt: Attempt,
    budget: RetryBudget,
    sent: list[str],
    *,
    on_wait: Callable[[Blocker | None, int], None],
    give_up_now: Callable[[], bool],
) -> tuple[Verdict, str]:
    """``attempt(step, statements)`` until no lock wait stops it; the
    statements of its last attempt are added to ``sent``. Early attempts wait
    for each lock briefly (see PROBE_SHARE).

    ``on_wait(blocker, waits)`` after each lock wait; ``give_up_now()``: an
    interrupt is pending and nothing was done yet, so KeyboardInterrupt.
    Any other server error is raised as it is; a budget spent raises
    ActionFailed (kind LOCK).
    """
    import psycopg
    from psycopg import errors

    blocker: Blocker | None = None
    waits = 0
    while True:
        budget.attempts += 1
        statements: list[str] = []  # only the last attempt's go into the result
        pending: PendingDetach | None = None
        early = budget.elapsed() < budget.seconds * PROBE_SHARE
        started = time.monotonic()
        try:
            outcome = attempt(probing(step, BRIEF_WAIT_MS) if early else step, statements)
            sent.extend(statements)
            return outcome
        except (errors.LockNotAvailable, errors.DeadlockDetected) as exc:
            cause: psycopg.Error = exc
        except errors.ObjectNotInPrerequisiteState as exc:
            # Another session's concurrent detach of the same table: waited
            # out like a lock, within the same budget.
            pending = pending_detach(conn, step)
            if pending is None:
                sent.extend(statements)
                raise
            cause = exc
        except psycopg.Error:
            sent.extend(statements)
            raise
        budget.spend(time.monotonic() - started)
        waits += 1
        if give_up_now():
            raise KeyboardInterrupt  # nothing was granted: nothing done yet
        if pending is None:
            blocker = find_blocker(conn, step) or blocker
        on_wait(blocker if pending is None else None, waits)
        remaining = budget.remaining()
        if remaining <= 0:
            sent.extend(statements)
            raise ActionFailed(_gave_up(cause, step, blocker, pending, waits, budget.elapsed()))
        pause = min(backoff_delay(waits), remaining)
        time.sleep(pause)
        budget.spend(pause)


def _gave_up(
    cause: psycopg.Error,
    step: Step,
    blocker: Blocker | None,
    pending: PendingDetach | None,
    waits: int,
    elapsed: float,
) -> Failure:
    """The failure of a step whose waits outlasted the action's budget."""
    from psycopg import errors

    if pending is not None:
        message = pending_detach_message(step, pending, waits, elapsed)
        return Failure(FailureKind.LOCK, message, cause.sqlstate, pending.partition)
    what = "deadlock" if isinstance(cause, errors.DeadlockDetected) else "lock timeout"
    relation = blocker.target.relation if blocker else None
    message = lock_message(what, step, blocker, waits, elapsed)
    return Failure(FailureKind.LOCK, message, cause.sqlstate, relation)
