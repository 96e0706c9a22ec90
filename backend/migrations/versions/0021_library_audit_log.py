"""audit_log: the library-wide audit log

Entries name what they are about (a document's title, a collection's name) as it was, so
the log still reads right after a rename or a deletion; existing entries take their
document's current title or their collection's name. The admin's filters read through
indexes, newest first: by actor and by action (each with the time), and part of a name
(trigrams) in both logs.

Revision ID: 0021
Revises: 0020
Create Date: 2027-02-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'audit_log',
        sa.Column('label', sa.String(length=300), server_default='', nullable=False),
    )
    op.execute(
        """
        UPDATE audit_log a SET label = left(coalesce(
            (SELECT d.title FROM documents d WHERE d.id = a.document_id),
            a.changes -> 'title' ->> 0,
            (SELECT c.name FROM collections c WHERE c.id = a.collection_id),
            a.changes -> 'collection' ->> 0,
            ''), 300)
        """
    )
    op.create_index('ix_audit_log_actor_at', 'audit_log', ['actor_id', 'at'], unique=False)
    op.create_index('ix_audit_log_action_at', 'audit_log', ['action', 'at'], unique=False)
    op.create_index(
        'ix_account_events_action_at', 'account_events', ['action', 'at'], unique=False
    )
    op.execute('CREATE INDEX ix_audit_log_label_trgm ON audit_log USING gin (label gin_trgm_ops)')
    op.execute(
        'CREATE INDEX ix_account_events_subject_email_trgm ON account_events '
        'USING gin (subject_email gin_trgm_ops)'
    )


def downgrade() -> None:
    op.drop_index('ix_account_events_subject_email_trgm', table_name='account_events')
    op.drop_index('ix_audit_log_label_trgm', table_name='audit_log')
    op.drop_index('ix_account_events_action_at', table_name='account_events')
    op.drop_index('ix_audit_log_action_at', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_at', table_name='audit_log')
    op.drop_column('audit_log', 'label')
