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

connection_string=$(ops/db-up.sh)
admin="${connection_string/Database=wsr_hotline/Database=postgres}"
bench_db="${connection_string/Database=wsr_hotline/Database=wsr_bench}"
export PGPASSWORD=$(cat .data/pg.password)
psql_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql
port=$(sed -E 's/.*Port=([0-9]+).*/\1/' <<<"$connection_string")
"$psql_bin" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "DROP DATABASE IF EXISTS wsr_bench WITH (FORCE)" -c "CREATE DATABASE wsr_bench"

dotnet build src/WsrHotline/WsrHotline.csproj -c Release --nologo -v quiet >&2
dotnet build ops/bench/HotlineBench/HotlineBench.csproj -c Release --nologo -v quiet >&2

logs=$(mktemp -d)
cleanup() { kill "${app_pid:-}" "${bare_pid:-}" 2>/dev/null || true; }
trap cleanup EXIT

ASPNETCORE_ENVIRONMENT=Production \
ConnectionStrings__Hotline="$bench_db;Maximum Pool Size=100${WSR_BENCH_DB_OPTIONS:-}" \
Twilio__AccountSid=AC00000000000000000000000000000000 Twilio__AuthToken="$token" \
Twilio__ApiBaseUrl="http://127.0.0.1:9" \
Hotline__TollFreeNumber=+18005550100 Hotline__SmsNumber=+18005550101 Hotline__WhatsAppSender=whatsapp:+18005550102 \
Pii__ActiveKeyId=bench Pii__Keys__bench="$(head -c 32 /dev/urandom | base64)" Pii__LookupKey="$(head -c 32 /dev/urandom | base64)" \
Ivr__FlowsPath="$repo_root/ivr-flows" Ivr__ReloadOnChange=false Voice__SpoolPath="$logs/spool" \
Logging__LogLevel__Default=Warning \
  dotnet src/WsrHotline/bin/Release/net10.0/WsrHotline.dll --urls "http://127.0.0.1:$app_port" >"$logs/app.log" 2>&1 &
app_pid=$!
dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll bare --port "$bare_port" --token "$token" >"$logs/bare.log" 2>&1 &
bare_pid=$!

for _ in $(seq 1 60); do
  if curl -sf "http://127.0.0.1:$app_port/health/ready" >/dev/null && curl -s -o /dev/null "http://127.0.0.1:$bare_port/"; then break; fi
  sleep 0.5
done
curl -sf "http://127.0.0.1:$app_port/health/ready" >/dev/null || { echo "the app did not become ready; its log:" >&2; cat "$logs/app.log" >&2; exit 1; }

dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll voice \
  --app "http://127.0.0.1:$app_port" --bare "http://127.0.0.1:$bare_port" --token "$token" "$@"
