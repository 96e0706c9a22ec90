from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class VersionPublic:
    id: int
    version_no: int
    filename: str
    size: int
    sha256: str
    mime_type: str
    status: str
    step: str
    error: str
    warnings: str
    page_count: int | None
    language: str
    uploaded_by: str
    created_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    has_thumbnail: bool = False
    duplicate_of_id: int | None = None


@dataclass(frozen=True)
class DocumentPublic:
    id: int
    title: str
    collection_id: int
    collection_name: str
    collection_slug: str
    collection_is_public: bool
    created_at: datetime
    current: VersionPublic | None
    versions: list[VersionPublic]
    can_curate: bool = False


@dataclass(frozen=True)
class DocumentSummary:
    id: int
    version_id: int
    title: str
    filename: str
    size: int
    status: str
    step: str
    error: str
    created_at: datetime
    duplicate_of_id: int | None = None
