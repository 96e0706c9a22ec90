"""Admins' API: the analytics panels as JSON (librarians: their collections' panels), and
accounts (list by cursor, change a role, disable or enable, end sessions). Every route is
under /api/v1/admin, so a personal token needs the admin scope (backend.api.deps); who
may do what is decided by the same use cases as the admin pages' (an admin with a second
factor for changes to accounts)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from backend.analytics import dashboard
from backend.api import cursors
from backend.api.deps import Actor, DbSession, client_address
from backend.api.problems import documented
from backend.auth import admin as accounts
from backend.errors import NotFound
from backend.ids import MAX_ID
from backend.users.models import Role

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


async def admins_only(actor: Actor) -> None:
    """Accounts are admins' business: anyone else is answered as for a route that does
    not exist, before the body is read (as every admin route answers them)."""
    if actor is None or not actor.is_active or actor.role != Role.ADMIN:
        raise NotFound("Not found.")


AdminsOnly = [Depends(admins_only)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
NO_STORE = "private, no-store"


class PanelList(BaseModel):
    panels: list[str] = Field(examples=[["searches", "queries", "documents", "uploads"]])


class AccountOut(BaseModel):
    id: int
    email: str
    name: str
    role: Literal["admin", "librarian", "patron"]
    active: bool
    second_factor: bool
    created_at: datetime


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None = None


class AccountChange(BaseModel):
    """Only the fields given change."""

    role: Literal["admin", "librarian", "patron"] | None = None
    active: bool | None = None


@router.get("/analytics", response_model=PanelList, responses=documented(404))
async def panels(session: DbSession, actor: Actor, response: Response) -> PanelList:
    """The analytics panels the caller may read (admins: all; librarians: their
    collections'; anyone else: 404)."""
    response.headers["Cache-Control"] = NO_STORE
    found = await dashboard.panels_for(session, actor)
    if not found:
        raise NotFound("Not found.")
    return PanelList(panels=found)


@router.get("/analytics/{panel}", responses=documented(400, 404))
async def panel(
    panel: Annotated[str, Path(max_length=40)],
    session: DbSession,
    actor: Actor,
    response: Response,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> dict[str, Any]:
    """One panel's figures over a span (`days` back from today, or `from`/`to` dates):
    its series by day and its lists, as the dashboard shows them (the last 30 days when
    no span is given)."""
    response.headers["Cache-Control"] = NO_STORE
    if days is None and not first and not last:
        days = 30
    span = dashboard.span_of(days, first, last)
    return await dashboard.panel(session=session, actor=actor, name=panel, span=span)


def _account(a: accounts.Account) -> AccountOut:
    u = a.user
    return AccountOut(
        id=u.id or 0,
        email=u.email,
        name=u.display_name,
        role=u.role,  # type: ignore[arg-type]
        active=u.is_active,
        second_factor=a.has_second_factor,
        created_at=u.created_at,
    )


@router.get(
    "/users", response_model=AccountPage, responses=documented(400, 404), dependencies=AdminsOnly
)
async def list_users(
    session: DbSession,
    actor: Actor,
    response: Response,
    q: Annotated[str, Query(max_length=100, description="Inside e-mails and names")] = "",
    role: Annotated[Literal["", "admin", "librarian", "patron"], Query()] = "",
    status: Annotated[Literal["", "active", "disabled"], Query()] = "",
    cursor: cursors.Cursor = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AccountPage:
    """Accounts in e-mail order, filtered, a page at a time (admins)."""
    response.headers["Cache-Control"] = NO_STORE
    after = cursors.text_after(cursor) or ""
    page = await accounts.page_accounts(
        session=session, actor=actor, search=q, role=role, status=status, after=after, limit=limit
    )
    return AccountPage(
        items=[_account(a) for a in page.accounts],
        next_cursor=cursors.encode(page.next_after) if page.next_after else None,
    )


@router.patch(
    "/users/{user_id}",
    response_model=AccountOut,
    responses=documented(403, 404, 409),
    dependencies=AdminsOnly,
)
async def change_user(
    user_id: Id, body: AccountChange, request: Request, session: DbSession, actor: Actor
) -> AccountOut:
    """Change an account's role, or disable or enable it (an admin with a second factor;
    disabling ends its sessions and tokens at once)."""
    ip = client_address(request)
    if body.role is not None:
        await accounts.set_role(
            session=session, actor=actor, user_id=user_id, role=body.role, ip=ip
        )
    if body.active is not None:
        await accounts.set_active(
            session=session, actor=actor, user_id=user_id, active=body.active, ip=ip
        )
    await session.commit()
    return _account(await accounts.account(session=session, actor=actor, user_id=user_id))


@router.post(
    "/users/{user_id}/end-sessions",
    status_code=204,
    responses=documented(403, 404),
    dependencies=AdminsOnly,
)
async def end_sessions(user_id: Id, request: Request, session: DbSession, actor: Actor) -> Response:
    """End every session and personal token of an account (an admin with a second
    factor)."""
    await accounts.end_sessions(
        session=session, actor=actor, user_id=user_id, ip=client_address(request)
    )
    await session.commit()
    return Response(status_code=204)
