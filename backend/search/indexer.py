"""Feeding the search engine from the outbox table, in batches, with retries.

Whatever changes a document's searchable form calls `changed()` in its own transaction.
The worker's `index_outbox` job drains the outbox: a batch of documents is read from
PostgreSQL, handed to the engine, and only then removed from the outbox. An engine that
was down catches up on the next run; `rebuild()` refills any engine from PostgreSQL.
"""

import logging
import re
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.db import direct_url, session_scope, sql
from backend.documents.models import Document
from backend.errors import Conflict
from backend.search import cache
from backend.search.engine import IndexDoc, SearchEngine
from backend.search.models import SearchOutbox
from backend.settings import get_settings

log = logging.getLogger(__name__)
INDEX_JOB = "index_outbox"
_LOCK_KEY = 0x5EA2C4  # one indexer at a time, whichever worker runs it
_REBUILD_KEY = 0x5EA2C5  # one rebuild at a time
TYPE_LABELS = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/epub+zip": "epub",
    "text/html": "html",
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/rtf": "rtf",
    "application/rtf": "rtf",
    "message/rfc822": "email",
    "application/vnd.ms-outlook": "email",
    "application/msword": "docx",  # Word, whichever its age
    "application/vnd.wordperfect": "wordperfect",
    "application/vnd.ms-excel": "spreadsheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "spreadsheet",
    "application/vnd.oasis.opendocument.spreadsheet": "spreadsheet",
    "application/vnd.ms-powerpoint": "presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "presentation",
    "application/vnd.oasis.opendocument.presentation": "presentation",
    "text/xml": "xml",
    "application/x-fictionbook+xml": "ebook",
}
_YEAR = re.compile(r"^\s*(\d{4})")


