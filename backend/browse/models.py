"""The browse classifiers' tables: every listed document's place in each classifier, and
counts per collection kept by a trigger, so a page of any list is an index range scan."""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, text
from sqlmodel import Field, SQLModel


class BrowseEntry(SQLModel, table=True):
    """One listed document under one key of one classifier ("author", "smith, john")."""

    __tablename__ = "browse_entries"
    __table_args__ = (
        Index("ix_browse_entries_list", "facet", "key", "sort_key", "document_id"),
        Index("ix_browse_entries_document", "document_id"),
        # All titles A to Z, across letters.
        Index(
            "ix_browse_entries_titles",
            "sort_key",
            "document_id",
            postgresql_where=text("facet = 'title'"),
        ),
    )

    facet: str = Field(sa_column=Column(String(12), primary_key=True))
    key: str = Field(sa_column=Column(String(200, collation="C"), primary_key=True))
    document_id: int = Field(
        sa_column=Column(Integer, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    )
    label: str = Field(sa_column=Column(String(200), nullable=False))
    sort_key: str = Field(sa_column=Column(String(300, collation="C"), nullable=False))
    collection_id: int = Field(
        sa_column=Column(Integer, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False)
    )


class BrowseCount(SQLModel, table=True):
    """How many listed documents of a collection are under a key (kept by a trigger)."""

    __tablename__ = "browse_counts"

    facet: str = Field(sa_column=Column(String(12), primary_key=True))
    key: str = Field(sa_column=Column(String(200, collation="C"), primary_key=True))
    collection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
        )
    )
    label: str = Field(sa_column=Column(String(200), nullable=False))
    n: int = Field(default=0)
