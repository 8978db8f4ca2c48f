# Shared by the benchmark scripts (sourced, not run): a fresh benchmark database on the project's
# PostgreSQL, Release builds, and the app started with Production settings on a loopback port.
# Expects repo_root, app_port and token to be set by the caller. WSR_BENCH_APP_TREE names another
# checkout whose app is built and measured instead of this one's (the benchmark programs stay this
# tree's), so that two versions are compared in one sitting with the same measurements.

# The project's own cluster (ops/db-up.sh) unless WSR_BENCH_ADMIN_CONNECTION names a running server
# ("Host=127.0.0.1;Port=…;Username=postgres;Password=…;Database=postgres", as WSR_TEST_ADMIN_CONNECTION).
# The database is WSR_BENCH_DATABASE (default wsr_bench), dropped and created afresh.
# Sets: connection_string, bench_db, bench_db_name, pg_bin, port, PGPASSWORD (exported), logs.
bench_prepare() {
  if [ -n "${WSR_BENCH_ADMIN_CONNECTION:-}" ]; then
    connection_string=$(sed -E 's/Database=[^;]*/Database=wsr_hotline/' <<<"$WSR_BENCH_ADMIN_CONNECTION")
    PGPASSWORD=$(sed -E 's/.*Password=([^;]*).*/\1/' <<<"$connection_string")
  else
    connection_string=$(ops/db-up.sh)
    PGPASSWORD=$(cat .data/pg.password)
  fi
  export PGPASSWORD
  bench_db_name="${WSR_BENCH_DATABASE:-wsr_bench}"
  bench_db="${connection_string/Database=wsr_hotline/Database=$bench_db_name}"
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  port=$(sed -E 's/.*Port=([0-9]+).*/\1/' <<<"$connection_string")
  "$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS \"$bench_db_name\" WITH (FORCE)" -c "CREATE DATABASE \"$bench_db_name\""
  app_tree="${WSR_BENCH_APP_TREE:-$repo_root}"
  dotnet build "$app_tree/src/WsrHotline/WsrHotline.csproj" -c Release --nologo -v quiet >&2
  dotnet build ops/bench/HotlineBench/HotlineBench.csproj -c Release --nologo -v quiet >&2
  logs=$(mktemp -d)
}

# Starts the app in the background (sets app_pid); extra NAME=value settings may follow.
bench_start_app() {
  env ASPNETCORE_ENVIRONMENT=Production \
    ConnectionStrings__Hotline="$bench_db;Maximum Pool Size=100${WSR_BENCH_DB_OPTIONS:-}" \
    Twilio__AccountSid=AC00000000000000000000000000000000 Twilio__AuthToken="$token" \
    Twilio__ApiBaseUrl="http://127.0.0.1:9" \
    Hotline__TollFreeNumber=+18005550100 Hotline__SmsNumber=+18005550101 Hotline__WhatsAppSender=whatsapp:+18005550102 \
    Pii__ActiveKeyId=bench Pii__Keys__bench="$(head -c 32 /dev/urandom | base64)" Pii__LookupKey="$(head -c 32 /dev/urandom | base64)" \
    Ivr__FlowsPath="$app_tree/ivr-flows" Ivr__ReloadOnChange=false Spool__Path="$logs/spool" \
    Messaging__WhatsAppTemplates__default__en__ContentSid=HX00000000000000000000000000000001 \
    Messaging__WhatsAppTemplates__default__es__ContentSid=HX00000000000000000000000000000002 \
    Messaging__WhatsAppTemplates__default__ht__ContentSid=HX00000000000000000000000000000003 \
    Messaging__WhatsAppTemplates__default__bn__ContentSid=HX00000000000000000000000000000004 \
    Logging__LogLevel__Default=Warning \
    "$@" \
    dotnet "$app_tree/src/WsrHotline/bin/Release/net10.0/WsrHotline.dll" --urls "http://127.0.0.1:$app_port" >"$logs/app.log" 2>&1 &
  app_pid=$!
}

# Waits for /health/ready (and, if given, for another URL to answer); exits with the app's log if not.
bench_wait_ready() {
  for _ in $(seq 1 60); do
    if curl -sf "http://127.0.0.1:$app_port/health/ready" >/dev/null && { [ -z "${1:-}" ] || curl -s -o /dev/null "$1"; }; then
      return 0
    fi
    sleep 0.5
  done
  echo "the app did not become ready; its log:" >&2
  cat "$logs/app.log" >&2
  exit 1
}
