from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Column, DateTime, Index, String, false, text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class Role(StrEnum):
    ADMIN = "admin"
    LIBRARIAN = "librarian"
    PATRON = "patron"


class User(SQLModel, table=True):
    __tablename__ = "users"
    # The admin's list (backend.auth.admin.page_accounts): e-mail order within a role or a
    # status, and a search inside e-mails and names (trigram indexes).
    __table_args__ = (
        Index("ix_users_role_email", "role", "email"),
        Index("ix_users_is_active_email", "is_active", "email"),
        Index(
            "ix_users_email_trgm",
            "email",
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
        ),
        Index(
            "ix_users_name_trgm",
            text("lower(display_name) gin_trgm_ops"),
            postgresql_using="gin",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Byte order (collation "C", migration 0020): a prefix is a range of its indexes.
    email: str = Field(
        sa_column=Column(String(320, collation="C"), unique=True, nullable=False, index=True)
    )
    display_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    role: str = Field(default=Role.PATRON.value, max_length=20)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    last_login_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # An admin's choice: the monthly usage report by e-mail (backend.analytics.report).
    usage_report_opt_in: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.LIBRARIAN)
