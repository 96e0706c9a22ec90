"""A person's saved searches: kept from the search page, listed on the account page with
their e-mail alert and Atom feed (backend.search.saved decides who may do what)."""

from typing import Any

import reflex as rx

from backend.errors import LibraryError
from backend.ids import parse_id
from backend.search import saved
from backend.search.models import SavedSearch
from backend.settings import get_settings
from state.session import acting, form_text, perform


def _row(kept: SavedSearch) -> dict[str, Any]:
    site = get_settings().public_url.rstrip("/")
    told = (
        f"last told {kept.last_alert_at:%Y-%m-%d} of {kept.last_alert_count}"
        if kept.last_alert_at
        else "nothing new yet"
    )
    return {
        "id": kept.id,
        "name": kept.name,
        "what": saved.describe(kept),
        "url": saved.page_address(kept),
        "feed": site + saved.feed_path(kept),
        "alert": kept.alert,
        "told": told,
    }


class SavedSearchesState(rx.State):
    rows: list[dict[str, Any]] = []
    error: str = ""
    notice: str = ""

    async def _reload(self) -> None:
        async with acting(self) as (session, actor):
            if actor is None:
                self.rows = []
                return
            self.rows = [_row(k) for k in await saved.mine(session=session, actor=actor)]

    @rx.event
    async def load(self) -> None:
        self.error = self.notice = ""
        await self._reload()

    @rx.event
    async def keep(self, query: str, filters: dict[str, list[str]], sort: str) -> Any:
        """The search page's "Save this search"."""
        try:
            kept, new = await perform(self, saved.save, query=query, filters=filters, sort=sort)
        except LibraryError as exc:
            return rx.toast.error(str(exc))
        if not new:
            return rx.toast.info(f"You keep this search already, as “{kept.name}”.")
        return rx.toast.success(
            f"Saved as “{kept.name}”. New documents that match are e-mailed to you once a "
            "day; your account page lists your saved searches and their feeds."
        )

    async def _act(self, done: str, use_case: Any, **args: Any) -> None:
        self.error = self.notice = ""
        try:
            await perform(self, use_case, **args)
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.notice = done

    @rx.event
    async def set_alert(self, saved_id: int, on: bool) -> None:
        done = (
            "New matches will be e-mailed to you once a day."
            if on
            else "No more e-mails for this search; its feed still works."
        )
        await self._act(done, saved.set_alert, saved_id=saved_id, alert=on)

    @rx.event
    async def rename(self, form: dict[str, Any]) -> None:
        try:
            saved_id = parse_id(
                form.get("id", "") if isinstance(form, dict) else "", "saved search"
            )
        except LibraryError as exc:
            self.error = str(exc)
            return
        await self._act("Renamed.", saved.rename, saved_id=saved_id, name=form_text(form, "name"))

    @rx.event
    async def remove(self, saved_id: int) -> None:
        await self._act("The search is no longer kept.", saved.delete, saved_id=saved_id)

    @rx.event
    async def new_feed(self, saved_id: int) -> None:
        await self._act(
            "The feed has a new address; the old one no longer works.",
            saved.new_feed_address,
            saved_id=saved_id,
        )
