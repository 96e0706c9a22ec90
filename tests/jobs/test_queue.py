"""Jobs wait in Redis as JSON: no pickle that could run code in a worker."""

import json

from redis.asyncio import Redis

from backend import queue
from backend.settings import get_settings


async def test_enqueued_jobs_are_json(clean: None) -> None:
    await queue.enqueue(queue.Job("send_mail", (42,), "mail:42"))
    raw = Redis.from_url(get_settings().redis_url)
    stored = await raw.get("arq:job:mail:42")
    await raw.aclose()
    assert stored is not None
    job = json.loads(stored)
    assert job["f"] == "send_mail" and job["a"] == [42]


def test_results_with_exceptions_still_serialize() -> None:
    assert json.loads(queue.serialize({"r": ValueError("bad"), "s": False})) == {
        "r": "ValueError('bad')",
        "s": False,
    }


async def test_a_commit_sends_the_jobs_queued_inside_it(clean: None) -> None:
    """Every session is a unit of work: its commit enqueues what was deferred in it, after
    the commit; a rollback (or leaving without a commit) sends nothing."""
    from backend.db import session_scope

    raw = Redis.from_url(get_settings().redis_url)
    try:
        async with session_scope() as session:
            queue.defer(session, "send_mail", 1, job_id="uow:rolled-back")
            await session.rollback()
            queue.defer(session, "send_mail", 2, job_id="uow:never-committed")
        assert await raw.get("arq:job:uow:rolled-back") is None
        assert await raw.get("arq:job:uow:never-committed") is None
        async with session_scope() as session:
            queue.defer(session, "send_mail", 3, job_id="uow:committed")
            await session.commit()
        assert await raw.get("arq:job:uow:committed") is not None
    finally:
        await raw.aclose()


def test_there_is_no_other_way_to_commit() -> None:
    """The app makes no session but the unit of work, and never commits around it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    import re

    making = re.compile(r"\b(AsyncSession|sessionmaker|Session)\(|sync_session\.commit")
    offenders = []
    for folder in ("backend", "state", "jobs", "app"):
        for path in (root / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for found in making.finditer(path.read_text()):
                if path.name != "db.py":
                    offenders.append(f"{path.relative_to(root)}: {found.group(0)}")
    assert offenders == []


async def test_a_jobs_log_lines_carry_the_request_that_queued_it(clean: None) -> None:
    """A job queued while a request (or event) runs is logged under that request's id by
    the worker; one queued by no request (a sweeper, cron) under its own."""
    from structlog.contextvars import bound_contextvars, clear_contextvars, get_contextvars

    from backend.redis_client import get_redis
    from jobs import lease
    from jobs.worker import job_started

    with bound_contextvars(request_id="req-origin-1234"):
        await queue.enqueue(queue.Job("send_mail", (1,), "origin:1"))
    await queue.enqueue(queue.Job("send_mail", (2,), "origin:2"))
    pool = await queue.get_pool()
    try:
        for job_id, expected in (("origin:1", "req-origin-1234"), ("origin:2", "job:origin:2")):
            ctx = {"redis": pool, "job_id": job_id}
            await job_started(ctx)
            try:
                assert get_contextvars()["request_id"] == expected
                assert get_contextvars()["job_id"] == job_id
            finally:
                await lease.release(ctx)
                clear_contextvars()
    finally:
        await get_redis().delete("arq:job:origin:1", "arq:job:origin:2")
