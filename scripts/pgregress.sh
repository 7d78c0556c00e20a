#!/usr/bin/env bash
# `make pgregress`: Postgres 15's own regression suite (the 187 tests of
# ../shared/pg15-regress/tam_schedule) on a Lyra server, once with heap as
# the default table access method (baseline) and once with lyra, printing
# "N passed, M failed" for each. A third run, lyra-nolyrascan, is lyra with
# lyra.enable_lyrascan = off: Postgres's own scans over the same tables and
# indexes, so that the plans LyraScan changes (EXPLAIN, and row order where
# a query has no ORDER BY) can be told from other differences. Results:
# $LYRA_HOME/pg15-suite/{heap,lyra,lyra-nolyrascan}.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_PGREGRESS_PORT:-5470}"
SHARED="$LYRA_ROOT/../shared/pg15-regress"
SERVER="$LYRA_ROOT/scripts/server.sh"
[ -x "$SHARED/run-suite.sh" ] || die "$SHARED not found: ../shared must sit beside the checkout"

"$LYRA_ROOT/scripts/setup.sh"
suite="$(lyra_home)/pg15-suite"
bash "$SHARED/get-suite.sh" "$suite/src" >/dev/null
is_root && chown -R postgres:postgres "$suite"

"$SERVER" stop pgregress 2>/dev/null || true
rm -rf "$(lyra_home)/pgregress"
trap '"$SERVER" stop pgregress || true' EXIT
"$SERVER" start pgregress "$PORT"

summary=()
for run in heap lyra lyra-nolyrascan; do
  am=${run%%-*}; ext=-; options=
  [ "$am" = lyra ] && ext=lyra
  [ "$run" = lyra-nolyrascan ] && options='-c lyra.enable_lyrascan=off'
  log "pg15 regression suite, default_table_access_method = $am${options:+ ($options)}"
  PGOPTIONS="$options" bash "$SHARED/run-suite.sh" "$suite/src" localhost "$PORT" "$am" "$ext" > "$suite/$run.log" 2>&1 || true
  rm -rf "$suite/$run" && mkdir -p "$suite/$run"
  cp -r "$suite/src/results" "$suite/$run/" 2>/dev/null || true
  cp "$suite/src/regression.diffs" "$suite/$run/" 2>/dev/null || true
  ok=$(grep -c '\.\.\. ok' "$suite/$run.log" || true)
  failed=$(grep -c '\.\.\. FAILED' "$suite/$run.log" || true)
  summary+=("$run: $ok passed, $failed failed")
  # What kind of difference each failing test shows (order/plan/am/other):
  # a sorting aid for reading regression.diffs, not a verdict.
  python3 "$LYRA_ROOT/scripts/pgregress_classify.py" "$suite/src" "$suite/$run/results" --verbose > "$suite/$run.kinds"
  summary+=("  $(tail -1 "$suite/$run.kinds") (per test: $suite/$run.kinds)")
done
crashes=$(grep -c 'terminated by signal' "$(lyra_home)/pgregress/server.log" || true)
printf '%s\n' "${summary[@]}"
echo "backend crashes: $crashes (diffs in $suite/{heap,lyra,lyra-nolyrascan}/regression.diffs)"
