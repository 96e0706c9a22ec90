"""Request-scoped helpers for the REST API: the unit of work and the acting user."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import personal_tokens
from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.db import read_scope, session_scope
from backend.errors import PermissionDenied
from backend.users.models import User


async def db_session() -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        yield session


async def read_session() -> AsyncIterator[AsyncSession]:
    """A read-only unit of work for reads that may be a moment stale (search, browse
    lists, records): on the replica unless it lacks this caller's own last change
    (backend.db.read_scope). The caller is still identified on the primary (`Actor`)."""
    async with read_scope() as session:
        yield session


def session_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE, "")


def client_address(request: Request) -> str:
    """The visitor's address as the gateway read it (trusted proxies applied), or the
    connecting one when no gateway stands in front (an app built for a test)."""
    found = request.scope.get("state", {}).get("client_address")
    return str(found or (request.client.host if request.client else ""))


async def current_user(
    request: Request, session: Annotated[AsyncSession, Depends(db_session)]
) -> User | None:
    """Who the request's token stands for (None: nobody, or a token that is no longer
    good). Every route that acts for someone takes it, so every such route checks the
    token's scopes here: a personal token without the scope the request needs
    (backend.auth.personal_tokens.needed) is refused with 403, whatever the route."""
    found = await auth.identify(session=session, token=session_token(request))
    if found is None:
        return None
    request.scope.setdefault("state", {})["user_id"] = found.user.id  # for the access log
    wanted = personal_tokens.needed(request.method, request.url.path)
    if wanted not in found.scopes:
        raise PermissionDenied(
            f"This token may not do that: it needs the {wanted} scope, and has "
            f"{', '.join(s for s in personal_tokens.SCOPES if s in found.scopes)}."
        )
    return found.user


DbSession = Annotated[AsyncSession, Depends(db_session)]
ReadSession = Annotated[AsyncSession, Depends(read_session)]
Actor = Annotated[User | None, Depends(current_user)]
