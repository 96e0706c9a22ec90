from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.db import utcnow


class IngestStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    # Infected: kept for the record, never indexed, shown or downloaded.
    QUARANTINED = "quarantined"
    # The same bytes are already in the library: a librarian decides what to do.
    DUPLICATE = "duplicate"


class Document(SQLModel, table=True):
    __tablename__ = "documents"

    id: int | None = Field(default=None, primary_key=True)
    collection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("collections.id", ondelete="RESTRICT"), index=True, nullable=False
        )
    )
    title: str = Field(max_length=500)
    current_version_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("document_versions.id", ondelete="SET NULL", use_alter=True),
            nullable=True,
        ),
    )
    created_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class DocumentVersion(SQLModel, table=True):
    __tablename__ = "document_versions"

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("documents.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    version_no: int = Field(default=1)
    file_key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    filename: str = Field(max_length=255)
    sha256: str = Field(sa_column=Column(String(64), index=True, nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    declared_mime: str = Field(default="", max_length=200)
    mime_type: str = Field(default="", max_length=200)
    uploaded_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    status: str = Field(default=IngestStatus.PENDING.value, max_length=20, index=True)
    step: str = Field(default="", max_length=40)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    page_count: int | None = Field(default=None)
    warnings: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Extracted metadata: title, authors, subjects, description, dates, EXIF, ...
    meta: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    language: str = Field(default="", max_length=12)
    thumbnail_key: str = Field(default="", max_length=200)
    preview_key: str = Field(default="", max_length=200)
    # When the current step began: a "processing" version whose step is old lost its worker.
    step_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # How many times a librarian sent this version through the pipeline again.
    attempts: int = Field(default=0)
    # The document that already holds these bytes, and whether a librarian said "keep it".
    duplicate_of_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("documents.id", ondelete="SET NULL"), nullable=True),
    )
    duplicate_accepted: bool = Field(default=False)
    processed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class DocumentPage(SQLModel, table=True):
    """Extracted text, one row per page (one row in all for formats without pages)."""

    __tablename__ = "document_pages"

    version_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("document_versions.id", ondelete="CASCADE"), primary_key=True
        )
    )
    page_no: int = Field(sa_column=Column(Integer, primary_key=True))
    text: str = Field(sa_column=Column(Text, nullable=False))
