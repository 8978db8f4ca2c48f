#!/usr/bin/env bash
# Runs the whole hotline locally: its own PostgreSQL (installed and started if missing), migrations,
# demo data, and the app on http://127.0.0.1:5080 (WSR_URL to change). Ctrl-C stops the app; the
# database keeps running (ops/db-down.sh stops it).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
url="${WSR_URL:-http://127.0.0.1:5080}"

ops/prerequisites.sh
connection_string=$(ops/db-up.sh)

export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Development}"
export ConnectionStrings__Hotline="$connection_string"
export Pii__DevelopmentKeyFile="$repo_root/.data/dev-pii-keys.json"
# No Twilio account needed: the phone simulator at $url/simulator/ stands in for Twilio, its REST API included.
export Simulator__Enabled=true
export Twilio__ApiBaseUrl="${Twilio__ApiBaseUrl:-$url/simulator/twilio}"
export Twilio__PublicBaseUrl="${Twilio__PublicBaseUrl:-$url}"
# The flows are read from the repository, so an edit to ivr-flows/ takes effect without a rebuild.
export Ivr__FlowsPath="$repo_root/ivr-flows"
export Spool__Path="$repo_root/.data/webhook-spool"

echo "[run] building the hotline" >&2
dotnet build src/WsrHotline/WsrHotline.csproj -c Release --nologo -v quiet >&2

echo "[run] starting on $url  (health: $url/health/ready, phone simulator: $url/simulator/)" >&2
exec dotnet run --project src/WsrHotline/WsrHotline.csproj -c Release --no-build --no-launch-profile -- --urls "$url"
