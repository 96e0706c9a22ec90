"""The collections list, a collection's page, and uploads into it."""

import time
from dataclasses import asdict
from typing import Any

import reflex as rx
from reflex_base.event import EventSpec

from backend.access import scope
from backend.collections import service as collections
from backend.collections.schemas import cover_url
from backend.documents import metadata
from backend.documents import service as documents
from backend.errors import LibraryError
from backend.ingest import progress
from backend.ingest.sniff import ACCEPTED
from backend.redis_client import get_redis
from backend.search.service import search_address
from backend.storage.service import human_size
from state.session import acting, form_text, perform
from state.upload_progress import expected_files, mark_received, share_progress, too_large
from state.uploads import into_collection, receive, upload_token

UPLOAD_ID = "documents"
ACCEPTED_FORMATS = ACCEPTED  # what the drop zone says it takes: what sniffing accepts
# How the closing summary of an upload names each ending, in this order.
BATCH_WORDS = {
    "ready": "ready",
    "failed": "failed",
    "needs_password": "need a password",
    "duplicate": "held as duplicates",
    "quarantined": "quarantined",
}
WATCH_SECONDS = 600


class CollectionsState(rx.State):
    items: list[dict[str, Any]] = []
    error: str = ""

    @rx.event
    async def load(self) -> None:
        async with acting(self) as (session, actor):
            found = await collections.list_visible(session=session, actor=actor)
            await session.commit()
        self.items = [asdict(c) for c in found]

    @rx.event
    async def create(self, form: dict[str, Any]) -> EventSpec | None:
        self.error = ""
        try:
            created = await perform(
                self,
                collections.create,
                name=str(form.get("name", "")),
                description=str(form.get("description", "")),
                is_public=form.get("visibility", "public") == "public",
            )
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return rx.redirect(f"/collections/{created.slug}")


def _document_row(d: documents.DocumentSummary) -> dict[str, Any]:
    row = asdict(d)
    row["size_label"] = human_size(d.size)
    row["created_label"] = d.created_at.strftime("%Y-%m-%d %H:%M")
    return row


