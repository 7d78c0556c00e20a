#!/usr/bin/env bash
# `make test`: the same set-up as `make run`, then every test:
#   1. cargo test for the PG-free crates (engine, cluster)
#   2. cargo pgrx test (in-backend tests, on pgrx's own test server)
#   3. the pg_regress suites in regress/ against a real server (scripts/regress.sh)
#   4. the isolation specs in regress/isolation/ (scripts/isolation.sh)
#   5. the pgbench concurrency stress test (scripts/stress.sh)
#   6. SQL on a three-node cluster under a leader kill (scripts/cluster_test.sh)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$LYRA_ROOT/scripts/setup.sh"

log "cargo test: lyra-engine, lyra-cluster"
(cd "$LYRA_ROOT" && cargo test --release -p lyra-engine -p lyra-cluster)

log "cargo pgrx test"
if is_root; then
  # pgrx's test server must not run as root: it runs as postgres, with its
  # data directory in a folder postgres owns.
  pgrx_dir="$(lyra_home)/pgrx-test"
  mkdir -p "$pgrx_dir" && chown postgres:postgres "$pgrx_dir"
  (cd "$LYRA_ROOT/pg_ext" && cargo pgrx test pg15 --runas postgres --pgdata "$pgrx_dir/data")
else
  (cd "$LYRA_ROOT/pg_ext" && cargo pgrx test pg15)
fi

# cargo pgrx test installed its test build; put the release build back.
"$LYRA_ROOT/scripts/setup.sh"
"$LYRA_ROOT/scripts/regress.sh"
"$LYRA_ROOT/scripts/isolation.sh"
"$LYRA_ROOT/scripts/stress.sh"
"$LYRA_ROOT/scripts/cluster_test.sh"
