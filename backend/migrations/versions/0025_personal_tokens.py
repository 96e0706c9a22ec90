"""personal API tokens with scopes; a collection's documents newest first

Made and revoked on the account page; each acts as its owner within its scopes (read,
write, admin) until it is revoked, it expires, or its owner's sessions are all ended
(password changed or reset, an admin ending them, the account disabled).

The API lists a collection's documents newest first, a page at a time after a cursor
(created_at, id): an index in that order keeps every page as cheap as the first.

Revision ID: 0025
Revises: 0024
Create Date: 2027-03-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "personal_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_personal_tokens_user_id", "personal_tokens", ["user_id"])
    op.create_index(
        "ix_documents_collection_newest", "documents", ["collection_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_documents_collection_newest", table_name="documents")
    op.drop_table("personal_tokens")
