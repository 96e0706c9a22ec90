from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
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
    """A past query that autocomplete may offer, and how many people asked it lately.

    Kept by the worker from the searches counted in Redis (backend.search.completion): only
    searches that saw no more than an anonymous visitor sees, by patrons and visitors, of
    a query that looks like one. `offered` once enough different people asked it and the
    worker found a public document with every one of its words.
    """

    __tablename__ = "search_queries"
    # Prefix lookups (LIKE 'abc%') among the offered ones, whatever the collation.
    __table_args__ = (
        Index(
            "ix_search_queries_offered_prefix",
            "query",
            postgresql_ops={"query": "text_pattern_ops"},
            postgresql_where=text("offered"),
        ),
    )

    query: str = Field(sa_column=Column(String(200), primary_key=True))
    # Different people within the window (settings.completion_window_days).
    people: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    offered: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # When the worker last looked for a public document with every word of the query.
    checked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class SearchQuerySearcher(SQLModel, table=True):
    """Who asked a query on a day, as a keyed hash (never a user id or an address).

    A visitor's hash changes every day, so one address cannot be followed from day to day;
    a user's stays the same, so a user counts once in the window. At most about twice the
    threshold of people are kept per query and day: enough to decide, bounded in size.
    """

    __tablename__ = "search_query_searchers"

    query: str = Field(sa_column=Column(String(200), primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True, index=True))
    searcher: bytes = Field(sa_column=Column(LargeBinary(16), primary_key=True))


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
    # How many words (stop words aside) each field class holds, for BM25's length
    # normalisation: title, people (authors and subjects), description, body.
    title_len: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    people_len: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    description_len: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    body_len: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


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


class PgSearchPosting(SQLModel, table=True):
    """Which documents hold a lexeme, and how often in each field class: the PostgreSQL
    engine's inverted index for BM25 (read by lexeme, through the primary key)."""

    __tablename__ = "search_pg_postings"
    # The counts ride in the key's index: a word's postings are read from the index
    # alone (an index-only scan), not from pages of the table all over the disk.
    __table_args__ = (
        PrimaryKeyConstraint(
            "lexeme",
            "document_id",
            name="search_pg_postings_pkey",
            postgresql_include=["title_tf", "people_tf", "description_tf", "body_tf"],
        ),
    )

    lexeme: str = Field(sa_column=Column(Text, primary_key=True))
    document_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("search_pg_documents.document_id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        )
    )
    title_tf: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, default=0))
    people_tf: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, default=0))
    description_tf: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, default=0)
    )
    body_tf: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, default=0))


class PgSearchLexeme(SQLModel, table=True):
    """How many documents hold each lexeme (BM25's document frequency), kept by the
    PostgreSQL engine as documents come and go."""

    __tablename__ = "search_pg_lexemes"
    __table_args__ = (
        Index(
            "ix_search_pg_lexemes_prefix", "lexeme", postgresql_ops={"lexeme": "text_pattern_ops"}
        ),
    )

    lexeme: str = Field(sa_column=Column(Text, primary_key=True))
    ndoc: int = Field(sa_column=Column(Integer, nullable=False, default=0))


class PgSearchStats(SQLModel, table=True):
    """One row: how many documents the PostgreSQL engine holds and the words in each field
    class over all of them (BM25's average document length)."""

    __tablename__ = "search_pg_stats"

    id: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    ndoc: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    title_len: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    people_len: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    description_len: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    body_len: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class SavedSearch(SQLModel, table=True):
    """A search a person keeps: run again from their account, and watched for them.

    With `alert` on, the daily job (`backend.search.saved.send_alerts`) mails its owner the
    documents that became ready since `alerted_through` and match, as the owner may see
    them that day. Its Atom feed is read with a key derived from SECRET_KEY and
    `feed_nonce` (never stored); a new nonce ends every old feed address.
    """

    __tablename__ = "saved_searches"
    __table_args__ = (
        # The daily job's walk: the watched searches, by id.
        Index("ix_saved_searches_alerting", "id", postgresql_where=text("alert")),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    name: str = Field(max_length=200)
    query: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    filters: dict[str, list[str]] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    sort: str = Field(default="relevance", max_length=20)
    alert: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    feed_nonce: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # Documents that became ready up to this moment have been looked at for an alert.
    alerted_through: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    last_alert_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_alert_count: int = Field(default=0)
