#!/usr/bin/env bash
# Runs every test of the hotline against a real PostgreSQL: the project's private cluster, started
# (and installed) by ops/db-up.sh when needed. Each test class works in its own fresh database.
# Extra arguments go to `dotnet test` (for example --filter "FullyQualifiedName~Migration").
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

ops/prerequisites.sh --browser
connection_string=$(ops/db-up.sh)
# The tests create and drop their own databases, so they connect to the maintenance database.
export WSR_TEST_ADMIN_CONNECTION="${connection_string/Database=wsr_hotline/Database=postgres}"

dotnet build WsrHotline.sln -c Release --nologo -v quiet

log=$(mktemp)
status=0
dotnet test WsrHotline.sln -c Release --no-build --nologo "$@" 2>&1 | tee "$log" || status=$?

# One closing line for the whole run, summed over the test assemblies.
awk '/^(Passed|Failed)! +- +Failed:/ {
       gsub(/,/, ""); for (i = 1; i <= NF; i++) {
         if ($i == "Failed:") failed += $(i + 1); if ($i == "Passed:") passed += $(i + 1); if ($i == "Skipped:") skipped += $(i + 1) } }
     END { printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped }' "$log"
rm -f "$log"
exit "$status"
