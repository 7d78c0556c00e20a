#!/usr/bin/env bash
# Installs what Lyra needs on Debian bookworm, then builds and installs the
# extension into the system Postgres 15. Idempotent: each step is skipped
# when already done, so a re-run with nothing changed takes seconds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PGRX_VERSION=0.18.1
PACKAGES=(postgresql-15 postgresql-client-15 postgresql-contrib libclang-dev clang
          librocksdb-dev protobuf-compiler pkg-config build-essential sudo bc python3)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}" postgresql-server-dev-15; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  # Only what is missing: naming an installed package would upgrade it —
  # the server under a running cluster, away from its headers.
  local others=()
  for p in "${missing[@]}"; do [ "$p" = postgresql-server-dev-15 ] || others+=("$p"); done
  if [ ${#others[@]} -gt 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${others[@]}" >/dev/null
  fi
  # The headers must match the server exactly, or apt would upgrade the server.
  local v; v=$(dpkg-query -W -f='${Version}' postgresql-15)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-15=$v" >/dev/null
}

install_rust_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
  if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
    log "installing cargo-pgrx $PGRX_VERSION (takes ~5 minutes, once)"
    cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked
  fi
  if ! grep -qs "^pg15 = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "cargo pgrx init --pg15 $PG_CONFIG"
    cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
  fi
}

build_and_install() {
  log "building and installing the lyra extension"
  (cd "$LYRA_ROOT/pg_ext" && cargo pgrx install --release --pg-config "$PG_CONFIG" \
      $(is_root || echo --sudo) >/dev/null)
  # Upgrade scripts for databases created by an earlier version (ALTER
  # EXTENSION lyra UPDATE): each is the section of sql/lyra_am.sql between
  # "-- upgrade A--B begin" and "-- upgrade A--B end", the objects version
  # B added, so they are written once.
  local am="$LYRA_ROOT/sql/lyra_am.sql" dir pair
  dir="$("$PG_CONFIG" --sharedir)/extension"
  for pair in $(sed -n 's/^-- upgrade \(.*\) begin$/\1/p' "$am"); do
    sed -n "/^-- upgrade $pair begin\$/,/^-- upgrade $pair end\$/p" "$am" \
      | as_root tee "$dir/lyra--$pair.sql" >/dev/null
  done
}

install_packages
install_rust_tools
build_and_install
