"""every job kind has a way back: mail retries, an outbox of objects to delete

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'mail_outbox', sa.Column('attempts', sa.Integer(), server_default='0', nullable=False)
    )
    # Messages waiting from before are due at once: the sweeper sends them.
    op.add_column(
        'mail_outbox',
        sa.Column(
            'next_attempt_at',
            sa.DateTime(timezone=True),
            server_default=sa.text('now()'),
            nullable=False,
        ),
    )
    op.add_column(
        'mail_outbox', sa.Column('gave_up_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        'ix_mail_outbox_due',
        'mail_outbox',
        ['next_attempt_at'],
        unique=False,
        postgresql_where=sa.text('sent_at IS NULL AND gave_up_at IS NULL'),
    )
    op.create_table(
        'object_deletions',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('key', sa.String(length=1024), nullable=False),
        sa.Column(
            'created_at',
            sa.DateTime(timezone=True),
            server_default=sa.text('now()'),
            nullable=False,
        ),
        sa.Column(
            'next_attempt_at',
            sa.DateTime(timezone=True),
            server_default=sa.text('now()'),
            nullable=False,
        ),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('error', sa.String(length=1000), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index(
        'ix_object_deletions_next_attempt_at',
        'object_deletions',
        ['next_attempt_at'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_object_deletions_next_attempt_at', table_name='object_deletions')
    op.drop_table('object_deletions')
    op.drop_index(
        'ix_mail_outbox_due',
        table_name='mail_outbox',
        postgresql_where=sa.text('sent_at IS NULL AND gave_up_at IS NULL'),
    )
    op.drop_column('mail_outbox', 'gave_up_at')
    op.drop_column('mail_outbox', 'next_attempt_at')
    op.drop_column('mail_outbox', 'attempts')
