"""Cursors for the API's long lists: an opaque token naming where the last page ended
(keyset pagination: a page after a cursor costs the same however deep it is, and what is
added meanwhile never shifts or repeats what follows). A cursor is URL-safe base64 of a
small JSON array; one that is not ours is a 400, never a server error."""

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from backend.errors import LibraryError

MAX_CHARS = 400
BAD = "This cursor is not one the API gave: start again without it."
# A list route's `cursor` parameter.
Cursor = Annotated[str, Query(max_length=MAX_CHARS, description="next_cursor of a page")]


class BadCursor(LibraryError):
    status_code = 400


def encode(*position: Any) -> str:
    raw = json.dumps(list(position), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> list[Any]:
    if len(cursor) > MAX_CHARS:
        raise BadCursor(BAD)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadCursor(BAD) from None
    if not isinstance(value, list):
        raise BadCursor(BAD)
    return value


def time_and_id(cursor: str) -> tuple[datetime, int]:
    """A (created_at, id) position, as `encode(created_at, id)` wrote it."""
    value = decode(cursor)
    try:
        when, row_id = value
        at = datetime.fromisoformat(when)
        if not isinstance(row_id, int) or isinstance(row_id, bool) or at.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError):
        raise BadCursor(BAD) from None
    return at, row_id


def text_and_id(cursor: str) -> tuple[str, int]:
    value = decode(cursor)
    try:
        key, row_id = value
        if not isinstance(key, str) or not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError
    except (ValueError, TypeError):
        raise BadCursor(BAD) from None
    return key, row_id


def text_after(cursor: str) -> str | None:
    """A position that is one text (`encode(key)`); None for no cursor (the first page)."""
    if not cursor:
        return None
    value = decode(cursor)
    if len(value) != 1 or not isinstance(value[0], str):
        raise BadCursor(BAD)
    return value[0]
