#!/usr/bin/env bash
# Messaging benchmark: signed inbound SMS webhooks against the real app (Release, Production settings)
# and a fresh database, open loop at increasing rates, beside pgbench's single-row insert throughput
# on the same PostgreSQL in the same run.
#   ops/bench/messaging.sh [--rates 250,500,1000,2000] [--seconds 10]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
app_port="${WSR_BENCH_APP_PORT:-5093}"
token="bench-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

connection_string=$(ops/db-up.sh)
bench_db="${connection_string/Database=wsr_hotline/Database=wsr_bench}"
export PGPASSWORD=$(cat .data/pg.password)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
port=$(sed -E 's/.*Port=([0-9]+).*/\1/' <<<"$connection_string")
"$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "DROP DATABASE IF EXISTS wsr_bench WITH (FORCE)" -c "CREATE DATABASE wsr_bench"
# pgbench's scratch table: not part of the hotline's schema.
"$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d wsr_bench \
  -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, body text, created_at timestamptz DEFAULT now())"

dotnet build src/WsrHotline/WsrHotline.csproj -c Release --nologo -v quiet >&2
dotnet build ops/bench/HotlineBench/HotlineBench.csproj -c Release --nologo -v quiet >&2

logs=$(mktemp -d)
cleanup() { kill "${app_pid:-}" 2>/dev/null || true; }
trap cleanup EXIT

# Messaging__SenderEnabled=false: replies are queued in the same transaction as each message, as in
# production, but the sender does not send them (there is no Twilio here).
ASPNETCORE_ENVIRONMENT=Production \
ConnectionStrings__Hotline="$bench_db;Maximum Pool Size=100${WSR_BENCH_DB_OPTIONS:-}" \
Twilio__AccountSid=AC00000000000000000000000000000000 Twilio__AuthToken="$token" \
Twilio__ApiBaseUrl="http://127.0.0.1:9" \
Hotline__TollFreeNumber=+18005550100 Hotline__SmsNumber=+18005550101 Hotline__WhatsAppSender=whatsapp:+18005550102 \
Pii__ActiveKeyId=bench Pii__Keys__bench="$(head -c 32 /dev/urandom | base64)" Pii__LookupKey="$(head -c 32 /dev/urandom | base64)" \
Ivr__FlowsPath="$repo_root/ivr-flows" Ivr__ReloadOnChange=false Voice__SpoolPath="$logs/spool" \
Messaging__SenderEnabled=false \
Logging__LogLevel__Default=Warning \
  dotnet src/WsrHotline/bin/Release/net10.0/WsrHotline.dll --urls "http://127.0.0.1:$app_port" >"$logs/app.log" 2>&1 &
app_pid=$!

for _ in $(seq 1 60); do
  if curl -sf "http://127.0.0.1:$app_port/health/ready" >/dev/null; then break; fi
  sleep 0.5
done
curl -sf "http://127.0.0.1:$app_port/health/ready" >/dev/null || { echo "the app did not become ready; its log:" >&2; cat "$logs/app.log" >&2; exit 1; }

echo "Replies are queued in each message's transaction but not sent (Messaging__SenderEnabled=false)."
dotnet ops/bench/HotlineBench/bin/Release/net10.0/HotlineBench.dll messaging \
  --app "http://127.0.0.1:$app_port" --token "$token" "$@" \
  --pgbench "$pg_bin/pgbench" --pg-port "$port" --pg-database wsr_bench
echo "stored: $("$pg_bin/psql" -qtA -h 127.0.0.1 -p "$port" -U postgres -d wsr_bench -c "SELECT count(*) FROM messages WHERE direction = 'inbound'") inbound messages"
