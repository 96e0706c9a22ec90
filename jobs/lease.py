"""A running job's in-progress mark lives as long as its worker does.

arq marks a job in progress (`arq:in-progress:<id>`) when a worker takes it, for the job's
whole timeout plus 10 s (610 s here), and leaves it in the queue until it ends: a job whose
worker was killed waits out that mark before another worker may run it. These hooks
(`on_job_start`, `after_job_end`) keep the mark short instead, `job_lease_seconds`
(30 s), and renew it every sixth of that while the job runs, so a dead worker's job is
taken again by a live worker within the lease, and never while its worker lives.

A mark found missing while its job still waits in the queue (Redis restarted without it,
or was away longer than the lease) is set again, so that no other worker starts the job
beside this one.
"""

import asyncio
import logging
import time
from typing import Any

from arq.constants import in_progress_key_prefix
from redis.exceptions import RedisError

from backend import queue
from backend.settings import get_settings

log = logging.getLogger(__name__)

# KEYS: the in-progress mark, the queue; ARGV: the lease in ms, the job id. Returns 1 when
# renewed, 2 when set again, 0 when the job is not queued any more (it ended).
_RENEW = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('pexpire', KEYS[1], ARGV[1])
end
if redis.call('zscore', KEYS[2], ARGV[2]) then
  redis.call('set', KEYS[1], '1', 'px', ARGV[1])
  return 2
end
return 0
"""
# Past this, a renewal task that was never stopped gives up (the job cannot still run):
# the longest job is the hourly base backup, given 4 hours (jobs.worker).
_LONGEST_JOB = 4 * 3600 + 120

_renewals: set[asyncio.Task[None]] = set()


def lease_seconds() -> float:
    return float(get_settings().job_lease_seconds)


async def _renew(redis: Any, job_id: str, lease: float) -> None:
    key = in_progress_key_prefix + job_id
    give_up = time.monotonic() + _LONGEST_JOB
    failing = False
    while time.monotonic() < give_up:
        try:
            answer = await redis.eval(_RENEW, 2, key, queue.QUEUE_NAME, int(lease * 1000), job_id)
        except (RedisError, OSError) as exc:
            if not failing:  # once per outage; the worker's poll loop says the rest
                log.warning("could not renew the in-progress mark of job %s: %s", job_id, exc)
            failing = True
        else:
            if answer == 2:
                log.warning("job %s had lost its in-progress mark; it is set again", job_id)
            failing = False
        await asyncio.sleep(lease / 6)


async def hold(ctx: dict[str, Any]) -> None:
    """on_job_start: renew the job's mark until it has ended."""
    task = asyncio.create_task(_renew(ctx["redis"], ctx["job_id"], lease_seconds()))
    _renewals.add(task)
    task.add_done_callback(_renewals.discard)
    ctx["_lease"] = task


async def release(ctx: dict[str, Any]) -> None:
    """after_job_end: the job's end is recorded (its mark deleted); stop renewing it."""
    task = ctx.pop("_lease", None)
    if task is not None:
        task.cancel()


def release_all() -> None:
    """At shutdown: nothing runs any more."""
    for task in list(_renewals):
        task.cancel()
