"""Account helpers for the browser tests: the served app's mail, as its operator reads it
without SMTP (files in DATA_DIR/mail), and the set-up of a second factor."""

import asyncio
import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import ServedApp, goto


def mailbox(app: ServedApp) -> Path:
    return Path(app.env["DATA_DIR"]) / "mail"


async def take_mail(app: ServedApp, to: str, subject: str, timeout: float = 60) -> EmailMessage:
    """Wait for the app's worker to deliver a message to `to` whose subject contains
    `subject`; the file is removed once read, so the next call finds the next one."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(mailbox(app).glob("*.eml")) if mailbox(app).exists() else []:
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(mail, EmailMessage)
            if mail["To"] == to and subject in mail["Subject"]:
                path.unlink()
                return mail
        if time.monotonic() > deadline:
            pytest.fail(f"no mail to {to} about {subject!r} arrived")
        await asyncio.sleep(0.2)


def link_in(mail: EmailMessage) -> str:
    found = re.search(r"http\S+token=\S+", mail.get_content())
    assert found is not None, mail.get_content()
    return found.group(0)


async def set_up_second_factor(page: Page, app: ServedApp) -> str:
    """Turn on TOTP on the account page, as a person with an authenticator app would;
    returns the secret the page showed. (It uses the current step's code: the next login
    must use a later one.)"""
    await goto(page, f"{app.url}/account")
    await page.click("#start-totp")
    secret = (await page.locator("#totp-secret").inner_text()).strip()
    await expect(page.get_by_role("img", name="QR code of the secret")).to_be_visible()
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    await page.click("#confirm-totp")
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    await expect(page.locator("#totp-status")).to_contain_text("10 recovery codes left")
    return secret
