"""search outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'search_outbox',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        op.f('ix_search_outbox_document_id'), 'search_outbox', ['document_id'], unique=False
    )
    # Every document already in the library goes to the new index.
    op.execute("INSERT INTO search_outbox (document_id, created_at) SELECT id, now() FROM documents")


def downgrade() -> None:
    op.drop_index(op.f('ix_search_outbox_document_id'), table_name='search_outbox')
    op.drop_table('search_outbox')
