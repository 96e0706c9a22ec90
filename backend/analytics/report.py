"""The monthly usage report: one calendar month of the whole library, each figure beside
the month before, as a CSV and a printable page in the object store's `exports/usage/`,
e-mailed to the admins who asked for it.

A month is whole days in the library's time zone (LIBRARY_TIMEZONE), as the dashboards'
days are; every figure comes from the dashboards' own panels (backend.analytics.dashboard)
at the whole library's scope, so the report and the dashboard never disagree.

`make_due` (the worker, every hour at :20) makes last month's report once the library's
clock has passed 03:20 on the 1st, and never twice: the month's row in `usage_reports`
says it was made and mailed. A worker that was down on the 1st makes it within the hour
it comes back. `make` with `force` (the `usage-report` command) makes a month again,
replacing its files; it mails again only when asked to.
"""

import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.analytics import dashboard, report_files, rollups
from backend.analytics.models import UsageReport
from backend.clock import utcnow
from backend.db import sql
from backend.errors import InvalidInput, NotFound
from backend.settings import get_settings
from backend.users.models import Role, User

EXPORTS = "exports/usage"
FORMATS = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
# Into the 1st (library time): yesterday is rolled up, late events flushed.
DUE_AFTER = timedelta(hours=3, minutes=20)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
REPORT_MOST = 16 << 20  # far more than a report of 20-row lists ever holds
_LOCK = 0xA7A1E8  # one report made at a time, whichever worker or command makes it

# (id, panel, figure, label, kind): the figures, in the order the report gives them.
# "held" is what the library held at the month's end (dashboard.held).
FIGURES = (
    ("searches", "searches", "searches", "Searches", "count"),
    ("zero_result_share", "searches", "zero_result_share", "Share with zero results", "share"),
    ("click_through_rate", "searches", "click_through_rate", "Click-through rate", "share"),
    (
        "mean_first_click_rank",
        "searches",
        "mean_first_click_rank",
        "Mean rank of the first click",
        "rank",
    ),
    ("cached_share", "searches", "cached_share", "Share served from the cache", "share"),
    ("searches_typing", "searches", "searches_typing", "Searches while typing", "count"),
    ("views", "documents", "views", "Document views", "count"),
    ("downloads", "documents", "downloads", "Downloads", "count"),
    ("uploads", "uploads", "uploads", "Uploads", "count"),
    ("ingest_ready", "uploads", "ingest_ready", "Uploads made searchable", "count"),
    ("ingest_failed", "uploads", "ingest_failed", "Uploads failed", "count"),
    ("ingest_quarantined", "uploads", "ingest_quarantined", "Uploads quarantined", "count"),
    ("ingest_duplicate", "uploads", "ingest_duplicate", "Duplicate uploads", "count"),
    (
        "mean_seconds_to_searchable",
        "uploads",
        "mean_seconds_to_searchable",
        "Mean time from upload to searchable",
        "seconds",
    ),
    ("active_users", "users", "active_users", "Active users", "count"),
    ("registrations", "users", "registrations", "New registrations", "count"),
    ("logins", "users", "logins", "Logins", "count"),
    ("logins_failed", "users", "logins_failed", "Failed logins", "count"),
    ("documents_added", "storage", "documents_added", "Documents added", "count"),
    ("bytes_added", "storage", "bytes_added", "Bytes added", "bytes"),
    ("documents_held", "held", "documents", "Documents in the library at the end", "count"),
    ("pages_held", "held", "pages", "Pages in the library at the end", "count"),
    ("bytes_held", "held", "bytes", "Bytes stored at the end", "bytes"),
)
# (section, panel, list, columns): the lists of the month (top 20 each).
LISTS = (
    ("top_queries", "queries", "top", ("query", "searches", "clicks")),
    ("zero_result_queries", "queries", "zero_results", ("query", "searches", "handled")),
    (
        "most_viewed_documents",
        "documents",
        "most_views",
        ("document_id", "title", "collection", "views"),
    ),
    (
        "most_downloaded_documents",
        "documents",
        "most_downloads",
        ("document_id", "title", "collection", "downloads"),
    ),
    ("collections", "documents", "collections", ("collection_id", "name", "views", "downloads")),
    ("ingest_failures", "uploads", "failures", ("outcome", "step", "reason", "count")),
)


