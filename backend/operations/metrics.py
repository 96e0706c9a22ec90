"""Prometheus metrics: what each process counts, and the page a scraper reads.

Processes count into the metrics of backend.metrics. Started by the launcher, every web
and worker process writes them to files in `PROMETHEUS_MULTIPROC_DIR` (the launcher
empties it at start), and the page adds up every process's files, so two web processes
and two workers read as one library. A process started on its own (a test, a shell)
counts in memory and the page shows its own figures.

The page also carries figures read when it is asked for, from PostgreSQL and Redis: jobs
waiting in the queue, the search outbox's size and the age of its oldest change (how far
the index lags), documents by status, stored bytes, people active in the last day.

Served at `GET /metrics` with `Authorization: Bearer $METRICS_TOKEN` (404 while no token
is set: the page tells an outsider how busy the library is).
"""

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from redis.asyncio import Redis
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.db import sql
from backend.metrics import MULTIPROC_ENV


class _Read(Collector):
    """Figures read for one page (see the module's doc)."""

    def __init__(self, values: dict[str, tuple[str, list[tuple[list[str], float]], list[str]]]):
        self.values = values

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (doc, samples, labels) in self.values.items():
            family = GaugeMetricFamily(name, doc, labels=labels)
            for label_values, value in samples:
                family.add_metric(label_values, value)
            yield family


async def _read(session: AsyncSession, redis: Redis) -> _Read:
    waiting = int(await redis.zcard(queue.QUEUE_NAME))
    outbox = (
        await sql(
            session,
            text("SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM search_outbox"),
        )
    ).one()
    statuses = (
        await sql(session, text("SELECT status, count(*) FROM document_versions GROUP BY status"))
    ).all()
    stored = (
        await sql(session, text("SELECT coalesce(sum(size), 0) FROM document_versions"))
    ).scalar_one()
    active = (
        await sql(
            session,
            text(
                "SELECT count(DISTINCT user_id) FROM user_sessions "
                "WHERE last_seen_at > now() - interval '1 day'"
            ),
        )
    ).scalar_one()
    return _Read(
        {
            "library_queue_jobs": ("Jobs waiting in the queue", [([], waiting)], []),
            "library_search_outbox_changes": (
                "Changes waiting to be indexed",
                [([], float(outbox[0]))],
                [],
            ),
            "library_search_outbox_lag_seconds": (
                "Age of the oldest change waiting to be indexed",
                [([], float(outbox[1] or 0))],
                [],
            ),
            "library_document_versions": (
                "Document versions by status",
                [([str(s)], float(n)) for s, n in statuses],
                ["status"],
            ),
            "library_stored_bytes": ("Bytes of the files held", [([], float(stored))], []),
            "library_active_users": (
                "People with a session used in the last day",
                [([], float(active))],
                [],
            ),
        }
    )


async def page(session: AsyncSession, redis: Redis) -> bytes:
    """The metrics page: every process's counts, and the figures read now."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY  # this process's own
    read = await _read(session, redis)
    registry.register(read)
    try:
        return generate_latest(registry)
    finally:
        registry.unregister(read)
