from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class AnalyticsEvent(SQLModel, table=True):
    """One thing that happened: a search, a view, a download, a login."""

    __tablename__ = "analytics_events"
    # A collection's views and downloads are counted over its documents' events.
    __table_args__ = (Index("ix_analytics_events_document_kind", "document_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    document_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("documents.id", ondelete="SET NULL"), nullable=True),
    )
    query: str = Field(default="", max_length=1000)
    result_count: int | None = Field(default=None)
    duration_ms: float | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True),
    )
