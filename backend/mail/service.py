"""Outgoing mail: every message goes to the outbox table; delivery is a job.

A message's body (which may hold a single-use link) lives in the outbox only until it is
delivered: through SMTP when SMTP_HOST is set, otherwise into a local mailbox folder,
`DATA_DIR/mail/`, one file per message readable by the library's user only, like a local
mail transport's spool. Bodies never go to a log.

The outbox is the truth, the queue only a nudge: `send_mail` tries a message as soon as it
is committed, and the worker's sweeper (`send_due_mail`, every minute) tries every message
whose next attempt is due, so a lost job costs a minute, not a message. A try claims the
message with `FOR UPDATE SKIP LOCKED` and marks it sent in the same transaction, so two
workers never send it at once. A failure is recorded on the message (error, attempts, next
attempt after 1, 2, 4 ... 60 minutes); a refusal of the message itself (a 5xx answer to
its sender, recipient or content) is final, anything else (server away, timeout, 4xx) is
tried again until the message is `mail_give_up_hours` old.
"""

import asyncio
import enum
import logging
import os
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlalchemy import ColumnElement, and_
from sqlmodel import col, select
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


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # a failure worth another try later
    GAVE_UP = "gave_up"
    SKIPPED = "skipped"  # sent already, not due, or another worker has it


def _is_permanent(exc: Exception) -> bool:
    """Only a 5xx answer about this message (its recipient, sender or content) is final:
    the server is up and will say the same again. A server away, a timeout, a 4xx answer
    or a login refused (the operator may fix the settings) is tried again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # The server's answers, not the dict of addresses its str() shows: the error goes
        # to the log too, and the row says whom already.
        answers = "; ".join(
            f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
            for code, text in exc.recipients.values()
        )
        return f"SMTPRecipientsRefused: {answers}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


async def attempt(*, session: AsyncSession, message: OutboxMessage) -> Outcome:
    """One try at a claimed message: sent (and its body forgotten), or its failure recorded."""
    mail = _compose(message)
    try:
        if get_settings().smtp_host:
            await asyncio.to_thread(_send_smtp, mail)
            where = "SMTP"
        else:
            path = await asyncio.to_thread(_drop_in_mailbox, mail, message)
            where = str(path)
    except Exception as exc:  # whatever stopped it is recorded on the message
        outcome = _record_failure(message, exc)
    else:
        message.sent_at = utcnow()
        message.body = ""
        message.error = ""
        outcome = Outcome.SENT
        log.info("mail %s delivered (%s)", message.id, where)
    session.add(message)
    await session.flush()
    return outcome


def _record_failure(message: OutboxMessage, exc: Exception) -> Outcome:
    now = utcnow()
    message.attempts += 1
    message.error = _describe(exc)
    too_old = now - message.created_at > timedelta(hours=get_settings().mail_give_up_hours)
    if _is_permanent(exc) or too_old:
        # Nothing will ever send it: its body (and any link) goes, the error stays.
        message.gave_up_at = now
        message.body = ""
        log.warning(
            "mail %s not delivered after %d tries, given up: %s",
            message.id,
            message.attempts,
            message.error,
        )
        return Outcome.GAVE_UP
    message.next_attempt_at = now + queue.backoff(message.attempts)
    log.warning(
        "mail %s not delivered (try %d), trying again at %s: %s",
        message.id,
        message.attempts,
        f"{message.next_attempt_at:%H:%M:%S}",
        message.error,
    )
    return Outcome.RETRY


def _waiting() -> ColumnElement[bool]:
    return and_(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.gave_up_at).is_(None))


async def deliver(*, session: AsyncSession, message_id: int) -> Outcome:
    """Try one outbox message now, if it is due and no other worker is sending it."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id, _waiting())
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    message = (await session.exec(stmt)).first()
    if message is None or message.next_attempt_at > utcnow():
        return Outcome.SKIPPED
    return await attempt(session=session, message=message)


async def claim_due(*, session: AsyncSession) -> OutboxMessage | None:
    """The message whose next try has waited longest, locked for this unit of work (one
    another worker holds is passed over)."""
    stmt = (
        select(OutboxMessage)
        .where(_waiting(), col(OutboxMessage.next_attempt_at) <= utcnow())
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.exec(stmt)).first()
