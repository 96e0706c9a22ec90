"""What the workers tell Redis about themselves: heartbeats, and the jobs that failed.

arq keeps a job's result for an hour and forgets it; a job that failed at night would be
gone by morning. The worker (jobs.worker) reports every finished job here:
- a failure is kept under the job's *signature* (its function and arguments), so a cron job
  that fails every minute is one line that says how often, not a thousand;
- a later success of the same signature (the cron job recovered, or an admin's retry ran)
  removes the line: what is listed is what is still broken.
At most KEEP_FAILED signatures are kept, the most recent failures.

Heartbeats: every worker writes its name, its counts and the jobs it runs every few
seconds; a worker that stopped cleanly removes itself, one that died goes silent and is
shown as such.
"""

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from backend import queue

FAILED = "library:jobs:failed"  # signature -> the last failure (JSON)
FAILED_TIMES = "library:jobs:failed:times"  # signature -> failures since the last success
FAILED_FIRST = "library:jobs:failed:first"  # signature -> first failure (ms)
FAILED_ORDER = "library:jobs:failed:order"  # signature scored by its last failure (ms)
WORKERS = "library:workers"  # worker name -> its last heartbeat (JSON)
KEEP_FAILED = 500
BEAT_SECONDS = 5.0
# A worker silent this long is shown as not answering; after FORGET_SECONDS, dropped.
SILENT_SECONDS = 30.0
FORGET_SECONDS = 24 * 3600.0
JOB_PREFIX = "arq:job:"


def _ms() -> int:
    return int(time.time() * 1000)


def signature(function: str, args: Any, kwargs: Any) -> str:
    """The same job (function and arguments), whatever id it was queued under."""
    raw = json.dumps([function, args, kwargs], sort_keys=True, default=repr)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def reason_of(result: Any) -> str:
    """arq stores a failed job's exception as its repr (our serializer): keep it short."""
    text = result if isinstance(result, str) else repr(result)
    return text[:1000]


@dataclass(frozen=True)
class FailedJob:
    signature: str
    function: str
    args: list[Any]
    job_id: str
    reason: str
    tries: int
    failed_at_ms: int
    first_failed_at_ms: int
    times: int
    retried_at_ms: int = 0
    retry_job_id: str = ""


async def note_outcome(redis: Redis, job_id: str, result: dict[str, Any]) -> None:
    """Called by the worker for every finished job with arq's result record."""
    function = str(result.get("f", "<unknown>"))
    args, kwargs = result.get("a", []), result.get("k", {})
    sig = signature(function, args, kwargs)
    now = _ms()
    async with redis.pipeline(transaction=True) as tr:
        if result.get("s"):
            tr.hdel(FAILED, sig)
            tr.hdel(FAILED_TIMES, sig)
            tr.hdel(FAILED_FIRST, sig)
            tr.zrem(FAILED_ORDER, sig)
        else:
            failed_at = int(result.get("ft") or now)
            record = {
                "function": function,
                "args": args if isinstance(args, list) else list(args),
                "job_id": job_id,
                "reason": reason_of(result.get("r")),
                "tries": int(result.get("t") or 1),
                "failed_at_ms": failed_at,
            }
            tr.hset(FAILED, sig, json.dumps(record, default=repr))
            tr.hincrby(FAILED_TIMES, sig, 1)
            tr.hsetnx(FAILED_FIRST, sig, str(failed_at))
            tr.zadd(FAILED_ORDER, {sig: failed_at})
            tr.zcard(FAILED_ORDER)
        answers = await tr.execute()
    if not result.get("s") and int(answers[-1]) > KEEP_FAILED:
        await _forget_oldest(redis, int(answers[-1]) - KEEP_FAILED)


async def _forget_oldest(redis: Redis, count: int) -> None:
    oldest = [_text(s) for s in await redis.zrange(FAILED_ORDER, 0, count - 1)]
    if oldest:
        async with redis.pipeline(transaction=True) as tr:
            for key in (FAILED, FAILED_TIMES, FAILED_FIRST):
                tr.hdel(key, *oldest)
            tr.zrem(FAILED_ORDER, *oldest)
            await tr.execute()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def failed_jobs(redis: Redis, limit: int = 100) -> tuple[list[FailedJob], int]:
    """The most recent failures first, and how many signatures are failing in all."""
    total = int(await redis.zcard(FAILED_ORDER))
    sigs = [_text(s) for s in await redis.zrevrange(FAILED_ORDER, 0, max(limit, 1) - 1)]
    if not sigs:
        return [], total
    async with redis.pipeline(transaction=False) as tr:
        tr.hmget(FAILED, sigs)
        tr.hmget(FAILED_TIMES, sigs)
        tr.hmget(FAILED_FIRST, sigs)
        records, times, firsts = await tr.execute()
    found = []
    for sig, raw, n, first in zip(sigs, records, times, firsts, strict=True):
        if raw is None:
            continue  # a success removed it between the two reads
        data = json.loads(raw)
        found.append(
            FailedJob(
                signature=sig,
                function=str(data["function"]),
                args=list(data.get("args", [])),
                job_id=str(data.get("job_id", "")),
                reason=str(data.get("reason", "")),
                tries=int(data.get("tries", 1)),
                failed_at_ms=int(data["failed_at_ms"]),
                first_failed_at_ms=int(first or data["failed_at_ms"]),
                times=int(n or 1),
                retried_at_ms=int(data.get("retried_at_ms", 0)),
                retry_job_id=str(data.get("retry_job_id", "")),
            )
        )
    return found, total


