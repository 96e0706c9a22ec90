#!/bin/sh
# The streaming replica: at its first start, a copy of the primary made with
# pg_basebackup -R (which writes standby.signal and primary_conninfo), then PostgreSQL as
# a hot standby following the primary's log. Run by the postgres image as root.
set -eu
: "${PGDATA:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres "$PGDATA"
  chmod 700 "$PGDATA"
  until gosu postgres pg_basebackup -h postgres -U "$POSTGRES_USER" -D "$PGDATA" \
      -R -X stream -c fast; do
    echo "waiting for the primary to copy it" >&2
    sleep 2
  done
fi
exec gosu postgres postgres
