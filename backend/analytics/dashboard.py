"""The analytics dashboards' figures, for admins (the whole library) and librarians (the
collections they curate, never another's).

Each panel reads the daily rollups (backend.analytics.rollups) for the days stored, and
computes the days not stored yet (today, normally) with the rollups' own SELECTs, so a
figure is defined once. Every panel gives its figures for the span asked and for the
span of the same length just before it.

Panels: searches, queries, documents, uploads, users, storage. A panel is a dict of
plain values (for the page's state and the CSV export): `series` (one row per day),
`totals` and `previous` (figures over the span and the span before), and lists.
"""

import csv
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import is_staff
from backend.access.scope import curated_collection_ids
from backend.analytics import events, rollups
from backend.db import sql
from backend.errors import InvalidInput, NotFound
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role, User

T = TypeVar("T")
PANELS = ("searches", "queries", "documents", "uploads", "users", "storage")
# Panels with figures of the whole library only (what people searched, who came).
LIBRARY_ONLY = {"searches", "users"}
MOST_DAYS = 366
TOP = 20
NO_DASHBOARD = "No such page."


@dataclass(frozen=True)
class Audience:
    """Whose figures: None for the whole library (admins), else these collections."""

    collections: list[int] | None


def _within(who: Audience, column: str, params: dict[str, Any], library: str = "true") -> str:
    """The SQL condition on `column` (a collection id) that keeps the audience's rows:
    `library` for the whole library, else its collections (bound in `params`)."""
    if who.collections is None:
        return library
    params["cids"] = who.collections
    return f"{column} = ANY(:cids)"


async def audience(session: AsyncSession, actor: User | None) -> Audience:
    """Admins see the library; librarians the collections they curate; anyone else
    nothing (NotFound, as for a page that does not exist)."""
    if not is_staff(actor) or actor is None:
        raise NotFound(NO_DASHBOARD)
    if actor.role == Role.ADMIN:
        return Audience(None)
    ids = (await session.exec(curated_collection_ids(actor))).all()
    return Audience(sorted(i for i in ids if i is not None))


def span_of(days: int | None = None, first: str = "", last: str = "") -> rollups.Span:
    """The span asked: the last `days` days up to today, or [first, last] (ISO dates)."""
    tz = get_settings().library_timezone
    today = rollups.today()
    if days is not None:
        if not 1 <= days <= MOST_DAYS:
            raise InvalidInput(f"Choose between 1 and {MOST_DAYS} days.")
        return rollups.Span(today - timedelta(days=days - 1), today, tz)
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        raise InvalidInput("Dates are written YYYY-MM-DD.") from exc
    if start > end:
        raise InvalidInput("The first day comes after the last.")
    if end > today:
        raise InvalidInput("The last day is in the future.")
    if (end - start).days + 1 > MOST_DAYS:
        raise InvalidInput(f"Choose at most {MOST_DAYS} days.")
    return rollups.Span(start, end, tz)


def previous(span: rollups.Span) -> rollups.Span:
    length = (span.last - span.first).days + 1
    return rollups.Span(
        span.first - timedelta(days=length), span.first - timedelta(days=1), span.timezone
    )


async def _unrolled_from(session: AsyncSession, span: rollups.Span) -> date:
    """The first day of the span whose figures are not stored (after `last`: all are)."""
    rows = await sql(
        session,
        text(
            "SELECT day FROM analytics_rolled_days WHERE timezone = :tz "
            "AND day BETWEEN :first AND :last"
        ).bindparams(tz=span.timezone, first=span.first, last=span.last),
    )
    stored = {d for (d,) in rows.all()}
    day = span.first
    while day <= span.last and day in stored:
        day += timedelta(days=1)
    return day


