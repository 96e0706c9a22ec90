"""The arq worker: `python -m jobs.run` (or `arq jobs.worker.WorkerSettings`).

`python -m jobs.run` runs `Worker` below: arq's worker, made to outlive Redis. arq's own
poll loop ends the process on the first Redis connection error (and leaks a job slot when
it happens while taking a job); this one says "Redis is away; retrying" once, backs off,
and carries on when Redis answers again (redis-py's pool reconnects), and it records the
end of a job that finished while Redis was away once Redis is back. `arq
jobs.worker.WorkerSettings` still works, with the same jobs and heartbeat, but exits when
Redis goes away.
"""

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq import cron
from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import Worker as ArqWorker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from backend import queue, tracing
from backend.analytics import events as analytics_events
from backend.db import dispose_engine, get_engine
from backend.files import keep_private
from backend.ingest import office_suite
from backend.logging_setup import configure_logging
from backend.operations import watch
from backend.redis_client import get_redis
from backend.storage.service import get_store
from jobs import lease
from jobs.tasks import (
    catalogue_leftovers,
    check_import,
    copy_objects_to_backup,
    delete_leftover_objects,
    delete_objects,
    expire_search_counts,
    flush_events,
    flush_search_counts,
    index_leftovers,
    index_outbox,
    ingest_version,
    maintain_event_partitions,
    make_usage_report,
    measure_store,
    requeue_stale_ingests,
    roll_analytics,
    run_import,
    send_due_mail,
    send_mail,
    send_search_alerts,
    sweep_imports,
    sweep_partial_objects,
    take_scheduled_backup,
)

log = logging.getLogger(__name__)
# What a Redis that is down, restarting or unreachable raises (BusyLoadingError, while it
# reads its append-only file back, is a ConnectionError).
REDIS_AWAY = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
_MOST_PAUSE = 5.0


async def prepare(ctx: dict[str, Any]) -> None:
    """Build the clients every job shares."""
    # Thumbnails, page images and the search index are written here: private to this user,
    # also where the worker is started without the launcher (a container, a service).
    keep_private()
    get_engine()
    ctx["store"] = get_store()


async def job_started(ctx: dict[str, Any]) -> None:
    """on_job_start: the job's lease, and its log lines bound to the request that queued
    it (or to the job itself, for the sweepers' and cron's)."""
    await lease.hold(ctx)
    origin = await queue.origin_of(ctx["redis"], ctx["job_id"])
    structlog.contextvars.bind_contextvars(
        request_id=origin or f"job:{ctx['job_id']}", job_id=ctx["job_id"]
    )
    if tracing.enabled():  # the job's span, in the trace of what queued it
        carried = await queue.trace_of(ctx["redis"], ctx["job_id"])
        name = carried.pop(queue.JOB_FUNCTION, "") or str(ctx["job_id"]).split(":")[0]
        tracing.job_span(ctx, name, carried)


async def job_ended(ctx: dict[str, Any]) -> None:
    """after_job_end: the job's lease given back, its span ended."""
    tracing.end_job_span(ctx)
    await lease.release(ctx)


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging()
    await prepare(ctx)
    tracing.configure("library-worker", engine=get_engine)
    try:  # a worker that was stopped for months finds the current month's partition
        await maintain_event_partitions(ctx)
    except Exception:
        log.exception("could not prepare the analytics partitions; the daily cron retries")
    logging.getLogger(__name__).info("worker ready")


async def shutdown(ctx: dict[str, Any]) -> None:
    await analytics_events.sent()  # what the jobs recorded (ingest outcomes) leaves first
    lease.release_all()
    office_suite.get_suite().stop()  # LibreOffice, if this worker started it
    await queue.close_pool()
    await dispose_engine()


