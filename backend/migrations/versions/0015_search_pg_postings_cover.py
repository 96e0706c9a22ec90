"""the PostgreSQL engine reads postings from their key's index alone

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-21 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A word's postings with their counts in the index: an index-only scan, not a visit
    # to a page of the table for each document.
    op.drop_constraint('search_pg_postings_pkey', 'search_pg_postings', type_='primary')
    op.execute(
        'ALTER TABLE search_pg_postings ADD CONSTRAINT search_pg_postings_pkey '
        'PRIMARY KEY (lexeme, document_id) '
        'INCLUDE (title_tf, people_tf, description_tf, body_tf)'
    )


def downgrade() -> None:
    op.drop_constraint('search_pg_postings_pkey', 'search_pg_postings', type_='primary')
    op.create_primary_key('search_pg_postings_pkey', 'search_pg_postings', ['lexeme', 'document_id'])
