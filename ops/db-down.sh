#!/usr/bin/env bash
# Stops the hotline's private PostgreSQL cluster started by ops/db-up.sh. Its data stays in .data/pg.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cluster_dir="${WSR_DATA_DIR:-$repo_root/.data}/pg"

if [ ! -f "$cluster_dir/PG_VERSION" ]; then
  echo "[db-down] no cluster in $cluster_dir: nothing to stop" >&2
  exit 0
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r | head -n 1)
if [ "$(id -u)" -eq 0 ]; then
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$cluster_dir" -m fast -w stop || true
else
  "$pg_bin/pg_ctl" -D "$cluster_dir" -m fast -w stop || true
fi
