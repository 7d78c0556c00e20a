#!/usr/bin/env bash
# Concurrency stress test: pgbench's TPC-B-like script (builtin tpcb-like) on
# Lyra tables, against a fresh single-node server on $LYRA_STRESS_PORT (5452).
# Two runs, each on freshly initialised tables:
#   rc            READ COMMITTED, no retries: must have 0 failed transactions
#   serializable  SERIALIZABLE, --max-tries=$STRESS_MAX_TRIES (20): transactions
#                 that still fail after that many tries are reported, not fatal
# Then scripts/stress_keys.sql (indexed keys moving under updates through
# the index, deletes, upserts) at READ COMMITTED and REPEATABLE READ, with
# its own checks (see run_keys).
# After each run the money must add up,
#   sum(abalance) = sum(bbalance) = sum(tbalance) = sum(delta of history),
# the history must hold one row per committed transaction, and no account,
# teller or branch may be lost or duplicated. Exits non-zero on any violation,
# on a pgbench client that aborted (any error other than a serialization
# failure or deadlock), on a hang, or on a crash in the server log.
#
# Settings (environment):
#   STRESS_AM=lyra        table access method; heap checks the script itself
#   STRESS_SECONDS=60     length of each run
#   STRESS_SCALE=1        pgbench scale (100,000 accounts per unit)
#   STRESS_CLIENTS=8      pgbench clients (threads: STRESS_JOBS, 2)
#   STRESS_MAX_TRIES=20   tries per transaction in the serializable run
#   STRESS_GRACE=300      seconds past STRESS_SECONDS before a run counts as hung
#
# The tables get pgbench's primary keys (-I dtgp), lyra_index indexes, so
# each statement is an index lookup.
# Uses the installed lyra build (run `make setup` first to test a new one).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_STRESS_PORT:-5452}"
AM="${STRESS_AM:-lyra}"
DURATION="${STRESS_SECONDS:-60}"
SCALE="${STRESS_SCALE:-1}"
CLIENTS="${STRESS_CLIENTS:-8}"
JOBS="${STRESS_JOBS:-2}"
MAX_TRIES="${STRESS_MAX_TRIES:-20}"
GRACE="${STRESS_GRACE:-300}"
SERVER="$LYRA_ROOT/scripts/server.sh"
DB=stress
home="$(lyra_home)"
dir="$home/stress"

"$SERVER" stop stress 2>/dev/null || true
rm -rf "$dir"
trap '"$SERVER" stop stress || true' EXIT

