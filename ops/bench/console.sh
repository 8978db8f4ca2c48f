#!/usr/bin/env bash
# Console latency benchmark: with N console connections open (SignalR over WebSockets, signed in as
# Spanish-speaking investigators the run creates), the time from a signed inbound SMS webhook's
# answer to its MessageReceived event at every console, against the real app (Release, Production
# settings) on a fresh database, beside a bare NOTIFY round trip on the same PostgreSQL in the same run.
#   ops/bench/console.sh [--connections 200] [--staff 10] [--rate 20] [--seconds 30] [--burst 100]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
app_port="${WSR_BENCH_APP_PORT:-5094}"
token="bench-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# shellcheck source=ops/bench/common.sh
. ops/bench/common.sh
bench_prepare

cleanup() { kill "${app_pid:-}" 2>/dev/null || true; }
trap cleanup EXIT

# No demo seed in Production: the benchmark creates its own investigators (HotlineBench, with the
# app's password hashing). Replies are queued but not sent (there is no Twilio here).
bench_start_app Jobs__Enabled=false
bench_wait_ready

dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll console \
  --app "http://127.0.0.1:$app_port" --token "$token" --db "$bench_db" "$@"
