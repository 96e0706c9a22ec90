"""Password hashing (passlib, bcrypt) and the password policy.

The policy follows NIST 800-63B: length, no composition rules, and a refusal of guessable
passwords. Guessability is zxcvbn's estimate, told the person's own address and name, so
"ada1990" is as weak for Ada as "password1" is for everyone. A score of 3 means zxcvbn
expects at least 10^8 guesses: with bcrypt that is years of online guessing through the
login delay and months of a stolen hash database on a GPU rig, while a passphrase of three
or four ordinary words passes. Score 2 (10^6) falls to an offline attack in hours.
"""

import asyncio
from functools import lru_cache

from passlib.context import CryptContext
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from backend.errors import InvalidInput
from backend.settings import get_settings

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_SCORE = 3
# zxcvbn's matching grows faster than linearly with length and it refuses more than 72
# characters; a prefix this long already decides whether a password is guessable.
EVALUATED_PREFIX = 72


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


def _personal_words(email: str, name: str) -> list[str]:
    local, _, domain = email.lower().partition("@")
    words = [email.lower(), local, domain.split(".")[0], *name.lower().split()]
    return [w for w in words if w]


def check_policy(password: str, *, email: str = "", name: str = "") -> None:
    """Raise InvalidInput, with advice, when a new password is too short, long or guessable."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Password must be at most {MAX_LENGTH} characters long.")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise InvalidInput("This password is among the most common ones; choose another.")
    if email and lowered == email.lower():
        raise InvalidInput("Password must not be your email address.")
    result = zxcvbn(
        password[:EVALUATED_PREFIX],
        user_inputs=_personal_words(email, name),
        max_length=EVALUATED_PREFIX,
    )
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        advice = " ".join(
            part for part in [feedback.get("warning", ""), *feedback.get("suggestions", [])] if part
        )
        raise InvalidInput(
            "This password is too easy to guess. "
            + (advice or "Add another word or two; uncommon words are better.")
        )


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_context().hash, password)


async def verify_password(password: str, password_hash: str) -> bool:
    if not password_hash:
        return False
    return await asyncio.to_thread(_context().verify, password, password_hash)


_DUMMY_HASH: str | None = None


async def burn_verify_time(password: str) -> None:
    """Spend the time of a real verify, so unknown accounts answer as slowly as known ones."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = await hash_password("not-a-real-password-0")
    await verify_password(password, _DUMMY_HASH)
