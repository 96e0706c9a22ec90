"""Daily rollups: the dashboards' figures, computed once per day from the events.

A day is a date in the library's time zone (LIBRARY_TIMEZONE). For a span of days the
SELECTs below compute, from `analytics_events` (and, for storage growth, the documents'
own tables):

- analytics_daily: one value per day, figure and collection (0: the whole library):
  searches (submitted, not while typing), searches_typing, zero_results,
  cached_searches, clicks, searches_clicked and first_click_rank_sum (a search's first
  opened result), views and downloads (once per person per document per hour,
  backend.analytics.counting), uploads, ingest_<outcome> (ready, failed, quarantined,
  duplicate), ingest_seconds (sum, from upload to searchable, of the ready ones),
  registrations, logins, logins_failed, active_users, documents_added, bytes_added;
- analytics_daily_documents: each document's views and downloads;
- analytics_daily_queries: each query's searches, zero-result searches and clicks
  (collection 0), and the clicks it led into each collection;
- analytics_daily_sketches: who was active, as a HyperLogLog sketch of the users' ids
  (different people over any span is the union of its days' sketches);
- analytics_daily_failures: ingest outcomes other than ready, by step and reason.

`roll` (the worker, every hour) stores the days that ended and are not stored yet, and
stores again the last LATE_DAYS days (events flushed late, a worker that was away);
days stored in another time zone are stored again. The dashboards read stored days and
compute the rest (today) with the same SELECTs: one definition of every figure.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from datasketches import hll_sketch, hll_union, tgt_hll_type
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics.counting import WHO
from backend.db import sql
from backend.settings import get_settings

LATE_DAYS = 2  # days stored again at each roll, for events that arrive late
FIRST_DAYS = 400  # the most days one roll goes back to when nothing is stored yet


@dataclass(frozen=True)
class Span:
    """Whole days [first, last] in a time zone, and the instants they cover."""

    first: date
    last: date
    timezone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        nxt = datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.timezone))
        return nxt.astimezone(UTC)

    def params(self) -> dict[str, object]:
        return {"tz": self.timezone, "start": self.start, "end": self.end}


# The events of the span, with their day; `typing` and `rank` read once.
_EVENTS = """
    events AS (
        SELECT e.*, (e.at AT TIME ZONE :tz)::date AS day,
               coalesce((e.data->>'typing')::boolean, false) AS typing,
               lower(btrim(e.query)) AS q
        FROM analytics_events e
        WHERE e.at >= :start AND e.at < :end
    )
