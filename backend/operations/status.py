"""The system status page's figures (admins only): the queue, the workers, failed jobs,
the ingest backlog, the search index against the database, the engines and their sizes.

Every probe of another service has a short timeout and says what went wrong: the page is
read when something is broken, so it must never hang on the broken thing. The object
store's size is a walk over every object: the worker measures it every quarter of an hour
(`measure_store`) and the page shows the last measurement with its time.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from importlib import metadata as package_metadata
from typing import Any

from alembic.script import ScriptDirectory
from redis.asyncio import Redis
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.analytics.report_files import number
from backend.db import sql
from backend.ingest import virus
from backend.migrate import alembic_config
from backend.operations import watch
from backend.search.engines import get_search_engine
from backend.settings import get_settings
from backend.storage.base import ObjectStore
from backend.users.models import User

log = logging.getLogger(__name__)
PROBE_SECONDS = 2.0
STORE_USAGE = "library:status:store"


@dataclass(frozen=True)
class Check:
    """One thing that is fine (ok=True), broken (False) or not set up (None)."""

    name: str
    ok: bool | None
    summary: str


@dataclass
class SystemStatus:
    checked_at_ms: int
    version: str
    checks: list[Check] = field(default_factory=list)
    queue: list[watch.QueueDepth] = field(default_factory=list)
    queued: int = 0
    queue_partial: bool = False
    workers: list[watch.WorkerBeat] = field(default_factory=list)
    failed: list[watch.FailedJob] = field(default_factory=list)
    failed_total: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


async def _probe(name: str, work: Any) -> tuple[Any, str]:
    """(answer, "") or (None, why not) within PROBE_SECONDS."""
    try:
        return await asyncio.wait_for(work, PROBE_SECONDS), ""
    except TimeoutError:
        return None, f"no answer within {PROBE_SECONDS:.0f} s"
    except Exception as exc:
        log.warning("status: %s failed: %s", name, exc)
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def migration_head() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head() or ""


def app_version() -> str:
    try:
        return package_metadata.version("library-platform")
    except package_metadata.PackageNotFoundError:
        return "unknown"


_DATABASE = """
SELECT pg_database_size(current_database()),
       current_setting('server_version'),
       (SELECT version_num FROM alembic_version LIMIT 1),
       (SELECT count(*) FROM document_versions WHERE status = 'pending'),
       (SELECT count(*) FROM document_versions WHERE status = 'processing'),
       (SELECT extract(epoch FROM now() - min(created_at)) FROM document_versions
         WHERE status IN ('pending', 'processing')),
       (SELECT count(*) FROM document_versions
         WHERE status = 'failed' AND coalesce(step_at, created_at) > now() - interval '1 day'),
       (SELECT count(*) FROM search_outbox),
       (SELECT extract(epoch FROM now() - min(created_at)) FROM search_outbox),
       (SELECT count(*) FROM documents WHERE listed),
       (SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND gave_up_at IS NULL),
       (SELECT count(*) FROM mail_outbox WHERE gave_up_at > now() - interval '7 days'),
       (SELECT count(*) FROM object_deletions),
       (SELECT coalesce(sum(size), 0) FROM document_versions)
