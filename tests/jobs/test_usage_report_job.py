"""The monthly usage report's job, run by the real worker: it makes last month's report
once it is due, mails the admins who asked for it, and does neither twice."""

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from arq.jobs import Job as ArqJob
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.analytics import dashboard, events, report
from backend.analytics.models import UsageReport
from backend.mail.models import OutboxMessage
from backend.mail.service import mailbox_dir
from backend.settings import get_settings
from backend.storage.service import get_store
from backend.users.models import Role
from jobs.tasks import make_usage_report
from jobs.worker import WorkerSettings
from tests.backend.test_usage_report import sections
from tests.factories import make_user
from tests.worker import run_burst


@pytest.fixture
def due_zone(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[report.Month]:
    """A library time zone in which last month's report is due now: UTC, unless the UTC
    clock is in the first 03:20 of a month; then Kiritimati (UTC+14), past its 1st 14:00.
    Yields that month."""
    monkeypatch.setattr(dashboard, "_live", {})
    for zone in ("UTC", "Pacific/Kiritimati"):
        monkeypatch.setenv("LIBRARY_TIMEZONE", zone)
        get_settings.cache_clear()
        month = report.due_month()
        if month is not None:
            break
    assert month is not None
    yield month
    get_settings.cache_clear()
    for path in mailbox_dir().glob("*"):
        path.unlink()


async def _result(job_id: str) -> object:
    pool = await queue.get_pool()
    return await ArqJob(job_id, pool, _deserializer=queue.deserialize).result(timeout=5)


async def _run(job_id: str) -> object:
    await queue.enqueue(queue.Job("make_usage_report", (), job_id))
    await run_burst()  # the report, then the e-mails it queued
    return await _result(job_id)


def test_the_worker_asks_every_hour() -> None:
    (job,) = [c for c in WorkerSettings.cron_jobs if c.coroutine is make_usage_report]
    assert (job.minute, job.second, job.hour, job.day, job.unique) == ({20}, {5}, None, None, True)


async def test_the_job_makes_last_month_once_and_mails_who_asked(
    db: AsyncSession, due_zone: report.Month
) -> None:
    month = due_zone
    asked = await make_user(db, Role.ADMIN, email="asked@example.org")
    await make_user(db, Role.ADMIN, email="silent@example.org")
    patron = await make_user(db, email="patron@example.org")
    await report.set_opt_in(session=db, actor=asked, opt_in=True)
    patron.usage_report_opt_in = True  # (not through the service, which refuses it)
    db.add(patron)
    await db.commit()
    start = month.span(get_settings().library_timezone).start
    for minute in (0, 1, 2):
        await events.record(
            kind="search", query="tidal mills", result_count=minute, at=start.replace(minute=minute)
        )
    # The month before's last second.
    await events.record(
        kind="search", query="before", result_count=5, at=start - timedelta(seconds=1)
    )
    await events.flush()

    assert await _run("usage-report-1") == f"{month.name} made, 1 e-mail"
    store = get_store()
    found = sections(b"".join([c async for c in store.read(report.key(month, "csv"))]))
    figures = {f["figure"]: (f["month"], f["previous_month"]) for f in found["figures"]}
    assert figures["searches"] == ("3", "1") and figures["zero_result_share"] == ("0.3333", "0.0")
    assert await store.exists(report.key(month, "html"))
    (mail,) = (await db.exec(select(OutboxMessage))).all()
    assert mail.to_address == "asked@example.org" and mail.sent_at is not None  # delivered
    (delivered,) = mailbox_dir().glob("*.eml")
    message = message_from_bytes(delivered.read_bytes(), policy=policy.default)
    assert message["Subject"] == f"Usage report: {month.label}"
    body = message.get_body().get_content()
    assert f"/api/v1/admin/reports/usage/{month.name}.html" in body

    # The next hour (or a second worker): made already, nobody mailed again.
    assert await _run("usage-report-2") == f"{month.name} made already"
    assert len((await db.exec(select(OutboxMessage))).all()) == 1
    rows = (await db.exec(select(UsageReport).order_by(col(UsageReport.month)))).all()
    assert [(r.month, r.recipients) for r in rows] == [(month.first, 1)]
