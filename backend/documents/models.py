from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class IngestStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    # Infected: kept for the record, never indexed, shown or downloaded.
    QUARANTINED = "quarantined"
    # The same bytes are already in the library: a librarian decides what to do.
    DUPLICATE = "duplicate"
    # Locked by a password (a PDF, an ODF or Office file): never published empty; a copy
    # without the password, uploaded as a new version, replaces it.
    NEEDS_PASSWORD = "needs_password"


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    # The worker's cron looks for documents not catalogued yet every minute.
    __table_args__ = (
        Index("ix_documents_uncatalogued", "id", postgresql_where=text("metadata_source = ''")),
        # A collection's documents newest first, a page at a time (the API's cursor).
        Index("ix_documents_collection_newest", "collection_id", "created_at", "id"),
        # What changed since a date, in order (OAI-PMH harvests: backend.documents.harvest).
        Index("ix_documents_changed", "updated_at", "id"),
    )

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
    created_at: datetime = Field(  # (indexed: the dashboards' additions per day)
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True),
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # Catalogue metadata (Dublin Core), taken from the file when it is first processed and
    # then the librarians' to edit. Creators, contributors and subjects have tables of their
    # own (DocumentPerson, DocumentSubject); title is above.
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    publisher: str = Field(
        default="", sa_column=Column(String(300), nullable=False, server_default="")
    )
    date_issued: str = Field(
        default="", sa_column=Column(String(40), nullable=False, server_default="")
    )
    year: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    language: str = Field(
        default="", sa_column=Column(String(12), nullable=False, server_default="")
    )
    identifier: str = Field(
        default="", sa_column=Column(String(500), nullable=False, server_default="")
    )
    source: str = Field(
        default="", sa_column=Column(String(500), nullable=False, server_default="")
    )
    relation: str = Field(
        default="", sa_column=Column(String(500), nullable=False, server_default="")
    )
    coverage: str = Field(
        default="", sa_column=Column(String(500), nullable=False, server_default="")
    )
    rights: str = Field(
        default="", sa_column=Column(String(500), nullable=False, server_default="")
    )
    # pdf, docx, epub, image, … (from the current version's file type)
    kind: str = Field(default="", sa_column=Column(String(20), nullable=False, server_default=""))
    # Titles sort without case, accents or a leading article, numbers by value.
    title_sort: str = Field(
        default="", sa_column=Column(String(300, collation="C"), nullable=False, server_default="")
    )
    # Shown in browse lists: the current version is processed and ready.
    listed: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default="false")
    )
    # "": nothing yet; "extracted": from the file; "edited": a librarian changed it (a new
    # version's extracted metadata no longer replaces it).
    metadata_source: str = Field(
        default="", sa_column=Column(String(12), nullable=False, server_default="")
    )


class PersonRole(StrEnum):
    CREATOR = "creator"
    CONTRIBUTOR = "contributor"


class DocumentPerson(SQLModel, table=True):
    """A creator or contributor of a document, in order."""

    __tablename__ = "document_people"
    __table_args__ = (Index("ix_document_people_sort_key", "sort_key"),)

    document_id: int = Field(
        sa_column=Column(Integer, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(sa_column=Column(String(12), primary_key=True))
    position: int = Field(sa_column=Column(Integer, primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))  # as catalogued
    sort_name: str = Field(sa_column=Column(String(200), nullable=False))  # "Surname, Given"
    sort_key: str = Field(sa_column=Column(String(200, collation="C"), nullable=False))


class Subject(SQLModel, table=True):
    """The controlled list of subjects: a tree that librarians extend."""

    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint(
            "parent_id",
            "sort_key",
            name="uq_subjects_parent_name",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("subjects.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    name: str = Field(sa_column=Column(String(200), nullable=False))
    sort_key: str = Field(sa_column=Column(String(200, collation="C"), nullable=False))
    # The ids from the root down, "/3/17/": a subtree is one prefix.
    path: str = Field(default="", sa_column=Column(String(400), nullable=False, index=True))
    created_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )


class DocumentSubject(SQLModel, table=True):
    __tablename__ = "document_subjects"

    document_id: int = Field(
        sa_column=Column(Integer, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    )
    subject_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("subjects.id", ondelete="RESTRICT"), primary_key=True, index=True
        )
    )
    position: int = Field(default=0)


class AuditEntry(SQLModel, table=True):
    """The library's audit log (backend.journal): who changed what in a document or a
    collection, from what to what. Kept when the thing is deleted (the entry says so)."""

    __tablename__ = "audit_log"
    # The admin's filters, newest first (backend.journal).
    __table_args__ = (
        Index("ix_audit_log_actor_at", "actor_id", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
        Index(
            "ix_audit_log_label_trgm",
            "label",
            postgresql_using="gin",
            postgresql_ops={"label": "gin_trgm_ops"},
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    document_id: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True, index=True)
    )
    collection_id: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True, index=True)
    )
    actor_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    actor_name: str = Field(default="", max_length=200)
    action: str = Field(max_length=40)
    # What the entry is about, as it was called then (a title, a collection's name).
    label: str = Field(default="", sa_column=Column(String(300), nullable=False, server_default=""))
    # {field: [before, after]}
    changes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True),
    )


class DocumentVersion(SQLModel, table=True):
    __tablename__ = "document_versions"
    # Which documents became ready in a window (saved searches' alerts).
    __table_args__ = (
        Index(
            "ix_document_versions_processed_ready",
            "processed_at",
            postgresql_where=text("status = 'ready'"),
        ),
    )

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
    created_at: datetime = Field(  # (indexed: the dashboards' additions per day)
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True),
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
    # How many first pages were drawn as images at ingest, pages/{version id}/{n}.webp
    page_images: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    # The PDF the other pages are drawn from when first opened (backend.ingest.pages):
    # the file itself, or the PDF LibreOffice made of an office file; "" when none.
    pdf_key: str = Field(
        default="", sa_column=Column(String(200), nullable=False, server_default="")
    )
    # When the current step began: a "processing" version whose step is old lost its worker.
    step_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # How many times a librarian sent this version through the pipeline again.
    attempts: int = Field(default=0)
    # Whether a failure may not happen again if the version is sent again (a service that
    # was away, a reading cut short on a busy machine), or comes from the file itself.
    retryable: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
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


class OaiDeletion(SQLModel, table=True):
    """A document a harvester could have seen (ready, in a public collection) that was
    deleted or hidden since: OAI-PMH answers it as a deleted record (backend.documents.
    harvest). The row goes when the document is public again."""

    __tablename__ = "oai_deletions"
    __table_args__ = (Index("ix_oai_deletions_at", "deleted_at", "document_id"),)

    document_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    collection_slug: str = Field(sa_column=Column(String(120), nullable=False))
    deleted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
