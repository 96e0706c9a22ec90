"""bulk imports: the uploaded CSV and ZIP, the dry-run report, the import's progress

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'bulk_imports',
        sa.Column('collection_id', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('started_by', sa.Integer(), nullable=True),
        sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('failures', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
        sa.Column('error', sa.Text(), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('csv_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('zip_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=False),
        sa.Column('adding', sa.Integer(), nullable=False),
        sa.Column('updating', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('added', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['started_by'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_bulk_imports_collection_id'), 'bulk_imports', ['collection_id'], unique=False)
    op.create_index(op.f('ix_bulk_imports_status'), 'bulk_imports', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_bulk_imports_status'), table_name='bulk_imports')
    op.drop_index(op.f('ix_bulk_imports_collection_id'), table_name='bulk_imports')
    op.drop_table('bulk_imports')
