"""The bulk import card of a collection page: drop a CSV and a ZIP (they stream into the
object store, the ZIP checked as it arrives), read the worker's dry-run report, then
import; the card follows the worker live, and the collection's list each new file."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import reflex as rx

from backend.errors import LibraryError
from backend.imports import service as imports
from backend.imports.models import ImportStatus
from backend.redis_client import get_redis
from backend.storage.service import human_size
from state.collections import CollectionState
from state.session import acting
from state.uploads import bulk_import, receive, upload_token

IMPORT_UPLOAD_ID = "bulk-import"
SHOWN_ROWS = 200  # of the report, refused rows first: a tab's state stays small
WATCH_SECONDS = 3600
LIST_EVERY = 2.0  # seconds between reloads of the collection's list during an import


@dataclass
class ReportRow:
    line: int
    action: str
    title: str
    filename: str
    problems: str


class ImportState(rx.State):
    import_id: int = 0
    status: str = ""  # "", or an ImportStatus
    rows: list[ReportRow] = []
    summary: str = ""
    more_rows: str = ""
    new_subjects: str = ""
    ready: int = 0  # rows the import would apply
    may_start: bool = False
    sending: bool = False
    sent_label: str = ""
    progress: int = 0  # percent of the rows handled
    progress_label: str = ""
    failures: list[str] = []
    error: str = ""
    notice: str = ""
    watching: bool = False

    @rx.var
    def busy(self) -> bool:
        return self.sending or self.status in (ImportStatus.CHECKING, ImportStatus.IMPORTING)

    def _clear(self) -> None:
        self.import_id, self.status, self.rows = 0, "", []
        self.summary = self.more_rows = self.new_subjects = ""
        self.ready, self.may_start, self.progress, self.progress_label = 0, False, 0, ""
        self.failures = []

    def _show(self, view: imports.ImportView) -> None:
        self.import_id, self.status = view.id, view.status
        if view.report is not None:
            self.rows = [
                ReportRow(r.line, r.action, r.title, r.filename, " ".join(r.problems))
                for r in view.report.rows
            ]
            self.new_subjects = ", ".join(view.report.new_subjects)
            self.more_rows = (
                f"The first {view.rows_shown:,} of {view.rows_total:,} rows are shown, "
                "refused ones first."
                if view.rows_total > view.rows_shown
                else ""
            )
        self.ready = view.adding + view.updating
        self.may_start = view.may_start
        if view.status != ImportStatus.CHECKING:
            self.summary = (
                f"{view.adding} to add, {view.updating} to update, {view.refused} refused."
            )
        self.progress = int(100 * view.rows_done / view.rows_total) if view.rows_total else 0
        self.progress_label = (
            f"{view.rows_done:,} of {view.rows_total:,} rows done: "
            f"{view.added:,} added, {view.updated:,} updated"
        )
        self.failures = [f"Line {f['line']}: {f['problem']}" for f in view.failures[:SHOWN_ROWS]]
        self.error = view.error if view.status == ImportStatus.FAILED else ""
        if view.status == ImportStatus.CHECKING:
            self.notice = "Checking every row and every file (nothing is written yet)…"
        elif view.status == ImportStatus.DONE:
            self.notice = (
                f"Imported: {view.added} added (now being processed), {view.updated} updated; "
                f"{view.refused} refused rows were left out"
                + (f", {len(view.failures)} could not be written." if view.failures else ".")
            )
        else:
            self.notice = ""

    async def _refresh(self) -> None:
        """Read the import as it stands (its report too, the first time it has one)."""
        async with acting(self) as (session, actor):
            view = await imports.get(session=session, actor=actor, import_id=self.import_id)
            if not self.rows and view.status != ImportStatus.CHECKING:
                view = await imports.get(
                    session=session, actor=actor, import_id=self.import_id, rows=SHOWN_ROWS
                )
            await session.commit()
        self._show(view)

    @rx.event
    async def resume(self) -> Any:
        """When the card appears: the curator's import of this collection still under way."""
        self.error = self.notice = ""
        self._clear()
        page = await self.get_state(CollectionState)
        if not page.can_curate or not page.collection_id:
            return None
        try:
            async with acting(self) as (session, actor):
                view = await imports.latest(
                    session=session,
                    actor=actor,
                    collection_id=page.collection_id,
                    rows=SHOWN_ROWS,
                )
                await session.commit()
        except LibraryError:
            return None
        if view is None:
            return None
        self._show(view)
        return ImportState.watch if self.busy else None

    @rx.event
    def sent(self, info: dict[str, Any]) -> None:
        loaded, total = int(info.get("loaded", 0)), int(info.get("total", 0))
        self.sent_label = f"{human_size(loaded)} of {human_size(total)} sent"

    @rx.event(background=True)
    async def check(self, chunks: rx.UploadChunkIterator) -> Any:
        """Receive the CSV and the ZIP; the worker's dry run then reports every row."""
        async with self:
            self._clear()
            self.sending, self.sent_label, self.error, self.notice = True, "", "", ""
            collection_id = (await self.get_state(CollectionState)).collection_id
            token = await upload_token(self)
        outcome = await receive(chunks, token=token, destination=bulk_import(collection_id))
        import_id = 0
        if outcome.recorded and not outcome.problems:
            import_id = int(outcome.recorded[0])  # type: ignore[call-overload]
        async with self:
            self.sending, self.sent_label = False, ""
            self.error = outcome.error
            if import_id:
                self.import_id, self.status = import_id, ImportStatus.CHECKING.value
                self.notice = "Checking every row and every file (nothing is written yet)…"
        if import_id:
            return [rx.clear_selected_files(IMPORT_UPLOAD_ID), ImportState.watch]
        return rx.clear_selected_files(IMPORT_UPLOAD_ID)

    @rx.event(background=True)
    async def watch(self) -> AsyncIterator[Any]:
        """Follow the import as the worker announces its steps (and look every few
        seconds anyway, in case a message was lost)."""
        async with self:
            if self.watching or not self.import_id:
                return
            self.watching = True
            import_id = self.import_id
        pubsub = get_redis().pubsub()
        await pubsub.subscribe(imports.channel(import_id))
        listed, shown = 0.0, ""
        try:
            deadline = time.monotonic() + WATCH_SECONDS
            while time.monotonic() < deadline:
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                async with self:
                    if self.import_id != import_id:
                        return
                    try:
                        await self._refresh()
                    except LibraryError as exc:
                        self._clear()
                        self.error = str(exc)
                        return
                    status, done = self.status, self.progress_label
                if status == ImportStatus.IMPORTING:
                    if done != shown and time.monotonic() - listed > LIST_EVERY:
                        listed, shown = time.monotonic(), done
                        yield CollectionState.load  # the new documents, as they come
                elif status not in (ImportStatus.CHECKING, ImportStatus.IMPORTING):
                    if status == ImportStatus.DONE:
                        yield CollectionState.load
                    return
        finally:
            await pubsub.aclose()
            async with self:
                self.watching = False

    @rx.event
    async def run(self) -> Any:
        self.error = self.notice = ""
        try:
            async with acting(self) as (session, actor):
                await imports.start(session=session, actor=actor, import_id=self.import_id)
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return None
        self.status, self.may_start = ImportStatus.IMPORTING.value, False
        return ImportState.watch

    @rx.event
    async def cancel(self) -> None:
        self.error = self.notice = ""
        if self.import_id:
            try:
                async with acting(self) as (session, actor):
                    await imports.cancel(session=session, actor=actor, import_id=self.import_id)
                    await session.commit()
            except LibraryError as exc:
                self.error = str(exc)
        self._clear()
