"""harvesting: records in the order they changed, and the records withdrawn

OAI-PMH harvesters ask for what changed since a date, a page at a time in the order
records changed: documents get an index on (updated_at, id). A document a harvester could
have seen (ready, in a public collection) that is deleted or hidden (its collection made
private) leaves a row in `oai_deletions`, answered as a deleted record; it goes when the
document is public again.

Revision ID: 0026
Revises: 0025
Create Date: 2027-03-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_documents_changed", "documents", ["updated_at", "id"])
    op.create_table(
        "oai_deletions",
        sa.Column("document_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("collection_slug", sa.String(length=120), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_oai_deletions_at", "oai_deletions", ["deleted_at", "document_id"])


def downgrade() -> None:
    op.drop_table("oai_deletions")
    op.drop_index("ix_documents_changed", table_name="documents")
