"""A document's page."""

from dataclasses import asdict
from typing import Any

import reflex as rx

from backend.documents import service as documents
from backend.errors import LibraryError
from backend.languages import language_name
from backend.storage.service import StoredObject, human_size
from state.session import acting, acting_as, session_token
from state.uploads import receive_files


def _version_row(v: documents.VersionPublic) -> dict[str, Any]:
    row = asdict(v)
    meta = v.meta
    row.pop("meta")
    row["size_label"] = human_size(v.size)
    row["created_label"] = v.created_at.strftime("%Y-%m-%d %H:%M")
    row["authors"] = "; ".join(meta.get("authors", []))
    row["subjects"] = ", ".join(meta.get("subjects", []))
    row["description"] = str(meta.get("description", ""))
    row["date"] = str(meta.get("created", ""))
    row["language_label"] = language_name(v.language) or "unknown"
    row["page_label"] = str(v.page_count) if v.page_count else "—"
    return row


VERSION_UPLOAD_ID = "new-version"


class DocumentState(rx.State):
    document_id: int = 0
    can_curate: bool = False
    notice: str = ""
    error: str = ""
    uploading: bool = False
    title: str = ""
    collection_name: str = ""
    collection_slug: str = ""
    collection_is_public: bool = True
    current: dict[str, Any] = {}
    versions: list[dict[str, Any]] = []
    not_found: bool = False

    @rx.var
    def download_url(self) -> str:
        return f"/api/v1/documents/{self.document_id}/download"

    @rx.var
    def preview_url(self) -> str:
        if not self.current.get("has_thumbnail"):
            return ""
        return f"/api/v1/documents/{self.document_id}/thumbnail?size=large"

    @rx.event
    async def load(self) -> None:
        self.not_found = False
        raw_id = self.router.url.path.rstrip("/").split("/")[-1]
        try:
            async with acting(self) as (session, actor):
                doc = await documents.get(session=session, actor=actor, document_id=int(raw_id))
                await session.commit()
        except (LibraryError, ValueError):
            self.not_found = True
            self.document_id, self.title, self.current, self.versions = 0, "", {}, []
            return
        self.document_id = doc.id
        self.title = doc.title
        self.collection_name = doc.collection_name
        self.collection_slug = doc.collection_slug
        self.collection_is_public = doc.collection_is_public
        self.can_curate = doc.can_curate
        self.current = _version_row(doc.current) if doc.current else {}
        current_id = doc.current.id if doc.current else 0
        self.versions = [
            {**_version_row(v), "is_current": v.id == current_id} for v in doc.versions
        ]

    @rx.event
    async def restore(self, version_id: int) -> None:
        self.error = self.notice = ""
        try:
            async with acting(self) as (session, actor):
                await documents.restore_version(session=session, actor=actor, version_id=version_id)
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        await DocumentState.load.fn(self)  # type: ignore[attr-defined]
        self.notice = "That version is current again; search uses it now."

    @rx.event(background=True)
    async def upload_version(self, chunks: rx.UploadChunkIterator) -> Any:
        """Stream a new version of this document; it becomes current once processed."""
        async with self:
            self.uploading, self.error, self.notice = True, "", ""
            document_id = self.document_id
            token = session_token(self)

        async def record(stored: StoredObject, filename: str) -> None:
            async with acting_as(token) as (session, actor):
                await documents.add_version(
                    session=session,
                    actor=actor,
                    document_id=document_id,
                    stored=stored,
                    filename=filename,
                )
                await session.commit()

        accepted, problems = await receive_files(chunks, record)
        async with self:
            self.uploading = False
            self.error = " ".join(problems)
            if accepted:
                self.notice = (
                    f"Received {', '.join(accepted)}: it becomes the current version "
                    "once it is processed."
                )
            await DocumentState.load.fn(self)  # type: ignore[attr-defined]
        return rx.clear_selected_files(VERSION_UPLOAD_ID)

    @rx.event
    async def delete(self, form: dict[str, Any]) -> Any:
        """Delete the document (its curators), after its title is typed to confirm."""
        self.error = self.notice = ""
        if str(form.get("confirm", "")).strip() != self.title.strip():
            self.error = "Type the document's title to confirm."
            return None
        try:
            async with acting(self) as (session, actor):
                slug = await documents.delete_document(
                    session=session, actor=actor, document_id=self.document_id
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return rx.redirect(f"/collections/{slug}")
