#!/usr/bin/env bash
# Voice IVR benchmark: signed IVR step webhooks against the real app (Release, Production settings)
# and a fresh database, beside a bare TwiML endpoint measured in the same run.
#   ops/bench/voice.sh [--calls 200] [--seconds 20]
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

dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll voice \
  --app "http://127.0.0.1:$app_port" --bare "http://127.0.0.1:$bare_port" --token "$token" "$@"
