"""analytics events: partitioned by month, keyed by the id the request gave each event

Events reach PostgreSQL in batches from a Redis buffer (backend.analytics.events): a batch
sent twice (a worker that died between its commit and its acknowledgement) is stored
once, by (at, key). Months are partitions, created ahead and dropped after the retention
by the worker's cron (backend.analytics.partitions). Who: a user (anonymised when the
account is deleted), or for a visitor a keyed hash of the address that changes each day.

Revision ID: 0016
Revises: 0015
Create Date: 2027-02-01 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3


def _partitions_sql(first: str) -> str:
    """Monthly partitions from the month of `first` (an SQL expression) to a few ahead."""
    return f"""
    DO $$
    DECLARE m date;
    BEGIN
        m := date_trunc('month', ({first}) AT TIME ZONE 'UTC')::date;
        WHILE m <= (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '{MONTHS_AHEAD} months')::date LOOP
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF analytics_events '
                'FOR VALUES FROM (%L) TO (%L)',
                'analytics_events_' || to_char(m, 'YYYY_MM'),
                (m::timestamp AT TIME ZONE 'UTC'),
                ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            m := (m + interval '1 month')::date;
        END LOOP;
    END $$;
    """


def upgrade() -> None:
    op.execute('ALTER TABLE analytics_events RENAME TO analytics_events_old')
    for name in ('ix_analytics_events_created_at', 'ix_analytics_events_kind',
                 'ix_analytics_events_document_kind'):
        op.execute(f'DROP INDEX IF EXISTS {name}')
    op.execute('ALTER TABLE analytics_events_old DROP CONSTRAINT IF EXISTS analytics_events_pkey')
    op.execute(
        """
        CREATE TABLE analytics_events (
            key uuid NOT NULL,
            at timestamptz NOT NULL,
            kind varchar(40) NOT NULL,
            user_id integer REFERENCES users(id) ON DELETE SET NULL,
            visitor bytea,
            document_id integer,
            collection_id integer,
            query varchar(1000) NOT NULL DEFAULT '',
            result_count integer,
            duration_ms real,
            data jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (at, key)
        ) PARTITION BY RANGE (at)
        """
    )
    op.execute('CREATE INDEX ix_analytics_events_kind_at ON analytics_events (kind, at)')
    op.execute(
        'CREATE INDEX ix_analytics_events_document ON analytics_events (document_id, kind) '
        'WHERE document_id IS NOT NULL'
    )
    op.execute(
        'CREATE INDEX ix_analytics_events_user ON analytics_events (user_id) '
        'WHERE user_id IS NOT NULL'
    )
    op.execute(_partitions_sql("coalesce((SELECT min(created_at) FROM analytics_events_old), now())"))
    op.execute(
        """
        INSERT INTO analytics_events (key, at, kind, user_id, document_id, collection_id,
                                      query, result_count, duration_ms, data)
        SELECT gen_random_uuid(), o.created_at, o.kind, o.user_id, o.document_id,
               d.collection_id, o.query, o.result_count, o.duration_ms, o.data
        FROM analytics_events_old o LEFT JOIN documents d ON d.id = o.document_id
        """
    )
    op.execute('DROP TABLE analytics_events_old')


def downgrade() -> None:
    op.execute('ALTER TABLE analytics_events RENAME TO analytics_events_new')
    op.execute(
        """
        CREATE TABLE analytics_events (
            id serial PRIMARY KEY,
            kind varchar(40) NOT NULL,
            user_id integer REFERENCES users(id) ON DELETE SET NULL,
            document_id integer REFERENCES documents(id) ON DELETE SET NULL,
            query varchar(1000) NOT NULL,
            result_count integer,
            duration_ms double precision,
            data jsonb NOT NULL,
            created_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        """
        INSERT INTO analytics_events (kind, user_id, document_id, query, result_count,
                                      duration_ms, data, created_at)
        SELECT n.kind, n.user_id, d.id, n.query, n.result_count, n.duration_ms, n.data, n.at
        FROM analytics_events_new n LEFT JOIN documents d ON d.id = n.document_id ORDER BY n.at
        """
    )
    op.execute('DROP TABLE analytics_events_new')
    op.create_index('ix_analytics_events_created_at', 'analytics_events', ['created_at'])
    op.create_index('ix_analytics_events_kind', 'analytics_events', ['kind'])
    op.create_index('ix_analytics_events_document_kind', 'analytics_events', ['document_id', 'kind'])
