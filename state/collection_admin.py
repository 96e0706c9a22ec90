"""A collection's management panel: edit, cover, members, delete (its curators)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx

from backend.collections import service as collections
from backend.errors import LibraryError
from state.collections import CollectionState
from state.session import acting, perform
from state.uploads import collection_cover, receive, upload_token

COVER_UPLOAD_ID = "cover"


@dataclass
class MemberRow:
    user_id: int
    email: str
    name: str
    role: str


@dataclass
class Target:
    id: str
    name: str


class CollectionAdminState(rx.State):
    open: bool = False
    members: list[MemberRow] = []
    targets: list[Target] = []
    held: int = 0
    held_label: str = ""
    error: str = ""
    notice: str = ""

    async def _collection(self) -> CollectionState:
        return await self.get_state(CollectionState)

    async def _curate(self, use_case: Callable[..., Awaitable[Any]], **args: Any) -> bool:
        """Run a collection use case as the acting user on this page's collection and
        commit it (with the jobs it queues); a refusal becomes the panel's error."""
        self.error = self.notice = ""
        page = await self._collection()
        try:
            await perform(self, use_case, collection_id=page.collection_id, **args)
        except LibraryError as exc:
            self.error = str(exc)
            return False
        return True

    @rx.event
    async def load(self) -> None:
        """Filled when the panel opens (only curators see it)."""
        self.error = self.notice = ""
        await self._fill()

    async def _fill(self) -> None:
        page = await self._collection()
        try:
            async with acting(self) as (session, actor):
                rows = await collections.members(
                    session=session, actor=actor, collection_id=page.collection_id
                )
                curated = await collections.curated_by(session=session, actor=actor)
                numbers = await collections.stats(
                    session=session, actor=actor, collection_id=page.collection_id
                )
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.members = [MemberRow(u.id or 0, u.email, u.display_name, m.role) for m, u in rows]
        self.targets = [Target(str(c.id), c.name) for c in curated if c.id != page.collection_id]
        self.held = numbers.held
        self.held_label = f"{numbers.held:,}"
        self.open = True

    @rx.event
    def close(self) -> None:
        self.open = False

    @rx.event
    async def save(self, form: dict[str, Any]) -> Any:
        saved = await self._curate(
            collections.update,
            name=str(form.get("name", "")),
            description=str(form.get("description", "")),
            is_public=form.get("visibility", "public") == "public",
        )
        if not saved:
            return None
        self.notice = "Saved."
        return CollectionState.load

    @rx.event(background=True)
    async def upload_cover(self, chunks: rx.UploadChunkIterator) -> Any:
        """A new cover image, read into a bounded buffer once the sender may curate."""
        async with self:
            self.error = self.notice = ""
            collection_id = (await self._collection()).collection_id
            token = await upload_token(self)
        outcome = await receive(chunks, token=token, destination=collection_cover(collection_id))
        async with self:
            self.error = outcome.error
            self.notice = "The cover is changed." if outcome.accepted else ""
        if not outcome.accepted:
            return rx.clear_selected_files(COVER_UPLOAD_ID)
        return [rx.clear_selected_files(COVER_UPLOAD_ID), CollectionState.load]

    @rx.event
    async def set_role(self, email: str, role: str) -> None:
        await self._curate(collections.add_member, email=email, role=role)
        await self._fill()  # the list shows the roles as they are, refused or not

    @rx.event
    async def remove_member(self, user_id: int) -> None:
        if await self._curate(collections.remove_member, user_id=int(user_id)):
            await self._fill()

    @rx.event
    async def delete(self, form: dict[str, Any]) -> Any:
        page = await self._collection()
        if str(form.get("confirm", "")).strip() != page.name:
            self.error = "Type the collection's name to confirm."
            return None
        target = str(form.get("move_to", ""))
        deleted = await self._curate(
            collections.delete,
            documents=str(form.get("documents", "")),
            move_to=int(target) if target.isdigit() else None,
        )
        if not deleted:
            return None
        self.open = False
        return rx.redirect("/collections")
