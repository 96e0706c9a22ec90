"""The one clock: timezone-aware UTC, for every row and every expiry."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
