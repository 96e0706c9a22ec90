"""Tokens for the REST API: a JWT access token (HS256, 24 hours) and a refresh token
(7 days), both tied to a login session (backend.auth.service).

The access token names its session (`sid`) and its user (`sub`); every request it
authorizes checks that the session is still open and its user active, so logging out,
changing the password, an admin disabling the account or ending its sessions end the
token at once. The refresh token is random, kept in Redis (only its hash), used once:
redeeming it gives a new access token and a new refresh token, while the session lasts.
"""

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from redis.asyncio import Redis

from backend.settings import get_settings

ALGORITHM = "HS256"
ACCESS_SECONDS = 24 * 3600
REFRESH_SECONDS = 7 * 24 * 3600
AUDIENCE = "library-api"


@dataclass(frozen=True)
class Claims:
    user_id: int
    session_id: int


def _key() -> str:
    # A key of its own, derived from SECRET_KEY: no other use of the secret can forge one.
    secret = get_settings().secret_key.encode()
    return hashlib.sha256(b"library api access tokens\0" + secret).hexdigest()


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def issue_access(user_id: int, session_id: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ACCESS_SECONDS,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, _key(), algorithm=ALGORITHM)


def read_access(token: str) -> Claims | None:
    """The claims of a valid, unexpired access token of ours; None for anything else."""
    try:
        data: dict[str, Any] = jwt.decode(
            token,
            _key(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "sid", "aud"]},
        )
        return Claims(user_id=int(data["sub"]), session_id=int(data["sid"]))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None


def _refresh_key(token: str) -> str:
    return "api:refresh:" + hashlib.sha256(token.encode()).hexdigest()


async def issue_refresh(redis: Redis, claims: Claims) -> str:
    token = secrets.token_urlsafe(32)
    value = json.dumps({"user_id": claims.user_id, "session_id": claims.session_id})
    await redis.set(_refresh_key(token), value, ex=REFRESH_SECONDS)
    return token


async def redeem_refresh(redis: Redis, token: str) -> Claims | None:
    """The session a refresh token was given for; the token is spent (one use)."""
    if not token or len(token) > 200:
        return None
    raw = await redis.getdel(_refresh_key(token))
    if raw is None:
        return None
    data = json.loads(raw)
    return Claims(user_id=int(data["user_id"]), session_id=int(data["session_id"]))
