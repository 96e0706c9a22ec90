"""users: e-mails compared in byte order

The e-mail column takes the "C" collation, whatever the database's: the admin's list is
in byte order, and an e-mail prefix ("starts with ma") is then a range of the e-mail
indexes, read in order, not a walk of the list from its start. E-mails are kept
lower-case, so nothing a person sees changes order.

Revision ID: 0020
Revises: 0019
Create Date: 2027-02-05 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute('ALTER TABLE users ALTER COLUMN email TYPE varchar(320) COLLATE "C"')


def downgrade() -> None:
    op.execute('ALTER TABLE users ALTER COLUMN email TYPE varchar(320) COLLATE "default"')
