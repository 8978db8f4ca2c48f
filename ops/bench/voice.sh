#!/usr/bin/env bash
# Voice IVR benchmark: signed IVR step webhooks against the real app (Release, Production settings)
# and a fresh database, beside a bare TwiML endpoint measured in the same run.
#   ops/bench/voice.sh [--calls 200] [--seconds 20] [--warm-up 20]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
app_port="${WSR_BENCH_APP_PORT:-5091}"
bare_port="${WSR_BENCH_BARE_PORT:-5092}"
token="bench-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# shellcheck source=ops/bench/common.sh
. ops/bench/common.sh
bench_prepare

cleanup() { kill "${app_pid:-}" "${bare_pid:-}" 2>/dev/null || true; }
trap cleanup EXIT

bench_start_app
dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll bare --port "$bare_port" --token "$token" >"$logs/bare.log" 2>&1 &
bare_pid=$!
bench_wait_ready "http://127.0.0.1:$bare_port/"

# The work behind each IVR step, less at the mercy of other load on the machine than throughput:
# the app's CPU time (the bare endpoint runs in another process) and the bench database's commits.
app_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$app_pid/stat"; }
bare_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$bare_pid/stat"; }
bench_commits() {
  "$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$bench_db_name'"
}
ticks_before=$(app_cpu_ticks)
bare_ticks_before=$(bare_cpu_ticks)
commits_before=$(bench_commits)

dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll voice \
  --app "http://127.0.0.1:$app_port" --bare "http://127.0.0.1:$bare_port" --token "$token" \
  --app-pid "$app_pid" --bare-pid "$bare_pid" "$@" | tee "$logs/voice.out"

sleep 2 # PostgreSQL publishes its counters about once a second
requests=$(sed -nE 's/^IVR requests in all: ([0-9]+)$/\1/p' "$logs/voice.out")
awk -v ticks=$(($(app_cpu_ticks) - ticks_before)) -v hz="$(getconf CLK_TCK)" -v commits=$(($(bench_commits) - commits_before)) -v requests="$requests" \
  'BEGIN { printf "per IVR step: app CPU %.3f ms, database commits %.2f (%d requests)\n", 1000 * ticks / hz / requests, commits / requests, requests }'
echo "app peak resident memory: $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$app_pid/status")"
bare_requests=$(sed -nE 's/^bare requests in all: ([0-9]+)$/\1/p' "$logs/voice.out")
awk -v ticks=$(($(bare_cpu_ticks) - bare_ticks_before)) -v hz="$(getconf CLK_TCK)" -v requests="$bare_requests" \
  'BEGIN { printf "per bare request: CPU %.3f ms (%d requests)\n", 1000 * ticks / hz / requests, requests }'
