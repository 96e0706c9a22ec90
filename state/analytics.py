"""The analytics dashboard: figures for admins (the library) and librarians (their
collections). Thin: every figure and every refusal comes from backend.analytics.dashboard.

The span is in the address (?days=30, or ?from=YYYY-MM-DD&to=YYYY-MM-DD), so a view can be
shared and reloaded; choosing another span navigates to it.
"""

from typing import Any
from urllib.parse import urlencode

import reflex as rx
from reflex.event import EventSpec

from backend.analytics import dashboard, report
from backend.analytics.report_files import number
from backend.errors import LibraryError, NotFound
from backend.search.service import search_address
from state.session import perform, reading

SPANS = (7, 30, 90)
PAGE = "/admin/analytics"
REPORTS = "/api/v1/admin/reports/usage"


def _change(now: Any, before: Any) -> str:
    if now is None or before is None:
        return ""
    if not before:
        return "new" if now else "="
    pct = (float(now) - float(before)) / float(before) * 100
    return "=" if abs(pct) < 0.05 else f"{pct:+.0f} %"


# (panel, figure, label, kind): the headline figures, each beside the span before.
HEADLINES = (
    ("searches", "searches", "Searches", "count"),
    ("searches", "zero_result_share", "Zero results", "share"),
    ("searches", "click_through_rate", "Click-through", "share"),
    ("searches", "mean_first_click_rank", "Rank of first click", "rank"),
    ("searches", "cached_share", "From cache", "share"),
    ("documents", "views", "Views", "count"),
    ("documents", "downloads", "Downloads", "count"),
    ("uploads", "uploads", "Uploads", "count"),
    ("uploads", "ingest_failed", "Failed", "count"),
    ("uploads", "mean_seconds_to_searchable", "Upload to searchable", "seconds"),
    ("users", "active_users", "Active users", "count"),
    ("users", "registrations", "Registrations", "count"),
    ("users", "logins_failed", "Failed logins", "count"),
    ("storage", "bytes_added", "Bytes added", "bytes"),
    ("storage", "documents_added", "Documents added", "count"),
)


class AnalyticsState(rx.State):
    not_found: bool = False
    error: str = ""
    notice: str = ""
    days: int = 30
    first: str = ""
    last: str = ""
    span_label: str = ""
    csv_query: str = "days=30"
    visible: list[str] = []
    headlines: list[dict[str, str]] = []
    search_series: list[dict[str, Any]] = []
    document_series: list[dict[str, Any]] = []
    upload_series: list[dict[str, Any]] = []
    user_series: list[dict[str, Any]] = []
    storage_series: list[dict[str, Any]] = []
    top_queries: list[dict[str, Any]] = []
    zero_queries: list[dict[str, Any]] = []
    most_viewed: list[dict[str, Any]] = []
    most_downloaded: list[dict[str, Any]] = []
    top_collections: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    weekly: list[dict[str, Any]] = []
    now: dict[str, str] = {}
    reports: list[dict[str, str]] = []  # the monthly usage reports made (admins)

    def _forget(self) -> None:
        self.visible, self.headlines, self.now = [], [], {}
        self.search_series, self.document_series, self.upload_series = [], [], []
        self.user_series, self.storage_series, self.weekly = [], [], []
        self.top_queries, self.zero_queries, self.failures = [], [], []
        self.most_viewed, self.most_downloaded, self.top_collections = [], [], []
        self.reports = []

    async def _reload(self) -> None:
        params = self.router.url.query_parameters
        first, last = params.get("from", ""), params.get("to", "")
        try:
            days = int(params.get("days", "30")) if not (first or last) else None
        except ValueError:
            days = 30
        span = dashboard.span_of(days, first, last)
        async with reading(self) as (session, actor):
            names = await dashboard.panels_for(session, actor)
            data = {
                n: await dashboard.panel(session=session, actor=actor, name=n, span=span)
                for n in names
            }
            months = await report.months(session=session, actor=actor)
            await session.commit()
        self.visible = names
        self.reports = [
            {"month": m.name, "label": m.label, "href": f"{REPORTS}/{m.name}"} for m in months
        ]
        self.days = days or 0
        self.first, self.last = span.first.isoformat(), span.last.isoformat()
        before = dashboard.previous(span)
        self.span_label = (
            f"{span.first:%d %b %Y} – {span.last:%d %b %Y}, beside "
            f"{before.first:%d %b %Y} – {before.last:%d %b %Y} ({span.timezone})"
        )
        self.csv_query = urlencode({"days": days} if days else {"from": first, "to": last})
        self.headlines = [
            {
                "panel": p,
                "label": label,
                "value": number(data[p]["totals"].get(f), kind),
                "previous": number(data[p]["previous"].get(f), kind),
                "change": _change(data[p]["totals"].get(f), data[p]["previous"].get(f)),
            }
            for p, f, label, kind in HEADLINES
            if p in data
        ]
        empty: dict[str, Any] = {}
        self.search_series = data.get("searches", empty).get("series", [])
        self.document_series = data.get("documents", empty).get("series", [])
        self.upload_series = data.get("uploads", empty).get("series", [])
        self.user_series = data.get("users", empty).get("series", [])
        self.storage_series = data.get("storage", empty).get("series", [])
        self.weekly = data.get("users", empty).get("weekly_active", [])
        q = data.get("queries", empty)
        self.top_queries = [{**r, "href": search_address(r["query"])} for r in q.get("top", [])]
        self.zero_queries = [
            {**r, "href": search_address(r["query"])} for r in q.get("zero_results", [])
        ]
        d = data.get("documents", empty)
        self.most_viewed = [
            {**r, "href": f"/documents/{r['document_id']}"} for r in d.get("most_views", [])
        ]
        self.most_downloaded = [
            {**r, "href": f"/documents/{r['document_id']}"} for r in d.get("most_downloads", [])
        ]
        self.top_collections = d.get("collections", [])
        self.failures = data.get("uploads", empty).get("failures", [])
        held = data.get("storage", empty).get("now", {})
        self.now = (
            {
                "documents": number(held["documents"]),
                "pages": number(held["pages"]),
                "bytes": number(held["bytes"], "bytes"),
            }
            if held
            else {}
        )

    @rx.event
    async def load(self) -> None:
        self.error = self.notice = ""
        try:
            await self._reload()
            self.not_found = False
        except NotFound:
            self.not_found = True
            self._forget()
        except LibraryError as exc:  # a span that cannot be: the last 30 days instead
            self.error = str(exc)
            self._forget()

    @rx.event
    def choose_days(self, days: int) -> EventSpec:
        days = int(days) if int(days) in SPANS else 30
        return rx.redirect(f"{PAGE}?days={days}")

    @rx.event
    def choose_span(self, form: dict[str, Any]) -> EventSpec:
        first, last = str(form.get("from", ""))[:10], str(form.get("to", ""))[:10]
        return rx.redirect(f"{PAGE}?{urlencode({'from': first, 'to': last})}")

    @rx.event
    async def mark_handled(self, query: str, handled: bool) -> None:
        self.error = self.notice = ""
        try:
            await perform(self, dashboard.mark_handled, query=str(query), handled=bool(handled))
            self.notice = "Marked handled." if handled else "Marked not handled."
            await self._reload()
        except NotFound:
            self.not_found = True
            self._forget()
        except LibraryError as exc:
            self.error = str(exc)
