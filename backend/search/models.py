from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String
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


class SearchQuery(SQLModel, table=True):
    """How often a query that found something was searched (for autocomplete).

    Counted in Redis as searches happen and added here by the worker every minute. Only
    searches by patrons and visitors count (staff see private collections, whose words
    must not surface in suggestions), and a query is offered only once several searches
    asked it.
    """

    __tablename__ = "search_queries"
    # Prefix lookups (LIKE 'abc%') whatever the database's collation.
    __table_args__ = (
        Index("ix_search_queries_prefix", "query", postgresql_ops={"query": "text_pattern_ops"}),
    )

    query: str = Field(sa_column=Column(String(200), primary_key=True))
    searches: int = Field(sa_column=Column(BigInteger, nullable=False, default=0))
    last_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
