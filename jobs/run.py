"""The worker's entry point: `python -m jobs.run`.

What `arq jobs.worker.WorkerSettings` does (arq's `run_worker`: SIGINT and SIGTERM cancel
the running jobs, which arq runs again later, and stop the worker), with `jobs.worker.Worker`,
which carries on through Redis outages instead of exiting.
"""

import asyncio
from typing import Any, cast

from arq.worker import get_kwargs

from backend.logging_setup import configure_logging
from jobs.worker import Worker, WorkerSettings


def main() -> None:
    configure_logging()  # before arq's first lines, which startup would miss
    asyncio.set_event_loop(asyncio.new_event_loop())  # arq's Worker takes the current loop
    Worker(**get_kwargs(cast(Any, WorkerSettings))).run()


if __name__ == "__main__":
    main()
