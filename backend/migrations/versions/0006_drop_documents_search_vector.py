"""documents.search_vector is gone: the search engines keep their own index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 02:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_documents_search', table_name='documents', postgresql_using='gin')
    op.drop_column('documents', 'search_vector')


def downgrade() -> None:
    op.add_column('documents', sa.Column('search_vector', postgresql.TSVECTOR(), nullable=True))
    op.create_index(
        'ix_documents_search', 'documents', ['search_vector'], unique=False, postgresql_using='gin'
    )
    # Refilled by `./run.sh reindex` with SEARCH_ENGINE=postgres in the older version.
