"""index on the PostgreSQL engine's text search configuration

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every search reads the configurations in use by walking this index.
    op.create_index('ix_search_pg_documents_config', 'search_pg_documents', ['config'])


def downgrade() -> None:
    op.drop_index('ix_search_pg_documents_config', table_name='search_pg_documents')