class CollectionState(rx.State):
    collection_id: int = 0
    record_errors: dict[str, str] = {}  # the "record without a file" form's, by field
    slug: str = ""
    cover_url: str = ""
    stats: list[list[str]] = []  # [label, value]
    name: str = ""
    description: str = ""
    is_public: bool = True
    can_curate: bool = False
    not_found: bool = False
    documents: list[dict[str, Any]] = []
    error: str = ""
    notice: str = ""
    uploading: bool = False
    upload_progress: int = 0
    upload_label: str = ""
    # Each file of the upload in flight: its share of the bytes sent, then whether the
    # server has stored it.
    incoming: list[dict[str, Any]] = []
    watching: bool = False
    member_error: str = ""
    # The versions the last upload of this tab made, for its closing summary.
    batch: list[int] = []

    @rx.var
    def batch_summary(self) -> str:
        """ "All 16 files processed: 14 ready, 2 failed." once none of the last upload's
        files waits; "" before (or with no upload)."""
        rows = [d for d in self.documents if d["version_id"] in set(self.batch)]
        if not rows or any(d["status"] in ("pending", "processing") for d in rows):
            return ""
        counts: dict[str, int] = {}
        for d in rows:
            counts[d["status"]] = counts.get(d["status"], 0) + 1
        said = ", ".join(
            f"{counts[status]} {word}" for status, word in BATCH_WORDS.items() if status in counts
        )
        files = "The file" if len(rows) == 1 else f"All {len(rows)} files"
        return f"{files} of your upload processed: {said}."

    @rx.var
    def any_in_progress(self) -> bool:
        return any(d["status"] in ("pending", "processing") for d in self.documents)

    async def _reload(self) -> None:
        async with acting(self) as (session, actor):
            collection = await collections.get_by_slug(
                session=session, actor=actor, slug=self.router.url.path.rstrip("/").split("/")[-1]
            )
            assert collection.id is not None
            self.collection_id = collection.id
            self.slug = collection.slug
            self.cover_url = cover_url(collection)
            numbers = await collections.stats(
                session=session, actor=actor, collection_id=collection.id
            )
            self.stats = [
                ["Documents", f"{numbers.documents:,}"],
                ["Pages", f"{numbers.pages:,}"],
                ["Size", human_size(numbers.total_bytes)],
                ["Views", f"{numbers.views:,}"],
                ["Downloads", f"{numbers.downloads:,}"],
                [
                    "Last addition",
                    numbers.last_added.strftime("%Y-%m-%d") if numbers.last_added else "—",
                ],
            ]
            self.name = collection.name
            self.description = collection.description
            self.is_public = collection.is_public
            self.can_curate = await scope.can_curate(session, actor, collection)
            rows = await documents.list_in_collection(
                session=session, actor=actor, collection_id=collection.id
            )
            await session.commit()
        self.documents = [_document_row(d) for d in rows]

    @rx.event
    async def catalogue(self, form: dict[str, Any]) -> Any:
        """A record without a file (a book on the shelf): catalogued, then opened, where
        its subjects and the rest of its record can be added, or a file later."""
        record = metadata.Record(creators=form_text(form, "creators").splitlines())
        for name in metadata.TEXT_FIELDS:
            setattr(record, name, form_text(form, name))
        try:
            made = await perform(
                self,
                metadata.catalogue_without_file,
                collection_id=self.collection_id,
                record=record,
            )
        except metadata.InvalidRecord as exc:
            self.record_errors = exc.errors
            return None
        except LibraryError as exc:
            self.record_errors = {"title": str(exc)}
            return None
        self.record_errors = {}
        return rx.redirect(f"/documents/{made.id}")

    @rx.event
    async def load(self) -> EventSpec | None:
        self.error = self.notice = ""
        self.not_found = False
        try:
            await self._reload()
        except LibraryError:
            self.not_found = True
            self.documents = []
            return None
        if self.any_in_progress:
            return CollectionState.watch_ingest
        return None

    @rx.event
    def expect(self, chosen: list[dict[str, Any]]) -> None:
        """The browser names the dropped files and their sizes, in the order it sends them."""
        self.incoming = expected_files(chosen)
        self.upload_progress, self.upload_label = 0, ""
        self.error = too_large(self.incoming)

    @rx.event
    def progress(self, info: dict[str, Any]) -> None:
        self.upload_progress = round(float(info.get("progress", 0)) * 100)
        loaded, total = int(info.get("loaded", 0)), int(info.get("total", 0))
        self.upload_label = f"{human_size(loaded)} of {human_size(total)} sent"
        self.incoming = share_progress(self.incoming, loaded, total)

    @rx.event(background=True)
    async def upload(self, chunks: rx.UploadChunkIterator) -> Any:
        """Stream each dropped file into the store, then record it and queue its ingest."""
        async with self:
            self.uploading, self.error, self.notice = True, "", ""
            self.batch = []
            collection_id = self.collection_id
            token = await upload_token(self)

        async def progress(index: int, name: str, received: int, done: bool) -> None:
            if done:  # stored and recorded: listed at once, with the statistics
                async with self:
                    self.incoming = mark_received(self.incoming, index, name, received)
                    try:
                        await self._reload()
                    except LibraryError:
                        self.not_found = True

        outcome = await receive(
            chunks, token=token, destination=into_collection(collection_id), progress=progress
        )
        async with self:
            self.uploading = False
            self.upload_progress = 0
            self.upload_label = ""
            self.incoming = []
            accepted = outcome.accepted
            self.batch = [v for ids in outcome.recorded for v in ids]  # type: ignore[attr-defined]
            self.notice = (
                f"Received {len(accepted)} file(s): {', '.join(accepted)}" if accepted else ""
            )
            self.error = outcome.error
            try:
                await self._reload()
            except LibraryError:
                self.not_found = True
        return [rx.clear_selected_files(UPLOAD_ID), CollectionState.watch_ingest]

    @rx.event(background=True)
    async def watch_ingest(self) -> None:
        """Refresh the list whenever the worker announces a step of this collection's files."""
        async with self:
            if self.watching or not self.any_in_progress:
                return
            self.watching = True
            collection_id = self.collection_id
        pubsub = get_redis().pubsub()
        await pubsub.subscribe(progress.channel(collection_id))
        try:
            deadline = time.monotonic() + WATCH_SECONDS
            while time.monotonic() < deadline:
                # A message wakes us at once; every few seconds we look anyway, in case
                # a message was lost while no one listened.
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                async with self:
                    if not self.router.url.path.startswith("/collections/"):
                        return
                    try:
                        await self._reload()
                    except LibraryError:
                        return
                    if not self.any_in_progress:
                        return
        finally:
            await pubsub.aclose()
            async with self:
                self.watching = False

    @rx.event
    async def retry(self, version_id: int) -> EventSpec | None:
        self.error = ""
        try:
            await perform(self, documents.retry, version_id=version_id)
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return CollectionState.watch_ingest

    @rx.event
    async def resolve_duplicate(self, version_id: int, action: str) -> None:
        self.error = self.notice = ""
        try:
            target = await perform(
                self, documents.resolve_duplicate, version_id=version_id, action=action
            )
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.notice = (
            "The duplicate was skipped and its file removed."
            if target is None
            else "Added as a new version; it becomes current once processed."
        )

    @rx.event
    def search_here(self, form: dict[str, Any]) -> EventSpec:
        return rx.redirect(
            search_address(
                str(form.get("q", "")).strip(), {"collection": [str(self.collection_id)]}
            )
        )

    @rx.event
    async def add_member(self, form: dict[str, Any]) -> None:
        self.member_error = ""
        try:
            await perform(
                self,
                collections.add_member,
                collection_id=self.collection_id,
                email=str(form.get("email", "")),
                role=str(form.get("role", "viewer")),
            )
        except LibraryError as exc:
            self.member_error = str(exc)
            return
        self.notice = f"{form.get('email')} can now see this collection."
