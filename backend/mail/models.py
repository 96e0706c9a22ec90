from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text, text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class OutboxMessage(SQLModel, table=True):
    """Every mail the library sends, kept whether or not SMTP is configured.

    The outbox is the truth about delivery: a message is sent until `sent_at` is set, or
    given up (`gave_up_at`, with the last `error`); each failed try is counted and moves
    `next_attempt_at` further away.
    """

    __tablename__ = "mail_outbox"
    # The sweeper's question, "what is due?", reads only the messages still waiting.
    __table_args__ = (
        Index(
            "ix_mail_outbox_due",
            "next_attempt_at",
            postgresql_where=text("sent_at IS NULL AND gave_up_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=320, index=True)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    sent_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    error: str = Field(default="", max_length=1000)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )
    gave_up_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
