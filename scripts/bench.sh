#!/usr/bin/env bash
# `make bench`: the same work on a heap table and a Lyra table on one server,
# printing each time and the Lyra/heap ratio.
#   load (COPY)       COPY of 200,000 rows from a file
#   load (COPY, key)  the same COPY into a table with a PRIMARY KEY (each row's
#                     unique entry checked and locked: on Lyra on the node)
#   load (INSERTs)    200,000 single-row INSERTs in one transaction (PL/pgSQL loop)
#   foreign key       INSERT … SELECT of 20,000 rows referencing 1,000 parent
#                     rows (each row's check: a lookup FOR KEY SHARE), and of
#                     20,000 rows referencing 20,000 parents, one each
#   count(*)          full scan, best of 3, with Postgres's default parallel
#                     workers (a parallel seq scan where the table is big
#                     enough, on Lyra as on heap) and without any
#   filters           full scans with a WHERE, best of 3: one the backend
#                     judges (OR, LIKE), one the node can judge (grp = 7,
#                     0.1% of rows: Lyra pushes it down)
#   OR of two indexes grp = 7 OR id < 300 with an index on each, best of 3
#                     (a BitmapOr of two bitmap index scans)
#   GiST              $ROWS points: CREATE INDEX … USING gist, the 10 nearest
#                     to a point (ORDER BY p <-> point LIMIT 10) and a count of
#                     the points in a small box, best of 3 each
#   UPDATE            pgbench, 8 clients for $UPD_SECONDS (20) s, each transaction
#                     `UPDATE t SET v = v + 1 WHERE id = random` on a table of
#                     $UPD_ROWS (1000) rows: TPS, latency, failures, and lost
#                     updates (committed transactions minus sum(v), should be 0).
#                     No index, so each UPDATE is a full scan of the table.
#   pgbench           pgbench's own tables with their primary keys (scale
#                     $PGB_SCALE, 10), $PGB_CLIENTS (8) clients for $PGB_SECONDS
#                     (60) s each: select-only (-S) and the TPC-B-like default:
#                     TPS, p50 and p99 latency (from pgbench's per-transaction
#                     log), failed transactions.
# Settings (environment):
#   BENCH_ROWS=200000      rows for the load and scan sections
#   BENCH_ONLY=scans|update|pgbench|gist   run only that section (scans:
#                     the load, scan and bitmap rows)
#   BENCH_AMS="heap lyra"  access methods to measure (a missing one shows n/a)
#   BENCH_SETUP=0          do not run scripts/setup.sh (use the installed build)
#   UPD_ROWS, UPD_SECONDS, UPD_CLIENTS (8)
#   UPD_ISOLATION          isolation level of the UPDATE run (read committed)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_BENCH_PORT:-5460}"
ROWS="${BENCH_ROWS:-200000}"
ONLY="${BENCH_ONLY:-}"
AMS="${BENCH_AMS:-heap lyra}"
UPD_ROWS="${UPD_ROWS:-1000}"
UPD_SECONDS="${UPD_SECONDS:-20}"
UPD_CLIENTS="${UPD_CLIENTS:-8}"
UPD_ISOLATION="${UPD_ISOLATION:-read committed}"
SERVER="$LYRA_ROOT/scripts/server.sh"

PGB_SCALE="${PGB_SCALE:-10}"
PGB_SECONDS="${PGB_SECONDS:-60}"
PGB_CLIENTS="${PGB_CLIENTS:-8}"

case "$ONLY" in ''|scans|update|pgbench|gist) ;; *) die "BENCH_ONLY must be empty, 'scans', 'update', 'pgbench' or 'gist', not '$ONLY'" ;; esac
for am in $AMS; do case $am in heap|lyra) ;; *) die "BENCH_AMS: unknown access method $am" ;; esac; done

