"""autocomplete counts people, not searches

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The counts kept so far were searches, not people, and included members' searches of
    # private collections: none of them can be trusted as a suggestion, so they go.
    op.execute("DELETE FROM search_queries")
    op.drop_index('ix_search_queries_prefix', table_name='search_queries')
    op.drop_column('search_queries', 'searches')
    op.add_column(
        'search_queries', sa.Column('people', sa.Integer(), server_default='0', nullable=False)
    )
    op.add_column(
        'search_queries',
        sa.Column('offered', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        'search_queries', sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "CREATE INDEX ix_search_queries_offered_prefix ON search_queries "
        "(query text_pattern_ops) WHERE offered"
    )
    op.create_table(
        'search_query_searchers',
        sa.Column('query', sa.String(length=200), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('searcher', sa.LargeBinary(length=16), nullable=False),
        sa.PrimaryKeyConstraint('query', 'day', 'searcher'),
    )
    op.create_index(
        'ix_search_query_searchers_day', 'search_query_searchers', ['day'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_search_query_searchers_day', table_name='search_query_searchers')
    op.drop_table('search_query_searchers')
    op.drop_index('ix_search_queries_offered_prefix', table_name='search_queries')
    op.execute("DELETE FROM search_queries")
    op.drop_column('search_queries', 'checked_at')
    op.drop_column('search_queries', 'offered')
    op.drop_column('search_queries', 'people')
    op.add_column(
        'search_queries',
        sa.Column('searches', sa.BigInteger(), server_default='0', nullable=False),
    )
    op.alter_column('search_queries', 'searches', server_default=None)
    op.execute(
        "CREATE INDEX ix_search_queries_prefix ON search_queries (query text_pattern_ops)"
    )
