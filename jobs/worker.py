"""The arq worker: `arq jobs.worker.WorkerSettings`."""

import logging
from typing import Any

from arq import cron

from backend import queue
from backend.db import dispose_engine, get_engine
from backend.files import keep_private
from backend.logging_setup import configure_logging
from backend.storage.service import get_store
from jobs.tasks import (
    catalogue_leftovers,
    check_import,
    delete_objects,
    expire_search_counts,
    flush_search_counts,
    index_leftovers,
    index_outbox,
    ingest_version,
    requeue_stale_ingests,
    run_import,
    send_mail,
    sweep_imports,
)


async def prepare(ctx: dict[str, Any]) -> None:
    """Build the clients every job shares."""
    # Thumbnails, page images and the search index are written here: private to this user,
    # also where the worker is started without the launcher (a container, a service).
    keep_private()
    get_engine()
    ctx["store"] = get_store()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging()
    await prepare(ctx)
    logging.getLogger(__name__).info("worker ready")


async def shutdown(ctx: dict[str, Any]) -> None:
    await queue.close_pool()
    await dispose_engine()


class WorkerSettings:
    functions = [
        ingest_version,
        send_mail,
        index_outbox,
        delete_objects,
        check_import,
        run_import,
    ]
    cron_jobs = [
        cron(requeue_stale_ingests, second={0}, unique=True),
        cron(index_leftovers, second={30}, unique=True),
        cron(flush_search_counts, second={45}, unique=True),
        cron(expire_search_counts, minute={5}, second={50}, unique=True),
        cron(catalogue_leftovers, second={15}, unique=True),
        cron(sweep_imports, second={40}, unique=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = queue.QUEUE_NAME
    job_serializer = staticmethod(queue.serialize)
    job_deserializer = staticmethod(queue.deserialize)
    redis_settings = queue.redis_settings()
    max_jobs = 4
    job_timeout = 600
    max_tries = 6  # = jobs.tasks.MAX_TRANSIENT_TRIES: transient failures back off and retry
    keep_result = 3600
