"""What check reports about one table's state, every mode alike: whether
pgpart can work on it at all (and read its bounds), its coverage (missing_current,
insufficient_ahead, gap; a gap wholly before the retention cutoff is
information only), its DEFAULT partition's rows, and hygiene
(pending_detach, retention_overdue); a sibling another session holds
(locked), and whether now has a partition in a table whose key pgpart
cannot read (missing_current, as the server computed it)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

from pgpart.core import calendar as cal
from pgpart.core.coverage import segment_at, segments
from pgpart.core.durations import Duration
from pgpart.core.identifiers import display_part
from pgpart.core.locked import Locked
from pgpart.core.moments import describe_moment
from pgpart.core.opaque_current import OpaqueCurrent
from pgpart.core.plan import DefaultRows, Problem, ProblemCode, Status
from pgpart.core.policy import TablePolicy
from pgpart.core.request import Mode, Target
from pgpart.core.retention import Expired, retention_cutoff
from pgpart.core.snapshot import Partition, PartitionedTable
from pgpart.core.table_frame import TableFrame, wall_text
from pgpart.core.wording import counted


def unsupported(target: Target) -> Problem | None:
    """Why pgpart cannot work on a table at all; None when it can."""
    table = target.table
    if table is None:
        return Problem(
            Status.UNKNOWN, ProblemCode.UNKNOWN_TABLE, f"table {target.argument} does not exist"
        )
    if table.relkind != "p":
        return Problem(
            Status.UNKNOWN,
            ProblemCode.NOT_PARTITIONED,
            f"{table.qualified} is not a partitioned table",
        )

    if table.strategy != "range":
        return _unsupported_key(table, f"is partitioned by {table.strategy}, not by a time range")
    if table.key_column is None:
        return _unsupported_key(table, "has a multi-column or expression partition key")
    if table.key_kind is not None and not table.key_kind.handled:
        return _unsupported_key(
            table,
            f"is partitioned on {display_part(table.key_column)} of type {table.key_type},"
            f" not a date or time column, and {table.key_note}",
        )
    if table.key_kind is None:
        return _unsupported_key(
            table,
            f"is partitioned on {display_part(table.key_column)} of type {table.key_type},"
            " not a date or time column",
        )
    return None


def key_encoding_note(table: PartitionedTable) -> Problem | None:
    """How an integer or uuid key's encoding was inferred (information)."""
    kind = table.key_kind
    if kind is None or kind.encoding is None or table.key_note is None:
        return None
    return Problem(Status.INFO, ProblemCode.KEY_ENCODING_INFERRED, table.key_note)


def unreadable_bound(table: PartitionedTable) -> Problem | None:
    """A partition whose bound pgpart cannot read: no DDL on the table."""
    unreadable = [p for p in table.partitions if p.bound_error]
    if not unreadable:
        return None
    first = unreadable[0]
    return Problem(
        Status.UNKNOWN,
        ProblemCode.UNSUPPORTED_KEY,
        f"cannot read the bound of {first.qualified}: {first.bound_error}",
    )


def _unsupported_key(table: PartitionedTable, why: str) -> Problem:
    return Problem(Status.UNKNOWN, ProblemCode.UNSUPPORTED_KEY, f"{table.qualified} {why}")


def coverage_problems(
    frame: TableFrame, live: Sequence[Partition], policy: TablePolicy
) -> list[Problem]:
    problems: list[Problem] = []
    stretches = segments(live)
    current = segment_at(stretches, frame.now)
    if current is None:
        has_default = frame.table.default is not None
        problems.append(
            Problem(
                Status.CRITICAL,
                ProblemCode.MISSING_CURRENT,
                f"no partition covers now ({describe_moment(frame.now, frame.tz)}): inserts "
                + ("go to the DEFAULT partition" if has_default else "are failing"),
            )
        )
    elif current[1] is not None:
        short = _ahead_problem(frame, current[1], policy)
        problems += [short] if short else []
    # A hole wholly before the retention cutoff is retention's own doing (a
    # partition it had to keep attached, older than ones it removed): no row
    # belongs there any more, so it is information, not a warning.
    cutoff = retention_cutoff(frame, policy.retention) if policy.retention else None
    for (_, a_hi), (b_lo, _) in itertools.pairwise(stretches):
        assert a_hi is not None and b_lo is not None
        if a_hi <= frame.now < b_lo:
            continue  # already reported as missing_current
        span = f"[{describe_moment(a_hi, frame.tz)}, {describe_moment(b_lo, frame.tz)})"
        if cutoff is not None and b_lo <= cutoff:
            text = f"no partition covers {span}: retention left it, wholly before its cutoff"
            problems.append(Problem(Status.INFO, ProblemCode.GAP, text))
            continue
        problems.append(Problem(Status.WARNING, ProblemCode.GAP, f"no partition covers {span}"))
    return problems