class _Writer(Protocol):
    async def write(self, data: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class ExportStore(Protocol):
    """What the report needs of the object store (backend.storage's ExportStore, handed in
    by the caller: analytics sits below storage and mail, which record its events)."""

    def writer(self, key: str) -> _Writer: ...
    def read(self, key: str, chunk_size: int = ...) -> AsyncIterator[bytes]: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None: ...


class QueueMail(Protocol):
    """backend.mail.service.queue_message, handed in by the caller."""

    def __call__(
        self, *, session: AsyncSession, to_address: str, subject: str, body: str
    ) -> Awaitable[object]: ...


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, by its first day."""

    first: date

    @classmethod
    def parse(cls, value: str) -> "Month":
        found = _MONTH.match(value)
        if found is None:
            raise InvalidInput("A month is written YYYY-MM.")
        return cls(date(int(found[1]), int(found[2]), 1))

    @property
    def name(self) -> str:
        return f"{self.first:%Y-%m}"

    @property
    def label(self) -> str:
        return f"{self.first:%B %Y}"

    def before(self) -> "Month":
        return Month((self.first - timedelta(days=1)).replace(day=1))

    def after(self) -> "Month":
        return Month((self.first + timedelta(days=31)).replace(day=1))

    def span(self, timezone: str) -> rollups.Span:
        return rollups.Span(self.first, self.after().first - timedelta(days=1), timezone)


@dataclass(frozen=True)
class Figure:
    id: str
    panel: str  # the dashboard's panel it comes from ("held": the library's holdings)
    label: str
    kind: str  # count, share, rank, seconds, bytes
    value: float | None
    previous: float | None


@dataclass(frozen=True)
class Ranked:
    """One of the month's lists: its rows, best first, each with the columns named."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Report:
    month: Month
    timezone: str
    made_at: datetime
    figures: list[Figure]
    lists: list[Ranked]


@dataclass(frozen=True)
class Made:
    month: Month
    built: bool  # False: made before, left alone
    mailed: int  # e-mails queued now


def key(month: Month, fmt: str) -> str:
    return f"{EXPORTS}/{month.name}.{fmt}"


def this_month(now: datetime | None = None) -> Month:
    """The month the library's clock is in."""
    return Month(rollups.today(now).replace(day=1))


def due_month(now: datetime | None = None) -> Month | None:
    """Last month, once its report is due (the 1st, 03:20 library time, has passed)."""
    current = this_month(now)
    local = (now or utcnow()).astimezone(ZoneInfo(get_settings().library_timezone))
    due = datetime.combine(current.first, time()) + DUE_AFTER  # on the library's clock
    return current.before() if local.replace(tzinfo=None) >= due else None


async def collect(session: AsyncSession, month: Month) -> Report:
    """The month's figures and lists, from the dashboards' panels (library scope)."""
    timezone = get_settings().library_timezone
    library = dashboard.Audience(None)
    await sql(session, text("SET LOCAL max_parallel_workers_per_gather = 0"))
    with_figures = {p for _, p, *_ in FIGURES if p != "held"}
    data: dict[Month, dict[str, dict[str, Any]]] = {}
    for m in (month, month.before()):
        span = m.span(timezone)
        # The month's lists too; the month before gives its figures only.
        panels = with_figures | ({p for _, p, *_ in LISTS} if m == month else set())
        found = {p: await dashboard.READERS[p](session, span, library) for p in sorted(panels)}
        data[m] = {p: v.get("totals", {}) for p, v in found.items()}
        data[m]["held"] = await dashboard.held(session, library, until=span.end)
        data[m]["lists"] = found
    figures = [
        Figure(
            fid,
            panel,
            label,
            kind,
            data[month][panel].get(figure),
            data[month.before()][panel].get(figure),
        )
        for fid, panel, figure, label, kind in FIGURES
    ]
    lists = [
        Ranked(
            section,
            columns,
            [{c: row[c] for c in columns} for row in data[month]["lists"][panel].get(part, [])],
        )
        for section, panel, part, columns in LISTS
    ]
    return Report(month, timezone, utcnow(), figures, lists)


async def _put(store: ExportStore, object_key: str, data: bytes) -> None:
    """Write an object, replacing the one a month made again leaves there."""
    await store.delete(object_key)
    writer = store.writer(object_key)
    try:
        await writer.write(data)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise


async def make(
    *,
    session: AsyncSession,
    store: ExportStore,
    mail: QueueMail,
    month: Month,
    force: bool = False,
    mail_again: bool = False,
) -> Made:
    """Make a month's report and e-mail it (through `mail`) to the admins who asked for
    it; a month made before is left alone unless `force`, and mailed again only with
    `mail_again`. Commits."""
    if month >= this_month():
        raise InvalidInput(f"{month.label} has not ended yet.")
    await sql(session, text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK))
    done = (
        await session.exec(
            select(UsageReport)
            .where(UsageReport.month == month.first)
            .execution_options(populate_existing=True)
        )
    ).first()
    if done is not None and not force:
        await session.commit()
        return Made(month, built=False, mailed=0)
    report = await collect(session, month)
    # The files first: a report whose row is committed is in the store. A worker that
    # dies in between leaves files without a row, made again (and mailed) next time.
    await _put(store, key(month, "csv"), report_files.to_csv(report).encode("utf-8-sig"))
    await _put(store, key(month, "html"), report_files.to_html(report).encode("utf-8"))
    row = done or UsageReport(month=month.first, timezone=report.timezone)
    row.timezone, row.built_at = report.timezone, report.made_at
    mailed = 0
    if row.mailed_at is None or mail_again:
        mailed = await _mail(session, mail, report)
        row.mailed_at, row.recipients = utcnow(), mailed
    session.add(row)
    await session.commit()  # (and the e-mails go)
    return Made(month, built=True, mailed=mailed)


