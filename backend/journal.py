"""The library-wide audit log: who changed what, when, for admins.

Two tables hold it, each written in the same transaction as the change it records:
- `audit_log`: the library's things: documents (uploads, versions, record edits,
  deletions, duplicate decisions) and collections (founded, renamed, made public or
  private, members, covers, bulk imports, deletion);
- `account_events` (backend.auth.audit): accounts: role changes, disabling, sessions
  ended, second factors, password changes, and staff logins (successful or not).
`page()` reads both as one list, newest first, filtered by actor, action, date and
object, in keyset pages: a page costs the same at the start or a year back.
"""

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.db import sql
from backend.documents.models import AuditEntry
from backend.errors import InvalidInput
from backend.settings import get_settings
from backend.users.models import User

PAGE_SIZE = 50

# The library's actions (audit_log) -------------------------------------------------------
DOCUMENT_ADDED = "document_added"
VERSION_ADDED = "version_added"
VERSION_RESTORED = "version_restored"
DUPLICATE_RESOLVED = "duplicate_resolved"
DOCUMENT_DELETED = "document_deleted"
COLLECTION_CREATED = "collection_created"
COLLECTION_UPDATED = "collection_updated"
COLLECTION_DELETED = "collection_deleted"
MEMBER_ADDED = "member_added"
MEMBER_CHANGED = "member_changed"
MEMBER_REMOVED = "member_removed"
COVER_SET = "cover_set"
IMPORT_STARTED = "import_started"
IMPORT_CANCELLED = "import_cancelled"

# How each action reads on the page (record edits carry their own: "edit", "import").
LABELS = {
    "edit": "record edited",
    "import": "record imported",
    DOCUMENT_ADDED: "document uploaded",
    VERSION_ADDED: "new version uploaded",
    VERSION_RESTORED: "older version made current",
    DUPLICATE_RESOLVED: "duplicate decided",
    DOCUMENT_DELETED: "document deleted",
    COLLECTION_CREATED: "collection founded",
    COLLECTION_UPDATED: "collection changed",
    COLLECTION_DELETED: "collection deleted",
    MEMBER_ADDED: "member added",
    MEMBER_CHANGED: "member's role changed",
    MEMBER_REMOVED: "member removed",
    COVER_SET: "cover changed",
    IMPORT_STARTED: "bulk import started",
    IMPORT_CANCELLED: "bulk import cancelled",
}


def write(
    session: AsyncSession,
    *,
    actor: User,
    action: str,
    label: str,
    document_id: int | None = None,
    collection_id: int | None = None,
    changes: dict[str, list[Any]] | None = None,
) -> None:
    """One entry, in the caller's transaction (it is kept only if the change is).
    `changes` maps each field to [before, after] (None where there was or is nothing), as
    the record's history reads them."""
    session.add(
        AuditEntry(
            document_id=document_id,
            collection_id=collection_id,
            actor_id=actor.id,
            actor_name=actor.display_name or actor.email,
            action=action,
            label=label[:300],
            changes=changes or {},
        )
    )


# Reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    # Part of the actor's e-mail or name (an account's; the entries of a deleted account
    # keep its name but are found by the other filters).
    actor: str = ""
    action: str = ""  # one action, as stored
    first: date | None = None  # days in the library's time zone, both included
    last: date | None = None
    object: str = ""  # "document 12", "collection 3", "account 7", or part of a name


@dataclass(frozen=True)
class Entry:
    source: str  # "library" or "account"
    id: int
    at: datetime
    actor: str
    action: str
    object_kind: str  # document, collection, account
    object_id: int | None
    object_label: str
    detail: str
    ip: str


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_cursor: str  # "" on the last page


# Each log is read newest first through its own indexes and cut at a page (plus one), and
# the two short lists are merged: a page costs two index reads, not a sort of both logs.
_SOURCES = """
SELECT * FROM (
  (SELECT 'library' AS source, a.id, a.at, a.actor_id,
          coalesce(u.email, '') AS actor_email, a.actor_name AS actor_name, a.action,
          CASE WHEN a.document_id IS NOT NULL THEN 'document' ELSE 'collection' END AS kind,
          coalesce(a.document_id, a.collection_id) AS object_id,
          a.label, a.changes::text AS detail, '' AS ip
   FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
   WHERE {library}
   ORDER BY a.at DESC, a.id DESC LIMIT :size)
  UNION ALL
  (SELECT 'account', e.id, e.at, e.actor_id, e.actor_email,
          coalesce(u.display_name, ''), e.action, 'account', e.subject_id,
          e.subject_email, e.detail, e.ip
   FROM account_events e LEFT JOIN users u ON u.id = e.actor_id
   WHERE {account}
   ORDER BY e.at DESC, e.id DESC LIMIT :size)
) AS log ORDER BY at DESC, source DESC, id DESC LIMIT :size
"""
# Who: the accounts whose e-mail or name holds the words (the users' trigram indexes).
_ACTORS = (
    "ARRAY(SELECT id FROM users WHERE email ILIKE :who OR lower(display_name) ILIKE :who "
    "LIMIT 10000)"
)


