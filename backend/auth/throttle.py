"""Slows repeated login failures per account and per address, in Redis.

After `login_free_failures` failures, each further failure doubles a waiting time (capped)
during which attempts are refused without checking the password.
"""

import hashlib
import math
import time

from redis.asyncio import Redis

from backend.errors import TooManyAttempts
from backend.settings import get_settings

WINDOW_SECONDS = 3600


def _keys(email: str, ip: str) -> list[str]:
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    keys = [f"login:acct:{digest}"]
    if ip:
        keys.append(f"login:ip:{ip}")
    return keys


async def check(redis: Redis, *, email: str, ip: str) -> None:
    """Raise TooManyAttempts while the account or the address must wait."""
    now = time.time()
    for key in _keys(email, ip):
        until = await redis.hget(key, "until")
        if until and float(until) > now:
            raise TooManyAttempts(max(1, math.ceil(float(until) - now)))


async def record_failure(redis: Redis, *, email: str, ip: str) -> None:
    settings = get_settings()
    now = time.time()
    for key in _keys(email, ip):
        failures = int(await redis.hincrby(key, "failures", 1))
        extra = failures - settings.login_free_failures
        if extra > 0:
            delay = min(2 ** (extra - 1), settings.login_max_delay_seconds)
            await redis.hset(key, "until", str(now + delay))
        await redis.expire(key, WINDOW_SECONDS)


async def record_success(redis: Redis, *, email: str) -> None:
    # Only the account's counter is cleared: an address that guesses many accounts stays slow.
    await redis.delete(_keys(email, "")[0])
