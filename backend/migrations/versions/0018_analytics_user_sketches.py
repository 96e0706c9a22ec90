"""analytics: who was active each day as a HyperLogLog sketch, not a row per person

Different people over any span (90 days, a week) is the union of the days' sketches:
a few kilobytes a day, whatever the number of people, where a row per person and day
made the count read every row of the span (half a second at 20,000 people).

Revision ID: 0018
Revises: 0017
Create Date: 2027-02-03 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE analytics_daily_sketches (
            day date NOT NULL,
            collection_id integer NOT NULL DEFAULT 0,
            kind varchar(40) NOT NULL,
            sketch bytea NOT NULL,
            PRIMARY KEY (day, collection_id, kind)
        )
        """
    )
    op.execute('DROP TABLE analytics_daily_users')
    # The days stored so far lack their sketches: the next roll stores them again.
    op.execute('DELETE FROM analytics_rolled_days')


def downgrade() -> None:
    op.execute(
        """
        CREATE TABLE analytics_daily_users (
            day date NOT NULL,
            user_id integer NOT NULL,
            PRIMARY KEY (day, user_id)
        )
        """
    )
    op.execute('DROP TABLE analytics_daily_sketches')
    op.execute('DELETE FROM analytics_rolled_days')
