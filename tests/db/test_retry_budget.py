"""The retry budget counts the time spent stopped by locks, not the work.

retry_for is how long an action's lock waits are retried. It was measured
from the action's start: an archive whose dump outlasted it met its DROP's
first lock wait with nothing left, and failed at once.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from pgpart.db.ddl.step import LockTarget, LockWait, Step, Verdict
from pgpart.db.retry import RetryBudget, until_granted
from pgpart.db.step_sender import StepSender
from tests.support.helpers_db import holding


def test_work_before_a_lock_wait_leaves_the_budget_whole(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("CREATE TABLE archived (x int)")
    step = Step(
        statements=(LockWait(100), sql.SQL("LOCK TABLE public.archived IN ACCESS EXCLUSIVE MODE")),
        in_transaction=True,
        description="drop public.archived",
        locks=(LockTarget("public.archived", "ACCESS EXCLUSIVE"),),
    )
    budget = RetryBudget(2.0)
    time.sleep(2.1)  # the action's work before this step: a dump, say
    sender = StepSender()
    with (
        holding(pg_dsn, sql.SQL("LOCK TABLE public.archived IN SHARE MODE"), 0.5),
        psycopg.connect(pg_dsn, autocommit=True) as conn,
    ):
        verdict, _ = until_granted(
            conn,
            step,
            lambda s, out: sender.attempt(conn, s, out),
            budget,
            [],
            on_wait=lambda _blocker, _waits: None,
            give_up_now=lambda: False,
        )
    assert verdict is Verdict.GO
    assert budget.attempts >= 2  # it waited, and was retried
    assert 0.2 < budget.elapsed() <= 2.0, budget.elapsed()  # the waits alone
