"""/admin/analytics: usage, searches, documents, uploads, people and storage, each figure
beside the span before, each table downloadable as CSV."""

from typing import Any

import reflex as rx

from components.common import error_callout, not_found, notice_callout
from state.analytics import SPANS, AnalyticsState

CSV = "/api/v1/admin/analytics"
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed")


def _csv(panel: str, part: str = "series", label: str = "CSV") -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon("download", size=14), label, align="center", spacing="1"),
        href=f"{CSV}/{panel}.csv?part={part}&" + AnalyticsState.csv_query,
        reload_document=True,  # a file from the server, not a page of the app
        size="2",
        id=f"csv-{panel}-{part}",
    )


def _headline(h: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(h["label"], size="2", color_scheme="gray"),
            rx.text(h["value"], size="6", weight="bold", class_name="figure"),
            rx.text("before: ", h["previous"], "  ", h["change"], size="1", color_scheme="gray"),
            spacing="1",
        ),
        data_figure=h["label"],
        min_width="11em",
    )


def _headlines(panel: str) -> rx.Component:
    return rx.flex(
        rx.foreach(
            AnalyticsState.headlines,
            lambda h: rx.cond(h["panel"] == panel, _headline(h), rx.fragment()),
        ),
        wrap="wrap",
        spacing="3",
    )


def _chart(data: rx.Var, lines: list[tuple[str, str]], kind: str = "line") -> rx.Component:
    series = [
        (rx.recharts.line if kind == "line" else rx.recharts.bar)(
            data_key=key,
            name=label,
            stroke=COLORS[i % len(COLORS)],
            fill=COLORS[i % len(COLORS)],
            **({"type_": "monotone", "dot": False} if kind == "line" else {"stack_id": "a"}),
        )
        for i, (key, label) in enumerate(lines)
    ]
    chart = rx.recharts.line_chart if kind == "line" else rx.recharts.bar_chart
    return chart(
        *series,
        rx.recharts.x_axis(data_key="day"),
        rx.recharts.y_axis(allow_decimals=False),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        data=data,
        width="100%",
        height=260,
    )


def _table(headers: tuple[str, ...], rows: rx.Var, cells: Any, **props: Any) -> rx.Component:
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
            rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*cells(r)))),  # type: ignore[arg-type]
            size="1",
            width="100%",
            **props,
        ),
        rx.text("Nothing in these days.", size="2", color_scheme="gray", **props),
    )


def _section(panel: str, title: str, *children: rx.Component) -> rx.Component:
    return rx.cond(
        AnalyticsState.visible.contains(panel),
        rx.card(
            rx.vstack(
                rx.hstack(rx.heading(title, size="5", as_="h2"), rx.spacer(), width="100%"),
                *children,
                spacing="3",
                width="100%",
            ),
            width="100%",
            id=f"panel-{panel}",
        ),
    )


def _span_picker() -> rx.Component:
    return rx.hstack(
        *(
            rx.button(
                f"{d} days",
                variant=rx.cond(AnalyticsState.days == d, "solid", "soft"),
                on_click=AnalyticsState.choose_days(d),
                size="2",
            )
            for d in SPANS
        ),
        rx.form(
            rx.hstack(
                rx.input(
                    type="date",
                    name="from",
                    default_value=AnalyticsState.first,
                    size="2",
                    aria_label="From",
                ),
                rx.text("to"),
                rx.input(
                    type="date",
                    name="to",
                    default_value=AnalyticsState.last,
                    size="2",
                    aria_label="To",
                ),
                rx.button("Show", type="submit", variant="outline", size="2"),
                align="center",
                wrap="wrap",  # on a phone, "Show" goes under the dates
            ),
            on_submit=AnalyticsState.choose_span,
        ),
        wrap="wrap",
        align="center",
        spacing="3",
    )


def _report_links(r: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(r["label"], size="2", min_width="9em"),
        rx.link(
            "Printable page",
            href=r["href"].to(str) + ".html",
            is_external=True,
            size="2",
            id="report-" + r["month"].to(str) + "-html",
        ),
        rx.link(
            "CSV",
            href=r["href"].to(str) + ".csv",
            reload_document=True,
            size="2",
            id="report-" + r["month"].to(str) + "-csv",
        ),
        spacing="3",
        align="center",
    )


