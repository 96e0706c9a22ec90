import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class AnalyticsEvent(SQLModel, table=True):
    """One thing that happened: a search, an opened result, a view, a download, a login,
    a registration, an upload's outcome. Partitioned by month on `at` (migration 0016);
    written in batches by the worker from the Redis buffer (backend.analytics.events)."""

    __tablename__ = "analytics_events"
    __table_args__ = {"postgresql_partition_by": "RANGE (at)"}

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
    query: str = Field(default="", max_length=1000)
    result_count: int | None = Field(default=None)
    duration_ms: float | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
