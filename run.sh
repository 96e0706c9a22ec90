#!/usr/bin/env bash
# Starts the whole library on this machine: ./run.sh
# Other commands:  ./run.sh create-admin EMAIL   ./run.sh migrate   ./run.sh reindex
#                  ./run.sh usage-report YYYY-MM [--mail]
#                  ./run.sh backup [--full]   ./run.sh backups
#                  ./run.sh restore --to "2026-12-06T14:30:00" [--into FOLDER]
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
bootstrap_python

case "${1:-serve}" in
  serve)
    exec .venv/bin/python -m backend.launcher ;;
  create-admin|migrate|reindex|usage-report|backup|backups|restore)
    exec .venv/bin/python -m backend.cli "$@" ;;
  *)
    echo "usage: ./run.sh [serve | create-admin EMAIL | migrate | reindex | usage-report YYYY-MM | backup | backups | restore --to TIME]" >&2
    exit 2 ;;
esac
