"""Mail delivery: through a real SMTP server when configured, into the local mailbox folder
otherwise; either way the body (and its link) leaves the outbox and never reaches a log."""

import logging
import socket
import stat
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import reset
from backend.mail.models import OutboxMessage
from backend.mail.service import mailbox_dir
from backend.redis_client import get_redis
from backend.settings import get_settings
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
