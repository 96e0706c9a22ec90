from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


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


class PgSearchDocument(SQLModel, table=True):
    """The PostgreSQL full-text engine's copy of a document (search.postgres_engine)."""

    __tablename__ = "search_pg_documents"
    __table_args__ = (
        Index("ix_search_pg_documents_tsv", "tsv", postgresql_using="gin"),
        Index("ix_search_pg_documents_config", "config"),
    )

    document_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    collection_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    collection: str = Field(sa_column=Column(Text, nullable=False, default=""))
    title: str = Field(sa_column=Column(Text, nullable=False, default=""))
    title_sort: str = Field(sa_column=Column(Text, nullable=False, default=""))
    authors: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, default=[])
    )
    subjects: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, default=[])
    )
    year: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    type: str = Field(sa_column=Column(Text, nullable=False, default=""))
    language: str = Field(sa_column=Column(Text, nullable=False, default=""))
    date_key: int = Field(sa_column=Column(BigInteger, nullable=False, default=0))
    config: str = Field(sa_column=Column(Text, nullable=False, default="simple"))
    tsv: str | None = Field(default=None, sa_column=Column(TSVECTOR, nullable=True))


class PgSearchPage(SQLModel, table=True):
    """Page texts for the PostgreSQL engine's snippets."""

    __tablename__ = "search_pg_pages"

    document_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("search_pg_documents.document_id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    page_no: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    text: str = Field(sa_column=Column(Text, nullable=False))


class PgSearchWord(SQLModel, table=True):
    """The library's words (titles, names, subjects, the start of each text) and how many
    documents have them, for the PostgreSQL engine's did-you-mean."""

    __tablename__ = "search_pg_words"
    __table_args__ = (
        Index(
            "ix_search_pg_words_trgm",
            "word",
            postgresql_using="gin",
            postgresql_ops={"word": "gin_trgm_ops"},
        ),
        Index("ix_search_pg_words_prefix", "word", postgresql_ops={"word": "text_pattern_ops"}),
    )

    word: str = Field(sa_column=Column(Text, primary_key=True))
    ndoc: int = Field(sa_column=Column(Integer, nullable=False, default=0))
