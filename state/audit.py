"""The library-wide audit log page (admins): filters in the address, keyset pages.
Thin: the entries and every refusal come from backend.journal."""

from datetime import date
from typing import Any
from urllib.parse import urlencode

import reflex as rx
from reflex.event import EventSpec

from backend import journal
from backend.auth import audit
from backend.errors import InvalidInput, LibraryError, NotAuthenticated, NotFound, PermissionDenied
from state.session import acting

PAGE = "/admin/audit"
ACCOUNT_ACTIONS = sorted(
    getattr(audit, name)
    for name in dir(audit)
    if name.isupper() and isinstance(getattr(audit, name), str)
)
ACTIONS = [*journal.LABELS, *ACCOUNT_ACTIONS]
FILTERS = ("actor", "action", "from", "to", "object")


def _day(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise InvalidInput(f"The {what} day must be a date (YYYY-MM-DD).") from exc


def _link(kind: str, object_id: int | None) -> str:
    if object_id is None:
        return ""
    if kind == "document":
        return f"/documents/{object_id}"
    return ""


class AuditState(rx.State):
    not_found: bool = False
    error: str = ""
    entries: list[dict[str, str]] = []
    filters: dict[str, str] = {}
    cursor: str = ""
    earlier: list[str] = []
    next_cursor: str = ""

    @rx.var
    def action_choices(self) -> list[list[str]]:
        return [[a, journal.LABELS.get(a, a)] for a in ACTIONS]

    async def _reload(self) -> None:
        f = self.filters
        filters = journal.Filters(
            actor=f.get("actor", ""),
            action=f.get("action", ""),
            first=_day(f.get("from", ""), "first"),
            last=_day(f.get("to", ""), "last"),
            object=f.get("object", ""),
        )
        async with acting(self) as (session, actor):
            page = await journal.page(
                session=session, actor=actor, filters=filters, cursor=self.cursor
            )
            await session.commit()
        self.next_cursor = page.next_cursor
        self.entries = [
            {
                "key": f"{e.source}-{e.id}",
                "at": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "actor": e.actor,
                "action": journal.LABELS.get(e.action, e.action),
                "kind": e.object_kind,
                "object": e.object_label,
                "object_ref": f"{e.object_kind} {e.object_id}" if e.object_id else "",
                "href": _link(e.object_kind, e.object_id),
                "detail": e.detail,
                "ip": e.ip,
            }
            for e in page.entries
        ]

    async def _show(self) -> None:
        self.error = ""
        try:
            await self._reload()
            self.not_found = False
        except (NotFound, PermissionDenied, NotAuthenticated):
            self.not_found = True
            self.entries, self.next_cursor = [], ""
        except LibraryError as exc:
            self.error = str(exc)
            self.entries, self.next_cursor = [], ""

    @rx.event
    async def load(self) -> None:
        params = self.router.url.query_parameters
        self.filters = {k: str(params.get(k, ""))[:320] for k in FILTERS if params.get(k)}
        self.cursor, self.earlier = "", []
        await self._show()

    @rx.event
    def find(self, form: dict[str, Any]) -> EventSpec:
        chosen = {k: str(form.get(k, "")).strip()[:320] for k in FILTERS}
        query = urlencode({k: v for k, v in chosen.items() if v})
        return rx.redirect(f"{PAGE}?{query}" if query else PAGE)

    @rx.event
    async def next_page(self) -> None:
        if self.next_cursor:
            self.earlier = [*self.earlier, self.cursor][-1000:]
            self.cursor = self.next_cursor
            await self._show()

    @rx.event
    async def previous_page(self) -> None:
        if self.earlier:
            self.cursor, self.earlier = self.earlier[-1], self.earlier[:-1]
            await self._show()
