#!/usr/bin/env bash
# Runs every test of the hotline against a real PostgreSQL: the project's private cluster, started
# (and installed) by ops/db-up.sh when needed. Each test class works in its own fresh database.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

connection_string=$(ops/db-up.sh)
# The tests create and drop their own databases, so they connect to the maintenance database.
export WSR_TEST_ADMIN_CONNECTION="${connection_string/Database=wsr_hotline/Database=postgres}"

dotnet build WsrHotline.sln -c Release --nologo -v quiet
dotnet test WsrHotline.sln -c Release --no-build --nologo --logger "console;verbosity=normal" "$@"
