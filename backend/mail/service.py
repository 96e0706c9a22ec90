"""Outgoing mail: every message goes to the outbox table; delivery is a job.

A message's body (which may hold a single-use link) lives in the outbox only until it is
delivered: through SMTP when SMTP_HOST is set, otherwise into a local mailbox folder,
`DATA_DIR/mail/`, one file per message readable by the library's user only, like a local
mail transport's spool. Bodies never go to a log.
"""

import asyncio
import logging
import os
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.clock import utcnow
from backend.mail.models import OutboxMessage
from backend.settings import get_settings

log = logging.getLogger(__name__)


def mailbox_dir() -> Path:
    """Where mail goes when no SMTP server is configured."""
    return get_settings().data_dir / "mail"


async def queue_message(
    *, session: AsyncSession, to_address: str, subject: str, body: str
) -> OutboxMessage:
    """Put a message in the outbox and send it once the session commits."""
    message = OutboxMessage(to_address=to_address, subject=subject, body=body)
    session.add(message)
    await session.flush()
    assert message.id is not None
    queue.defer(session, "send_mail", message.id, job_id=f"mail:{message.id}")
    return message


def _compose(message: OutboxMessage) -> EmailMessage:
    settings = get_settings()
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = make_msgid(idstring=str(message.id))
    mail.set_content(message.body)
    return mail


def _send_smtp(mail: EmailMessage) -> None:
    settings = get_settings()
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(mail)


def _drop_in_mailbox(mail: EmailMessage, message: OutboxMessage) -> Path:
    folder = mailbox_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    # Named by the message, so a retried job rewrites its own file rather than adding one.
    name = f"{message.created_at:%Y%m%dT%H%M%S}-{message.id}.eml"
    partial = folder / f".{name}.part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(mail.as_bytes())
    # A reader of the folder never sees half a message.
    os.replace(partial, folder / name)
    return folder / name


async def deliver(*, session: AsyncSession, message_id: int) -> bool:
    """Send one outbox message (SMTP, or the local mailbox), then forget its body."""
    message = await session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.sent_at is not None:
        return False
    mail = _compose(message)
    if get_settings().smtp_host:
        await asyncio.to_thread(_send_smtp, mail)
        where = "SMTP"
    else:
        path = await asyncio.to_thread(_drop_in_mailbox, mail, message)
        where = str(path)
    message.sent_at = utcnow()
    message.body = ""
    session.add(message)
    await session.flush()
    log.info("mail %s delivered (%s)", message.id, where)
    return True
