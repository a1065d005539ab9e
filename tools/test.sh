#!/usr/bin/env bash
# Run the whole test suite twice: on SQLite, then on PostgreSQL.
#
#   tools/test.sh [pytest args…]      e.g. tools/test.sh -k concurrency -x
#
# Run 1: SQLite (DATABASE_URL unset, so tests/conftest.py uses a SQLite file), every test.
# Run 2: PostgreSQL, browser tests excluded (they need to run only once). When DATABASE_URL is set in
#        the environment, that database is used; otherwise a throwaway cluster is started here
#        (initdb in a mktemp dir under /tmp, free loopback port, fsync off) and removed on exit, also
#        on failure and Ctrl-C. PostgreSQL refuses to run as root, so as root the cluster runs as the
#        system user `pgci` (created if missing); as any other user it runs as that user.
# Both runs always happen, and a summary of both ends the output; the exit status is non-zero if
# either failed ("no tests ran" counts as a failure). Without PostgreSQL binaries (and no
# DATABASE_URL) it fails at once, saying how to get them: it never skips the second run silently.
# The interpreter is ${VENV:-.venv}/bin/python (`make test VENV=…` exports VENV).
# shellcheck disable=SC2317  # stop_pg and cleanup run from traps
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PY=$VENV/bin/python
PG_OS_USER=pgci
T0=$(date +%s%N)
say() {
  local ms=$(( ($(date +%s%N) - T0) / 1000000 ))
  printf '[test.sh %4d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
die() { echo "tools/test.sh: $*" >&2; exit 2; }

[[ -x $PY ]] || die "no Python at $PY; run \`make install\` first (or set VENV=/path/to/venv)."

RUN=$(mktemp -d /tmp/govassure-test.XXXXXX)
chmod 755 "$RUN"          # the PostgreSQL OS user must be able to traverse it
PGBIN="" PGDATA="" PG_URL="" TEST_PID=""

stop_pg() {
  [[ -n $PGDATA && -f $PGDATA/postmaster.pid ]] || return 0
  local as=()
  [[ $(id -u) -eq 0 ]] && as=(runuser -u "$PG_OS_USER" --)
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 20 stop >/dev/null 2>&1 \
    || kill -9 "$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null)" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [[ -n $TEST_PID ]] && kill -TERM "$TEST_PID" 2>/dev/null && wait "$TEST_PID" 2>/dev/null
  stop_pg
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "tools/test.sh: interrupted" >&2; exit 130' INT
trap 'echo "tools/test.sh: terminated" >&2; exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PGBIN := the newest installed PostgreSQL's bin dir (Debian keeps it off PATH), or fail loudly.
find_pg() {
  # shellcheck disable=SC2012
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -z $PGBIN || ! -x $PGBIN/initdb ]]; then
    local initdb
    initdb=$(command -v initdb || true)
    [[ -n $initdb ]] && PGBIN=$(dirname "$(readlink -f "$initdb")")
  fi
  [[ -n $PGBIN && -x $PGBIN/initdb && -x $PGBIN/pg_ctl && -x $PGBIN/createdb ]] && return 0
  {
    echo "tools/test.sh: PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH),"
    echo "  and the second run needs a PostgreSQL. Either install it, as root:  tools/system-packages.sh"
    echo "  (or: apt-get install --no-install-recommends postgresql); or point DATABASE_URL at one:"
    echo "  DATABASE_URL=postgresql+psycopg://USER@HOST:PORT/DB tools/test.sh"
    echo "  (the SQLite run alone, without this script:  $PY -m pytest)"
  } >&2
  return 1
}

start_pg() {
  local as=()
  if [[ $(id -u) -eq 0 ]]; then
    id -u "$PG_OS_USER" >/dev/null 2>&1 \
      || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER" 2>/dev/null \
      || id -u "$PG_OS_USER" >/dev/null    # a concurrent run may have created it
    as=(runuser -u "$PG_OS_USER" --)
    install -d -o "$PG_OS_USER" -m 700 "$RUN/pg"
  else
    install -d -m 700 "$RUN/pg"
  fi
  PGDATA=$RUN/pg
  "${as[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$RUN/initdb.log" 2>&1 || { cat "$RUN/initdb.log" >&2; echo "tools/test.sh: initdb failed" >&2; return 1; }
  local attempt
  for attempt in 1 2 3; do        # the free port can be taken between picking and binding
    PGPORT=$(free_port)
    if "${as[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 30 start -o \
        "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >/dev/null 2>&1; then
      break
    fi
    ((attempt < 3)) || { cat "$PGDATA/server.log" >&2; echo "tools/test.sh: PostgreSQL did not start" >&2; return 1; }
  done
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres app || return 1
  say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') up on 127.0.0.1:$PGPORT (data in $PGDATA)"
  PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/app"
}

# run_pytest NAME CMD…: one pytest run (which writes $RUN/NAME.xml) in the background, so that
# INT/TERM reach this script at once (bash defers traps while a foreground child runs); the trap
# stops pytest, then cleanup() stops PostgreSQL. Sets RC and SUMMARY (counts from the JUnit XML).
run_pytest() {
  local name=$1; shift
  local xml="$RUN/$name.xml" started=$SECONDS rc=0
  "$@" </dev/null &
  TEST_PID=$!
  wait "$TEST_PID" || rc=$?
  TEST_PID=""
  ((rc == 5)) && echo "tools/test.sh: the $name run collected no tests" >&2
  local counts
  counts=$("$PY" - "$xml" <<'PY' 2>/dev/null || echo "no report"
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
print(f"{passed} passed, {n['failures']} failed, {n['errors']} errors, {n['skipped']} skipped or xfailed")
PY
)
  RC=$rc
  SUMMARY=$(printf '%-11s %s in %ds, exit %d' "$name:" "$counts" $((SECONDS - started)) "$rc")
}

# Fail before the SQLite run when the PostgreSQL run cannot happen: never skip it silently.
[[ -n ${DATABASE_URL:-} ]] || find_pg || exit 2

failed=0
say "run 1/2: SQLite"
run_pytest sqlite env -u DATABASE_URL "$PY" -m pytest --junitxml="$RUN/sqlite.xml" "$@"
sqlite_summary=$SUMMARY
((RC == 0)) || failed=1

if [[ -n ${DATABASE_URL:-} ]]; then
  PG_URL=$DATABASE_URL
  say "run 2/2: PostgreSQL from DATABASE_URL (${PG_URL/:\/\/*@/://…@}); the tests empty its tables"
elif start_pg; then
  say "run 2/2: PostgreSQL (throwaway cluster)"
else
  PG_URL=""
fi
if [[ -n $PG_URL ]]; then
  run_pytest postgresql env DATABASE_URL="$PG_URL" "$PY" -m pytest --junitxml="$RUN/postgresql.xml" \
    -m "not browser" "$@"
  pg_summary=$SUMMARY
  ((RC == 0)) || failed=1
else
  pg_summary="postgresql: NOT RUN (PostgreSQL did not start, see above)"
  failed=1
fi

echo
echo "================ tools/test.sh summary ================"
echo "$sqlite_summary"
echo "$pg_summary"
if ((failed)); then echo "RESULT: FAILED"; else echo "RESULT: ok"; fi
exit "$failed"
