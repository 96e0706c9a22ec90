"""Outgoing mail: every message goes to the outbox table; delivery is a job."""

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.clock import utcnow
from backend.mail.models import OutboxMessage
from backend.settings import get_settings

log = logging.getLogger(__name__)


async def queue_message(
    *, session: AsyncSession, to_address: str, subject: str, body: str
) -> OutboxMessage:
    message = OutboxMessage(to_address=to_address, subject=subject, body=body)
    session.add(message)
    await session.flush()
    return message


def _send_smtp(message: OutboxMessage) -> None:
    settings = get_settings()
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail.set_content(message.body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(mail)


async def deliver(*, session: AsyncSession, message_id: int) -> bool:
    """Send one outbox message through SMTP, or write it to the log when none is configured."""
    message = await session.get(OutboxMessage, message_id)
    if message is None or message.sent_at is not None:
        return False
    if get_settings().smtp_host:
        await asyncio.to_thread(_send_smtp, message)
    else:
        log.info(
            "mail (no SMTP configured) to=%s subject=%s\n%s",
            message.to_address,
            message.subject,
            message.body,
        )
    message.sent_at = utcnow()
    session.add(message)
    await session.flush()
    return True
