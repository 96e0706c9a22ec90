"""/admin/status: is everything running? Services, the queue, the workers, failed jobs
(with a retry) and what waits to be processed, refreshed every few seconds."""

from typing import Any

import reflex as rx

from components.common import error_callout, not_found, notice_callout
from state.status import REFRESH_SECONDS, StatusState

STATE_COLORS = {"ok": "green", "problem": "red", "off": "gray"}


def _table(headers: tuple[str, ...], rows: rx.Var, cells: Any, **props: Any) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
        rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*cells(r)))),  # type: ignore[arg-type]
        size="1",
        width="100%",
        **props,
    )


def _check(c: rx.Var) -> tuple[rx.Component, ...]:
    return (
        rx.table.row_header_cell(c["name"]),
        rx.table.cell(
            rx.match(
                c["state"],
                ("ok", rx.badge(c["label"], color_scheme="green")),
                ("problem", rx.badge(c["label"], color_scheme="red")),
                rx.badge(c["label"], color_scheme="gray"),
            )
        ),
        rx.table.cell(c["summary"]),
    )


def _failed(f: rx.Var) -> tuple[rx.Component, ...]:
    return (
        rx.table.cell(rx.code(f["function"]), rx.text(f["args"], size="1", color_scheme="gray")),
        rx.table.cell(rx.text(f["reason"], size="1", class_name="reason")),
        rx.table.cell(f["times"]),
        rx.table.cell(rx.text(f["last"], size="1"), rx.text("first ", f["first"], size="1")),
        rx.table.cell(
            rx.cond(
                f["retried"] != "",
                rx.text(f["retried"], size="1", color_scheme="gray"),
                rx.button(
                    "Retry",
                    size="1",
                    on_click=StatusState.retry(f["signature"]),
                    aria_label="Retry " + f["function"],
                ),
            )
        ),
    )


def _page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("System status", size="7", as_="h1"),
            rx.spacer(),
            rx.cond(
                StatusState.live,
                rx.text(
                    f"Live: refreshed every {REFRESH_SECONDS:.0f} s · ",
                    StatusState.checked_at,
                    size="2",
                    color_scheme="gray",
                    id="status-live",
                ),
                rx.button("Refresh", on_click=StatusState.load, size="1", variant="soft"),
            ),
            width="100%",
            align="center",
        ),
        rx.text("Version ", StatusState.version, size="2", color_scheme="gray"),
        rx.cond(StatusState.error != "", error_callout(StatusState.error)),
        rx.cond(StatusState.notice != "", notice_callout(StatusState.notice)),
        rx.heading("Services", size="4", as_="h2"),
        _table(("Service", "State", "Details"), StatusState.checks, _check, id="status-checks"),
        rx.heading("Waiting", size="4", as_="h2"),
        _table(
            ("What", "How many"),
            StatusState.backlog,
            lambda r: (rx.table.row_header_cell(r["what"]), rx.table.cell(r["value"])),
            id="status-backlog",
        ),
        rx.heading("Queue", size="4", as_="h2"),
        rx.text(StatusState.queued, size="2", id="status-queued"),
        rx.cond(
            StatusState.queue.length() > 0,  # type: ignore[attr-defined]
            _table(
                ("Job", "Due now", "Later"),
                StatusState.queue,
                lambda q: (
                    rx.table.row_header_cell(rx.code(q["function"])),
                    rx.table.cell(q["due"]),
                    rx.table.cell(q["later"]),
                ),
                id="status-queue",
            ),
        ),
        rx.heading("Workers", size="4", as_="h2"),
        rx.cond(
            StatusState.workers.length() > 0,  # type: ignore[attr-defined]
            _table(
                ("Worker", "State", "Last heard", "Since", "Jobs", "Running"),
                StatusState.workers,
                lambda w: (
                    rx.table.row_header_cell(w["name"]),
                    rx.table.cell(
                        rx.cond(
                            w["state"] == "answering",
                            rx.badge("answering", color_scheme="green"),
                            rx.badge("silent", color_scheme="red"),
                        )
                    ),
                    rx.table.cell(w["heard"]),
                    rx.table.cell(w["since"]),
                    rx.table.cell(w["counts"]),
                    rx.table.cell(rx.text(w["running"], size="1")),
                ),
                id="status-workers",
            ),
            rx.text("No worker has been heard from.", color_scheme="red", size="2"),
        ),
        rx.heading("Failed jobs", size="4", as_="h2"),
        rx.text(
            "A job is listed while its last run failed; its next success removes it.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            StatusState.failed.length() > 0,  # type: ignore[attr-defined]
            _table(
                ("Job", "Reason", "Failures", "When", ""),
                StatusState.failed,
                _failed,
                id="status-failed",
            ),
            rx.text("None.", size="2", id="status-no-failures"),
        ),
        spacing="3",
        width="100%",
        align="start",
    )


def status() -> rx.Component:
    return rx.cond(StatusState.not_found, not_found("There is no page at this address."), _page())
