import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    REAL,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class AnalyticsEvent(SQLModel, table=True):
    """One thing that happened: a search, an opened result, a view, a download, a login,
    a registration, an upload's outcome. Partitioned by month on `at` (migration 0016);
    written in batches by the worker from the Redis buffer (backend.analytics.events)."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        Index("ix_analytics_events_kind_at", "kind", "at"),
        Index(
            "ix_analytics_events_document",
            "document_id",
            "kind",
            postgresql_where=text("document_id IS NOT NULL"),
        ),
        Index("ix_analytics_events_user", "user_id", postgresql_where=text("user_id IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    key: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), primary_key=True)
    )
    kind: str = Field(max_length=40)
    user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    # A visitor who is not signed in: a keyed hash of the address, a new key each day.
    visitor: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    document_id: int | None = Field(default=None)
    collection_id: int | None = Field(default=None)
    query: str = Field(
        default="", sa_column=Column(String(1000), nullable=False, server_default="")
    )
    result_count: int | None = Field(default=None)
    duration_ms: float | None = Field(default=None, sa_column=Column(REAL, nullable=True))
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )


# The rollups (migration 0017), kept by backend.analytics.rollups, read by the dashboards.
# Days are dates in the library's time zone; collection_id 0 is the whole library.
DAILY = Table(
    "analytics_daily",
    SQLModel.metadata,
    Column("day", Date, primary_key=True),
    Column("metric", String(40), primary_key=True),
    Column("collection_id", Integer, primary_key=True, server_default="0"),
    Column("value", Float, nullable=False),
)
DAILY_DOCUMENTS = Table(
    "analytics_daily_documents",
    SQLModel.metadata,
    Column("day", Date, primary_key=True),
    Column("document_id", Integer, primary_key=True),
    Column("collection_id", Integer, nullable=False, server_default="0"),
    Column("views", Integer, nullable=False, server_default="0"),
    Column("downloads", Integer, nullable=False, server_default="0"),
    Index("ix_analytics_daily_documents_collection", "collection_id", "day"),
)
DAILY_QUERIES = Table(
    "analytics_daily_queries",
    SQLModel.metadata,
    Column("day", Date, primary_key=True),
    Column("collection_id", Integer, primary_key=True, server_default="0"),
    Column("query", String(1000), primary_key=True),
    Column("searches", Integer, nullable=False, server_default="0"),
    Column("zero_results", Integer, nullable=False, server_default="0"),
    Column("clicks", Integer, nullable=False, server_default="0"),
)
DAILY_SKETCHES = Table(
    "analytics_daily_sketches",
    SQLModel.metadata,
    Column("day", Date, primary_key=True),
    Column("collection_id", Integer, primary_key=True, server_default="0"),
    Column("kind", String(40), primary_key=True),
    Column("sketch", LargeBinary, nullable=False),
)
DAILY_FAILURES = Table(
    "analytics_daily_failures",
    SQLModel.metadata,
    Column("day", Date, primary_key=True),
    Column("collection_id", Integer, primary_key=True, server_default="0"),
    Column("outcome", String(20), primary_key=True),
    Column("step", String(40), primary_key=True),
    Column("reason", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
)
ROLLED_DAYS = Table(
    "analytics_rolled_days",
    SQLModel.metadata,
    Column("day", Date, primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("rolled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
HANDLED_QUERIES = Table(
    "analytics_handled_queries",
    SQLModel.metadata,
    Column("query", String(1000), primary_key=True),
    Column("handled_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class UsageReport(SQLModel, table=True):
    """A month whose usage report was made (backend.analytics.report): its CSV and
    printable page are in the object store; `mailed_at` says its e-mails were queued."""

    __tablename__ = "usage_reports"

    month: date = Field(sa_column=Column(Date, primary_key=True))  # its first day
    timezone: str = Field(sa_column=Column(String(64), nullable=False))
    built_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    mailed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    recipients: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