async def make_due(
    *, session: AsyncSession, store: ExportStore, mail: QueueMail, now: datetime | None = None
) -> Made | None:
    """The worker, every hour: last month's report, if due and not made yet."""
    month = due_month(now)
    if month is None:
        await session.commit()
        return None
    return await make(session=session, store=store, mail=mail, month=month)


async def recipients(session: AsyncSession) -> list[User]:
    """The admins who asked for the report: active ones only."""
    stmt = (
        select(User)
        .where(
            col(User.role) == Role.ADMIN.value,
            col(User.is_active).is_(True),
            col(User.usage_report_opt_in).is_(True),
        )
        .order_by(col(User.id))
    )
    return list((await session.exec(stmt)).all())


async def _mail(session: AsyncSession, mail: QueueMail, report: Report) -> int:
    people = await recipients(session)
    body = report_files.mail_body(report, get_settings().public_url.rstrip("/"))
    for person in people:
        await mail(
            session=session,
            to_address=person.email,
            subject=f"Usage report: {report.month.label}",
            body=body,
        )
    return len(people)


def _is_admin(actor: User | None) -> bool:
    return actor is not None and actor.is_active and actor.role == Role.ADMIN


async def set_opt_in(*, session: AsyncSession, actor: User | None, opt_in: bool) -> bool:
    """An admin asks for the monthly report by e-mail, or stops it (admins only)."""
    user = require_admin(actor)
    user.usage_report_opt_in = bool(opt_in)
    session.add(user)
    await session.flush()
    return user.usage_report_opt_in


async def opted_in(*, session: AsyncSession, actor: User | None) -> bool | None:
    """Whether the actor gets the report by e-mail; None when they cannot (not an admin)."""
    if actor is None or not _is_admin(actor):
        return None
    return actor.usage_report_opt_in


async def months(*, session: AsyncSession, actor: User | None) -> list[Month]:
    """The months whose report was made, newest first (for admins; nobody else has any)."""
    if not _is_admin(actor):
        return []
    stmt = select(col(UsageReport.month)).order_by(col(UsageReport.month).desc())
    return [Month(m) for m in (await session.exec(stmt)).all()]


async def read_report(
    *, session: AsyncSession, actor: User | None, store: ExportStore, month: str, fmt: str
) -> bytes:
    """A month's report file, for an admin (anyone else: NotFound, as for a month with no
    report). Read whole: a report is a few kilobytes."""
    if not _is_admin(actor) or fmt not in FORMATS:
        raise NotFound(dashboard.NO_DASHBOARD)
    try:
        wanted = key(Month.parse(month), fmt)
    except InvalidInput as exc:
        raise NotFound(dashboard.NO_DASHBOARD) from exc
    if not await store.exists(wanted):
        raise NotFound(dashboard.NO_DASHBOARD)
    data = bytearray()
    async for chunk in store.read(wanted):
        data += chunk
        if len(data) > REPORT_MOST:
            raise InvalidInput("The report is too large to send.")
    return bytes(data)