async def retry(redis: Redis, sig: str) -> str:
    """Queue a failed job again (same function and arguments, a new id, first try), and
    return the new job's id; "" when there is no such failure (it recovered meanwhile).

    The line stays, marked as retried, until the new run ends: a success removes it, a
    failure replaces it."""
    raw = await redis.hget(FAILED, sig)  # type: ignore[misc]
    if raw is None:
        return ""
    data = json.loads(raw)
    now = _ms()
    job = queue.Job(str(data["function"]), tuple(data.get("args", [])), f"retry:{sig}:{now}")
    await queue.enqueue(job)
    data["retried_at_ms"], data["retry_job_id"] = now, job.job_id
    async with redis.pipeline(transaction=True) as tr:
        # Marked only if still there: the new run may have succeeded already.
        await tr.watch(FAILED)
        if await tr.hget(FAILED, sig) is not None:  # type: ignore[misc]
            tr.multi()
            tr.hset(FAILED, sig, json.dumps(data, default=repr))
            try:
                await tr.execute()
            except WatchError:
                pass  # the run ended meanwhile: its outcome is the line's truth
    return job.job_id


# Heartbeats ------------------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerBeat:
    name: str
    beat_at_ms: int
    started_at_ms: int
    complete: int
    failed: int
    retried: int
    running: list[str] = field(default_factory=list)

    def silent_for(self, now_ms: int) -> float:
        return max(0.0, (now_ms - self.beat_at_ms) / 1000)


async def beat(redis: Redis, beat: WorkerBeat) -> None:
    await redis.hset(WORKERS, beat.name, json.dumps(beat.__dict__))  # type: ignore[misc]


async def gone(redis: Redis, name: str) -> None:
    """A worker that stops cleanly leaves the list."""
    await redis.hdel(WORKERS, name)  # type: ignore[misc]


async def answering_on(redis: Redis, host: str) -> WorkerBeat | None:
    """The worker of this host (its name's host part) heard from most recently within
    SILENT_SECONDS, or None: what a container's liveness probe asks."""
    now = _ms()
    here = [b for b in await workers(redis) if b.name.rsplit(":", 1)[0] == host]
    fresh = [b for b in here if b.silent_for(now) < SILENT_SECONDS]
    return fresh[0] if fresh else None


async def workers(redis: Redis) -> list[WorkerBeat]:
    """Every worker heard from in the last day, the most recently heard first; those silent
    longer are dropped from the list here."""
    now = _ms()
    beats, forget = [], []
    for name, raw in (await redis.hgetall(WORKERS)).items():  # type: ignore[misc]
        data = json.loads(raw)
        item = WorkerBeat(
            name=_text(name),
            beat_at_ms=int(data["beat_at_ms"]),
            started_at_ms=int(data.get("started_at_ms", 0)),
            complete=int(data.get("complete", 0)),
            failed=int(data.get("failed", 0)),
            retried=int(data.get("retried", 0)),
            running=[str(r) for r in data.get("running", [])],
        )
        if item.silent_for(now) > FORGET_SECONDS:
            forget.append(item.name)
        else:
            beats.append(item)
    if forget:
        await redis.hdel(WORKERS, *forget)  # type: ignore[misc]
    return sorted(beats, key=lambda b: -b.beat_at_ms)


# The queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepth:
    function: str
    due: int  # waiting for a worker now
    later: int  # deferred (a retry's back-off, an indexing batch window)


async def queue_depth(redis: Redis, most: int = 20_000) -> tuple[list[QueueDepth], int, bool]:
    """Jobs waiting, per function; the total; and whether only the first `most` (by due
    time) were read to tell their functions apart (the total is always exact)."""
    total = int(await redis.zcard(queue.QUEUE_NAME))
    entries = await redis.zrange(queue.QUEUE_NAME, 0, most - 1, withscores=True)
    now = _ms()
    counts: dict[str, list[int]] = {}
    for start in range(0, len(entries), 500):
        chunk = entries[start : start + 500]
        datas = await redis.mget([JOB_PREFIX + _text(job_id) for job_id, _ in chunk])
        for (_, score), raw in zip(chunk, datas, strict=True):
            function = "<finished>"
            if raw is not None:
                try:
                    function = str(json.loads(raw).get("f", "<unknown>"))
                except (ValueError, AttributeError):
                    function = "<unreadable>"
            due_later = counts.setdefault(function, [0, 0])
            due_later[0 if score <= now else 1] += 1
    depth = [QueueDepth(f, d, later) for f, (d, later) in sorted(counts.items())]
    return depth, total, total > len(entries)
