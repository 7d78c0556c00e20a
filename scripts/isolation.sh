#!/usr/bin/env bash
# Concurrency tests: the isolation specs in regress/isolation/ (READ
# COMMITTED update chains, REPEATABLE READ and SERIALIZABLE conflicts, row
# locks, deadlocks, lock_timeout) run by pg_isolation_regress against a
# fresh single-node Lyra server on $LYRA_ISOLATION_PORT (5451).
#
#   scripts/isolation.sh [--heap] [TEST...]
#
# By default the specs run in database lyra_isolation, whose default table
# access method is lyra, so every table they create is a Lyra table. The
# expected outputs are what heap gives; --heap runs the same specs in
# database heap_isolation on heap tables instead, to check or regenerate
# them. TEST names run only those specs instead of regress/isolation/schedule.
# Results: $LYRA_HOME/isolation-out-{lyra,heap}/. A step that waits without
# the tester seeing it wait is cancelled after $PGISOLATIONTIMEOUT (30) s.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_ISOLATION_PORT:-5451}"
SERVER="$LYRA_ROOT/scripts/server.sh"
SPECS="$LYRA_ROOT/regress/isolation"
REGRESS="$PGXS_TEST/isolation/pg_isolation_regress"
export PGISOLATIONTIMEOUT="${PGISOLATIONTIMEOUT:-30}"

am=lyra
tests=()
for arg in "$@"; do
  case "$arg" in
    --heap) am=heap ;;
    -*) die "usage: isolation.sh [--heap] [TEST...]" ;;
    *) tests+=("$arg") ;;
  esac
done
[ ${#tests[@]} -gt 0 ] || tests=(--schedule="$SPECS/schedule")

[ -x "$REGRESS" ] || die "$REGRESS not found (postgresql-server-dev-15)"
[ -x "$(dirname "$REGRESS")/isolationtester" ] || die "isolationtester not found beside $REGRESS"

home="$(lyra_home)"
out="$home/isolation-out-$am"
DB="${am}_isolation"

"$SERVER" stop isolation 2>/dev/null || true
rm -rf "$home/isolation" "$out"
mkdir -p "$out"
trap '"$SERVER" stop isolation || true' EXIT

log "isolation: starting a server on port $PORT, specs on $am tables"
"$SERVER" start isolation "$PORT"
psql -h localhost -p "$PORT" -U postgres -X -q -d postgres -c "CREATE DATABASE $DB"
if [ "$am" = lyra ]; then
  psql -h localhost -p "$PORT" -U postgres -X -q -d "$DB" -c "CREATE EXTENSION lyra"
fi
psql -h localhost -p "$PORT" -U postgres -X -q -d "$DB" \
  -c "ALTER DATABASE $DB SET default_table_access_method = $am"

status=0
"$REGRESS" --use-existing --dbname="$DB" --host=localhost --port="$PORT" --user=postgres \
  --bindir="$PG_BIN" --inputdir="$SPECS" --outputdir="$out" "${tests[@]}" \
  | tee "$out/last-run.txt" || status=$?

passed=$(grep -c '\.\.\. ok' "$out/last-run.txt" || true)
failed=$(grep -c '\.\.\. FAILED' "$out/last-run.txt" || true)
if [ "$status" -ne 0 ]; then
  cat "$out/regression.diffs" >&2 2>/dev/null || true
  echo "isolation: $passed passed, $failed failed ($am tables; diffs in $out/regression.diffs)"
  exit 1
fi
echo "isolation: $passed passed, 0 failed"
