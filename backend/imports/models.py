from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class ImportStatus(StrEnum):
    CHECKING = "checking"  # the files are stored; the worker runs the dry run
    PLANNED = "planned"  # the dry-run report is ready; nothing is written yet
    IMPORTING = "importing"  # the worker applies the rows, one by one
    DONE = "done"
    FAILED = "failed"  # `error` says why; rows already applied stay applied
    CANCELLED = "cancelled"


# The worker is at work on these: their `updated_at` moves as it goes.
BUSY = (ImportStatus.CHECKING.value, ImportStatus.IMPORTING.value)
# Finished: the files are deleted.
ENDED = (ImportStatus.DONE.value, ImportStatus.CANCELLED.value)


class BulkImport(SQLModel, table=True):
    """A bulk import of a collection: its uploaded CSV and ZIP in the object store, the
    dry-run report, and how far the import has gone."""

    __tablename__ = "bulk_imports"

    id: int | None = Field(default=None, primary_key=True)
    collection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("collections.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    created_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    # Who pressed Import: the rows are written as theirs.
    started_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    csv_key: str = Field(max_length=200)
    zip_key: str = Field(default="", max_length=200)  # "" when only records are updated
    status: str = Field(default=ImportStatus.CHECKING.value, max_length=20, index=True)
    # The dry run's report: {"rows": [{line, action, title, filename, problems}], ...}
    report: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    rows_total: int = Field(default=0)
    adding: int = Field(default=0)
    updating: int = Field(default=0)
    refused: int = Field(default=0)
    # The import itself: rows handled so far (in CSV order), and what became of them.
    rows_done: int = Field(default=0)
    added: int = Field(default=0)
    updated: int = Field(default=0)
    # Rows the dry run accepted that could not be written after all: [{line, problem}].
    failures: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]")
    )
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
