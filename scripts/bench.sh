#!/usr/bin/env bash
# `make bench`: the same work on a heap table and a Lyra table on one server,
# printing each time and the Lyra/heap ratio.
#   load (COPY)       COPY of 200,000 rows from a file
#   load (INSERTs)    200,000 single-row INSERTs in one transaction (PL/pgSQL loop)
#   count(*)          full scan, best of 3
#   filter scan       full scan with a predicate, best of 3
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_BENCH_PORT:-5460}"
ROWS="${BENCH_ROWS:-200000}"
SERVER="$LYRA_ROOT/scripts/server.sh"

"$LYRA_ROOT/scripts/setup.sh"
"$SERVER" stop bench 2>/dev/null || true
rm -rf "$(lyra_home)/bench"
trap '"$SERVER" stop bench || true' EXIT
"$SERVER" start bench "$PORT"
sql() { psql -h localhost -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
sql -c "CREATE EXTENSION lyra"

data="$(lyra_home)/bench/rows.tsv"
sql -c "COPY (SELECT g, 'customer ' || g, g % 1000, (g * 7919) % 100000 / 100.0, now() - g * interval '1 minute'
              FROM generate_series(1, $ROWS) g) TO '$data'"

# Seconds one SQL command takes, as psql's \timing reports it (server
# round trip, without connection start-up).
timed() {
  sql -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1 | awk '{ printf "%.4f\n", $1 / 1000 }'
}
best_of_3() { for _ in 1 2 3; do timed "$1"; done | sort -n | head -1; }

declare -A T
for am in heap lyra; do
  sql -c "CREATE TABLE ${am}_copy (id int, name text, grp int, amount numeric, at timestamptz) USING $am;
          CREATE TABLE ${am}_ins (LIKE ${am}_copy) USING $am;"
  T[$am,copy]=$(timed "COPY ${am}_copy FROM '$data'")
  T[$am,insert]=$(timed "DO \$\$ BEGIN FOR i IN 1..$ROWS LOOP
      INSERT INTO ${am}_ins VALUES (i, 'customer ' || i, i % 1000, (i * 7919) % 100000 / 100.0, now()); END LOOP; END \$\$")
  T[$am,count]=$(best_of_3 "SELECT count(*) FROM ${am}_copy")
  T[$am,filter]=$(best_of_3 "SELECT count(*), sum(amount) FROM ${am}_copy WHERE grp = 7 OR name LIKE '%99999%'")
done

printf '\n%-34s %10s %10s %10s\n' "$ROWS rows" "heap (s)" "lyra (s)" "lyra/heap"
for op in copy insert count filter; do
  case $op in copy) label="load: COPY";; insert) label="load: single-row INSERTs, 1 txn";;
              count) label="SELECT count(*)";; filter) label="full-scan filter";; esac
  printf '%-34s %10.3f %10.3f %10.2f\n' "$label" "${T[heap,$op]}" "${T[lyra,$op]}" \
    "$(echo "${T[lyra,$op]} / ${T[heap,$op]}" | bc -l)"
done