log "stress: starting a server on port $PORT ($AM tables, scale $SCALE, $CLIENTS clients, ${DURATION}s per run)"
"$SERVER" start stress "$PORT"
sql() { psql -h localhost -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
sql -d postgres -c "CREATE DATABASE $DB"
sql -d "$DB" -c "CREATE EXTENSION lyra"
# A database setting applies from the next connection on: every psql and
# pgbench below connects afresh.
[ "$AM" = heap ] || sql -d "$DB" -c "ALTER DATABASE $DB SET default_table_access_method = $AM"
query() { sql -d "$DB" -At -F' ' -c "$1"; }

violations=0
violation() { printf 'stress: VIOLATION: %s\n' "$*" >&2; violations=$((violations + 1)); }

init_tables() {
  log "stress: pgbench -i -I dtgp -s $SCALE"
  pgbench -h localhost -p "$PORT" -U postgres -i -I dtgp -s "$SCALE" -q "$DB" 2>&1 | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" -eq 0 ] || die "pgbench -i failed"
  local wrong
  wrong=$(query "SELECT string_agg(c.relname || ' uses ' || a.amname, ', ')
                 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                 WHERE c.relname LIKE 'pgbench\_%' AND c.relkind = 'r' AND a.amname <> '$AM'")
  [ -z "$wrong" ] || die "expected $AM tables: $wrong"
  [ "$(query "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgbench\_%' AND relkind = 'r'")" = 4 ] \
    || die "pgbench -i did not create the 4 pgbench tables"
}

# Value of a line "<label>: <number>..." in the pgbench report, or empty.
field() { sed -n "s/^$1: \([0-9][0-9]*\).*/\1/p" "$2" | tail -1; }

# read_report NAME OUT RC: shows the pgbench report OUT of run NAME (pgbench
# exited with RC), stops on a hang or a crash, and sets TXNS and FAILED;
# returns non-zero (after counting a violation) when the report holds no
# transaction count. A non-zero exit, an aborted client or no committed
# transaction are violations.
read_report() {
  local name="$1" out="$2" rc="$3" aborted
  sed 's/^/    /' "$out"
  [ "$rc" -ne 124 ] || die "stress $name: pgbench still running $GRACE s after the end of the run (hang?)"
  if grep -Eq 'PANIC|TRAP:|terminated by signal|was terminated|server closed the connection' \
       "$dir/server.log" "$out"; then
    grep -E 'PANIC|TRAP:|terminated by signal|was terminated|server closed the connection' \
      "$dir/server.log" "$out" | head -5 >&2
    die "stress $name: the server crashed"
  fi
  TXNS=$(field 'number of transactions actually processed' "$out")
  FAILED=$(field 'number of failed transactions' "$out")
  FAILED=${FAILED:-0}
  aborted=$(grep -c 'aborted in command' "$out" || true)
  [ -n "$TXNS" ] || { violation "$name: no transaction count in the pgbench report (exit $rc)"; return 1; }
  [ "$rc" -eq 0 ] || violation "$name: pgbench exited with $rc"
  [ "$aborted" -eq 0 ] || violation "$name: $aborted pgbench client(s) aborted on an error"
  [ "$TXNS" -gt 0 ] || violation "$name: no transaction committed"
}

# run NAME ISOLATION [pgbench options...]: one timed run at that isolation
# level, then the checks. Failed transactions (serialization failures or
# deadlocks that were not retried successfully) are violations at READ
# COMMITTED only.
run() {
  local name="$1" isolation="$2"; shift 2
  local out="$dir/pgbench-$name.log" rc=0
  local pgoptions="-c default_transaction_isolation=${isolation// /\\ }"
  init_tables
  local level
  level=$(PGOPTIONS="$pgoptions" query "SHOW transaction_isolation")
  [ "$level" = "$isolation" ] || die "stress $name: sessions run at '$level', not '$isolation'"
  log "stress $name: pgbench -b tpcb-like -c $CLIENTS -j $JOBS -T $DURATION $*"
  PGOPTIONS="$pgoptions" timeout "$((DURATION + GRACE))" \
    pgbench -h localhost -p "$PORT" -U postgres -n -b tpcb-like -c "$CLIENTS" -j "$JOBS" \
      -T "$DURATION" "$@" "$DB" >"$out" 2>&1 || rc=$?
  read_report "$name" "$out" "$rc" || return
  local txns="$TXNS" failed="$FAILED" retried retries
  retried=$(field 'number of transactions retried' "$out")
  retries=$(field 'total number of retries' "$out")
  [ "$isolation" != "read committed" ] || [ "$failed" -eq 0 ] \
    || violation "$name: $failed failed transactions at READ COMMITTED"

  local a b t h hcount na nad nb nt
  read -r a b t h hcount na nad nb nt < <(query "SELECT
      (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts),
      (SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches),
      (SELECT coalesce(sum(tbalance), 0) FROM pgbench_tellers),
      (SELECT coalesce(sum(delta), 0) FROM pgbench_history),
      (SELECT count(*) FROM pgbench_history),
      (SELECT count(*) FROM pgbench_accounts),
      (SELECT count(DISTINCT aid) FROM pgbench_accounts),
      (SELECT count(DISTINCT bid) || '/' || count(*) FROM pgbench_branches),
      (SELECT count(DISTINCT tid) || '/' || count(*) FROM pgbench_tellers)")
  [ -n "$nt" ] || { violation "$name: the checking query failed"; return; }
  echo "    sum(abalance)=$a sum(bbalance)=$b sum(tbalance)=$t sum(delta)=$h history rows=$hcount"
  local invariant=ok
  if [ "$a" != "$b" ] || [ "$a" != "$t" ] || [ "$a" != "$h" ]; then
    invariant=BROKEN
    violation "$name: sums differ: accounts $a, branches $b, tellers $t, history $h"
  fi
  if [ "$hcount" != "$txns" ]; then
    invariant=BROKEN
    violation "$name: $hcount history rows, but pgbench committed $txns transactions"
  fi
  if [ "$na" != $((100000 * SCALE)) ] || [ "$nad" != "$na" ] \
     || [ "$nb" != "$SCALE/$SCALE" ] || [ "$nt" != "$((10 * SCALE))/$((10 * SCALE))" ]; then
    invariant=BROKEN
    violation "$name: rows lost or duplicated: accounts $na ($nad distinct), branches $nb, tellers $nt (distinct/all)"
  fi

  local summary="stress $name: $txns txns, $failed failed"
  if [ -n "$retried" ]; then
    summary+=" (after up to $MAX_TRIES tries), $retried retried ($retries retries)"
  fi
  summary+=", invariant $invariant"
  echo "$summary"
  SUMMARIES+=("$summary")
}

# run_keys NAME ISOLATION: scripts/stress_keys.sql (indexed keys moving
# under concurrent updates through the index, deletes and upserts) on 300
# rows, then: no increment lost or doubled (sum(v) + sum(deleted v) = the
# log's count), no row duplicated, and both indexes (the primary key and
# k) find exactly the rows a sequential scan finds. Deadlocks are part of
# this workload (on heap too): retried, and transactions failing every try
# are reported, not violations.
run_keys() {
  local name="$1" isolation="$2"
  local out="$dir/pgbench-$name.log" rc=0
  local pgoptions="-c default_transaction_isolation=${isolation// /\\ }"
  sql -d "$DB" -c "DROP TABLE IF EXISTS stress_keys, stress_hist, stress_gone" \
    -c "CREATE TABLE stress_keys (id int PRIMARY KEY, k int, v int NOT NULL)" \
    -c "CREATE INDEX stress_keys_k ON stress_keys (k)" \
    -c "CREATE TABLE stress_hist (id int)" -c "CREATE TABLE stress_gone (v int)" \
    -c "INSERT INTO stress_keys SELECT g, g % 50, 0 FROM generate_series(1, 300) g"
  log "stress $name: pgbench -f scripts/stress_keys.sql -c $CLIENTS -j $JOBS -T $DURATION --max-tries=$MAX_TRIES"
  PGOPTIONS="$pgoptions" timeout "$((DURATION + GRACE))" \
    pgbench -h localhost -p "$PORT" -U postgres -n -f "$LYRA_ROOT/scripts/stress_keys.sql" -c "$CLIENTS" -j "$JOBS" \
      -T "$DURATION" --max-tries="$MAX_TRIES" "$DB" >"$out" 2>&1 || rc=$?
  read_report "$name" "$out" "$rc" || return
  local txns="$TXNS" failed="$FAILED"

  local counted logged rows distinct by_k by_pk index_only seq_only
  read -r counted logged rows distinct < <(query "SELECT
      (SELECT coalesce(sum(v), 0) FROM stress_keys) + (SELECT coalesce(sum(v), 0) FROM stress_gone),
      (SELECT count(*) FROM stress_hist), (SELECT count(*) FROM stress_keys),
      (SELECT count(DISTINCT id) FROM stress_keys)")
  read -r by_k by_pk index_only seq_only < <(sql -d "$DB" -At -F' ' \
    -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" \
    -c "CREATE TEMP TABLE via_index AS SELECT id, k, v FROM stress_keys WHERE k >= 0 OR k IS NULL" \
    -c "RESET enable_seqscan" -c "CREATE TEMP TABLE via_seq AS SELECT id, k, v FROM stress_keys" \
    -c "SET enable_seqscan = off" -c "SELECT
      (SELECT count(*) FROM stress_keys WHERE k >= 0), (SELECT count(*) FROM stress_keys WHERE id >= 0),
      (SELECT count(*) FROM (TABLE via_index EXCEPT ALL TABLE via_seq) a),
      (SELECT count(*) FROM (TABLE via_seq EXCEPT ALL TABLE via_index) b)")
  [ -n "$seq_only" ] || { violation "$name: the checking query failed"; return; }
  echo "    sum(v) + deleted v = $counted, increments logged = $logged, rows $rows ($distinct distinct), via k $by_k, via id $by_pk"
  local invariant=ok
  if [ "$counted" != "$logged" ]; then
    invariant=BROKEN
    violation "$name: sum(v) + deleted v = $counted, but $logged increments were logged"
  fi
  if [ "$distinct" != "$rows" ] || [ "$by_k" != "$rows" ] || [ "$by_pk" != "$rows" ] \
     || [ "$index_only" != 0 ] || [ "$seq_only" != 0 ]; then
    invariant=BROKEN
    violation "$name: $rows rows ($distinct distinct); index on k finds $by_k, primary key $by_pk; $index_only rows only through the index, $seq_only only by a scan"
  fi
  local summary="stress $name: $txns txns, $failed failed after up to $MAX_TRIES tries, invariant $invariant"
  echo "$summary"
  SUMMARIES+=("$summary")
}

SUMMARIES=()
run rc "read committed"
run serializable "serializable" --max-tries="$MAX_TRIES"
run_keys keys-rc "read committed"
run_keys keys-rr "repeatable read"

echo
printf '%s\n' "${SUMMARIES[@]}"
[ "$violations" -eq 0 ] || die "stress: $violations violation(s) ($AM tables)"
echo "stress: ok ($AM tables, scale $SCALE, $CLIENTS clients, ${DURATION}s per run)"