def _ahead_problem(frame: TableFrame, until: datetime, policy: TablePolicy) -> Problem | None:
    """insufficient_ahead: the partitions holding now end too soon."""
    crit = policy.critical_ahead
    warn = policy.effective_warn_ahead(frame.interval) if frame.interval else Duration(days=2)
    left = describe_moment(until, frame.tz)
    if crit and until < crit.after(frame.now, frame.tz):
        severity, margin = Status.CRITICAL, crit
    elif warn and until < warn.after(frame.now, frame.tz):
        severity, margin = Status.WARNING, warn
    else:
        return None
    return Problem(
        severity,
        ProblemCode.INSUFFICIENT_AHEAD,
        f"partitions end at {left}, less than {margin} ahead",
    )


def default_problems(frame: TableFrame, rows: DefaultRows | None, premake: int) -> list[Problem]:
    """default_has_rows: what the probe found in the DEFAULT partition (and
    what row security keeps it, or the move out of it, from seeing)."""
    if frame.table.default is None or rows is None:
        return []
    return _rows_found(frame, rows, premake) + hidden_default_rows(frame.table, rows)


def _rows_found(frame: TableFrame, rows: DefaultRows, premake: int) -> list[Problem]:
    if rows.error:
        return [
            Problem(
                Status.WARNING,
                ProblemCode.DEFAULT_HAS_ROWS,
                f"could not probe the DEFAULT partition: {rows.error}",
            )
        ]
    default = frame.table.default
    if rows.rows == 0 or default is None:
        return []
    nulls = (
        f"{counted(rows.null_rows, 'row', grouped=False)} with a NULL "
        f"{frame.table.key_column}, which no range partition can hold: they stay there and "
        "never keep a partition from being made"
        if rows.null_rows
        else ""
    )
    if rows.null_rows == rows.rows:
        text = f"{default.qualified} holds {nulls}"
        return [Problem(Status.INFO, ProblemCode.DEFAULT_HAS_ROWS, text)]
    count = counted(rows.rows - rows.null_rows, "row", grouped=False)
    count = count if rows.exact else "at least " + count
    shown = [
        f"{describe_moment(p.start, frame.tz, frame.interval)} ({p.rows})" for p in rows.periods[:6]
    ]
    if len(rows.periods) > 6:
        shown.append(f"... {counted(len(rows.periods) - 6, 'more period')}")
    far = [
        p
        for p in rows.periods
        if p.start > frame.now
        and frame.grid
        and p.start
        >= cal.shift(cal.align(frame.now, frame.grid, frame.tz), frame.grid, 24, frame.tz)
    ]
    note = f"; {counted(len(far), 'far-future period')}: stray rows?" if far else ""
    if rows.all_periods:
        note += _outside_window_fix(frame, rows, premake, {p.start for p in far})
    else:
        # A sample: only the periods it saw are listed, and a command made
        # from them would repair only those.
        note += "; a sample, other periods may hold rows too: `pgpart check --exact` lists them all"
    note += f"; and {nulls}" if nulls else ""
    listed = "" if rows.all_periods else "rows seen in "
    return [
        Problem(
            Status.WARNING,
            ProblemCode.DEFAULT_HAS_ROWS,
            f"DEFAULT partition {default.qualified} holds {count}: {listed}"
            + ", ".join(shown)
            + note,
        )
    ]


def hidden_default_rows(table: PartitionedTable, rows: DefaultRows | None) -> list[Problem]:
    """Row security on the DEFAULT partition hiding rows from the login role
    (check's count falls short: default_has_rows) or from the parent's owner,
    as which pgpart moves them out (they stay, and the partition for their
    range fails on every run: relocation_blocked). Only the owner's problem
    waits for rows to be seen: what the login cannot see may be there."""
    default, sec = table.default, table.facts.default_security
    if default is None or not sec.enabled:
        return []
    out: list[Problem] = []
    forced = "FORCE ROW LEVEL SECURITY"
    login_hidden = not sec.login_bypasses and (sec.forced or not sec.login_owns)
    if login_hidden:
        why = forced if sec.forced else "pgpart's login role does not own it"
        out.append(
            Problem(
                Status.WARNING,
                ProblemCode.DEFAULT_HAS_ROWS,
                f"row security on the DEFAULT partition {default.qualified} ({why}) hides "
                "rows from pgpart's login role: it may hold more rows than counted here; "
                "a login with BYPASSRLS (ALTER ROLE ... BYPASSRLS) sees them all",
            )
        )
    owner = display_part(table.owner)
    owner_hidden = not sec.owner_bypasses and (sec.forced or not sec.owner_owns)
    may_hold = login_hidden or rows is None or rows.error is not None or rows.rows > 0
    if owner_hidden and may_hold:
        why = forced if sec.forced else f"role {owner} does not own it"
        fix = (
            f"ALTER TABLE {default.qualified} NO FORCE ROW LEVEL SECURITY for the repair "
            "(FORCE it again after)"
            if sec.forced
            else f"ALTER TABLE {default.qualified} OWNER TO {owner}"
        )
        out.append(
            Problem(
                Status.WARNING,
                ProblemCode.RELOCATION_BLOCKED,
                f"row security on the DEFAULT partition {default.qualified} ({why}) hides its "
                f"rows from role {owner}, as which pgpart moves them into new partitions: "
                "they would stay there and the partition for their range fails on every run; "
                f"{fix}, or ALTER ROLE {owner} BYPASSRLS",
            )
        )
    return out


