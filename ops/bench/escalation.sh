#!/usr/bin/env bash
# Escalation benchmark: a million complaints bulk-loaded with generate_series into a fresh database
# (wsr_bench_escalation), then the idle sweep, the sweep of 10,000 overdue clocks and the dashboard
# queries at p95, each beside a bare database baseline measured in the same run. Calls the app's own
# services (DeadlineSweep, DashboardQueries) from ops/bench/EscalationBench. A few minutes.
#   ops/bench/escalation.sh [--complaints 1000000] [--overdue 10000]
# WSR_BENCH_CONNECTION: another PostgreSQL server to use (default: the project's, from ops/db-up.sh).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
connection="${WSR_BENCH_CONNECTION:-$(ops/db-up.sh)}"
dotnet build ops/bench/EscalationBench/EscalationBench.csproj -c Release --nologo -v quiet >&2
dotnet ops/bench/EscalationBench/bin/Release/net10.0/EscalationBench.dll --connection "$connection" "$@"
