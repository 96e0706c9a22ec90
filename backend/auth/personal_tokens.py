"""Personal API tokens: made and revoked by their owner on the account page, each with
scopes that bound what it may do in the REST API, whatever its owner's role allows.

- `read`: GET (and HEAD) requests;
- `write`: anything else (create, update, delete, upload);
- `admin`: the admin routes (`/api/v1/admin/...`), for admins' tokens only.

A login session's tokens (the page's cookie, the API's JWT) have every scope. The scope a
request needs is read from the request itself (`needed`), by backend.api.deps for every
route at once, so a new route is covered without anyone remembering to mark it.

The secret is `lib_` and 43 random characters; only its SHA-256 is kept, and the owner
sees it once. A token ends when revoked, at its expiry, when its owner's sessions are all
ended (password changed or reset, an admin ending them) and while the account is disabled.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_user
from backend.auth.models import PersonalToken
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import InvalidInput, NotFound, PermissionDenied
from backend.ids import is_id
from backend.users.models import Role, User

PREFIX = "lib_"
SCOPES = ("read", "write", "admin")
ALL = frozenset(SCOPES)
MAX_PER_USER = 20
EXPIRY_DAYS = (30, 90, 365, 0)  # 0: never
TOUCH_INTERVAL = timedelta(minutes=1)
# Accounts are the admin scope's; the analytics panels and reports under /api/v1/admin are
# read with the read scope (a librarian, who may not hold the admin scope, reads their own
# collections' figures; the routes themselves decide whose figures a caller sees).
ADMIN_PATHS = ("/api/v1/admin/users", "/metrics")
READING = frozenset({"GET", "HEAD", "OPTIONS"})


def looks_personal(token: str) -> bool:
    return token.startswith(PREFIX)


def needed(method: str, path: str) -> str:
    """The scope a request needs: admin for the accounts' routes, read for reading
    (analytics included), write for anything that changes something."""
    if path.startswith(ADMIN_PATHS):
        return "admin"
    return "read" if method.upper() in READING else "write"


def scopes_of(row: PersonalToken) -> frozenset[str]:
    return frozenset(row.scopes.split())


@dataclass(frozen=True)
class Made:
    token: PersonalToken
    secret: str  # shown once


def _clean_scopes(user: User, scopes: Sequence[str]) -> list[str]:
    chosen = [s for s in SCOPES if s in set(scopes)]
    unknown = sorted(set(scopes) - ALL)
    if unknown:
        raise InvalidInput(f"Unknown scope {unknown[0]!r}: choose among read, write, admin.")
    if not chosen:
        raise InvalidInput("Choose at least one scope.")
    if "admin" in chosen and user.role != Role.ADMIN:
        raise PermissionDenied("Only an admin's token may have the admin scope.")
    return chosen


async def create(
    *,
    session: AsyncSession,
    actor: User | None,
    name: str,
    scopes: Sequence[str],
    days: int = 90,
) -> Made:
    """A new token for the actor; its secret is in the answer and nowhere else."""
    user = require_user(actor)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the token a name, to know it again (say, what uses it).")
    if len(name) > 100:
        raise InvalidInput("A token's name must be at most 100 characters long.")
    if days not in EXPIRY_DAYS:
        raise InvalidInput("A token lasts 30, 90 or 365 days, or until it is revoked.")
    chosen = _clean_scopes(user, scopes)
    live = await active(session=session, actor=user)
    if len(live) >= MAX_PER_USER:
        raise InvalidInput(f"You have {MAX_PER_USER} tokens: revoke one you no longer use.")
    secret = PREFIX + new_token()
    assert user.id is not None
    row = PersonalToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(secret),
        scopes=" ".join(chosen),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    session.add(row)
    await session.flush()
    return Made(row, secret)


def _live(now: datetime) -> ColumnElement[bool]:
    return and_(
        col(PersonalToken.revoked_at).is_(None),
        or_(col(PersonalToken.expires_at).is_(None), col(PersonalToken.expires_at) > now),
    )


async def active(*, session: AsyncSession, actor: User | None) -> list[PersonalToken]:
    """The actor's tokens that still work, newest first."""
    user = require_user(actor)
    stmt = (
        select(PersonalToken)
        .where(PersonalToken.user_id == user.id, _live(utcnow()))
        .order_by(col(PersonalToken.id).desc())
    )
    return list((await session.exec(stmt)).all())


async def revoke(*, session: AsyncSession, actor: User | None, token_id: int) -> None:
    """End one of the actor's own tokens, at once."""
    user = require_user(actor)
    row = await session.get(PersonalToken, token_id) if is_id(token_id) else None
    if row is None or row.user_id != user.id:
        raise NotFound("No such token.")
    row.revoked_at = row.revoked_at or utcnow()
    session.add(row)
    await session.flush()


async def revoke_all(session: AsyncSession, user_id: int) -> None:
    await session.exec(
        update(PersonalToken)
        .where(col(PersonalToken.user_id) == user_id)
        .where(col(PersonalToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def lookup(session: AsyncSession, secret: str) -> PersonalToken | None:
    """The live token of this secret (its owner's standing is checked by the caller)."""
    if not looks_personal(secret) or len(secret) > 200:
        return None
    now = utcnow()
    row = (
        await session.exec(
            select(PersonalToken).where(PersonalToken.token_hash == token_hash(secret), _live(now))
        )
    ).first()
    if row is not None and (row.last_used_at is None or now - row.last_used_at > TOUCH_INTERVAL):
        row.last_used_at = now
        session.add(row)
        await session.commit()
    return row
