from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class VersionPublic:
    """What anyone who may see a document sees of one of its versions."""

    id: int
    version_no: int
    filename: str
    size: int
    mime_type: str
    page_count: int | None
    language: str
    created_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    has_thumbnail: bool = False


@dataclass(frozen=True)
class VersionStaff:
    """What only the document's curators see of a version: its processing, its checks, who
    sent it."""

    status: str
    step: str
    error: str
    warnings: str
    sha256: str
    uploaded_by: str
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
    # Processed versions for everyone; every version for the document's curators.
    versions: list[VersionPublic]
    can_curate: bool = False
    # Version id -> its staff details; empty unless the actor curates the document.
    staff: dict[int, VersionStaff] = field(default_factory=dict)


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
    retryable: bool = False  # a failure that sending the file again may end otherwise
