#!/usr/bin/env bash
# `make run`: set up, start a single-node Lyra on localhost:$LYRA_PORT (5433),
# create the extension in database postgres (or update it to this build's
# version), then open psql on a terminal
# (or print how to connect and return, without one).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PORT="${LYRA_PORT:-5433}"

"$LYRA_ROOT/scripts/setup.sh"
log "starting Lyra on localhost:$PORT"
"$LYRA_ROOT/scripts/server.sh" start run "$PORT"
psql_cmd=(psql -h localhost -p "$PORT" -U postgres)
"${psql_cmd[@]}" -q -X -d postgres -c 'SET client_min_messages = warning' \
  -c 'CREATE EXTENSION IF NOT EXISTS lyra' -c 'ALTER EXTENSION lyra UPDATE' >/dev/null

cat <<MSG
Lyra is running: Postgres 15 with the lyra extension, data in $(lyra_home)/run.
  connect:  ${psql_cmd[*]}
  try:      CREATE TABLE t (id int, name text) USING lyra;
  stop:     make stop
MSG
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  exec "${psql_cmd[@]}" -d postgres
fi