async def _rows(
    session: AsyncSession,
    table: str,
    span: rollups.Span,
    columns: str,
    where: str,
    params: dict[str, Any],
) -> str:
    """SQL of a rollup table's rows over the span (stored days, and the others computed
    now), filtered by `where`; the bind values are added to `params` in place."""
    live_first = await _unrolled_from(session, span)
    parts = [
        f"SELECT {columns} FROM {table} r WHERE r.day BETWEEN :first AND :stored_last AND ({where})"
    ]
    params.update(first=span.first, stored_last=live_first - timedelta(days=1))
    if live_first <= span.last:
        live = rollups.Span(live_first, span.last, span.timezone)
        # The rows as the table would hold them (its own row type), from JSON.
        parts.append(
            f"SELECT {columns} FROM json_populate_recordset(NULL::{table}, "
            f"CAST(:live_{table} AS json)) r WHERE ({where})"
        )
        params[f"live_{table}"] = await _live_rows(session, table, live)
    return " UNION ALL ".join(parts)


LIVE_SECONDS = 60.0
_live: dict[tuple[str, date, date, str, str], tuple[float, Any]] = {}


async def _cached(
    session: AsyncSession, name: str, live: rollups.Span, compute: Callable[[], Awaitable[T]]
) -> T:
    """What `compute` gives for days not stored yet (today), from the events. Kept in
    this process until the next flush stores more events (or LIVE_SECONDS): the panels
    of one page load, and everyone looking at the same time, share one computation."""
    try:
        flushed = str(await get_redis().get(events.FLUSHED) or "none")
    except RedisError:
        flushed = ""
    key = (name, live.first, live.last, live.timezone, flushed)
    now = time.monotonic()
    found = _live.get(key)
    if flushed and found is not None and found[0] > now:
        return cast(T, found[1])
    value = await compute()
    for k in [k for k, (expires, _) in _live.items() if expires <= now]:
        del _live[k]
    _live[key] = (now + LIVE_SECONDS, value)
    return value


async def _live_rows(session: AsyncSession, table: str, live: rollups.Span) -> str:
    """A rollup table's rows for days not stored yet, computed with the rollups' own
    SELECT, as JSON (cached, see _cached)."""

    async def compute() -> str:
        _, select_sql = rollups.TABLES[table]
        rows = await sql(
            session,
            text(f"SELECT coalesce(json_agg(r), '[]')::text FROM ({select_sql}) r").bindparams(
                **live.params()
            ),
        )
        return str(rows.scalar_one())

    return await _cached(session, table, live, compute)


async def _query(session: AsyncSession, statement: str, params: dict[str, Any]) -> list[Any]:
    return list((await sql(session, text(statement).bindparams(**params))).all())


async def _daily(
    session: AsyncSession, span: rollups.Span, who: Audience, metrics: list[str]
) -> dict[str, dict[date, float]]:
    """metric -> day -> value, for the audience (the library, or the sum of its
    collections)."""
    params: dict[str, Any] = {"metrics": metrics}
    where = "r.metric = ANY(:metrics) AND " + _within(
        who, "r.collection_id", params, library="r.collection_id = 0"
    )
    inner = await _rows(session, "analytics_daily", span, "r.day, r.metric, r.value", where, params)
    rows = await _query(
        session, f"SELECT day, metric, sum(value) FROM ({inner}) x GROUP BY 1, 2", params
    )
    out: dict[str, dict[date, float]] = {m: {} for m in metrics}
    for day, metric, value in rows:
        out[metric][day] = float(value)
    return out


def _series(span: rollups.Span, values: dict[str, dict[date, float]]) -> list[dict[str, Any]]:
    days = [span.first + timedelta(days=n) for n in range((span.last - span.first).days + 1)]
    return [{"day": d.isoformat(), **{m: values[m].get(d, 0.0) for m in values}} for d in days]


def _sum(values: dict[str, dict[date, float]]) -> dict[str, float]:
    return {m: sum(v.values()) for m, v in values.items()}


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


async def _figures(
    session: AsyncSession,
    span: rollups.Span,
    who: Audience,
    metrics: list[str],
    derived: Any,
) -> dict[str, Any]:
    now = await _daily(session, span, who, metrics)
    before = await _daily(session, previous(span), who, metrics)
    return {
        "series": _series(span, now),
        "totals": derived(_sum(now)),
        "previous": derived(_sum(before)),
    }


