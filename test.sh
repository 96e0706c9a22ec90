#!/usr/bin/env bash
# Runs every test: ./test.sh  (extra arguments go to pytest, e.g. ./test.sh -k search)
# Installs what the tests need first: the Python test extras, Debian's Chromium, clamd,
# nginx (the deploy's proxy, run in front of the app) and PgBouncer (in front of the
# database and its replica).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
bootstrap_python test
[ -x /usr/bin/chromium ] || install_debian chromium
[ -x /usr/sbin/clamd ] || install_debian clamav-daemon
[ -x /usr/sbin/nginx ] || install_debian nginx-light
[ -x /usr/sbin/pgbouncer ] || install_debian pgbouncer

echo "== lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
echo "== types"
.venv/bin/mypy
echo "== tests"
exec .venv/bin/python -m pytest "$@"
