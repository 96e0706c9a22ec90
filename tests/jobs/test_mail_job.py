"""Mail delivery: through a real SMTP server when configured, into the local mailbox folder
otherwise; either way the body (and its link) leaves the outbox and never reaches a log.
A message that could not go is tried again from the outbox, whatever became of its job."""

import logging
import socket
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import reset
from backend.clock import utcnow
from backend.db import session_scope, sql
from backend.mail.models import OutboxMessage
from backend.mail.service import mailbox_dir
from backend.redis_client import get_redis
from backend.settings import get_settings
from jobs.tasks import send_due_mail
from tests.factories import make_user
from tests.worker import run_burst


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", port)
    monkeypatch.setattr(settings, "smtp_starttls", False)
    yield inbox
    controller.stop()


@pytest.fixture
def mailbox(data_dir: Path) -> Iterator[Path]:
    yield mailbox_dir()
    for path in mailbox_dir().glob("*"):
        path.unlink()


def _our_logs_with_links(caplog: pytest.LogCaptureFixture) -> list[str]:
    # "mail.log" is the test's SMTP server (aiosmtpd), which logs what it receives.
    return [
        r.getMessage()
        for r in caplog.records
        if "token=" in r.getMessage() and not r.name.startswith("mail.log")
    ]


async def _request_reset(db: AsyncSession, email: str) -> OutboxMessage:
    await reset.request_password_reset(session=db, redis=get_redis(), email=email)
    await db.commit()  # sends the deferred send_mail job
    return (await db.exec(select(OutboxMessage))).one()


async def _delivered(db: AsyncSession, message: OutboxMessage) -> OutboxMessage:
    await db.refresh(message)
    return message


