"""Every kind of job has a way back, written down; the worker can still be run by arq's
own command."""

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import reset
from backend.mail.models import OutboxMessage
from backend.redis_client import get_redis
from jobs import lease
from jobs.worker import WorkerSettings
from tests.factories import make_user
from tests.worker import ROOT


def _names() -> list[str]:
    return [f.__name__ for f in WorkerSettings.functions] + [
        c.coroutine.__name__ for c in WorkerSettings.cron_jobs
    ]


def test_the_readme_says_how_every_job_kind_comes_back() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## When a part dies", 1)[1].split("\n## ", 1)[0]
    assert [name for name in _names() if f"`{name}`" not in section] == []


def test_a_lease_is_renewed_as_long_as_the_longest_job_runs() -> None:
    assert lease._LONGEST_JOB > WorkerSettings.job_timeout
    for job in WorkerSettings.cron_jobs:
        assert lease._LONGEST_JOB > (job.timeout_s or 0), job.name


async def test_arq_s_own_command_still_runs_the_jobs(db: AsyncSession, data_dir: Path) -> None:
    user = await make_user(db)
    await reset.request_password_reset(session=db, redis=get_redis(), email=user.email)
    await db.commit()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "arq", "--burst", "jobs.worker.WorkerSettings"],
            cwd=ROOT,
            env=os.environ,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        message = (await db.exec(select(OutboxMessage))).one()
        await db.refresh(message)
        assert message.sent_at is not None
    finally:
        for path in (data_dir / "mail").glob("*"):
            path.unlink()
