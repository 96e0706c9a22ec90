"""saved searches, watched for their owners

A person's kept searches (query, filters, order), each with an e-mail alert that the
daily job sends when documents that became ready since its last look match, and an Atom
feed. The job's question, "which documents became ready in this window?", reads the
versions by the time their processing ended.

Revision ID: 0028
Revises: 0027
Create Date: 2027-03-16 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", sa.Text(), nullable=False, server_default=""),
        sa.Column(
            "filters",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
        sa.Column("sort", sa.String(length=20), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("feed_nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerted_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_alert_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_saved_searches_user_id", "saved_searches", ["user_id"])
    op.create_index(
        "ix_saved_searches_alerting",
        "saved_searches",
        ["id"],
        postgresql_where=sa.text("alert"),
    )
    op.create_index(
        "ix_document_versions_processed_ready",
        "document_versions",
        ["processed_at"],
        postgresql_where=sa.text("status = 'ready'"),
    )


def downgrade() -> None:
    op.drop_index("ix_document_versions_processed_ready", table_name="document_versions")
    op.drop_table("saved_searches")
