#!/usr/bin/env bash
# Messaging benchmark: signed inbound SMS webhooks against the real app (Release, Production settings)
# and a fresh database, open loop at increasing rates; after each rate, how fast the inbox processor
# handled those messages (the webhook answers once a message is kept). Then the throughput at
# saturation, closed loop with wrk (each connection sends again once answered), beside pgbench's
# single-row insert throughput (closed loop too) on the same PostgreSQL in the same run.
#   ops/bench/messaging.sh [--rates 100,250,500,1000,2000 (100: the design load)] [--seconds 10] [--warm-up 10 (s at the first rate, unmeasured)]
#                          [--connections 64 (wrk connections; a list measures each)] [--saturation-seconds (default --seconds)]
#                          [--attempts 3 (pgbench + saturation measured again while the host steals > 5 %; 0: open loop only)]
#   WSR_BENCH_INBOX_WORKERS=16 ops/bench/messaging.sh ...
#     (the processing loops, default 4: see Messaging:InboxWorkers)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
app_port="${WSR_BENCH_APP_PORT:-5093}"
token="bench-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# shellcheck source=ops/bench/common.sh
. ops/bench/common.sh
# wrk (Debian's package) drives the saturation phase.
if ! command -v wrk >/dev/null; then
  echo "[bench] installing wrk (apt-get)" >&2
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
bench_prepare
# pgbench's scratch table: not part of the hotline's schema.
"$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d "$bench_db_name" \
  -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, body text, created_at timestamptz DEFAULT now())"

cleanup() { kill "${app_pid:-}" 2>/dev/null || true; }
trap cleanup EXIT

# Jobs__Enabled=false: replies are queued in the transaction that processes each message,
# as in production, but the sender does not send them (there is no Twilio here).
bench_start_app Jobs__Enabled=false Messaging__InboxWorkers="${WSR_BENCH_INBOX_WORKERS:-4}"
bench_wait_ready
# The app's CPU time per text it processed (the bare baselines run in other processes).
app_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$app_pid/stat"; }
ticks_before=$(app_cpu_ticks)

echo "Replies are queued in each message's processing transaction but not sent (Jobs__Enabled=false)."
dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll messaging \
  --app "http://127.0.0.1:$app_port" --token "$token" --db "$bench_db" --app-pid "$app_pid" "$@" \
  --wrk "$(command -v wrk)" --wrk-script ops/bench/messaging-wrk.lua \
  --pgbench "$pg_bin/pgbench" --pg-port "$port" --pg-database "$bench_db_name"
q() { "$pg_bin/psql" -qtA -h 127.0.0.1 -p "$port" -U postgres -d "$bench_db_name" -c "$1"; }
# Processing deletes a message's inbox row in the transaction that stores it in messages.
echo "processed into messages: $(q "SELECT count(*) FROM messages WHERE direction = 'inbound'"), left in the inbox: $(q "SELECT count(*) FROM inbound_inbox WHERE failed_at IS NULL"), failed: $(q "SELECT count(*) FROM inbound_inbox WHERE failed_at IS NOT NULL")"
processed=$(q "SELECT count(*) FROM messages WHERE direction = 'inbound'")
awk -v ticks=$(($(app_cpu_ticks) - ticks_before)) -v hz="$(getconf CLK_TCK)" -v texts="$processed" \
  'BEGIN { printf "per text processed: app CPU %.3f ms (%d texts)\n", 1000 * ticks / hz / texts, texts }'
echo "app peak resident memory: $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$app_pid/status")"
