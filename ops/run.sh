#!/usr/bin/env bash
# Runs the whole hotline locally: its own PostgreSQL (installed and started if missing), migrations,
# demo data, and the app on http://127.0.0.1:5080 (WSR_URL to change). Ctrl-C stops the app; the
# database keeps running (ops/db-down.sh stops it).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
url="${WSR_URL:-http://127.0.0.1:5080}"

connection_string=$(ops/db-up.sh)

export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Development}"
export ConnectionStrings__Hotline="$connection_string"
export Pii__DevelopmentKeyFile="$repo_root/.data/dev-pii-keys.json"
# The call simulator (on in Development) stands in for Twilio's REST API on the app's own address.
export Twilio__ApiBaseUrl="${Twilio__ApiBaseUrl:-$url/simulator/twilio}"

echo "[run] building the hotline" >&2
dotnet build src/WsrHotline/WsrHotline.csproj -c Release --nologo -v quiet >&2

echo "[run] starting on $url  (health: $url/health/ready)" >&2
exec dotnet run --project src/WsrHotline/WsrHotline.csproj -c Release --no-build --no-launch-profile -- --urls "$url"
