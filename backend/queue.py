"""The arq job queue. Services call `defer(session, ...)`; the unit of work
(`backend.db.UnitOfWork`) enqueues those jobs when it commits, and only then, so a worker
never sees a row that was rolled back.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import tracing
from backend.settings import get_settings

log = logging.getLogger(__name__)
_pool: ArqRedis | None = None
QUEUE_NAME = "library:queue"


@dataclass(frozen=True)
class Job:
    function: str
    args: tuple[Any, ...]
    job_id: str
    defer_by: float = 0.0


def serialize(obj: Any) -> bytes:
    """Jobs and results travel as JSON, not arq's default pickle: whoever can write to
    Redis must not be able to run code in the workers. (Exceptions become their repr.)"""
    return json.dumps(obj, default=repr).encode()


def deserialize(data: bytes) -> Any:
    return json.loads(data)


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(get_settings().redis_url)


async def get_pool() -> ArqRedis:
    global _pool
    if _pool is None:
        _pool = await create_pool(
            redis_settings(),
            default_queue_name=QUEUE_NAME,
            job_serializer=serialize,
            job_deserializer=deserialize,
        )
    return _pool


async def close_pool() -> None:
    global _pool
    if _pool is not None:
        await _pool.aclose()
    _pool = None


def defer(
    session: AsyncSession, function: str, *args: Any, job_id: str, defer_by: float = 0.0
) -> None:
    """Enqueue `function(*args)` once the session commits (never if it rolls back).

    arq keeps one job per id: deferring again while it waits adds nothing.
    """
    session.info.setdefault("deferred_jobs", []).append(Job(function, args, job_id, defer_by))


ORIGIN_PREFIX = "library:job-request:"
TRACE_PREFIX = "library:job-trace:"
JOB_FUNCTION = "x-library-job"  # beside the trace context: the job's function, its span's name
ORIGIN_SECONDS = 24 * 3600


async def enqueue(job: Job) -> None:
    pool = await get_pool()
    # The request (or event) that queued the job, for the worker's log lines of it.
    origin = structlog.contextvars.get_contextvars().get("request_id")
    if origin:
        await pool.set(ORIGIN_PREFIX + job.job_id, str(origin), ex=ORIGIN_SECONDS)
    # The trace it belongs to, continued by the worker (backend.tracing.job_span).
    if tracing.enabled() and (carried := tracing.carrier()):
        carried[JOB_FUNCTION] = job.function
        await pool.set(TRACE_PREFIX + job.job_id, json.dumps(carried), ex=ORIGIN_SECONDS)
    await pool.enqueue_job(
        job.function, *job.args, _job_id=job.job_id, _defer_by=job.defer_by or None
    )


async def origin_of(redis: Any, job_id: str) -> str:
    """The request id that queued this job ("" when none was bound, or it is forgotten)."""
    found = await redis.get(ORIGIN_PREFIX + job_id)
    if isinstance(found, bytes):
        found = found.decode()
    return str(found or "")


async def trace_of(redis: Any, job_id: str) -> dict[str, str]:
    """The trace context that queued this job ({} when none)."""
    found = await redis.get(TRACE_PREFIX + job_id)
    try:
        value = json.loads(found) if found else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def take_deferred(session: AsyncSession) -> list[Job]:
    """The jobs deferred in a session so far, removed from it."""
    jobs: list[Job] = session.info.pop("deferred_jobs", [])
    return jobs


def backoff(
    attempts: int,
    first: timedelta = timedelta(minutes=1),
    most: timedelta = timedelta(minutes=60),
) -> timedelta:
    """How long to wait after the `attempts`-th failed try: first, twice that, four times
    that ... never more than `most` (outbox rows tried again by the sweepers)."""
    return min(most, first * 2 ** min(max(attempts - 1, 0), 20))