[ "${BENCH_SETUP:-1}" = 0 ] || "$LYRA_ROOT/scripts/setup.sh"
"$SERVER" stop bench 2>/dev/null || true
rm -rf "$(lyra_home)/bench"
trap '"$SERVER" stop bench || true' EXIT
"$SERVER" start bench "$PORT"
sql() { psql -h localhost -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
sql -c "CREATE EXTENSION lyra"
dir="$(lyra_home)/bench"

# Seconds one SQL command takes, as psql's \timing reports it (server
# round trip, without connection start-up).
timed() {
  sql -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1 | awk '{ printf "%.4f\n", $1 / 1000 }'
}
best_of_3() { for _ in 1 2 3; do timed "$1"; done | sort -n | head -1; }

# One row of a results table: LABEL, printf conversion for the values, key in
# T, and whether to print the lyra/heap ratio. A value not measured is n/a.
declare -A T
row() {
  local label="$1" fmt="$2" key="$3" ratio="${4:-ratio}"
  local h="${T[heap,$key]:-}" l="${T[lyra,$key]:-}" v
  printf '%-34s' "$label"
  for v in "$h" "$l"; do
    if [ -n "$v" ]; then printf " %10$fmt" "$v"; else printf ' %10s' n/a; fi
  done
  if [ "$ratio" = ratio ] && [ -n "$h" ] && [ -n "$l" ] && [ "$(echo "$h > 0" | bc -l)" = 1 ]; then
    # Small ratios (UPDATE TPS) keep 2 significant digits.
    local r; r=$(echo "$l / $h" | bc -l)
    if [ "$(echo "$r < 0.1" | bc -l)" = 1 ]; then printf ' %10.4f\n' "$r"; else printf ' %10.2f\n' "$r"; fi
  else
    printf ' %10s\n' -
  fi
}

if [ -z "$ONLY" ] || [ "$ONLY" = scans ]; then
  data="$dir/rows.tsv"
  sql -c "COPY (SELECT g, 'customer ' || g, g % 1000, (g * 7919) % 100000 / 100.0, now() - g * interval '1 minute'
                FROM generate_series(1, $ROWS) g) TO '$data'"
  for am in $AMS; do
    sql -c "CREATE TABLE ${am}_copy (id int, name text, grp int, amount numeric, at timestamptz) USING $am;
            CREATE TABLE ${am}_ins (LIKE ${am}_copy) USING $am;
            CREATE TABLE ${am}_keyed (LIKE ${am}_copy, PRIMARY KEY (id)) USING $am;"
    T[$am,copy]=$(timed "COPY ${am}_copy FROM '$data'")
    T[$am,copy_keyed]=$(timed "COPY ${am}_keyed FROM '$data'")
    sql -c "CREATE TABLE ${am}_parent (id int PRIMARY KEY, name text) USING $am;
            INSERT INTO ${am}_parent SELECT g, 'parent ' || g FROM generate_series(1, 1000) g;
            CREATE TABLE ${am}_child (id int, parent int REFERENCES ${am}_parent) USING $am;"
    T[$am,fkey]=$(timed "INSERT INTO ${am}_child SELECT g, 1 + g % 1000 FROM generate_series(1, 20000) g")
    sql -c "CREATE TABLE ${am}_parents (id int PRIMARY KEY) USING $am;
            INSERT INTO ${am}_parents SELECT g FROM generate_series(1, 20000) g;
            CREATE TABLE ${am}_children (id int, parent int REFERENCES ${am}_parents) USING $am;"
    T[$am,fkey_each]=$(timed "INSERT INTO ${am}_children SELECT g, g FROM generate_series(1, 20000) g")
    T[$am,insert]=$(timed "DO \$\$ BEGIN FOR i IN 1..$ROWS LOOP
        INSERT INTO ${am}_ins VALUES (i, 'customer ' || i, i % 1000, (i * 7919) % 100000 / 100.0, now()); END LOOP; END \$\$")
    sql -c "ANALYZE ${am}_copy"
    T[$am,count]=$(best_of_3 "SELECT count(*) FROM ${am}_copy")
    T[$am,count_serial]=$(best_of_3 "SET max_parallel_workers_per_gather = 0; SELECT count(*) FROM ${am}_copy")
    T[$am,filter]=$(best_of_3 "SELECT count(*), sum(amount) FROM ${am}_copy WHERE grp = 7 OR name LIKE '%99999%'")
    T[$am,pushed]=$(best_of_3 "SELECT count(*), sum(amount) FROM ${am}_copy WHERE grp = 7")
    sql -c "CREATE INDEX ON ${am}_copy (grp); CREATE INDEX ON ${am}_copy (id); ANALYZE ${am}_copy"
    T[$am,bitmap_or]=$(best_of_3 "SELECT count(*), sum(amount) FROM ${am}_copy WHERE grp = 7 OR id < 300")
  done
fi

if [ -z "$ONLY" ] || [ "$ONLY" = gist ]; then
  for am in $AMS; do
    sql -c "CREATE TABLE ${am}_pts (id int, p point) USING $am;
            INSERT INTO ${am}_pts SELECT g, point((g::bigint * 7919) % 1000, (g::bigint * 104729) % 997) FROM generate_series(1, $ROWS) g"
    T[$am,gist_build]=$(timed "CREATE INDEX ${am}_pts_p ON ${am}_pts USING gist (p)")
    sql -c "ANALYZE ${am}_pts"
    T[$am,knn]=$(best_of_3 "SELECT id FROM ${am}_pts ORDER BY p <-> point '(500,500)' LIMIT 10")
    T[$am,gist_box]=$(best_of_3 "SELECT count(*) FROM ${am}_pts WHERE p <@ box '((100,100),(110,110))'")
  done
fi

# UPDATE throughput: pgbench with a custom script on ${am}_upd. Fills
# T[$am,upd_*]; the lost-update count is the committed transactions minus
# sum(v) (each committed transaction adds exactly 1).
update_bench() {
  local am="$1" script="$dir/upd_$am.sql" out="$dir/pgbench-upd-$am.log" rc=0
  sql -c "CREATE TABLE ${am}_upd (id int, v int) USING $am;
          INSERT INTO ${am}_upd SELECT g, 0 FROM generate_series(1, $UPD_ROWS) g;"
  printf '\\set id random(1, %d)\nUPDATE %s_upd SET v = v + 1 WHERE id = :id;\n' "$UPD_ROWS" "$am" > "$script"
  log "bench: UPDATE on $am, $UPD_CLIENTS clients, ${UPD_SECONDS}s, $UPD_ISOLATION"
  PGOPTIONS="-c default_transaction_isolation=${UPD_ISOLATION// /\\ }" \
    pgbench -h localhost -p "$PORT" -U postgres -n -f "$script" -c "$UPD_CLIENTS" -j 2 -T "$UPD_SECONDS" \
      postgres >"$out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "bench: pgbench on $am exited with $rc (log: $out)"
    grep -m 5 'error' "$out" >&2 || true
  fi
  local txns sum
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
  T[$am,upd_tps]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out")
  T[$am,upd_lat]=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
  T[$am,upd_failed]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
  T[$am,upd_aborted]=$(grep -c 'aborted in command' "$out" || true)
  T[$am,upd_txns]="$txns"
  sum=$(sql -At -c "SELECT coalesce(sum(v), 0) FROM ${am}_upd") || sum=
  [ -z "$txns" ] || [ -z "$sum" ] || T[$am,upd_lost]=$((txns - sum))
}
[ -n "$ONLY" ] && [ "$ONLY" != update ] || for am in $AMS; do update_bench "$am"; done

# pgbench on its own tables (with primary keys) in database pgb_$am, whose
# default table access method is $am. Fills T[$am,{ro,rw}_{tps,p50,p99,failed}].
pgbench_run() {
  local am="$1" mode="$2" out="$dir/pgbench-$2-$1" rc=0 args=()
  [ "$mode" = ro ] && args=(-S)
  log "bench: pgbench $mode on $am, scale $PGB_SCALE, $PGB_CLIENTS clients, ${PGB_SECONDS}s"
  rm -rf "$out" && mkdir -p "$out" && chown postgres "$out" 2>/dev/null || true
  (cd "$out" && pgbench -h localhost -p "$PORT" -U postgres -n "${args[@]}" -c "$PGB_CLIENTS" -j 2 \
      -T "$PGB_SECONDS" -l --failures-detailed "pgb_$am" >"$out/summary.txt" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || log "bench: pgbench $mode on $am exited with $rc (see $out/summary.txt)"
  T[$am,${mode}_tps]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/summary.txt")
  T[$am,${mode}_failed]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out/summary.txt")
  # Per-transaction log lines: client txn latency_us script_no epoch epoch_us
  local pct
  pct=$(cat "$out"/pgbench_log.* 2>/dev/null | awk '{ print $3 }' | sort -n | awk '
    { v[NR] = $1 } END { if (NR) printf "%.3f %.3f\n", v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }')
  T[$am,${mode}_p50]=${pct% *}
  T[$am,${mode}_p99]=${pct#* }
  rm -f "$out"/pgbench_log.*
}
if [ -z "$ONLY" ] || [ "$ONLY" = pgbench ]; then
  for am in $AMS; do
    sql -c "CREATE DATABASE pgb_$am"
    psql -h localhost -p "$PORT" -U postgres -X -q -d "pgb_$am" -c "CREATE EXTENSION IF NOT EXISTS lyra" \
      -c "ALTER DATABASE pgb_$am SET default_table_access_method = $am"
    log "bench: pgbench -i -I dtgp -s $PGB_SCALE on $am"
    pgbench -h localhost -p "$PORT" -U postgres -i -I dtgp -s "$PGB_SCALE" -q "pgb_$am" >"$dir/pgbench-init-$am.log" 2>&1 \
      || die "pgbench -i on $am failed (see $dir/pgbench-init-$am.log)"
    psql -h localhost -p "$PORT" -U postgres -X -q -d "pgb_$am" -c "ANALYZE"
    pgbench_run "$am" ro
    pgbench_run "$am" rw
  done
fi

if [ -z "$ONLY" ] || [ "$ONLY" = scans ]; then
  printf '\n%-34s %10s %10s %10s\n' "$ROWS rows" "heap (s)" "lyra (s)" "lyra/heap"
  row "load: COPY"                       .3f copy
  row "load: COPY, primary key"          .3f copy_keyed
  row "20000 rows with a foreign key"    .3f fkey
  row "20000 rows, a parent each"        .3f fkey_each
  row "load: single-row INSERTs, 1 txn"  .3f insert
  row "SELECT count(*)"                  .3f count
  row "SELECT count(*), no workers"      .3f count_serial
  row "full-scan filter"                 .3f filter
  row "full-scan filter the node judges" .3f pushed
  row "OR of two indexes (bitmap scan)"  .3f bitmap_or
fi

if [ -z "$ONLY" ] || [ "$ONLY" = gist ]; then
  printf '\n%-34s %10s %10s %10s\n' "GiST, $ROWS points" "heap (s)" "lyra (s)" "lyra/heap"
  row "CREATE INDEX … USING gist"        .3f gist_build
  row "10 nearest (ORDER BY <-> LIMIT)"  .4f knn
  row "points in a box (bitmap scan)"    .4f gist_box
fi

if [ -z "$ONLY" ] || [ "$ONLY" = update ]; then
  printf '\n%-34s %10s %10s %10s\n' "UPDATE by id, $UPD_ROWS rows" "heap" "lyra" "lyra/heap"
  row "TPS ($UPD_CLIENTS clients, ${UPD_SECONDS}s)"  .1f upd_tps
  row "latency average (ms)"             .3f upd_lat
  row "transactions committed"           d   upd_txns
  row "failed transactions"              d   upd_failed none
  row "aborted clients"                  d   upd_aborted none
  row "lost updates (txns - sum(v))"     d   upd_lost none
  [ "$UPD_ISOLATION" = "read committed" ] || echo "(UPDATE run at $UPD_ISOLATION)"
fi

if [ -z "$ONLY" ] || [ "$ONLY" = pgbench ]; then
  printf '\n%-34s %10s %10s %10s\n' "pgbench, scale $PGB_SCALE, $PGB_CLIENTS clients" "heap" "lyra" "lyra/heap"
  row "select-only (-S) TPS, ${PGB_SECONDS}s"   .1f ro_tps
  row "  latency p50 (ms)"                .3f ro_p50
  row "  latency p99 (ms)"                .3f ro_p99
  row "  failed transactions"             d   ro_failed none
  row "TPC-B-like TPS, ${PGB_SECONDS}s"   .1f rw_tps
  row "  latency p50 (ms)"                .3f rw_p50
  row "  latency p99 (ms)"                .3f rw_p99
  row "  failed transactions"             d   rw_failed none
fi
