"""Readiness: what a web process needs answering before it is sent traffic."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from backend.db import session_scope, sql
from backend.errors import LibraryError
from backend.operations import watch
from backend.redis_client import get_redis
from backend.search.engines import get_search_engine

log = logging.getLogger(__name__)


async def _database() -> None:
    async with session_scope() as session:
        await sql(session, text("SELECT 1"))


async def _redis() -> None:
    await get_redis().ping()  # type: ignore[misc]


async def _engine() -> None:
    await get_search_engine().count()


class NotReady(Exception):
    """A check's own finding, in words safe to show anyone."""


async def _worker() -> None:
    now_ms = int(time.time() * 1000)
    beats = await watch.workers(get_redis())
    if not any(w.silent_for(now_ms) < watch.SILENT_SECONDS for w in beats):
        raise NotReady(f"no worker heard from in the last {watch.SILENT_SECONDS:.0f} s")


CHECKS: dict[str, Callable[[], Awaitable[Any]]] = {
    "database": _database,
    "redis": _redis,
    "search_engine": _engine,
    "worker": _worker,
}


async def _one(check: Callable[[], Awaitable[Any]], seconds: float) -> str:
    try:
        await asyncio.wait_for(check(), seconds)
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except (NotReady, LibraryError) as exc:
        return str(exc)
    except Exception as exc:
        # The probe is public: a driver's message may name hosts, users or paths. It goes
        # to the log; the answer names only the kind of failure.
        log.warning("readiness check %s failed: %r", check.__name__.lstrip("_"), exc)
        return f"failing ({type(exc).__name__})"
    return "ok"


async def readiness(seconds: float) -> dict[str, str]:
    """Each check's outcome ("ok" or why not), all asked at once."""
    results = await asyncio.gather(*(_one(check, seconds) for check in CHECKS.values()))
    return dict(zip(CHECKS, results, strict=True))
