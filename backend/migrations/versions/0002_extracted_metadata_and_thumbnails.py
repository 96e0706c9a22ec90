"""extracted metadata and thumbnails

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:59:50.554275
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('document_versions', sa.Column('warnings', sa.Text(), server_default='', nullable=False))
    op.add_column('document_versions', sa.Column('meta', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False))
    op.add_column('document_versions', sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=12), server_default='', nullable=False))
    op.add_column('document_versions', sa.Column('thumbnail_key', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))
    op.add_column('document_versions', sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
    op.add_column('document_versions', sa.Column('duplicate_accepted', sa.Boolean(), server_default='false', nullable=False))
    op.create_foreign_key('document_versions_duplicate_of_id_fkey', 'document_versions', 'documents', ['duplicate_of_id'], ['id'], ondelete='SET NULL')
    op.add_column('document_versions', sa.Column('step_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('document_versions', sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
    op.add_column('document_versions', sa.Column('preview_key', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('document_versions', 'preview_key')
    op.drop_column('document_versions', 'attempts')
    op.drop_column('document_versions', 'step_at')
    op.drop_constraint('document_versions_duplicate_of_id_fkey', 'document_versions', type_='foreignkey')
    op.drop_column('document_versions', 'duplicate_accepted')
    op.drop_column('document_versions', 'duplicate_of_id')
    op.drop_column('document_versions', 'thumbnail_key')
    op.drop_column('document_versions', 'language')
    op.drop_column('document_versions', 'meta')
    op.drop_column('document_versions', 'warnings')