class Worker(ArqWorker):
    """arq's worker with short in-progress marks (see jobs.lease) and patience with Redis."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # arq sets the mark for the job's whole timeout; the lease hooks renew a short one,
        # and a short first one covers a worker that dies before its hook runs.
        self.in_progress_timeout_s = lease.lease_seconds()
        self._away_since: float | None = None
        self._pause = 0.0
        self._stopping = False
        self._name = watch.worker_name()
        self._started_ms = int(time.time() * 1000)
        self._last_beat = 0.0

    # Redis away and back -------------------------------------------------------------

    async def _redis_away(self, exc: BaseException) -> None:
        if self._away_since is None:
            self._away_since = time.monotonic()
            log.warning("Redis is away; retrying (%s)", exc)
        self._pause = min(_MOST_PAUSE, max(0.5, self._pause * 2))
        await asyncio.sleep(self._pause)

    def _redis_back(self) -> None:
        if self._away_since is not None:
            log.info("Redis is back after %.1f s", time.monotonic() - self._away_since)
        self._away_since = None
        self._pause = 0.0

    async def _until_redis_answers(self, attempt: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await attempt()
            except REDIS_AWAY as exc:
                if self._stopping:
                    # Not recorded: its mark lapses and the job runs again (jobs are
                    # idempotent), rather than a shutdown waiting for Redis.
                    log.warning("stopping while Redis is away; a job's end is not recorded")
                    return
                await self._redis_away(exc)
            else:
                self._redis_back()
                return

    async def main(self) -> None:
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    self.redis_settings,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except REDIS_AWAY as exc:
                await self._redis_away(exc)
        self._redis_back()
        await super().main()

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_AWAY as exc:
            await self._redis_away(exc)
        else:
            self._redis_back()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq 0.25's start_jobs, giving back the job slot when Redis fails mid-way (arq's
        keeps it, and a worker that lost max_jobs slots so never takes a job again)."""
        for job_id_b in job_ids:
            await self.sem.acquire()
            try:
                started = await self._start_job(job_id_b.decode())
            except BaseException:
                self.sem.release()
                raise
            if not started:
                self.sem.release()

    async def _start_job(self, job_id: str) -> bool:
        in_progress_key = in_progress_key_prefix + job_id
        async with self.pool.pipeline(transaction=True) as pipe:
            await pipe.watch(in_progress_key)
            ongoing_exists = await pipe.exists(in_progress_key)
            score = await pipe.zscore(self.queue_name, job_id)
            if ongoing_exists or not score:
                # Running elsewhere, or finished and removed from the queue.
                return False
            pipe.multi()
            pipe.psetex(in_progress_key, int(self.in_progress_timeout_s * 1000), b"1")
            try:
                await pipe.execute()
            except (ResponseError, WatchError):
                return False  # another worker took it since
        task = self.loop.create_task(self.run_job(job_id, int(score)))
        task.add_done_callback(lambda _: self.sem.release())
        self.tasks[job_id] = task
        return True

    async def finish_job(
        self, job_id: str, finish: bool, result_data: bytes | None, *args: Any, **kwargs: Any
    ) -> None:
        await self._until_redis_answers(
            lambda: super(Worker, self).finish_job(job_id, finish, result_data, *args, **kwargs)
        )
        if finish:
            await self._note_outcome(job_id, result_data)

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        await self._until_redis_answers(
            lambda: super(Worker, self).finish_failed_job(job_id, result_data)
        )
        await self._note_outcome(job_id, result_data)

    async def _note_outcome(self, job_id: str, result_data: bytes | None) -> None:
        """The status page's failed jobs (see backend.operations.watch); never fatal."""
        if not result_data:
            return
        try:
            await watch.note_outcome(get_redis(), job_id, queue.deserialize(result_data))
        except Exception:
            log.warning("could not note the outcome of job %s", job_id, exc_info=True)

    # Heartbeats ----------------------------------------------------------------------

    async def heart_beat(self) -> None:
        await super().heart_beat()
        if time.monotonic() - self._last_beat < watch.BEAT_SECONDS:
            return
        self._last_beat = time.monotonic()
        running = sorted(job_id for job_id, task in self.tasks.items() if not task.done())
        await watch.beat(
            get_redis(),
            watch.WorkerBeat(
                name=self._name,
                beat_at_ms=int(time.time() * 1000),
                started_at_ms=self._started_ms,
                complete=self.jobs_complete,
                failed=self.jobs_failed,
                retried=self.jobs_retried,
                running=running[:20],
            ),
        )

    def handle_sig(self, signum: signal.Signals) -> None:
        self._stopping = True
        super().handle_sig(signum)

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        self._stopping = True
        super().handle_sig_wait_for_completion(signum)

    async def close(self) -> None:
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if self._pool is None:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        try:
            await self.pool.delete(self.health_check_key)
            await watch.gone(get_redis(), self._name)
        except REDIS_AWAY:
            pass  # it expires by itself; the status page shows this worker as silent
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        try:
            await self.pool.close(close_connection_pool=True)
        except REDIS_AWAY:
            pass
        self._pool = None  # type: ignore[assignment]


class WorkerSettings:
    functions = [
        ingest_version,
        send_mail,
        index_outbox,
        delete_objects,
        check_import,
        run_import,
        flush_events,
        make_usage_report,
        send_search_alerts,
    ]
    cron_jobs = [
        cron(requeue_stale_ingests, second={0}, unique=True),
        cron(catalogue_leftovers, second={15}, unique=True),
        cron(send_due_mail, second={20}, unique=True),
        cron(delete_leftover_objects, second={25}, unique=True),
        cron(sweep_partial_objects, minute={35}, second={5}, unique=True),
        cron(index_leftovers, second={30}, unique=True),
        cron(sweep_imports, second={40}, unique=True),
        cron(flush_search_counts, second={45}, unique=True),
        cron(expire_search_counts, minute={5}, second={50}, unique=True),
        cron(flush_events, second=set(range(2, 60, 5)), unique=True),
        cron(roll_analytics, minute={12}, second={55}, unique=True),
        cron(maintain_event_partitions, hour={0}, minute={7}, second={35}, unique=True),
        cron(measure_store, minute={3, 18, 33, 48}, second={5}, unique=True, run_at_startup=True),
        # Hourly: the job itself decides when last month is due, in the library's time zone.
        cron(make_usage_report, minute={20}, second={5}, unique=True),
        # Hourly: each saved search is looked at once its last look is a day old.
        cron(send_search_alerts, minute={40}, second={10}, unique=True),
        # Backups (backend.operations.backup): the copy of the stored files every five
        # minutes, a base backup of the database every hour; both may take long.
        cron(
            copy_objects_to_backup,
            minute=set(range(4, 60, 5)),
            second={25},
            unique=True,
            timeout=3600,
        ),
        cron(take_scheduled_backup, minute={50}, second={15}, unique=True, timeout=4 * 3600),
    ]
    on_startup = startup
    on_shutdown = shutdown
    on_job_start = job_started
    after_job_end = job_ended
    queue_name = queue.QUEUE_NAME
    job_serializer = staticmethod(queue.serialize)
    job_deserializer = staticmethod(queue.deserialize)
    redis_settings = queue.redis_settings()
    max_jobs = 4
    # How often an idle worker looks for new jobs (arq's default is 0.5 s): an upload's
    # processing starts within 0.1 s, for a few Redis commands a second.
    poll_delay = 0.1
    job_timeout = 600
    max_tries = 6  # = jobs.tasks.MAX_TRANSIENT_TRIES: transient failures back off and retry
    keep_result = 3600
