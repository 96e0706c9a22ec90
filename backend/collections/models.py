from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class MemberRole(StrEnum):
    VIEWER = "viewer"
    CURATOR = "curator"


class Collection(SQLModel, table=True):
    __tablename__ = "collections"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    slug: str = Field(sa_column=Column(String(120), unique=True, nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    is_public: bool = Field(default=True)
    # A cover image (WebP, made from the librarian's upload), or "".
    cover_key: str = Field(
        default="", sa_column=Column(String(200), nullable=False, server_default="")
    )
    created_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class Membership(SQLModel, table=True):
    __tablename__ = "collection_members"

    collection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    role: str = Field(default=MemberRole.VIEWER.value, max_length=20)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
