"""analytics rollups: daily figures the dashboards read

One row per day (in the library's time zone), figure and collection (0: the whole
library) in analytics_daily; the documents, queries and active users of each day in
their own tables; the failures of each day by step and reason; the days rolled up (and
in which time zone); the zero-result queries a librarian marked handled.

Revision ID: 0017
Revises: 0016
Create Date: 2027-02-02 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What was added each day (storage growth), read by date.
    op.create_index('ix_documents_created_at', 'documents', ['created_at'])
    op.create_index('ix_document_versions_created_at', 'document_versions', ['created_at'])
    op.execute(
        """
        CREATE TABLE analytics_daily (
            day date NOT NULL,
            metric varchar(40) NOT NULL,
            collection_id integer NOT NULL DEFAULT 0,
            value double precision NOT NULL,
            PRIMARY KEY (metric, day, collection_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE analytics_daily_documents (
            day date NOT NULL,
            document_id integer NOT NULL,
            collection_id integer NOT NULL DEFAULT 0,
            views integer NOT NULL DEFAULT 0,
            downloads integer NOT NULL DEFAULT 0,
            PRIMARY KEY (day, document_id)
        )
        """
    )
    op.execute(
        'CREATE INDEX ix_analytics_daily_documents_collection '
        'ON analytics_daily_documents (collection_id, day)'
    )
    op.execute(
        """
        CREATE TABLE analytics_daily_queries (
            day date NOT NULL,
            query varchar(1000) NOT NULL,
            collection_id integer NOT NULL DEFAULT 0,
            searches integer NOT NULL DEFAULT 0,
            zero_results integer NOT NULL DEFAULT 0,
            clicks integer NOT NULL DEFAULT 0,
            PRIMARY KEY (day, collection_id, query)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE analytics_daily_users (
            day date NOT NULL,
            user_id integer NOT NULL,
            PRIMARY KEY (day, user_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE analytics_daily_failures (
            day date NOT NULL,
            collection_id integer NOT NULL DEFAULT 0,
            outcome varchar(20) NOT NULL,
            step varchar(40) NOT NULL,
            reason varchar(300) NOT NULL,
            count integer NOT NULL,
            PRIMARY KEY (day, collection_id, outcome, step, reason)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE analytics_rolled_days (
            day date PRIMARY KEY,
            timezone varchar(64) NOT NULL,
            rolled_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE analytics_handled_queries (
            query varchar(1000) PRIMARY KEY,
            handled_by integer REFERENCES users(id) ON DELETE SET NULL,
            handled_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    for table in ('analytics_handled_queries', 'analytics_rolled_days',
                  'analytics_daily_failures', 'analytics_daily_users',
                  'analytics_daily_queries', 'analytics_daily_documents', 'analytics_daily'):
        op.execute(f'DROP TABLE {table}')
    op.drop_index('ix_document_versions_created_at', table_name='document_versions')
    op.drop_index('ix_documents_created_at', table_name='documents')