"""

# Facts (day, collection (NULL: the library only), metric, amount, dedupe): a metric is
# the sum of its amounts plus the count of its distinct dedupe keys.
DAILY_SELECT = f"""
    WITH {_EVENTS},
    clicked AS (
        SELECT data->>'search' AS search, min(day) AS day, min((data->>'rank')::int) AS rank
        FROM events WHERE kind = 'search_click' AND data ? 'search' GROUP BY 1
    ),
    facts (day, cid, metric, amount, dedupe) AS (
        SELECT day, NULL::int, 'searches', 1, NULL::text FROM events
            WHERE kind = 'search' AND NOT typing
        UNION ALL SELECT day, NULL, 'searches_typing', 1, NULL FROM events
            WHERE kind = 'search' AND typing
        UNION ALL SELECT day, NULL, 'zero_results', 1, NULL FROM events
            WHERE kind = 'search' AND NOT typing AND result_count = 0
        UNION ALL SELECT day, NULL, 'cached_searches', 1, NULL FROM events
            WHERE kind = 'search' AND coalesce((data->>'cached')::boolean, false)
        UNION ALL SELECT day, collection_id, 'clicks', 1, NULL FROM events
            WHERE kind = 'search_click'
        UNION ALL SELECT day, NULL, 'searches_clicked', 1, NULL FROM clicked
        UNION ALL SELECT day, NULL, 'first_click_rank_sum', rank, NULL FROM clicked
        UNION ALL SELECT day, collection_id,
                         CASE kind WHEN 'document_view' THEN 'views' ELSE 'downloads' END,
                         0, ({WHO}) || '|' || e.document_id || '|' || date_trunc('hour', e.at)
            FROM events e WHERE kind IN ('document_view', 'download')
        UNION ALL SELECT day, collection_id, 'uploads', 1, NULL FROM events
            WHERE kind = 'upload'
        UNION ALL SELECT day, collection_id, 'ingest_' || (data->>'outcome'), 1, NULL
            FROM events WHERE kind = 'ingest' AND data ? 'outcome'
        UNION ALL SELECT day, collection_id, 'ingest_seconds', (data->>'seconds')::float, NULL
            FROM events WHERE kind = 'ingest' AND data->>'outcome' = 'ready'
                AND data ? 'seconds'
        UNION ALL SELECT day, NULL, 'registrations', 1, NULL FROM events
            WHERE kind = 'registration'
        UNION ALL SELECT day, NULL, 'logins', 1, NULL FROM events WHERE kind = 'login'
        UNION ALL SELECT day, NULL, 'logins_failed', 1, NULL FROM events
            WHERE kind = 'login_failed'
        UNION ALL SELECT day, NULL, 'active_users', 0, user_id::text FROM events
            WHERE user_id IS NOT NULL
        UNION ALL SELECT (d.created_at AT TIME ZONE :tz)::date, d.collection_id,
                         'documents_added', 1, NULL
            FROM documents d WHERE d.created_at >= :start AND d.created_at < :end
        UNION ALL SELECT (v.created_at AT TIME ZONE :tz)::date, d.collection_id,
                         'bytes_added', v.size, NULL
            FROM document_versions v JOIN documents d ON d.id = v.document_id
            WHERE v.created_at >= :start AND v.created_at < :end
    )
    SELECT day, metric,
           CASE WHEN grouping(coalesce(cid, -1)) = 1 THEN 0 ELSE coalesce(cid, -1) END
               AS collection_id,
           coalesce(sum(amount) FILTER (WHERE dedupe IS NULL), 0) + count(DISTINCT dedupe)
               AS value
    FROM facts
    GROUP BY GROUPING SETS ((day, metric, coalesce(cid, -1)), (day, metric))
    HAVING grouping(coalesce(cid, -1)) = 1 OR coalesce(cid, -1) <> -1
"""

DOCUMENTS_SELECT = f"""
    WITH {_EVENTS}
    SELECT day, document_id, coalesce(max(collection_id), 0) AS collection_id,
           count(DISTINCT (({WHO}), date_trunc('hour', e.at)))
               FILTER (WHERE kind = 'document_view') AS views,
           count(DISTINCT (({WHO}), date_trunc('hour', e.at)))
               FILTER (WHERE kind = 'download') AS downloads
    FROM events e
    WHERE kind IN ('document_view', 'download') AND document_id IS NOT NULL
    GROUP BY day, document_id
"""

QUERIES_SELECT = f"""
    WITH {_EVENTS}
    SELECT day, 0 AS collection_id, left(q, 1000) AS query,
           count(*) FILTER (WHERE kind = 'search') AS searches,
           count(*) FILTER (WHERE kind = 'search' AND result_count = 0) AS zero_results,
           count(*) FILTER (WHERE kind = 'search_click') AS clicks
    FROM events
    WHERE q <> '' AND (kind = 'search' AND NOT typing OR kind = 'search_click')
    GROUP BY day, q
    UNION ALL
    SELECT day, collection_id, left(q, 1000), 0, 0, count(*)
    FROM events
    WHERE q <> '' AND kind = 'search_click' AND collection_id IS NOT NULL
    GROUP BY day, collection_id, q
"""

FAILURES_SELECT = f"""
    WITH {_EVENTS}
    SELECT day, coalesce(collection_id, 0) AS collection_id,
           left(data->>'outcome', 20) AS outcome, left(coalesce(data->>'step', ''), 40) AS step,
           left(coalesce(data->>'reason', ''), 300) AS reason, count(*) AS count
    FROM events
    WHERE kind = 'ingest' AND data ? 'outcome' AND data->>'outcome' <> 'ready'
    GROUP BY 1, 2, 3, 4, 5
