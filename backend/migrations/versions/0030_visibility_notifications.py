"""who may see which collection: every change is announced when it commits

Statement triggers on `collections` (rows added or removed, a collection's publicity or
name changed) and `collection_members` (any change) notify the channel
`library_visibility` (backend.access.watch), whatever made the change: a page, the API, a
job, a migration, psql. Each web process listens, and trusts the visible collections it
remembers only until the next notification.

Revision ID: 0030
Revises: 0029
Create Date: 2027-03-31 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (backend.access.watch.CHANNEL; NOTIFY sends once per transaction, however many rows)
FUNCTION = """
CREATE FUNCTION library_visibility_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('library_visibility', TG_TABLE_NAME);
    RETURN NULL;
END $$
"""
TRIGGERS = {
    "collections_visibility": (
        "collections",
        "INSERT OR DELETE OR TRUNCATE OR UPDATE OF id, is_public, name",
    ),
    "collection_members_visibility": (
        "collection_members",
        "INSERT OR DELETE OR TRUNCATE OR UPDATE",
    ),
}


def upgrade() -> None:
    op.execute(FUNCTION)
    for name, (table, events) in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION library_visibility_changed()"
        )


def downgrade() -> None:
    for name, (table, _) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION library_visibility_changed()")
