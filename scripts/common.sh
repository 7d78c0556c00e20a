#!/usr/bin/env bash
# Shared settings for Lyra's scripts: paths, ports, and how to run things as
# the postgres OS user when we are root (Postgres refuses to run as root).
set -euo pipefail

LYRA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="$PG_BIN/pg_config"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lyra-target}"
export PATH="$HOME/.cargo/bin:$PATH"
PGXS_TEST="/usr/lib/postgresql/15/lib/pgxs/src/test"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as the user that owns the Postgres servers.
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Runs a command with root privileges (apt, installing into Postgres's dirs).
as_root() {
  if is_root; then "$@"; else sudo "$@"; fi
}

# Where servers keep their data: .lyra/ in the checkout, unless the postgres
# user cannot reach it (a checkout under /root), then a directory under
# /var/tmp named after the checkout.
lyra_home() {
  local home="${LYRA_HOME:-$LYRA_ROOT/.lyra}"
  mkdir -p "$home"
  if is_root; then
    chown postgres:postgres "$home"
    if ! runuser -u postgres -- test -w "$home"; then
      home="/var/tmp/lyra-$(printf '%s' "$LYRA_ROOT" | md5sum | cut -c1-8)"
      mkdir -p "$home" && chown postgres:postgres "$home"
    fi
  fi
  printf '%s\n' "$home"
}