"""

TABLES = {
    "analytics_daily": ("day, metric, collection_id, value", DAILY_SELECT),
    "analytics_daily_documents": (
        "day, document_id, collection_id, views, downloads",
        DOCUMENTS_SELECT,
    ),
    "analytics_daily_queries": (
        "day, collection_id, query, searches, zero_results, clicks",
        QUERIES_SELECT,
    ),
    "analytics_daily_failures": (
        "day, collection_id, outcome, step, reason, count",
        FAILURES_SELECT,
    ),
}


SKETCH_LG_K = 12  # 4 KB a day at most; about 1.6 % error past a few thousand people


def sketch_of(ids: list[int]) -> bytes:
    """A HyperLogLog sketch of these ids (exact for a few hundred, an estimate beyond)."""
    sketch = hll_sketch(SKETCH_LG_K, tgt_hll_type.HLL_8)
    for i in ids:
        sketch.update(int(i))
    return bytes(sketch.serialize_compact())


def distinct(sketches: list[bytes]) -> int:
    """How many different ids the sketches saw together."""
    if not sketches:
        return 0
    union = hll_union(SKETCH_LG_K)
    for raw in sketches:
        union.update(hll_sketch.deserialize(raw))
    return round(union.get_result().get_estimate())


async def day_sketches(session: AsyncSession, span: Span) -> list[tuple[date, bytes]]:
    """Each day's sketch of the users active that day."""
    rows = await sql(
        session,
        text(
            "SELECT (at AT TIME ZONE :tz)::date, array_agg(DISTINCT user_id) "
            "FROM analytics_events WHERE at >= :start AND at < :end AND user_id IS NOT NULL "
            "GROUP BY 1"
        ).bindparams(**span.params()),
    )
    return [(day, sketch_of(ids)) for day, ids in rows.all()]


def today(now: datetime | None = None) -> date:
    """Today in the library's time zone."""
    zone = ZoneInfo(get_settings().library_timezone)
    return (now or datetime.now(UTC)).astimezone(zone).date()


async def store(session: AsyncSession, span: Span) -> None:
    """Compute and store the days of `span` (replacing what was stored for them)."""
    params = span.params()
    for table, (columns, select) in TABLES.items():
        await sql(
            session,
            text(f"DELETE FROM {table} WHERE day BETWEEN :first AND :last").bindparams(
                first=span.first, last=span.last
            ),
        )
        await sql(session, text(f"INSERT INTO {table} ({columns}) {select}").bindparams(**params))
    await sql(
        session,
        text("DELETE FROM analytics_daily_sketches WHERE day BETWEEN :first AND :last").bindparams(
            first=span.first, last=span.last
        ),
    )
    for day, sketch in await day_sketches(session, span):
        await sql(
            session,
            text(
                "INSERT INTO analytics_daily_sketches (day, collection_id, kind, sketch) "
                "VALUES (:day, 0, 'active_users', :sketch)"
            ).bindparams(day=day, sketch=sketch),
        )
    await sql(
        session,
        text(
            "INSERT INTO analytics_rolled_days (day, timezone, rolled_at) "
            "SELECT d::date, :tz, now() FROM generate_series("
            "CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d "
            "ON CONFLICT (day) DO UPDATE SET timezone = excluded.timezone, "
            "rolled_at = excluded.rolled_at"
        ).bindparams(tz=span.timezone, first=span.first, last=span.last),
    )


async def roll(session: AsyncSession, now: datetime | None = None) -> Span | None:
    """The worker, every hour: store the days that ended since the last roll (and the
    last LATE_DAYS again). Returns the span stored (None: nothing to do). Commits."""
    tz = get_settings().library_timezone
    yesterday = today(now) - timedelta(days=1)
    await sql(session, text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK))
    row = (
        await sql(
            session,
            text(
                "SELECT max(day) FILTER (WHERE timezone = :tz), "
                "       bool_or(timezone <> :tz) FROM analytics_rolled_days"
            ).bindparams(tz=tz),
        )
    ).one()
    last_stored, other_zone = row
    if other_zone:  # the library moved its time zone: every day again
        await sql(session, text("DELETE FROM analytics_rolled_days"))
        last_stored = None
    if last_stored is None:
        oldest = (
            await sql(session, text("SELECT min(at) FROM analytics_events"))
        ).scalar_one_or_none()
        first = oldest.astimezone(ZoneInfo(tz)).date() if oldest is not None else yesterday
        first = max(first, yesterday - timedelta(days=FIRST_DAYS))
    else:
        first = min(last_stored + timedelta(days=1), yesterday - timedelta(days=LATE_DAYS - 1))
    if first > yesterday:
        await session.commit()
        return None
    span = Span(first, yesterday, tz)
    await store(session, span)
    await session.commit()
    return span


_LOCK = 0xA7A1E7  # one roll at a time