def _reports() -> rx.Component:
    """The monthly usage reports (admins: the whole library's, made on each 1st)."""
    return rx.cond(
        AnalyticsState.visible.contains("searches"),
        rx.card(
            rx.vstack(
                rx.heading("Monthly reports", size="5", as_="h2"),
                rx.cond(
                    AnalyticsState.reports.length() > 0,
                    rx.vstack(rx.foreach(AnalyticsState.reports, _report_links), spacing="1"),
                    rx.text(
                        "None yet: the first is made on the 1st of next month.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
            id="monthly-reports",
        ),
    )


def _dashboard() -> rx.Component:
    return rx.vstack(
        rx.heading("Analytics", size="7", as_="h1"),
        rx.text(AnalyticsState.span_label, color_scheme="gray", size="2"),
        rx.cond(
            ~AnalyticsState.visible.contains("searches"),
            rx.text("The figures of the collections you curate.", color_scheme="gray", size="2"),
        ),
        _span_picker(),
        error_callout(AnalyticsState.error),
        notice_callout(AnalyticsState.notice),
        _section(
            "searches",
            "Searches",
            _headlines("searches"),
            _chart(
                AnalyticsState.search_series,
                [
                    ("searches", "Searches"),
                    ("zero_results", "Zero results"),
                    ("searches_clicked", "With a click"),
                ],
            ),
            _csv("searches"),
        ),
        _section(
            "queries",
            "Queries",
            rx.grid(
                rx.vstack(
                    rx.heading(
                        rx.cond(
                            AnalyticsState.visible.contains("searches"),
                            "Most asked",
                            "Queries that led into your collections",
                        ),
                        size="3",
                        as_="h3",
                    ),
                    _table(
                        ("Query", "Searches", "Clicks"),
                        AnalyticsState.top_queries,
                        lambda r: (
                            rx.table.cell(rx.link(r["query"], href=r["href"])),
                            rx.table.cell(r["searches"]),
                            rx.table.cell(r["clicks"]),
                        ),
                        id="top-queries",
                    ),
                    _csv("queries", "top"),
                ),
                rx.cond(
                    AnalyticsState.visible.contains("searches"),
                    rx.vstack(
                        rx.heading("Found nothing", size="3", as_="h3"),
                        _table(
                            ("Query", "Searches", ""),
                            AnalyticsState.zero_queries,
                            lambda r: (
                                rx.table.cell(rx.link(r["query"], href=r["href"])),
                                rx.table.cell(r["searches"]),
                                rx.table.cell(
                                    rx.cond(
                                        r["handled"],
                                        rx.button(
                                            "Handled ✓",
                                            size="1",
                                            variant="ghost",
                                            on_click=AnalyticsState.mark_handled(r["query"], False),
                                        ),
                                        rx.button(
                                            "Mark handled",
                                            size="1",
                                            variant="soft",
                                            on_click=AnalyticsState.mark_handled(r["query"], True),
                                        ),
                                    )
                                ),
                            ),
                            id="zero-queries",
                        ),
                        _csv("queries", "zero_results"),
                    ),
                ),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="5",
                width="100%",
            ),
        ),
        _section(
            "documents",
            "Documents",
            _headlines("documents"),
            _chart(
                AnalyticsState.document_series, [("views", "Views"), ("downloads", "Downloads")]
            ),
            _csv("documents"),
            rx.grid(
                *(
                    rx.vstack(
                        rx.heading(title, size="3", as_="h3"),
                        _table(
                            ("Document", "Collection", measure.capitalize()),
                            rows,
                            lambda r, measure=measure: (
                                rx.table.cell(rx.link(r["title"], href=r["href"])),
                                rx.table.cell(r["collection"]),
                                rx.table.cell(r[measure]),
                            ),
                        ),
                        _csv("documents", f"most_{measure}"),
                    )
                    for title, rows, measure in (
                        ("Most viewed", AnalyticsState.most_viewed, "views"),
                        ("Most downloaded", AnalyticsState.most_downloaded, "downloads"),
                    )
                ),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="5",
                width="100%",
            ),
            rx.heading("Collections", size="3", as_="h3"),
            _table(
                ("Collection", "Views", "Downloads"),
                AnalyticsState.top_collections,
                lambda r: (
                    rx.table.cell(r["name"]),
                    rx.table.cell(r["views"]),
                    rx.table.cell(r["downloads"]),
                ),
            ),
            _csv("documents", "collections"),
        ),
        _section(
            "uploads",
            "Uploads",
            _headlines("uploads"),
            _chart(
                AnalyticsState.upload_series,
                [
                    ("ingest_ready", "Ready"),
                    ("ingest_failed", "Failed"),
                    ("ingest_duplicate", "Duplicate"),
                    ("ingest_quarantined", "Quarantined"),
                    ("ingest_needs_password", "Needs a password"),
                ],
                kind="bar",
            ),
            _csv("uploads"),
            rx.heading("Why files failed", size="3", as_="h3"),
            _table(
                ("Outcome", "Step", "Reason", "Files"),
                AnalyticsState.failures,
                lambda r: (
                    rx.table.cell(r["outcome"]),
                    rx.table.cell(r["step"]),
                    rx.table.cell(r["reason"]),
                    rx.table.cell(r["count"]),
                ),
            ),
            _csv("uploads", "failures"),
        ),
        _section(
            "users",
            "People",
            _headlines("users"),
            rx.text(
                "Active users over the span and per week are estimates (HyperLogLog "
                "sketches of each day's people): exact for small numbers, within about "
                "2 % past a few thousand. Each day's count is exact.",
                size="1",
                color_scheme="gray",
                id="estimate-note",
            ),
            _chart(
                AnalyticsState.user_series,
                [
                    ("active_users", "Active"),
                    ("registrations", "Registered"),
                    ("logins_failed", "Failed logins"),
                ],
            ),
            _csv("users"),
            _table(
                ("Week of", "Active users (estimate)"),
                AnalyticsState.weekly,
                lambda r: (rx.table.cell(r["week"]), rx.table.cell(r["active_users"])),
            ),
            _csv("users", "weekly_active", "Weekly CSV"),
        ),
        _section(
            "storage",
            "Storage",
            rx.text(
                AnalyticsState.now["documents"],
                " documents, ",
                AnalyticsState.now["pages"],
                " pages, ",
                AnalyticsState.now["bytes"],
                " stored.",
                id="storage-now",
            ),
            _headlines("storage"),
            _chart(AnalyticsState.storage_series, [("bytes_added", "Bytes added")], kind="bar"),
            _csv("storage"),
        ),
        _reports(),
        spacing="4",
        width="100%",
    )


def analytics() -> rx.Component:
    return rx.cond(
        AnalyticsState.not_found, not_found("There is no page at this address."), _dashboard()
    )
