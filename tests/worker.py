"""Runs the real arq worker in burst mode against the test Redis."""

from arq.worker import Worker

from backend import queue
from jobs.worker import WorkerSettings, prepare


async def run_burst() -> Worker:
    worker = Worker(
        functions=WorkerSettings.functions,
        on_startup=prepare,
        on_shutdown=WorkerSettings.on_shutdown,
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
    return worker
