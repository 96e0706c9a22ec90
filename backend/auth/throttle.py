"""Slows repeated login failures without locking the owner out, in Redis.

Strangers (browsers without a valid device cookie for the account, see backend.auth.devices)
share two counters: the account's and their address's. After `login_free_failures`
failures, each further failure doubles a waiting time (capped) during which attempts are
refused without checking the password. A browser with a valid device cookie for the
account has one counter of its own instead, so strangers' guesses never slow the owner;
`devices.MAX_FAILURES` failures with one device cookie revoke it.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

# redis-py types its commands for its sync and asyncio clients at once (a value or an
# awaitable); these are the asyncio client's, hence the `type: ignore[misc]` on awaits.
from backend.auth import devices
from backend.errors import TooManyAttempts
from backend.settings import get_settings

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Client:
    """Who tries to log in: the account's address, the client's address, its device."""

    email: str
    ip: str = ""
    device: devices.Device | None = None


def _account_key(email: str) -> str:
    return f"login:acct:{hashlib.sha256(email.encode()).hexdigest()[:32]}"


def _keys(client: Client) -> list[str]:
    if client.device is not None:
        return [f"login:device:{client.device.nonce}"]
    keys = [_account_key(client.email)]
    if client.ip:
        keys.append(f"login:ip:{client.ip}")
    return keys


async def check(redis: Redis, client: Client) -> None:
    """Raise TooManyAttempts while this client must wait."""
    now = time.time()
    for key in _keys(client):
        until = await redis.hget(key, "until")  # type: ignore[misc]
        if until and float(until) > now:
            raise TooManyAttempts(max(1, math.ceil(float(until) - now)))


async def record_failure(redis: Redis, client: Client) -> None:
    settings = get_settings()
    now = time.time()
    for key in _keys(client):
        failures = int(await redis.hincrby(key, "failures", 1))  # type: ignore[misc]
        extra = failures - settings.login_free_failures
        if extra > 0:
            delay = min(2 ** (extra - 1), settings.login_max_delay_seconds)
            await redis.hset(key, "until", str(now + delay))  # type: ignore[misc]
        await redis.expire(key, WINDOW_SECONDS)
        if client.device is not None and failures >= devices.MAX_FAILURES:
            await devices.revoke(redis, client.device)


async def record_success(redis: Redis, client: Client) -> None:
    # The address's counter stays: an address that guesses many accounts stays slow.
    await redis.delete(_keys(client)[0])
