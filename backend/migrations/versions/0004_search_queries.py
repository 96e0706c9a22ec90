"""search queries for autocomplete

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'search_queries',
        sa.Column('query', sa.String(length=200), nullable=False),
        sa.Column('searches', sa.BigInteger(), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('query'),
    )
    # Prefix lookups (LIKE 'abc%') whatever the database's collation.
    op.execute(
        "CREATE INDEX ix_search_queries_prefix ON search_queries (query text_pattern_ops)"
    )


def downgrade() -> None:
    op.drop_index('ix_search_queries_prefix', table_name='search_queries')
    op.drop_table('search_queries')