def _encode(at: datetime, source: str, row_id: int) -> str:
    raw = json.dumps([at.isoformat(), source, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> tuple[datetime, str, int] | None:
    if not cursor:
        return None
    try:
        at, source, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(source), int(row_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput("That page of the log does not exist; start from the first.") from exc


def _object_filter(text_: str) -> tuple[str, str | int]:
    """("kind", id) for "document 12" and the like; ("", words) for a part of a name."""
    words = text_.strip().lower().split()
    if len(words) == 2 and words[0] in ("document", "collection", "account") and words[1].isdigit():
        return words[0], int(words[1])
    if len(words) == 1 and words[0].isdigit():
        return "any", int(words[0])
    return "", " ".join(words)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def page(
    *, session: AsyncSession, actor: User | None, filters: Filters, cursor: str = ""
) -> Page:
    """One page of the log, newest first (admins only)."""
    require_admin(actor)
    params: dict[str, Any] = {"size": PAGE_SIZE + 1}
    lib, acc = ["true"], ["true"]
    after = _decode(cursor)
    if after is not None:
        params.update(c_at=after[0], c_id=after[2])
        # Newest first; at one instant, library entries before account ones ('library'
        # sorts after 'account', descending), higher ids first. Written so that each
        # log's time index bounds the read.
        if after[1] == "library":
            lib.append("a.at <= :c_at AND (a.at, a.id) < (:c_at, :c_id)")
            acc.append("e.at <= :c_at")
        else:
            lib.append("a.at < :c_at")
            acc.append("e.at <= :c_at AND (e.at, e.id) < (:c_at, :c_id)")
    zone = ZoneInfo(get_settings().library_timezone)
    if filters.first:
        params["from_at"] = datetime.combine(filters.first, time(), zone)
        lib.append("a.at >= :from_at")
        acc.append("e.at >= :from_at")
    if filters.last:
        params["to_at"] = datetime.combine(filters.last + timedelta(days=1), time(), zone)
        lib.append("a.at < :to_at")
        acc.append("e.at < :to_at")
    if filters.first and filters.last and filters.first > filters.last:
        raise InvalidInput("The first day comes after the last.")
    if filters.action:
        params["action"] = filters.action[:40]
        lib.append("a.action = :action")
        acc.append("e.action = :action")
    who = filters.actor.strip()[:320]
    if who:
        params["who"] = f"%{_escape_like(who.lower())}%"
        lib.append(f"a.actor_id = ANY({_ACTORS})")
        acc.append(f"e.actor_id = ANY({_ACTORS})")
    kind, value = _object_filter(filters.object[:300])
    if kind:
        params["oid"] = value
        doc = "a.document_id = :oid"
        coll = "a.document_id IS NULL AND a.collection_id = :oid"
        lib.append(
            {"document": doc, "collection": coll, "account": "false"}.get(
                kind, f"({doc} OR {coll})"
            )
        )
        acc.append("e.subject_id = :oid" if kind in ("account", "any") else "false")
    elif value:
        params["obj"] = f"%{_escape_like(str(value))}%"
        lib.append("a.label ILIKE :obj")
        acc.append("e.subject_email ILIKE :obj")
    statement = _SOURCES.format(library=" AND ".join(lib), account=" AND ".join(acc))
    rows = (await sql(session, text(statement).bindparams(**params))).all()
    entries = [
        Entry(
            source=r.source,
            id=int(r.id),
            at=r.at,
            actor=r.actor_email
            or r.actor_name
            or (f"someone at {r.ip}" if r.ip else "command line"),
            action=r.action,
            object_kind=r.kind,
            object_id=r.object_id,
            object_label=r.label or "",
            detail=_detail(r.detail) if r.source == "library" else r.detail,
            ip=r.ip,
        )
        for r in rows[:PAGE_SIZE]
    ]
    more = len(rows) > PAGE_SIZE
    last = entries[-1] if entries else None
    return Page(
        entries=entries,
        next_cursor=_encode(last.at, last.source, last.id) if more and last else "",
    )


def _detail(changes_json: str) -> str:
    """{"title": ["Old", "New"]} as "title: Old → New"."""
    try:
        changes = json.loads(changes_json or "{}")
    except json.JSONDecodeError:
        return ""
    parts = []
    for name, pair in changes.items():
        if isinstance(pair, list) and len(pair) == 2:
            before, after = ("–" if v in (None, "", []) else _short(v) for v in pair)
            parts.append(f"{name}: {before} → {after}")
        else:
            parts.append(f"{name}: {_short(pair)}")
    return "; ".join(parts)[:500]


def _short(value: Any) -> str:
    text_ = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text_ if len(text_) <= 80 else text_[:79] + "…"
