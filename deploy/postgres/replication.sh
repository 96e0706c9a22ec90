#!/bin/sh
# Run once by the postgres image when it creates the cluster: the library's role may open
# replication connections over the compose network (pg_basebackup, from the workers'
# base backups, and a streaming replica), with its password.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
