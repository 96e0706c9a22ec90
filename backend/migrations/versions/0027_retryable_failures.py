"""whether a failed version may succeed if sent again

A file refused for what it is (a type the library does not take, a damaged or hostile
file, one that needs more memory than a reading may have) fails the same way each time;
a file that failed for the moment it met (a scanner not running, a service away past the
retries, a reading cut short on a busy machine, a worker that stopped) may succeed. Only
the second kind is offered Retry. Versions that failed before keep the Retry they had.

Revision ID: 0027
Revises: 0026
Create Date: 2027-03-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "document_versions",
        sa.Column("retryable", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("document_versions", "retryable")
