#!/usr/bin/env bash
# Installs what the build and the tests need beyond the .NET SDK, from Debian's packages, when it
# is missing: Node.js + npm (the console's front end is built from npm) and, with --browser,
# Chromium (the console's browser tests drive it). Idempotent; quiet when all is there.
set -euo pipefail

missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [[ "${1:-}" == "--browser" ]] && [[ ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
if ((${#missing[@]} > 0)); then
  echo "[prerequisites] installing ${missing[*]} with apt-get" >&2
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
