#!/usr/bin/env bash
# Creates .venv with the pinned requirements (again only when a requirements file changed).
# `scripts/setup.sh dev` adds the test tools and the system packages the tests drive: Chromium, Redis and
# PostgreSQL (its server binaries live in /usr/lib/postgresql/<version>/bin, off PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
REQ=requirements.txt
[ "${1:-}" = "dev" ] && REQ=requirements-dev.txt
[ -x .venv/bin/python ] || "$PY" -m venv .venv
STAMP=".setup-stamp-$(basename "$REQ" .txt)"
SUM="$(cat requirements*.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$SUM" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQ"
  echo "$SUM" > "$STAMP"
fi
if [ "${1:-}" = "dev" ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v redis-server >/dev/null || missing+=(redis-server)
  { ls /usr/lib/postgresql/*/bin/pg_ctl || command -v pg_ctl; } >/dev/null 2>&1 || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing ${missing[*]} (apt)"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
        || echo "warning: could not install ${missing[*]}: the tests that need them will skip and say why"
    else
      echo "warning: ${missing[*]} not installed and apt-get unavailable: the tests that need them will skip"
    fi
  fi
fi