def _outside_window_fix(
    frame: TableFrame, rows: DefaultRows, premake: int, far: set[datetime]
) -> str:
    """The command that moves DEFAULT rows maintain leaves alone (periods
    before the current one or beyond the premake horizon). Far-future
    periods (``far``: stray rows, most likely) stay out of it: a range
    stretched to them would make years of partitions."""
    if frame.interval is None or not rows.periods:
        return ""
    current = cal.align(frame.now, frame.interval, frame.tz)
    horizon = cal.shift(current, frame.interval, premake + 1, frame.tz)
    outside = [
        p.start for p in rows.periods if not current <= p.start < horizon and p.start not in far
    ]
    if not outside:
        return ""
    start = cal.align(min(outside), frame.interval, frame.tz)
    end = cal.shift(cal.align(max(outside), frame.interval, frame.tz), frame.interval, 1, frame.tz)
    return (
        "; maintain leaves rows outside [now, premake] there: move them with"
        f" `pgpart create {frame.table.qualified} --from {wall_text(start, frame)}"
        f" --to {wall_text(end, frame)}`"
    )


def hygiene_problems(
    frame: TableFrame, overdue: Expired | None, retention: Duration | None
) -> list[Problem]:
    """pending_detach, and retention_overdue: ``overdue`` is what the policy's
    ``retention`` would remove (None: no retention, or one refused as too short)."""
    problems = [
        Problem(
            Status.WARNING,
            ProblemCode.PENDING_DETACH,
            f"{p.qualified} is half-detached (DETACH CONCURRENTLY was interrupted);"
            " maintain finishes it",
        )
        for p in frame.table.ranged
        if p.pending_detach
    ]
    old = overdue.settled if overdue else ()
    if overdue and old:
        problems.append(
            Problem(
                Status.WARNING,
                ProblemCode.RETENTION_OVERDUE,
                f"{len(old)} partition(s) lie wholly before the retention cutoff "
                f"{describe_moment(overdue.cutoff, frame.tz)} (retention {retention})",
            )
        )
    return problems


def locked_problem(table: str, locked: Locked, mode: Mode) -> Problem:
    """``locked``: information while nothing waited for it (check, drop, or a
    table whose creation does not need it); a warning naming the lock wait,
    as a DDL lock timeout does, once create or maintain gave up on it."""
    holder = locked.holder.describe() if locked.holder else "no holder visible any more"
    if locked.attempts:
        tries = f"{locked.attempts} attempt{'s' if locked.attempts != 1 else ''}"
        message = (
            f"lock timeout on {locked.relation} after {tries} over {locked.seconds:.1f} s"
            f" (waiting for ACCESS SHARE, to read what new partitions copy from"
            f" {locked.partition}; {holder}); no partition is created for {table}"
        )
        return Problem(Status.WARNING, ProblemCode.LOCKED, message)
    what = (
        f"what new partitions copy from {locked.partition}"
        if locked.newest
        else f"{locked.partition} (an older sibling, compared for sibling_drift)"
    )
    then = "; create and maintain wait for it" if mode is Mode.CHECK and locked.newest else ""
    message = f"{locked.relation} is locked ({holder}): {what} was not read{then}"
    return Problem(Status.INFO, ProblemCode.LOCKED, message)


def opaque_current_problem(current: OpaqueCurrent | None) -> Problem | None:
    """missing_current for such a table, when the server found no partition."""
    if current is None or current.covered:
        return None
    key = current.key if current.key.isprintable() else ascii(current.key)  # one line
    what = f"{key} = {current.value}"
    if current.columns > 1:
        what = f"the first column of its {current.columns}-column key, {what}"
    fate = "go to the DEFAULT partition" if current.has_default else "are failing"
    return Problem(
        Status.CRITICAL,
        ProblemCode.MISSING_CURRENT,
        f"no partition takes the rows of now ({current.when}: {what}): inserts {fate}",
    )