def type_label(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    return TYPE_LABELS.get(mime, "other")


def year_of(meta: dict[str, Any]) -> int | None:
    for key in ("year", "created", "date"):
        m = _YEAR.match(str(meta.get(key) or ""))
        if m and 1 <= int(m.group(1)) <= 2100:
            return int(m.group(1))
    return None


def _people(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [" ".join(str(v).split())[:200] for v in value if str(v).strip()][:50]


async def changed(session: AsyncSession, document_id: int, *, last_of_run: bool = False) -> None:
    """Queue a document for (re)indexing or removal, as part of the caller's transaction.

    Changes are gathered for `index_batch_seconds`: every change within one window of
    time shares the job that runs at the window's end (one job id per window, so arq
    keeps exactly one). A full batch is indexed at once, and so is the outbox when the
    caller knows no other change is on its way (`last_of_run`: the pipeline's last
    document, or a single upload, is searchable at once rather than at the window's end).
    """
    row = SearchOutbox(document_id=document_id)
    session.add(row)
    await session.flush()
    assert row.id is not None
    await _schedule(session, row.id, at_once=last_of_run)


async def changed_many(session: AsyncSession, document_ids: list[int]) -> None:
    """`changed` for many documents at once (a collection renamed, moved or deleted)."""
    if not document_ids:
        return
    last = (
        await sql(
            session,
            text(
                "INSERT INTO search_outbox (document_id, created_at) "
                "SELECT unnest(CAST(:ids AS integer[])), now() RETURNING id"
            ).bindparams(ids=list(document_ids)),
        )
    ).all()
    await _schedule(session, max(r[0] for r in last))


async def _schedule(session: AsyncSession, row_id: int, *, at_once: bool = False) -> None:
    settings = get_settings()
    wait = 0.0 if at_once else settings.index_batch_seconds
    # Counted only up to a batch: this runs with every change, and a rebuild may have
    # queued a million rows.
    first_batch = select(SearchOutbox.id).limit(settings.index_batch_size).subquery()
    pending = (await session.exec(select(func.count()).select_from(first_batch))).one()
    if wait <= 0 or pending >= settings.index_batch_size:
        batch = row_id // settings.index_batch_size
        queue.defer(session, INDEX_JOB, job_id=f"search:index:{batch}:{row_id if wait <= 0 else 0}")
        return
    now = time.time()
    window = int(now // wait)
    queue.defer(
        session, INDEX_JOB, job_id=f"search:index:w{window}", defer_by=(window + 1) * wait - now
    )


async def load(session: AsyncSession, document_ids: list[int]) -> dict[int, IndexDoc]:
    """The searchable form of each document that has a ready current version, or that
    is a record without a file."""
    rows = await sql(
        session,
        text(
            """
            SELECT d.id, d.collection_id, c.name AS cname, c.slug, d.title, d.created_at,
                   d.metadata_source, d.description, d.year, d.kind, d.language AS dlang,
                   v.id AS vid, v.meta, v.language, v.mime_type,
                   ARRAY(SELECT p.name FROM document_people p
                         WHERE p.document_id = d.id AND p.role = 'creator'
                         ORDER BY p.position) AS creators,
                   ARRAY(SELECT s.name FROM document_subjects ds
                         JOIN subjects s ON s.id = ds.subject_id
                         WHERE ds.document_id = d.id ORDER BY ds.position) AS subject_names
            FROM documents d
            JOIN collections c ON c.id = d.collection_id
            LEFT JOIN document_versions v ON v.id = d.current_version_id AND v.status = 'ready'
            WHERE d.id = ANY(:ids)
              AND (v.id IS NOT NULL OR (d.current_version_id IS NULL AND d.listed))
            """
        ).bindparams(ids=document_ids),
    )
    docs: dict[int, IndexDoc] = {}
    by_version: dict[int, IndexDoc] = {}
    for r in rows.all():
        meta = r.meta or {}
        doc = IndexDoc(
            document_id=r.id,
            collection_id=r.collection_id,
            collection=f"{r.cname} {r.slug}",
            title=r.title,
            type=type_label(r.mime_type or "") if r.vid else r.kind,
            language=r.language or "",
            added=r.created_at,
        )
        if r.metadata_source:  # the catalogue record
            doc.authors, doc.subjects = list(r.creators), list(r.subject_names)
            doc.description, doc.year = r.description[:5000], r.year
            doc.language = r.dlang or doc.language
        else:  # not catalogued yet (a library from before the catalogue): the file's own
            doc.authors = _people(meta.get("authors"))
            doc.subjects = _people(meta.get("subjects"))
            doc.description = str(meta.get("description") or "")[:5000]
            doc.year = year_of(meta)
        docs[r.id] = doc
        if r.vid:
            by_version[r.vid] = doc
    if by_version:
        pages = await sql(
            session,
            text(
                "SELECT version_id, text FROM document_pages WHERE version_id = ANY(:ids) "
                "ORDER BY version_id, page_no"
            ).bindparams(ids=list(by_version)),
        )
        for p in pages.all():
            by_version[p.version_id].pages.append(p.text)
    return docs


async def drain(engine: SearchEngine, batch_size: int | None = None) -> int:
    """Index everything in the outbox, a batch at a time; returns the documents handled."""
    size = batch_size or get_settings().index_batch_size
    handled = 0
    while True:
        async with session_scope() as session:
            # One indexer at a time; the lock ends with the transaction. While a rebuild
            # holds it, the changes wait in the outbox for the new index.
            free = await sql(
                session, text("SELECT pg_try_advisory_xact_lock(:k)").bindparams(k=_LOCK_KEY)
            )
            if not free.scalar():
                if await _rebuilding(session):
                    return handled
                await sql(session, text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK_KEY))
            rows = (
                await session.exec(
                    select(SearchOutbox.id, SearchOutbox.document_id)
                    .order_by(col(SearchOutbox.id))
                    .limit(size)
                )
            ).all()
            if not rows:
                return handled
            ids = sorted({doc_id for _, doc_id in rows})
            docs = await load(session, ids)
            deletes = [i for i in ids if i not in docs]
            await engine.apply(list(docs.values()), deletes)
            await sql(
                session,
                text("DELETE FROM search_outbox WHERE id = ANY(:ids)").bindparams(
                    ids=[row_id for row_id, _ in rows]
                ),
            )
            await session.commit()
        await cache.index_changed()
        handled += len(ids)
        log.info("indexed %d documents, removed %d", len(docs), len(deletes))


async def queue_everything() -> int:
    """Put every document in the outbox (a new, empty index fills up in the background)."""
    async with session_scope() as session:
        result = await sql(
            session,
            text(
                "INSERT INTO search_outbox (document_id, created_at) "
                "SELECT id, now() FROM documents"
            ),
        )
        await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def rebuild(engine: SearchEngine, batch_size: int = 5000) -> int:
    """Index every document again, into a new index built beside the live one, then put
    it in the live one's place at once (`SearchEngine.build_beside`): searches are
    answered by the live index all the while. The indexer leaves the outbox alone during
    the build (changes made meanwhile wait there) and sends them into the new index once
    it is live. One rebuild at a time; returns how many documents the new index holds."""
    held = create_async_engine(direct_url(), poolclass=NullPool)
    try:
        async with held.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            # Session locks, on the server itself: they end with this connection, whatever
            # happens to this process.
            busy = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _REBUILD_KEY})
            if not busy.scalar():
                raise Conflict("The search index is being rebuilt already.")
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            built = await _build(engine, batch_size)
    finally:
        await held.dispose()
    await cache.index_changed()
    await drain(engine)
    return built


async def _build(engine: SearchEngine, batch_size: int) -> int:
    build = await engine.build_beside()
    built, after = 0, 0
    try:
        while True:
            async with session_scope() as session:
                ids = list(
                    (
                        await session.exec(
                            select(Document.id)
                            .where(col(Document.id) > after)
                            .order_by(col(Document.id))
                            .limit(batch_size)
                        )
                    ).all()
                )
                if not ids:
                    break
                docs = await load(session, [i for i in ids if i is not None])
            await build.apply(list(docs.values()))
            built += len(docs)
            after = ids[-1] or after
            log.info("rebuilding the search index: %d documents so far", built)
        await build.switch()
    except BaseException:
        await build.abort()
        raise
    return built


async def _rebuilding(session: AsyncSession) -> bool:
    """Whether a rebuild holds the indexer (its session lock is granted to a connection)."""
    found = await sql(
        session,
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = 0 AND objid = :k AND objsubid = 1 AND granted)"
        ).bindparams(k=_REBUILD_KEY),
    )
    return bool(found.scalar())


async def prepare_engine(engine: SearchEngine) -> int:
    """Before the web and worker processes start: create the engine's index if missing,
    and queue every document when it is new or empty (first start, a new index schema,
    another engine chosen). Returns how many were queued."""
    fresh = engine.prepare()
    if fresh or await engine.count() == 0:
        return await queue_everything()
    return 0
