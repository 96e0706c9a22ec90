"""users: the admin's list at millions of accounts

Each account's last login; indexes for the list: in e-mail order within a role or a
status (keyset pages), and trigram indexes for a search inside e-mails and names.

Revision ID: 0019
Revises: 0018
Create Date: 2027-02-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('users', sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_users_role_email', 'users', ['role', 'email'])
    op.create_index('ix_users_is_active_email', 'users', ['is_active', 'email'])
    op.execute('CREATE INDEX ix_users_email_trgm ON users USING gin (email gin_trgm_ops)')
    op.execute(
        'CREATE INDEX ix_users_name_trgm ON users USING gin (lower(display_name) gin_trgm_ops)'
    )
    op.execute(
        'UPDATE users u SET last_login_at = s.last FROM '
        '(SELECT user_id, max(created_at) AS last FROM user_sessions GROUP BY user_id) s '
        'WHERE s.user_id = u.id'
    )


def downgrade() -> None:
    op.drop_index('ix_users_name_trgm', table_name='users')
    op.drop_index('ix_users_email_trgm', table_name='users')
    op.drop_index('ix_users_is_active_email', table_name='users')
    op.drop_index('ix_users_role_email', table_name='users')
    op.drop_column('users', 'last_login_at')
