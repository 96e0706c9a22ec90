"""The months of `analytics_events`: partitions created ahead, dropped after the retention.

Each month is a partition `analytics_events_YYYY_MM` holding [first of the month, first
of the next) in UTC. The worker's daily cron (`maintain`) creates the current month and
the next MONTHS_AHEAD, and drops every month that ended before the retention
(`ANALYTICS_RETENTION_MONTHS`): dropping a partition is instant, where deleting old rows
from one big table would take hours and bloat it. The flush (`ensure`) also creates the
month of any event it is given, so no event ever lacks a partition.
"""

import re
from datetime import UTC, date, datetime

from psycopg import AsyncConnection, sql

from backend.settings import get_settings

PARENT = "analytics_events"
MONTHS_AHEAD = 3
_NAME = re.compile(r"^analytics_events_(\d{4})_(\d{2})$")
_LOCK = 0xA7A1E5  # one process changes the partitions at a time


def month_of(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def name(month: date) -> str:
    return f"{PARENT}_{month:%Y_%m}"


async def existing(conn: AsyncConnection) -> set[date]:
    """The months that have a partition."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (PARENT,),
    )
    months = set()
    for (relname,) in await cur.fetchall():
        found = _NAME.match(relname)
        if found:
            months.add(date(int(found[1]), int(found[2]), 1))
    return months


async def ensure(conn: AsyncConnection, months: set[date]) -> list[date]:
    """Create the partitions of these months that are missing (in the caller's
    transaction, which must commit); returns the months created."""
    if not months:
        return []
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    missing = sorted(months - await existing(conn))
    for month in missing:
        start = datetime(month.year, month.month, 1, tzinfo=UTC)
        end = datetime.combine(add_months(month, 1), datetime.min.time(), tzinfo=UTC)
        await conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(name(month)),
                sql.Identifier(PARENT),
                sql.Literal(start),
                sql.Literal(end),
            )
        )
    return missing


async def maintain(conn: AsyncConnection, now: datetime) -> tuple[list[date], list[date]]:
    """Create this month's partition and the next ones; drop those past the retention.
    Returns (created, dropped). Commits."""
    this = month_of(now)
    async with conn.transaction():
        created = await ensure(conn, {add_months(this, n) for n in range(MONTHS_AHEAD + 1)})
        keep_from = add_months(this, -get_settings().analytics_retention_months)
        dropped = sorted(m for m in await existing(conn) if m < keep_from)
        for month in dropped:
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name(month))))
    return created, dropped
