"""Runs the real arq worker in burst mode against the test Redis, and real worker
processes (`python -m jobs.run`) for the tests that kill them."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from backend import queue
from jobs.worker import Worker, WorkerSettings, prepare

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


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
        max_tries=WorkerSettings.max_tries,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
        os.umask(umask)
    return worker


class WorkerProcess:
    """A real worker process, `python -m jobs.run`, as the launcher starts it; its
    environment is the tests' (same database, Redis and data folder) plus `env`."""

    def __init__(self, log: Path, **env: str) -> None:
        self.log_path = log
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.run"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children (extraction) are killed with it
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup runs, as when the kernel kills it for memory."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


async def wait_for(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    seconds: float,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns something (not None, not False), or fail after
    `seconds` saying what was awaited (and `detail()`, e.g. a worker's log)."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            more = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"gave up waiting {seconds:.0f} s for {what}{more}")
        await asyncio.sleep(0.1)
