"""Fixed-window request limits in Redis, for registration, password reset and the like.

Limits count requests for a target address whether or not it has an account, so the
answer (and the refusal) reads the same either way.
"""

import hashlib
import math
from dataclasses import dataclass

from redis.asyncio import Redis

from backend.errors import LibraryError, TooManyAttempts


class TooManyRequests(TooManyAttempts):
    """A limit was reached; `retry_after` seconds until the window ends."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, math.ceil(retry_after / 60))
        LibraryError.__init__(
            self, f"Too many requests, try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    window_seconds: int


REGISTER_PER_IP = Limit("register-ip", 10, 3600)
REGISTER_PER_ADDRESS = Limit("register-address", 5, 3600)
RESET_PER_IP = Limit("reset-ip", 10, 3600)
RESET_PER_ADDRESS = Limit("reset-address", 5, 3600)
EMAIL_CHANGE_PER_USER = Limit("email-change", 5, 3600)
# Wrong current passwords on the account page (a stolen session must not guess freely).
REAUTH_FAILURES_PER_USER = Limit("reauth-failures", 5, 900)


def _key(limit: Limit, subject: str) -> str:
    return f"rate:{limit.name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


async def _retry_after(redis: Redis, key: str, limit: Limit) -> int:
    ttl = int(await redis.ttl(key))
    return ttl if ttl > 0 else limit.window_seconds


async def check(redis: Redis, limit: Limit, subject: str) -> None:
    """Raise TooManyRequests when the subject has used up its window (counting nothing)."""
    if not subject:
        return
    key = _key(limit, subject)
    used = await redis.get(key)
    if used is not None and int(used) >= limit.count:
        raise TooManyRequests(await _retry_after(redis, key, limit))


async def take(redis: Redis, limit: Limit, subject: str) -> None:
    """Count one request of the subject; raise TooManyRequests past the limit."""
    if not subject:
        return
    key = _key(limit, subject)
    used = int(await redis.incr(key))
    if used == 1:
        await redis.expire(key, limit.window_seconds)
    if used > limit.count:
        raise TooManyRequests(await _retry_after(redis, key, limit))


async def take_all(redis: Redis, *pairs: tuple[Limit, str]) -> None:
    """Check every limit first, then count against each: one refusal counts nothing."""
    for limit, subject in pairs:
        await check(redis, limit, subject)
    for limit, subject in pairs:
        await take(redis, limit, subject)