async def searches(session: AsyncSession, span: rollups.Span, who: Audience) -> dict[str, Any]:
    """Searches per day; share with zero results; click-through rate; mean rank of the
    first click; share served from the cache; searches while typing."""

    def derived(t: dict[str, float]) -> dict[str, Any]:
        return {
            "searches": t["searches"],
            "zero_result_share": _share(t["zero_results"], t["searches"]),
            "click_through_rate": _share(t["searches_clicked"], t["searches"]),
            "mean_first_click_rank": _share(t["first_click_rank_sum"], t["searches_clicked"]),
            "cached_share": _share(t["cached_searches"], t["searches"] + t["searches_typing"]),
            "searches_typing": t["searches_typing"],
        }

    metrics = [
        "searches",
        "zero_results",
        "cached_searches",
        "searches_clicked",
        "first_click_rank_sum",
        "searches_typing",
    ]
    return await _figures(session, span, who, metrics, derived)


async def queries(session: AsyncSession, span: rollups.Span, who: Audience) -> dict[str, Any]:
    """The most asked queries, the zero-result ones (and whether marked handled); for a
    librarian, the queries whose results led into their collections."""
    params: dict[str, Any] = {"top": TOP}
    where = _within(who, "r.collection_id", params, library="r.collection_id = 0")
    inner = await _rows(
        session,
        "analytics_daily_queries",
        span,
        "r.query, r.searches, r.zero_results, r.clicks",
        where,
        params,
    )
    grouped = (
        f"SELECT query, sum(searches) AS searches, sum(zero_results) AS zero, "
        f"sum(clicks) AS clicks FROM ({inner}) x GROUP BY query"
    )
    order = "searches DESC" if who.collections is None else "clicks DESC"
    top = await _query(session, f"{grouped} ORDER BY {order}, query LIMIT :top", params)
    out: dict[str, Any] = {
        "top": [{"query": q, "searches": int(s), "clicks": int(c)} for q, s, _, c in top]
    }
    if who.collections is None:
        zero = await _query(
            session,
            f"SELECT g.query, g.zero, h.query IS NOT NULL FROM ({grouped}) g "
            f"LEFT JOIN analytics_handled_queries h ON h.query = g.query "
            f"WHERE g.zero > 0 ORDER BY h.query IS NOT NULL, g.zero DESC, g.query LIMIT :top",
            params,
        )
        out["zero_results"] = [
            {"query": q, "searches": int(z), "handled": bool(h)} for q, z, h in zero
        ]
    return out


async def documents(session: AsyncSession, span: rollups.Span, who: Audience) -> dict[str, Any]:
    """The most viewed and most downloaded documents, and collections."""
    params: dict[str, Any] = {"top": TOP}
    where = _within(who, "r.collection_id", params)
    inner = await _rows(
        session,
        "analytics_daily_documents",
        span,
        "r.document_id, r.collection_id, r.views, r.downloads",
        where,
        params,
    )
    # One pass over the days' rows: each document's sums, then the three lists from them.
    per_document = f"""
        WITH per AS MATERIALIZED (
            SELECT x.document_id, max(x.collection_id) AS collection_id,
                   sum(x.views) AS views, sum(x.downloads) AS downloads
            FROM ({inner}) x GROUP BY x.document_id
        )
    """
    top = """
        SELECT coalesce(json_agg(json_build_array(p.document_id, d.title, c.name, p.n)
                                 ORDER BY p.n DESC, p.document_id), '[]')
        FROM (SELECT document_id, {m} AS n FROM per WHERE {m} > 0
              ORDER BY {m} DESC, document_id LIMIT :top) p
        JOIN documents d ON d.id = p.document_id
        JOIN collections c ON c.id = d.collection_id
    """
    (views, downloads, collections), *_ = await _query(
        session,
        f"""
        {per_document}
        SELECT ({top.format(m="views")}), ({top.format(m="downloads")}),
               (SELECT coalesce(json_agg(json_build_array(id, name, v, d)
                                         ORDER BY v + d DESC, id), '[]')
                FROM (SELECT c.id, c.name, sum(p.views) AS v, sum(p.downloads) AS d
                      FROM per p JOIN collections c ON c.id = p.collection_id
                      GROUP BY 1, 2 ORDER BY sum(p.views) + sum(p.downloads) DESC, c.id
                      LIMIT :top) t)
        """,
        params,
    )
    out: dict[str, Any] = {
        f"most_{measure}": [
            {"document_id": i, "title": t, "collection": c, measure: int(n)} for i, t, c, n in found
        ]
        for measure, found in (("views", views), ("downloads", downloads))
    }
    out["collections"] = [
        {"collection_id": i, "name": n, "views": int(v), "downloads": int(d)}
        for i, n, v, d in collections
    ]
    figures = await _figures(session, span, who, ["views", "downloads"], lambda t: t)
    return {**figures, **out}


