from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, String
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class Role(StrEnum):
    ADMIN = "admin"
    LIBRARIAN = "librarian"
    PATRON = "patron"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False, index=True))
    display_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    role: str = Field(default=Role.PATRON.value, max_length=20)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.LIBRARIAN)
