"""Device cookies (OWASP's scheme against login guessing that locks out owners).

A successful login gives the browser a signed cookie naming the account: `user.nonce.mac`.
At the next login to that account, a browser that shows a valid one has its own failure
counter and delay (backend.auth.throttle) instead of the one that every stranger guessing
that account shares. Too many failures with one device cookie revoke it, after which it
counts as a stranger. One cookie holds the entries of the last few accounts of a browser.
"""

import hmac
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from backend.auth.keys import keyed_hash

DEVICE_DAYS = 180
MAX_ENTRIES = 5
MAX_FAILURES = 10
_SEP = "~"


@dataclass(frozen=True)
class Device:
    user_id: int
    nonce: str


def _mac(user_id: int, nonce: str) -> str:
    return keyed_hash("device-cookie", f"{user_id}.{nonce}")[:32]


def _entry(device: Device) -> str:
    return f"{device.user_id}.{device.nonce}.{_mac(device.user_id, device.nonce)}"


def _parse(entry: str) -> Device | None:
    user, _, rest = entry.partition(".")
    nonce, _, mac = rest.partition(".")
    if not user.isdigit() or not nonce or not hmac.compare_digest(mac, _mac(int(user), nonce)):
        return None
    return Device(int(user), nonce)


def device_for(cookie: str, user_id: int) -> Device | None:
    """The validly signed entry of this account in a device cookie, if there is one."""
    for entry in cookie.split(_SEP)[:MAX_ENTRIES]:
        device = _parse(entry)
        if device is not None and device.user_id == user_id:
            return device
    return None


def _revoked_key(device: Device) -> str:
    return f"login:device-revoked:{device.nonce}"


async def trusted(redis: Redis, cookie: str, user_id: int) -> Device | None:
    """The device entry for this account when it is valid and not revoked."""
    device = device_for(cookie, user_id)
    if device is None or await redis.exists(_revoked_key(device)):
        return None
    return device


async def revoke(redis: Redis, device: Device) -> None:
    await redis.set(_revoked_key(device), "1", ex=DEVICE_DAYS * 86400)


async def after_login(redis: Redis, cookie: str, user_id: int) -> str:
    """The device cookie's value after a login to an account: its entry kept, or a new one
    when it had none (or a revoked one); the entries of other accounts after it."""
    mine = await trusted(redis, cookie, user_id)
    if mine is None:
        mine = Device(user_id, secrets.token_urlsafe(16))
    others = [
        entry
        for entry in cookie.split(_SEP)[:MAX_ENTRIES]
        if (device := _parse(entry)) is not None and device.user_id != user_id
    ]
    return _SEP.join([_entry(mine), *others][:MAX_ENTRIES])