async def uploads(session: AsyncSession, span: rollups.Span, who: Audience) -> dict[str, Any]:
    """Uploads per day; how their processing ended; failures by reason; the mean time
    from upload to searchable."""

    def derived(t: dict[str, float]) -> dict[str, Any]:
        return {
            **{k: t[k] for k in metrics if k != "ingest_seconds"},
            "mean_seconds_to_searchable": _share(t["ingest_seconds"], t["ingest_ready"]),
        }

    metrics = [
        "uploads",
        "ingest_ready",
        "ingest_failed",
        "ingest_quarantined",
        "ingest_duplicate",
        "ingest_needs_password",
        "ingest_seconds",
    ]
    figures = await _figures(session, span, who, metrics, derived)
    params: dict[str, Any] = {"top": TOP}
    where = _within(who, "r.collection_id", params)
    inner = await _rows(
        session,
        "analytics_daily_failures",
        span,
        "r.outcome, r.step, r.reason, r.count",
        where,
        params,
    )
    rows = await _query(
        session,
        f"SELECT outcome, step, reason, sum(count) FROM ({inner}) x GROUP BY 1, 2, 3 "
        f"ORDER BY 4 DESC, 1, 2, 3 LIMIT :top",
        params,
    )
    figures["failures"] = [
        {"outcome": o, "step": s, "reason": r, "count": int(n)} for o, s, r, n in rows
    ]
    return figures


async def users(session: AsyncSession, span: rollups.Span, who: Audience) -> dict[str, Any]:
    """Active users per day and per week, registrations, logins, failed logins."""
    metrics = ["active_users", "registrations", "logins", "logins_failed"]
    figures = await _figures(session, span, who, metrics, lambda t: t)
    # Different people over the span (and each week of it): the union of the days'
    # sketches, not the sum of each day's count.
    now = await _day_sketches(session, span)
    figures["totals"]["active_users"] = rollups.distinct([k for _, k in now])
    before = await _day_sketches(session, previous(span))
    figures["previous"]["active_users"] = rollups.distinct([k for _, k in before])
    by_week: dict[date, list[bytes]] = {}
    for day, k in now:
        by_week.setdefault(day - timedelta(days=day.weekday()), []).append(k)
    weeks = [(w, rollups.distinct(ks)) for w, ks in sorted(by_week.items())]
    figures["weekly_active"] = [{"week": w.isoformat(), "active_users": n} for w, n in weeks]
    return figures


async def _day_sketches(session: AsyncSession, span: rollups.Span) -> list[tuple[date, bytes]]:
    """The sketch of each day's active users: stored, or (today) computed now."""
    live_first = await _unrolled_from(session, span)
    rows = await sql(
        session,
        text(
            "SELECT day, sketch FROM analytics_daily_sketches WHERE kind = 'active_users' "
            "AND collection_id = 0 AND day BETWEEN :first AND :last"
        ).bindparams(first=span.first, last=live_first - timedelta(days=1)),
    )
    found: list[tuple[date, bytes]] = [(d, bytes(k)) for d, k in rows.all()]
    if live_first <= span.last:
        live = rollups.Span(live_first, span.last, span.timezone)
        found += await _cached(
            session, "sketches", live, lambda: rollups.day_sketches(session, live)
        )
    return found


async def storage(session: AsyncSession, span: rollups.Span, who: Audience) -> dict[str, Any]:
    """Storage used now and its growth per day; documents and pages in the library."""
    figures = await _figures(session, span, who, ["bytes_added", "documents_added"], lambda t: t)
    figures["now"] = await held(session, who)
    return figures


