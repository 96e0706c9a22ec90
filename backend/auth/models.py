from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


def _ts(nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class UserSession(SQLModel, table=True):
    """A server-side login session; the browser holds only the random token."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=400)


class PasswordResetToken(SQLModel, table=True):
    __tablename__ = "password_reset_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


def _user_fk(ondelete: str = "CASCADE", nullable: bool = False) -> Column[int]:
    return Column(Integer, ForeignKey("users.id", ondelete=ondelete), index=True, nullable=nullable)


class SecondFactor(SQLModel, table=True):
    """A user's TOTP second factor. Secrets are Fernet tokens (see backend.auth.keys)."""

    __tablename__ = "user_second_factors"

    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    secret: str = Field(default="", sa_column=Column(Text, nullable=False))
    # A secret shown on the account page that waits for its first code.
    pending_secret: str = Field(default="", sa_column=Column(Text, nullable=False))
    enabled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The newest 30-second step whose code was accepted: no code is accepted twice.
    last_step: int = Field(default=0)


class RecoveryCode(SQLModel, table=True):
    """A one-time code for a lost second factor, kept only as a keyed hash."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    code_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class PendingRegistration(SQLModel, table=True):
    """A registration waiting for the link mailed to its address; no account exists yet."""

    __tablename__ = "pending_registrations"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), index=True, nullable=False))
    display_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())


class EmailChange(SQLModel, table=True):
    """A change of address waiting for the link mailed to the new address."""

    __tablename__ = "email_changes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    new_email: str = Field(sa_column=Column(String(320), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class AccountEvent(SQLModel, table=True):
    """The account audit log: admin actions and security events, who did what to whom."""

    __tablename__ = "account_events"
    # The audit log's filters, newest first (backend.journal).
    __table_args__ = (
        Index("ix_account_events_action_at", "action", "at"),
        Index(
            "ix_account_events_subject_email_trgm",
            "subject_email",
            postgresql_using="gin",
            postgresql_ops={"subject_email": "gin_trgm_ops"},
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), index=True, nullable=False),
    )
    actor_id: int | None = Field(default=None, sa_column=_user_fk("SET NULL", nullable=True))
    subject_id: int | None = Field(default=None, sa_column=_user_fk("SET NULL", nullable=True))
    # The addresses at the time, so the log still reads right after a change of address.
    actor_email: str = Field(default="", max_length=320)
    subject_email: str = Field(default="", max_length=320)
    action: str = Field(max_length=40)
    detail: str = Field(default="", max_length=300)
    ip: str = Field(default="", max_length=64)


# An invitation that may still be accepted (unless expired): one per address at a time.
INVITATION_OPEN = "accepted_at IS NULL AND revoked_at IS NULL AND replaced_at IS NULL"


class Invitation(SQLModel, table=True):
    """A librarian or an admin invited by a link mailed to their address; the account
    exists once the link is followed. Only a hash of the link's token is kept."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index(
            "ix_invitations_open_email",
            "email",
            unique=True,
            postgresql_where=text(INVITATION_OPEN),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), nullable=False))
    role: str = Field(max_length=20)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    invited_by_id: int | None = Field(default=None, sa_column=_user_fk("SET NULL", nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    accepted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The account that accepting it created.
    user_id: int | None = Field(default=None, sa_column=_user_fk("SET NULL", nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # A newer invitation (sent again, or to the same address) took its place.
    replaced_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class PersonalToken(SQLModel, table=True):
    """A personal API token, made on the account page for a program (a harvester, a
    script): it acts as its owner within its scopes (read, write, admin) until revoked or
    expired. Only the SHA-256 of the secret is kept; the owner sees it once."""

    __tablename__ = "personal_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    name: str = Field(max_length=100)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    scopes: str = Field(max_length=40)  # "read", "read write", "read write admin"
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
