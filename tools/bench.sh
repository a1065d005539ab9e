#!/usr/bin/env bash
# make bench: the benchmarks in bench/ on SQLite, then on a throwaway PostgreSQL this script starts and
# stops itself; merged into bench/results.json and printed as a table. Figures, not assertions: a missed
# goal never fails the run (only a crash does).
#
#   BENCH_ONLY=sqlite|postgres   run one database only
#   BENCH_QUICK=1                small sample sizes and 100k inbox rows (trying the scripts out)
#   BENCH_SCRIPTS="scoring"      run only these of: completion inbox scoring timers pdf (others keep their figures)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${VENV:-$ROOT/.venv}
PY="$VENV/bin/python"
[[ -x $PY ]] || { echo "no $PY: run 'make install' first (or set VENV=/path/to/venv)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/govassure-bench.XXXXXX)
chmod 755 "$WORK"
PGBIN=""
PGDATA=""
PG_AS=()

cleanup() {
  if [[ -n $PGDATA && -f $PGDATA/postmaster.pid ]]; then
    "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
only=${BENCH_ONLY:-all}
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

scripts=${BENCH_SCRIPTS:-completion inbox scoring timers pdf}
wanted() { [[ " $scripts " == *" $1 "* ]]; }

run_db() {  # label completion_url inbox_small_url inbox_large_url scoring_url timers_small_url timers_large_url
  local label=$1
  if wanted completion; then
    "$PY" -m bench.bench_completion --db "$label" --url "$2" \
      --instance-dir "$WORK/$label-completion" --out "$WORK/results-$label-completion.json"
  fi
  if wanted inbox; then
    "$PY" -m bench.bench_inbox --db "$label" --url-small "$3" --url-large "$4" \
      --instance-dir "$WORK/$label-inbox" --out "$WORK/results-$label-inbox.json"
  fi
  if wanted scoring; then
    "$PY" -m bench.bench_scoring --db "$label" --url "$5" \
      --instance-dir "$WORK/$label-scoring" --out "$WORK/results-$label-scoring.json"
  fi
  if wanted timers; then
    local latency=()
    [[ $label == sqlite ]] && latency=(--latency)   # the embedded default: SQLite, filesystem broker
    "$PY" -m bench.bench_timers --db "$label" --url-small "$6" --url-large "$7" \
      --instance-dir "$WORK/$label-timers" --out "$WORK/results-$label-timers.json" "${latency[@]}"
  fi
}

# ---------------------------------------------------------------------------------------------- SQLite
if [[ $only == all || $only == sqlite ]]; then
  echo "== SQLite"
  mkdir -p "$WORK/sqlite"
  run_db sqlite "sqlite:///$WORK/sqlite/completion.db" "sqlite:///$WORK/sqlite/inbox_small.db" \
    "sqlite:///$WORK/sqlite/inbox_large.db" "sqlite:///$WORK/sqlite/scoring.db" \
    "sqlite:///$WORK/sqlite/timers_small.db" "sqlite:///$WORK/sqlite/timers_large.db"
  rm -rf "$WORK/sqlite"   # the 1M-row inbox database is a few hundred MB
fi

# ---------------------------------------------------------------------------------------------- PostgreSQL
if [[ $only == all || $only == postgres ]]; then
  echo "== PostgreSQL"
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -z $PGBIN || ! -x $PGBIN/initdb ]]; then
    echo "PostgreSQL binaries not found (apt-get install postgresql): skipping the PostgreSQL benchmarks" >&2
  else
    PGDATA="$WORK/pg"
    mkdir -p "$PGDATA"
    if [[ $(id -u) -eq 0 ]]; then  # initdb and postgres refuse to run as root
      id -u pgbench >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin pgbench
      chown pgbench: "$PGDATA"
      PG_AS=(runuser -u pgbench --)
    fi
    "${PG_AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
      >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; exit 1; }
    # Unix socket only (no TCP port to collide with a test run); durability off, as a test runner does.
    "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 30 start \
      -o "-c listen_addresses='' -k $PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c shared_buffers=256MB -c max_wal_size=2GB -c checkpoint_timeout=30min" >/dev/null
    for dbname in completion inbox_small inbox_large scoring timers_small timers_large; do
      "$PGBIN/createdb" -h "$PGDATA" -U postgres "$dbname"
    done
    base="postgresql+psycopg://postgres@/%s?host=$PGDATA"
    # shellcheck disable=SC2059
    run_db postgres "$(printf "$base" completion)" "$(printf "$base" inbox_small)" "$(printf "$base" inbox_large)" \
      "$(printf "$base" scoring)" "$(printf "$base" timers_small)" "$(printf "$base" timers_large)"
    "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
fi

# ---------------------------------------------------------------------------------------------- documents
if [[ ($only == all || $only == sqlite) ]] && wanted pdf; then
  echo "== Signed documents"
  "$PY" -m bench.bench_pdf --instance-dir "$WORK/pdf" --out "$WORK/results-pdf.json"
fi

# ---------------------------------------------------------------------------------------------- report
shopt -s nullglob
partials=("$WORK"/results-*.json)
merge=()
[[ $only == all && -z ${BENCH_SCRIPTS:-} ]] || merge=(--merge)
"$PY" -m bench.report --out bench/results.json "${merge[@]}" "${partials[@]}"
echo "total: $(( $(date +%s) - started )) s; results in bench/results.json"
