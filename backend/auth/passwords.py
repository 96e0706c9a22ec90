"""Password hashing (passlib, bcrypt) and the password policy (NIST 800-63B style)."""

import asyncio
from functools import lru_cache

from passlib.context import CryptContext
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from backend.errors import InvalidInput
from backend.settings import get_settings

MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache
def _context() -> CryptContext:
    rounds = get_settings().bcrypt_rounds
    # bcrypt_sha256 pre-hashes, so passphrases longer than bcrypt's 72 bytes count in full.
    return CryptContext(
        schemes=["bcrypt_sha256"],
        bcrypt_sha256__rounds=rounds,
    )


@lru_cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, email: str = "") -> None:
    """Raise InvalidInput when a new password is too short, too long or too common."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Password must be at most {MAX_LENGTH} characters long.")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise InvalidInput("This password is among the most common ones; choose another.")
    if email and lowered == email.lower():
        raise InvalidInput("Password must not be your email address.")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_context().hash, password)


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(_context().verify, password, password_hash)


_DUMMY_HASH: str | None = None


async def burn_verify_time(password: str) -> None:
    """Spend the time of a real verify, so unknown accounts answer as slowly as known ones."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = await hash_password("not-a-real-password-0")
    await verify_password(password, _DUMMY_HASH)
