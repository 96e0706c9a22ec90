from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, String, text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class ObjectDeletion(SQLModel, table=True):
    """An object the library no longer needs (a deleted document's files, a replaced cover,
    a finished import's upload), queued in the same transaction as the change that freed it.

    A row goes only once its object is gone from the store; while the store is away, each
    failed try is counted and recorded, and the next one waits longer.
    """

    __tablename__ = "object_deletions"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    key: str = Field(sa_column=Column(String(1024), nullable=False, unique=True))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )
    next_attempt_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(
            DateTime(timezone=True), nullable=False, server_default=text("now()"), index=True
        ),
    )
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    error: str = Field(default="", max_length=1000, sa_column_kwargs={"server_default": ""})
