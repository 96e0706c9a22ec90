from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer
from sqlmodel import Field, SQLModel

from backend.db import utcnow


class SearchOutbox(SQLModel, table=True):
    """A document whose searchable form changed; the indexer feeds it to the engine.

    Written in the same transaction as the change, so the engine can never miss one; a
    row is removed only after the engine took the document.
    """

    __tablename__ = "search_outbox"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    # No foreign key: the row must outlive a deleted document, to delete it from the index.
    document_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
