"""tables of the PostgreSQL full-text search engine

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'search_pg_documents',
        sa.Column('document_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('collection_id', sa.Integer(), nullable=False),
        sa.Column('collection', sa.Text(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('title_sort', sa.Text(), nullable=False),
        sa.Column('authors', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('subjects', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.Column('type', sa.Text(), nullable=False),
        sa.Column('language', sa.Text(), nullable=False),
        sa.Column('date_key', sa.BigInteger(), nullable=False),
        sa.Column('config', sa.Text(), nullable=False),
        sa.Column('tsv', postgresql.TSVECTOR(), nullable=True),
        sa.PrimaryKeyConstraint('document_id'),
    )
    op.create_index(
        'ix_search_pg_documents_collection_id', 'search_pg_documents', ['collection_id']
    )
    op.create_index(
        'ix_search_pg_documents_tsv', 'search_pg_documents', ['tsv'], postgresql_using='gin'
    )
    op.create_table(
        'search_pg_pages',
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('page_no', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ['document_id'], ['search_pg_documents.document_id'], ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('document_id', 'page_no'),
    )
    op.create_table(
        'search_pg_words',
        sa.Column('word', sa.Text(), nullable=False),
        sa.Column('ndoc', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('word'),
    )
    op.create_index(
        'ix_search_pg_words_trgm',
        'search_pg_words',
        ['word'],
        postgresql_using='gin',
        postgresql_ops={'word': 'gin_trgm_ops'},
    )
    op.create_index(
        'ix_search_pg_words_prefix',
        'search_pg_words',
        ['word'],
        postgresql_ops={'word': 'text_pattern_ops'},
    )


def downgrade() -> None:
    op.drop_table('search_pg_words')
    op.drop_table('search_pg_pages')
    op.drop_table('search_pg_documents')
