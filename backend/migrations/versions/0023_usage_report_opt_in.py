"""usage reports: the months made, and the admins who want them by e-mail

Each admin says on their account page whether the monthly usage report is e-mailed to
them (`users.usage_report_opt_in`, off by default). `usage_reports` holds one row per
calendar month whose report (a CSV and a printable page in the object store's
`exports/usage/`) was made: when, in which time zone, and when its e-mails were queued,
so the monthly job neither makes nor mails a month twice.

Revision ID: 0023
Revises: 0022
Create Date: 2027-02-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("usage_report_opt_in", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "usage_reports",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("month"),
    )


def downgrade() -> None:
    op.drop_table("usage_reports")
    op.drop_column("users", "usage_report_opt_in")
