"""Runs the real arq worker in burst mode against the test Redis, and real worker
processes (`python -m jobs.run`) for the tests that kill them."""

import os

from backend import queue
from jobs.worker import Worker, WorkerSettings, prepare


async def run_burst() -> Worker:
    umask = os.umask(0o077)  # the worker sets its own (private) umask: the tests' comes back
    os.umask(umask)
    worker = Worker(
        functions=WorkerSettings.functions,
        on_startup=prepare,
        on_shutdown=WorkerSettings.on_shutdown,
        on_job_start=WorkerSettings.on_job_start,
        after_job_end=WorkerSettings.after_job_end,
        redis_settings=queue.redis_settings(),
        queue_name=queue.QUEUE_NAME,
        job_serializer=queue.serialize,
        job_deserializer=queue.deserialize,
        burst=True,
        poll_delay=0.05,
        max_jobs=2,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
        os.umask(umask)
    return worker
