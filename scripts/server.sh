#!/usr/bin/env bash
# A single-node Lyra server: Postgres 15 with lyra preloaded.
#   server.sh start NAME PORT   create (first time) and start $LYRA_HOME/NAME
#   server.sh stop NAME         stop it
#   server.sh kill NAME         kill -9 the postmaster and the lyra node
# The data directory is $LYRA_HOME/NAME/data, the log $LYRA_HOME/NAME/server.log,
# and the server listens on localhost:PORT and a socket in $LYRA_HOME/NAME.
# LYRA_CONF: more postgresql.conf lines for a server created now (a cluster
# node's lyra.node_id, lyra.listen_addr, lyra.join).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd="${1:?usage: server.sh start|stop|kill NAME [PORT]}"
name="${2:?usage: server.sh start|stop|kill NAME [PORT]}"
dir="$(lyra_home)/$name"
data="$dir/data"

create() {
  mkdir -p "$dir"
  is_root && chown postgres:postgres "$dir"
  as_pg "$PG_BIN/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null
  cat >> "$data/postgresql.conf" <<CONF
# --- Lyra ---
shared_preload_libraries = 'lyra'
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
max_connections = 100
max_prepared_transactions = 10
lyra.log_level = 'warn'
${LYRA_CONF:-}
CONF
}

# Identifies the installed extension build (pgrx rewrites the file on every
# install, so its time says nothing).
lyra_build() { md5sum "$("$PG_CONFIG" --pkglibdir)/lyra.so" | cut -d' ' -f1; }

start() {
  local port="${1:?port}"
  [ -f "$data/PG_VERSION" ] || create
  if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # Running: restart only if another lyra build was installed since.
    [ "$(lyra_build)" != "$(cat "$dir/lyra.build" 2>/dev/null)" ] || return 0
    log "restarting $name to load the new lyra build"
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  lyra_build > "$dir/lyra.build"
  # A backtrace in every ERROR's DETAIL (pgrx does that under
  # RUST_BACKTRACE) would break expected outputs.
  as_pg env -u RUST_BACKTRACE "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null \
    || { tail -20 "$dir/server.log" >&2; die "server $name did not start"; }
}

postmaster_pid() { head -1 "$data/postmaster.pid" 2>/dev/null; }

case "$cmd" in
  start) start "${3:?port}" ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi ;;
  kill)
    pm=$(postmaster_pid) || die "server $name is not running"
    kids=$(pgrep -P "$pm" || true)
    node=$(pgrep -P "$pm" -f 'lyra node' || true)
    kill -9 "$pm" $node
    # The other children notice the postmaster's death and exit.
    for _ in $(seq 100); do
      alive=0; for k in $kids; do kill -0 "$k" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break; sleep 0.1
    done ;;
  *) die "unknown command $cmd" ;;
esac
