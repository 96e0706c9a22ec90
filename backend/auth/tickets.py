"""Single-use tickets that hand a new session from a websocket handler to the browser.

The login handler cannot set an HttpOnly cookie over the websocket, so it stores the new
session token under a random ticket for a minute and sends the browser (by a full
navigation) to the session route of the REST API, which redeems the ticket once and sets
the cookie in its response.
"""

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from backend.auth.tokens import new_token, token_hash

TICKET_SECONDS = 60


@dataclass(frozen=True)
class Redeemed:
    token: str
    user_id: int


def _key(ticket: str) -> str:
    return f"login:ticket:{token_hash(ticket)}"


async def issue(redis: Redis, *, token: str, user_id: int) -> str:
    """A new ticket for a session token, valid once for TICKET_SECONDS."""
    ticket = new_token()
    payload = json.dumps({"token": token, "user_id": user_id})
    await redis.set(_key(ticket), payload, ex=TICKET_SECONDS)
    return ticket


async def redeem(redis: Redis, ticket: str) -> Redeemed | None:
    """The session behind a ticket, which is used up; None when unknown or expired."""
    if not ticket or len(ticket) > 100:
        return None
    payload = await redis.getdel(_key(ticket))
    if payload is None:
        return None
    data = json.loads(payload)
    return Redeemed(token=str(data["token"]), user_id=int(data["user_id"]))
