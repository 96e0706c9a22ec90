"""the PostgreSQL engine reads each Chinese character and kana as a word

Its tsvectors held a run of ideographs as one word, so a word inside a longer run was
never found. The engine's copy is emptied; the launcher's first fill, seeing it empty,
queues every document again (backend.search.indexer.prepare_engine).

Revision ID: 0029
Revises: 0028
Create Date: 2027-03-30 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "TRUNCATE search_pg_pages, search_pg_postings, search_pg_documents, "
        "search_pg_words, search_pg_lexemes, search_pg_stats"
    )


def downgrade() -> None:
    op.execute(
        "TRUNCATE search_pg_pages, search_pg_postings, search_pg_documents, "
        "search_pg_words, search_pg_lexemes, search_pg_stats"
    )