async def held(
    session: AsyncSession, who: Audience, until: datetime | None = None
) -> dict[str, int]:
    """The documents listed, their pages and the bytes stored: now, or of what had been
    added before `until` (and is still in the library)."""
    params: dict[str, Any] = {}
    where, versions_where = (_within(who, f"{t}.collection_id", params) for t in ("d", "d2"))
    before = "true"
    if until is not None:
        params["until"], before = until, "{t}.created_at < :until"
    row = (
        await _query(
            session,
            f"""
            SELECT count(*) FILTER (WHERE d.listed),
                   coalesce(sum(cv.page_count) FILTER (WHERE d.listed), 0),
                   coalesce((SELECT sum(v.size) FROM document_versions v
                             JOIN documents d2 ON d2.id = v.document_id
                             WHERE {versions_where} AND {before.format(t="v")}), 0)
            FROM documents d LEFT JOIN document_versions cv ON cv.id = d.current_version_id
            WHERE {where} AND {before.format(t="d")}
            """,
            params,
        )
    )[0]
    return {"documents": int(row[0]), "pages": int(row[1]), "bytes": int(row[2])}


READERS = {
    "searches": searches,
    "queries": queries,
    "documents": documents,
    "uploads": uploads,
    "users": users,
    "storage": storage,
}


async def panel(
    *, session: AsyncSession, actor: User | None, name: str, span: rollups.Span
) -> dict[str, Any]:
    """One panel's figures, as the actor may see them."""
    who = await audience(session, actor)
    if name not in READERS or who.collections is not None and name in LIBRARY_ONLY:
        raise NotFound(NO_DASHBOARD)
    # Rollups are small; a parallel plan that scans the live rows (a function over a
    # JSON parameter) beside them took minutes where a plain one takes milliseconds.
    await sql(session, text("SET LOCAL max_parallel_workers_per_gather = 0"))
    return await READERS[name](session, span, who)


async def panels_for(session: AsyncSession, actor: User | None) -> list[str]:
    """The panels the actor sees (librarians: those about their collections)."""
    who = await audience(session, actor)
    return [p for p in PANELS if who.collections is None or p not in LIBRARY_ONLY]


async def mark_handled(
    *, session: AsyncSession, actor: User | None, query: str, handled: bool = True
) -> None:
    """Mark a zero-result query handled (a synonym added, a document found), or not."""
    who = await audience(session, actor)
    if who.collections is not None:
        raise NotFound(NO_DASHBOARD)
    assert actor is not None
    q = " ".join(query.lower().split())[:1000]
    if not q:
        raise InvalidInput("Which query?")
    if handled:
        stmt = text(
            "INSERT INTO analytics_handled_queries (query, handled_by) VALUES (:q, :u) "
            "ON CONFLICT (query) DO UPDATE SET handled_by = :u, handled_at = now()"
        ).bindparams(q=q, u=actor.id)
    else:
        stmt = text("DELETE FROM analytics_handled_queries WHERE query = :q").bindparams(q=q)
    await sql(session, stmt)


def parts(data: dict[str, Any]) -> list[str]:
    """The tables of a panel a CSV can hold: its series (one row per day) and its lists."""
    return [k for k, v in data.items() if isinstance(v, list) and (not v or isinstance(v[0], dict))]


def to_csv(data: dict[str, Any], part: str) -> str:
    """One table of a panel as CSV (a header row, then one row per day or per item)."""
    if part not in parts(data):
        raise NotFound(NO_DASHBOARD)
    rows: list[dict[str, Any]] = data[part]
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            # A value a spreadsheet would run as a formula is written as text.
            writer.writerow({k: safe_cell(v) for k, v in row.items()})
    return out.getvalue()


def safe_cell(value: Any) -> Any:
    """A CSV cell: a text a spreadsheet would run as a formula is written as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def export(
    *,
    session: AsyncSession,
    actor: User | None,
    name: str,
    part: str,
    days: int | None = None,
    first: str = "",
    last: str = "",
) -> str:
    """A panel's table as CSV, for the span asked (days, or first..last)."""
    span = span_of(days, first, last) if days is not None or first or last else span_of(30)
    return to_csv(await panel(session=session, actor=actor, name=name, span=span), part)
