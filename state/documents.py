"""A document's page."""

from dataclasses import asdict
from typing import Any

import reflex as rx

from backend.documents import service as documents
from backend.errors import LibraryError
from backend.storage.service import human_size
from state.session import acting

LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "la": "Latin",
    "ar": "Arabic",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
}


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
    row["language_label"] = LANGUAGE_NAMES.get(v.language, v.language) or "unknown"
    row["page_label"] = str(v.page_count) if v.page_count else "—"
    return row


class DocumentState(rx.State):
    document_id: int = 0
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
        self.current = _version_row(doc.current) if doc.current else {}
        self.versions = [_version_row(v) for v in doc.versions]
