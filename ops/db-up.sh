#!/usr/bin/env bash
# Makes sure the hotline's private PostgreSQL cluster is running, and prints its connection string.
#
#   ops/db-up.sh            # start (installing PostgreSQL with apt-get if missing), print the connection string
#   WSR_PG_PORT=55433 ops/db-up.sh
#
# Idempotent: a running cluster is reused; a stopped one (after a reboot, say) is started again;
# the cluster is created only the first time. It lives in .data/pg (git-ignored), belongs to the
# `postgres` user (PostgreSQL refuses to run as root) and listens on 127.0.0.1 only.
# Everything but the final connection string goes to stderr, so callers can capture it.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_root="${WSR_DATA_DIR:-$repo_root/.data}"
cluster_dir="$data_root/pg"
port_file="$data_root/pg.port"
database="${WSR_PG_DATABASE:-wsr_hotline}"
password_file="$data_root/pg.password"
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
log_file="$data_root/pg.log"

say() { printf '[db-up] %s\n' "$*" >&2; }

find_pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      printf '%s' "$dir"
      return 0
    fi
  done
  return 1
}

if ! pg_bin=$(find_pg_bin); then
  say "PostgreSQL is not installed: installing it with apt-get (needs root)."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-contrib >&2
  pg_bin=$(find_pg_bin) || { say "PostgreSQL still not found after apt-get install."; exit 1; }
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

mkdir -p "$data_root"
if [ "$(id -u)" -eq 0 ]; then
  # The postgres user must be able to reach the cluster folder through every parent folder.
  chmod o+x "$data_root"
fi

if [ ! -s "$password_file" ]; then
  umask 077
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$password_file"
  umask 022
fi
password=$(cat "$password_file")

# The port: WSR_PG_PORT if set; else the one this cluster was created with (remembered in
# .data/pg.port, or read from a running server); for a new cluster 55432, or the next free port when
# another checkout's cluster already holds it (CI clones next to a working copy on one machine).
if [ -n "${WSR_PG_PORT:-}" ]; then
  port="$WSR_PG_PORT"
elif [ -f "$cluster_dir/PG_VERSION" ] && [ -s "$port_file" ]; then
  port=$(cat "$port_file")
elif [ -f "$cluster_dir/PG_VERSION" ] && [ -s "$cluster_dir/postmaster.pid" ]; then
  port=$(sed -n 4p "$cluster_dir/postmaster.pid")
elif [ -f "$cluster_dir/PG_VERSION" ]; then
  port=55432
else
  port=55432
  while port_in_use "$port" && [ "$port" -lt 55499 ]; do
    port=$((port + 1))
  done
fi

if [ ! -f "$cluster_dir/PG_VERSION" ]; then
  say "Creating a private PostgreSQL cluster in $cluster_dir (port $port)"
  mkdir -p "$cluster_dir"
  pwfile=$(mktemp)
  printf '%s\n' "$password" > "$pwfile"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$cluster_dir" "$pwfile"
  fi
  chmod 700 "$cluster_dir"
  as_postgres "$pg_bin/initdb" -D "$cluster_dir" -U postgres --pwfile="$pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
  rm -f "$pwfile"
  cat >> "$cluster_dir/postgresql.conf" <<CONF

# Written by ops/db-up.sh: a private cluster for the hotline, reachable on loopback only.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$cluster_dir'
max_connections = 300
shared_buffers = 256MB
fsync = on
CONF
  printf '%s\n' "$port" > "$port_file"
fi

if [ "$(id -u)" -eq 0 ]; then
  touch "$log_file"
  chown postgres:postgres "$log_file"
fi

if as_postgres "$pg_bin/pg_ctl" -D "$cluster_dir" status >/dev/null 2>&1; then
  say "PostgreSQL is already running in $cluster_dir"
else
  if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    say "Port $port on 127.0.0.1 is taken by another PostgreSQL (another checkout's cluster?)."
    say "Stop it (its ops/db-down.sh) or choose another port: WSR_PG_PORT=55433 $0"
    exit 1
  fi
  say "Starting PostgreSQL on 127.0.0.1:$port"
  # A stale postmaster.pid left by a reboot is handled by pg_ctl itself.
  as_postgres "$pg_bin/pg_ctl" -D "$cluster_dir" -l "$log_file" -o "-p $port" -w -t 60 start >&2
fi

export PGPASSWORD="$password"
if ! "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
  say "Creating database $database"
  "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$database"
fi

printf 'Host=127.0.0.1;Port=%s;Username=postgres;Password=%s;Database=%s\n' "$port" "$password" "$database"
