"""The command line answers bad input with a message and a non-zero status, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import second_factor
from backend.auth.models import AccountEvent
from backend.users.models import Role
from tests.factories import enable_second_factor, make_user

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
    )


def test_create_admin_without_a_terminal_asks_for_password_stdin() -> None:
    result = _cli("create-admin", "chief@example.org")
    assert result.returncode != 0
    assert "No terminal" in result.stderr and "--password-stdin" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("create-admin", "chief@example.org", "--password-stdin"), "", "No password"),
        (("create-admin", "chief@example.org", "--password-stdin"), "password1\n", "common"),
        (
            ("create-admin", "not-an-address", "--password-stdin"),
            "purple elephant river tango\n",
            "not valid",
        ),
        (("create-admin",), None, "the following arguments are required: email"),
        (("no-such-command",), None, "invalid choice"),
    ],
)
def test_bad_input_gets_a_message_not_a_traceback(
    args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = _cli(*args, stdin=stdin)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_database_that_is_away_gets_a_message_not_a_traceback() -> None:
    away = "postgresql+psycopg://nobody@127.0.0.1:9/nothing"
    result = _cli("migrate", DATABASE_URL=away)
    assert result.returncode == 1 and result.stderr.startswith("Error: OperationalError")
    assert "Traceback" not in result.stderr


async def test_create_admin_can_reset_a_lost_second_factor(db: AsyncSession) -> None:
    chief = await make_user(db, Role.ADMIN, email="chief@example.org")
    await enable_second_factor(db, chief)
    await db.commit()
    result = _cli(
        "create-admin",
        "chief@example.org",
        "--password-stdin",
        "--reset-2fa",
        stdin="purple elephant river tango\n",
    )
    assert result.returncode == 0, result.stderr
    assert not await second_factor.is_enabled(db, chief.id)  # type: ignore[arg-type]
    event = (await db.exec(select(AccountEvent).where(AccountEvent.action == "2FA reset"))).one()
    assert event.actor_id is None and event.detail == "from the command line"