"""


async def _database(session: AsyncSession) -> dict[str, Any]:
    row = (await sql(session, text(_DATABASE))).one()
    keys = (
        "database_bytes",
        "database_version",
        "migration",
        "ingest_pending",
        "ingest_processing",
        "ingest_oldest_seconds",
        "ingest_failed_day",
        "outbox",
        "outbox_oldest_seconds",
        "searchable_documents",
        "mail_waiting",
        "mail_given_up_week",
        "deletions_waiting",
        "file_bytes",
    )
    return dict(zip(keys, row, strict=True))


async def system_status(*, session: AsyncSession, actor: User | None, redis: Redis) -> SystemStatus:
    require_admin(actor)
    settings = get_settings()
    status = SystemStatus(checked_at_ms=int(time.time() * 1000), version=app_version())
    db = await _database(session)
    status.figures = db

    head = migration_head()
    status.checks.append(
        Check(
            "Database",
            True,
            f"PostgreSQL {db['database_version']}, {number(float(db['database_bytes']), 'bytes')}",
        )
    )
    status.checks.append(
        Check(
            "Migrations",
            db["migration"] == head,
            f"at {db['migration']}"
            + (" (the latest)" if db["migration"] == head else f"; the code's latest is {head}"),
        )
    )

    depth, total, partial = await watch.queue_depth(redis)
    status.queue, status.queued, status.queue_partial = depth, total, partial
    status.workers = await watch.workers(redis)
    status.failed, status.failed_total = await watch.failed_jobs(redis, limit=50)
    alive = [w for w in status.workers if w.silent_for(status.checked_at_ms) < watch.SILENT_SECONDS]
    status.checks.append(
        Check(
            "Workers",
            bool(alive),
            f"{len(alive)} answering"
            + (
                f", {len(status.workers) - len(alive)} silent"
                if len(status.workers) > len(alive)
                else ""
            )
            + ("" if alive else ": nothing is processing uploads, mail or indexing"),
        )
    )

    engine = (
        "Meilisearch"
        if settings.meili_url
        else {"tantivy": "tantivy (in-process)", "postgres": "PostgreSQL"}[settings.search_engine]
    )
    indexed, why = await _probe("search engine", get_search_engine().count())
    status.figures["indexed_documents"] = indexed
    status.figures["engine"] = engine
    if indexed is None:
        status.checks.append(Check("Search engine", False, f"{engine} does not answer: {why}"))
    else:
        lag = int(db["searchable_documents"]) - int(indexed)
        status.checks.append(
            Check(
                "Search engine",
                lag == 0 or int(db["outbox"]) > 0,
                f"{engine}: {indexed:,} documents indexed, {db['searchable_documents']:,} "
                "searchable in the database"
                + ("" if lag == 0 else f" ({abs(lag):,} {'to index' if lag > 0 else 'extra'})"),
            )
        )
    oldest = db["outbox_oldest_seconds"]
    status.checks.append(
        Check(
            "Indexing",
            oldest is None or float(oldest) < 600,
            "nothing waiting"
            if not db["outbox"]
            else f"{db['outbox']:,} changes waiting, the oldest for {_age(float(oldest))}",
        )
    )

    if settings.clamd_url:
        answer, why = await _probe("clamd", virus.version(settings.clamd_url, PROBE_SECONDS))
        status.checks.append(
            Check("Virus scanner", answer is not None, answer or f"clamd does not answer: {why}")
        )
    else:
        status.checks.append(
            Check("Virus scanner", None, "not configured (CLAMD_URL): uploads are not scanned")
        )

    usage = await redis.get(STORE_USAGE)
    where = "S3 " + settings.storage_url.split("?")[0] if settings.storage_url else "local folder"
    if usage:
        u = json.loads(usage)
        measured = (status.checked_at_ms - int(u["at_ms"])) / 1000
        status.checks.append(
            Check(
                "Object store",
                not u.get("error"),
                f"{where}: "
                + (
                    f"unreadable {_age(measured)} ago ({u['error']})"
                    if u.get("error")
                    else f"{number(float(u['bytes']), 'bytes')} in {int(u['objects']):,} objects "
                    f"(measured {_age(measured)} ago)"
                ),
            )
        )
    else:
        status.checks.append(Check("Object store", None, f"{where}: not measured yet"))
    return status


async def measure_store(store: ObjectStore, redis: Redis) -> dict[str, Any]:
    """The worker's cron: walk the object store once and keep its size for the page."""
    try:
        objects, size = await store.usage()
        found: dict[str, Any] = {"objects": objects, "bytes": size}
    except Exception as exc:
        found = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    found["at_ms"] = int(time.time() * 1000)
    await redis.set(STORE_USAGE, json.dumps(found))
    return found


async def retry_job(*, actor: User | None, redis: Redis, signature: str) -> str:
    """An admin queues a failed job again; returns the new job's id ("" if it recovered)."""
    require_admin(actor)
    if not signature or len(signature) > 64:
        return ""
    return await watch.retry(redis, signature)
