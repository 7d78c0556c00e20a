#!/usr/bin/env bash
# A local Lyra cluster: N Postgres+Lyra nodes on one machine, one cluster.
#   cluster.sh start [NAME] [PG_PORT] [GRPC_PORT] [N]   create (first time), start, wait until joined
#   cluster.sh stop  [NAME] [N]                         stop every node
#   cluster.sh kill  [NAME] I                           kill -9 node I (postmaster and lyra node)
#   cluster.sh psql  [NAME] I [psql args…]              psql on node I
# Node I is server NAME$I (scripts/server.sh): Postgres on PG_PORT+I-1,
# gRPC on GRPC_PORT+I-1. Node 1 starts the cluster (lyra.join empty); the
# others join through node 1. `make cluster` is `cluster.sh start`, with
# NAME=cluster, ports 5441 and 7441, N=3.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd="${1:?usage: cluster.sh start|stop|kill|psql [NAME] ...}"
name="${2:-cluster}"
state() { echo "$(lyra_home)/$name.ports"; }

node_psql() {
  local i="$1"; shift
  local pg; pg=$(cut -d' ' -f1 "$(state)")
  psql -h localhost -p $((pg + i - 1)) -U postgres -X -q -v ON_ERROR_STOP=1 "$@"
}

start() {
  local pg="${1:-5441}" grpc="${2:-7441}" n="${3:-3}"
  echo "$pg $grpc $n" > "$(state)"
  for i in $(seq 1 "$n"); do
    local join=""
    [ "$i" -gt 1 ] && join="127.0.0.1:$grpc"
    LYRA_CONF="lyra.node_id = $i
lyra.listen_addr = '127.0.0.1:$((grpc + i - 1))'
lyra.join = '$join'
lyra.replication_factor = ${LYRA_REPLICATION_FACTOR:-3}
lyra.range_max_bytes = '${LYRA_RANGE_MAX_BYTES:-0}'" \
      "$LYRA_ROOT/scripts/server.sh" start "$name$i" $((pg + i - 1))
  done
  # The admin functions on every node (tables are per node until DDL
  # propagates: create them through node 1).
  for i in $(seq 1 "$n"); do
    node_psql "$i" -d postgres -c 'SET client_min_messages = warning' \
      -c 'CREATE EXTENSION IF NOT EXISTS lyra' -c 'ALTER EXTENSION lyra UPDATE'
  done
  # Joined: every range on node 1 has min(N, replication factor) voters.
  local want=$(( n < ${LYRA_REPLICATION_FACTOR:-3} ? n : ${LYRA_REPLICATION_FACTOR:-3} ))
  for _ in $(seq 300); do
    local short
    short=$(node_psql 1 -d postgres -Atc "SELECT count(*) FROM lyra.ranges() WHERE cardinality(voters) < $want")
    [ "$short" = 0 ] && break
    sleep 0.1
  done
  [ "$short" = 0 ] || { node_psql 1 -d postgres -c 'SELECT * FROM lyra.ranges()' >&2
    die "cluster $name: ranges did not reach $want voters"; }
  # SQL runs on the leaseholder (tables live in node 1's catalog until DDL
  # propagates): after a restart the leases may be anywhere; bring them
  # to node 1.
  node_psql 1 -d postgres -Atc 'SELECT lyra.transfer_lease(range_id, 1) FROM lyra.ranges() WHERE leader IS DISTINCT FROM 1' >/dev/null
}

case "$cmd" in
  start)
    start "${3:-5441}" "${4:-7441}" "${5:-3}"
    read -r pg grpc n < "$(state)"
    log "cluster $name: $n nodes on localhost:$pg-$((pg + n - 1)) (gRPC 127.0.0.1:$grpc-$((grpc + n - 1)))"
    echo "  connect to node 1:  psql -h localhost -p $pg -U postgres" ;;
  stop)
    n="${3:-$(cut -d' ' -f3 "$(state)" 2>/dev/null || echo 3)}"
    for i in $(seq 1 "$n"); do "$LYRA_ROOT/scripts/server.sh" stop "$name$i"; done ;;
  kill) "$LYRA_ROOT/scripts/server.sh" kill "$name${3:?node}" ;;
  psql) i="${3:?node}"; shift 3; node_psql "$i" "$@" ;;
  *) die "unknown command $cmd" ;;
esac