async def test_reset_mail_goes_through_smtp(
    db: AsyncSession, smtp_server: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await make_user(db)
    message = await _request_reset(db, user.email)
    worker = await run_burst()
    assert worker.jobs_complete == 1
    assert len(smtp_server.messages) == 1
    mail = message_from_bytes(smtp_server.messages[0], policy=policy.default)
    assert mail["To"] == user.email and "reset-password?token=" in mail.get_content()
    row = await _delivered(db, message)
    assert row.sent_at is not None and row.body == ""
    assert _our_logs_with_links(caplog) == []


async def test_without_smtp_mail_goes_to_the_local_mailbox_not_the_log(
    db: AsyncSession, mailbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert not get_settings().smtp_host
    caplog.set_level(logging.DEBUG)
    user = await make_user(db)
    message = await _request_reset(db, user.email)
    await run_burst()
    row = await _delivered(db, message)
    assert row.sent_at is not None and row.body == "" and row.to_address == user.email
    (path,) = list(mailbox.glob("*.eml"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(mailbox.stat().st_mode) == 0o700
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mail["To"] == user.email and "reset-password?token=" in mail.get_content()
    assert _our_logs_with_links(caplog) == []
    assert any(f"mail {row.id} delivered" in r.getMessage() for r in caplog.records)
    # Delivered once: running the job again adds nothing.
    from backend import queue

    await queue.enqueue(queue.Job("send_mail", (row.id,), f"mail:{row.id}:again"))
    await run_burst()
    assert len(list(mailbox.glob("*.eml"))) == 1


# Retries: the outbox is the truth, the queue only a nudge ---------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _smtp_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", port)
    monkeypatch.setattr(settings, "smtp_starttls", False)


async def _make_due(db: AsyncSession, message: OutboxMessage) -> None:
    """As if its next try's time had come."""
    await db.exec(
        text(
            "UPDATE mail_outbox SET next_attempt_at = now() - interval '1 second' WHERE id = :id"
        ).bindparams(id=message.id)
    )
    await db.commit()


def _seconds_until(moment: datetime) -> float:
    return (moment - utcnow()).total_seconds()


async def test_smtp_away_then_back_sends_the_mail_once_with_its_failures_recorded(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = _free_port()  # nothing listens there yet
    _smtp_at(monkeypatch, port)
    user = await make_user(db)
    message = await _request_reset(db, user.email)

    await run_burst()  # the job's try: refused
    row = await _delivered(db, message)
    assert row.sent_at is None and row.gave_up_at is None and row.attempts == 1
    assert "ConnectionRefusedError" in row.error and "token=" in row.body
    assert 50 < _seconds_until(row.next_attempt_at) <= 60  # the next try in a minute

    await _make_due(db, row)
    assert (await send_due_mail({}))["retry"] == 1  # the sweeper's try: refused again
    row = await _delivered(db, message)
    assert row.sent_at is None and row.attempts == 2
    assert 110 < _seconds_until(row.next_attempt_at) <= 120  # then two minutes

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()  # SMTP is back
    try:
        await _make_due(db, row)
        assert (await send_due_mail({}))["sent"] == 1
        assert (await send_due_mail({}))["sent"] == 0  # sent is sent
        await _make_due(db, row)
        assert (await send_due_mail({}))["sent"] == 0
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    row = await _delivered(db, message)
    assert row.sent_at is not None and row.body == "" and row.error == "" and row.attempts == 2
    assert _our_logs_with_links(caplog) == []
    assert any(f"mail {row.id} not delivered (try 1)" in r.getMessage() for r in caplog.records)


async def test_a_lost_queue_still_gets_the_mail_out(db: AsyncSession, smtp_server: Inbox) -> None:
    user = await make_user(db)
    message = await _request_reset(db, user.email)
    await get_redis().flushdb()  # Redis restarted without its data: the send_mail job is gone
    worker = await run_burst()
    assert worker.jobs_complete == 0 and smtp_server.messages == []
    assert (await send_due_mail({}))["sent"] == 1
    assert len(smtp_server.messages) == 1
    assert (await _delivered(db, message)).sent_at is not None


class RefusingInbox(Inbox):
    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def handle_RCPT(  # noqa: N802
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "final"),
    [("550 5.1.1 No such mailbox here", True), ("451 4.3.0 Try again later", False)],
)
async def test_a_refused_recipient_is_final_a_busy_server_is_tried_again(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch, answer: str, final: bool
) -> None:
    port = _free_port()
    _smtp_at(monkeypatch, port)
    controller = Controller(RefusingInbox(answer), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        user = await make_user(db)
        message = await _request_reset(db, user.email)
        await run_burst()
        row = await _delivered(db, message)
        assert row.sent_at is None and row.attempts == 1 and answer[:3] in row.error
        assert user.email not in row.error  # the error is logged too
        if final:
            # Given up at once: its body (and link) goes, the error stays to be seen.
            assert row.gave_up_at is not None and row.body == ""
        else:
            assert row.gave_up_at is None and "token=" in row.body
        await _make_due(db, row)
        tried = await send_due_mail({})
        assert tried["retry"] == (0 if final else 1)
        assert (await _delivered(db, message)).attempts == (1 if final else 2)
    finally:
        controller.stop()


async def test_a_message_that_fails_for_a_day_is_given_up_with_its_error(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    _smtp_at(monkeypatch, _free_port())
    user = await make_user(db)
    message = await _request_reset(db, user.email)
    message.created_at = utcnow() - timedelta(hours=get_settings().mail_give_up_hours + 1)
    db.add(message)
    await db.commit()
    await run_burst()
    row = await _delivered(db, message)
    assert row.gave_up_at is not None and row.sent_at is None and row.body == ""
    assert row.attempts == 1 and "ConnectionRefusedError" in row.error


async def test_a_message_being_sent_is_not_sent_again_beside_it(
    db: AsyncSession, smtp_server: Inbox
) -> None:
    user = await make_user(db)
    message = await _request_reset(db, user.email)
    async with session_scope() as other:
        # Another worker has claimed the message (its row lock) and is sending it.
        await sql(
            other,
            text("SELECT id FROM mail_outbox WHERE id = :id FOR UPDATE").bindparams(id=message.id),
        )
        worker = await run_burst()
        assert worker.jobs_complete == 1  # the job skipped it ...
        assert (await send_due_mail({}))["sent"] == 0  # ... and so did the sweeper
        assert smtp_server.messages == []
        await other.rollback()  # that worker died: PostgreSQL lets go of its lock
    assert (await send_due_mail({}))["sent"] == 1
    assert len(smtp_server.messages) == 1
