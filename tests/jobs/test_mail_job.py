"""Reset mail: through a real SMTP server when configured, to the log and outbox otherwise."""

import logging
import socket
from collections.abc import Iterator
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.auth import service as auth
from backend.mail.models import OutboxMessage
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


async def _request_reset(db: AsyncSession, email: str) -> int:
    message_id = await auth.request_password_reset(session=db, email=email)
    assert message_id is not None
    queue.defer(db, "send_mail", message_id, job_id=f"mail:{message_id}")
    await db.commit()
    return message_id


async def test_reset_mail_goes_through_smtp(db: AsyncSession, smtp_server: Inbox) -> None:
    user = await make_user(db)
    message_id = await _request_reset(db, user.email)
    worker = await run_burst()
    assert worker.jobs_complete == 1
    assert len(smtp_server.messages) == 1
    mail = message_from_bytes(smtp_server.messages[0])
    assert mail["To"] == user.email and "reset-password?token=" in mail.get_payload()
    row = await db.get(OutboxMessage, message_id)
    await db.refresh(row)
    assert row is not None and row.sent_at is not None


async def test_without_smtp_the_mail_is_logged_and_kept(
    db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    assert not get_settings().smtp_host
    user = await make_user(db)
    caplog.set_level(logging.INFO, logger="backend.mail.service")
    message_id = await _request_reset(db, user.email)
    await run_burst()
    assert any("reset-password?token=" in r.getMessage() for r in caplog.records)
    row = await db.get(OutboxMessage, message_id)
    await db.refresh(row)
    assert row is not None and row.sent_at is not None
