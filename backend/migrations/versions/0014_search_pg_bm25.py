"""the PostgreSQL search engine ranks by BM25: postings, document frequencies, lengths

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ('title', 'people', 'description', 'body')  # tsvector weights A, B, C, D


def upgrade() -> None:
    for name in FIELDS:
        op.add_column(
            'search_pg_documents',
            sa.Column(f'{name}_len', sa.Integer(), server_default='0', nullable=False),
        )
    op.create_table(
        'search_pg_postings',
        sa.Column('lexeme', sa.Text(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        *(
            sa.Column(f'{name}_tf', sa.SmallInteger(), server_default='0', nullable=False)
            for name in FIELDS
        ),
        sa.ForeignKeyConstraint(
            ['document_id'], ['search_pg_documents.document_id'], ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('lexeme', 'document_id'),
    )
    op.create_index(
        'ix_search_pg_postings_document_id', 'search_pg_postings', ['document_id']
    )
    op.create_table(
        'search_pg_lexemes',
        sa.Column('lexeme', sa.Text(), nullable=False),
        sa.Column('ndoc', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('lexeme'),
    )
    op.create_index(
        'ix_search_pg_lexemes_prefix',
        'search_pg_lexemes',
        ['lexeme'],
        postgresql_ops={'lexeme': 'text_pattern_ops'},
    )
    op.create_table(
        'search_pg_stats',
        sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('ndoc', sa.BigInteger(), server_default='0', nullable=False),
        *(
            sa.Column(f'{name}_len', sa.BigInteger(), server_default='0', nullable=False)
            for name in FIELDS
        ),
        sa.PrimaryKeyConstraint('id'),
    )
    # The documents already indexed get their postings from their tsvector (as the
    # engine does on apply), so no rebuild is needed.
    op.execute(
        """
        INSERT INTO search_pg_postings
            (lexeme, document_id, title_tf, people_tf, description_tf, body_tf)
        SELECT u.lexeme, d.document_id,
               cardinality(array_positions(u.weights, 'A')),
               cardinality(array_positions(u.weights, 'B')),
               cardinality(array_positions(u.weights, 'C')),
               cardinality(array_positions(u.weights, 'D'))
        FROM search_pg_documents d CROSS JOIN LATERAL unnest(d.tsv) u
        """
    )
    op.execute(
        """
        UPDATE search_pg_documents d
        SET title_len = s.a, people_len = s.b, description_len = s.c, body_len = s.d
        FROM (SELECT document_id, sum(title_tf) a, sum(people_tf) b,
                     sum(description_tf) c, sum(body_tf) d
              FROM search_pg_postings GROUP BY document_id) s
        WHERE d.document_id = s.document_id
        """
    )
    op.execute(
        "INSERT INTO search_pg_lexemes (lexeme, ndoc) "
        "SELECT lexeme, count(*) FROM search_pg_postings GROUP BY lexeme"
    )
    op.execute(
        """
        INSERT INTO search_pg_stats
            (id, ndoc, title_len, people_len, description_len, body_len)
        SELECT 1, count(*), coalesce(sum(title_len), 0), coalesce(sum(people_len), 0),
               coalesce(sum(description_len), 0), coalesce(sum(body_len), 0)
        FROM search_pg_documents
        """
    )


def downgrade() -> None:
    op.drop_table('search_pg_stats')
    op.drop_index('ix_search_pg_lexemes_prefix', table_name='search_pg_lexemes')
    op.drop_table('search_pg_lexemes')
    op.drop_index('ix_search_pg_postings_document_id', table_name='search_pg_postings')
    op.drop_table('search_pg_postings')
    for name in reversed(FIELDS):
        op.drop_column('search_pg_documents', f'{name}_len')
