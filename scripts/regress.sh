#!/usr/bin/env bash
# Runs regress/ with pg_regress against a fresh single-node Lyra server on
# $LYRA_TEST_PORT (5450), including the durability checks:
#   schedule             the SQL suites (ends by writing persist_* tables)
#   kill -9 postmaster and lyra node, start  → persist_check
#   clean restart                            → persist_check
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_TEST_PORT:-5450}"
SERVER="$LYRA_ROOT/scripts/server.sh"
home="$(lyra_home)"
out="$home/regress-out"
DB=lyra_regress
# lyra_node_restart signals the node through its pid file in the data directory.
export LYRA_REGRESS_DATA="$home/regress/data"

"$SERVER" stop regress 2>/dev/null || true
rm -rf "$home/regress" "$out"
mkdir -p "$out"
trap '"$SERVER" stop regress || true' EXIT

log "regress: starting a server on port $PORT"
"$SERVER" start regress "$PORT"
psql -h localhost -p "$PORT" -U postgres -X -q -d postgres -c "CREATE DATABASE $DB"
psql -h localhost -p "$PORT" -U postgres -X -q -d "$DB" -c "CREATE EXTENSION lyra"

passed=0
regress() {
  "$PGXS_TEST/regress/pg_regress" --use-existing --dbname="$DB" --host=localhost --port="$PORT" \
    --user=postgres --bindir="$PG_BIN" --inputdir="$LYRA_ROOT/regress" --outputdir="$out" "$@" \
    | tee "$out/last-run.txt" \
    || { cat "$out/regression.diffs" >&2 2>/dev/null; die "pg_regress failed: $*"; }
  passed=$((passed + $(grep -c '\.\.\. ok' "$out/last-run.txt")))
}

regress --schedule="$LYRA_ROOT/regress/schedule"

log "regress: kill -9 of the postmaster and the lyra node, then start"
"$SERVER" kill regress
"$SERVER" start regress "$PORT"
regress persist_check

log "regress: clean restart"
"$SERVER" stop regress
"$SERVER" start regress "$PORT"
regress persist_check

echo "regress: $passed passed, 0 failed"
