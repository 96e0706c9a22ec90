"""A document's page."""

from dataclasses import asdict
from typing import Any

import reflex as rx

from backend import labels
from backend.documents import service as documents
from backend.errors import LibraryError
from backend.ids import parse_id
from backend.storage.service import human_size
from state.session import client_ip, perform, reading
from state.uploads import new_version, receive, upload_token


def _version_row(
    v: documents.VersionPublic, staff: documents.VersionStaff | None
) -> dict[str, Any]:
    """A version as the page shows it; its staff details only when the actor curates it
    (what a state holds is sent to the browser)."""
    meta = v.meta
    row: dict[str, Any] = {
        "id": v.id,
        "version_no": v.version_no,
        "filename": v.filename,
        "mime_type": v.mime_type,
        "format_label": labels.file_format(v.mime_type),
        "has_thumbnail": v.has_thumbnail,
        "size_label": human_size(v.size),
        "created_label": v.created_at.strftime("%Y-%m-%d %H:%M"),
        "authors": "; ".join(meta.get("authors", [])),
        "subjects": ", ".join(meta.get("subjects", [])),
        "description": str(meta.get("description", "")),
        "date": str(meta.get("created", "")),
        "language_label": labels.language(v.language) or "unknown",
        "page_label": str(v.page_count) if v.page_count else "—",
    }
    if staff is not None:
        row.update(asdict(staff))
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
    def has_file(self) -> bool:
        """False for a record without a file (a book on the shelf), or one whose first
        file is still on its way."""
        return bool(self.current)

    @rx.var
    def download_url(self) -> str:
        return f"/api/v1/documents/{self.document_id}/download"

    @rx.var
    def preview_url(self) -> str:
        if not self.current.get("has_thumbnail"):
            return ""
        return f"/api/v1/documents/{self.document_id}/thumbnail?size=large"

    def _forget(self) -> None:
        self.document_id, self.title, self.current, self.versions = 0, "", {}, []
        self.collection_name = self.collection_slug = ""
        self.collection_is_public, self.can_curate = True, False

    @rx.event
    async def load(self) -> None:
        self.not_found = False
        raw_id = self.router.url.path.rstrip("/").split("/")[-1]
        try:
            async with reading(self) as (session, actor):
                doc = await documents.get(
                    session=session,
                    actor=actor,
                    document_id=parse_id(raw_id, "document"),
                    client=client_ip(self),
                )
                await session.commit()
        except LibraryError:
            self.not_found = True
            self._forget()
            return
        self.document_id = doc.id
        self.title = doc.title
        self.collection_name = doc.collection_name
        self.collection_slug = doc.collection_slug
        self.collection_is_public = doc.collection_is_public
        self.can_curate = doc.can_curate
        current = doc.current
        self.current = _version_row(current, doc.staff.get(current.id)) if current else {}
        self.versions = [
            {
                **_version_row(v, doc.staff.get(v.id)),
                "is_current": current is not None and v.id == current.id,
            }
            for v in doc.versions
        ]

    @rx.event
    async def restore(self, version_id: int) -> None:
        self.error = self.notice = ""
        try:
            await perform(
                self,
                documents.restore_version,
                document_id=self.document_id,
                version_id=version_id,
            )
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
            token = await upload_token(self)
        outcome = await receive(chunks, token=token, destination=new_version(document_id))
        async with self:
            self.uploading = False
            self.error = outcome.error
            if outcome.accepted:
                self.notice = (
                    f"Received {', '.join(outcome.accepted)}: it becomes the current version "
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
            slug = await perform(self, documents.delete_document, document_id=self.document_id)
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return rx.redirect(f"/collections/{slug}")
