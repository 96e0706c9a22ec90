"""Tokens for integrators: an access token (JWT) and a refresh token for an account's
e-mail and password (and its second factor's code where it has one), refreshed and ended
through the API (backend.auth.api_tokens says what they are and how they end)."""

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.api.deps import DbSession, client_address, session_token
from backend.api.problems import problem
from backend.auth import service as auth
from backend.auth.service import ApiTokens, SecondFactorRequired
from backend.redis_client import get_redis

router = APIRouter(prefix="/api/v1/auth", tags=["tokens"])
NO_STORE = {"Cache-Control": "no-store"}


class PasswordLogin(BaseModel):
    email: str = Field(max_length=320, examples=["reader@example.org"])
    password: str = Field(max_length=1000)


class CodeLogin(BaseModel):
    pending: str = Field(max_length=200, description="From the 401 that asked for a code")
    code: str = Field(max_length=64, examples=["123456"])


class Refresh(BaseModel):
    refresh_token: str = Field(max_length=200)


@router.post(
    "/token",
    response_model=ApiTokens,
    responses={
        401: {
            "description": "Wrong e-mail or password; or the account asks for a second "
            'factor: then the body has `"second_factor_required": true` and `pending`, to '
            "send back with the code"
        },
        429: {"description": "Too many failures: wait the seconds in Retry-After"},
    },
)
async def token(
    request: Request,
    session: DbSession,
    body: Annotated[PasswordLogin | CodeLogin, Body()],
) -> JSONResponse:
    """An access token (24 hours) and a refresh token (7 days) for an account."""
    redis = get_redis()
    try:
        if isinstance(body, CodeLogin):
            login = await auth.login_with_code(
                session=session, redis=redis, pending=body.pending, code=body.code
            )
        else:
            login = await auth.login(
                session=session,
                redis=redis,
                email=body.email,
                password=body.password,
                ip=client_address(request),
                user_agent=request.headers.get("user-agent", "")[:400],
            )
    except SecondFactorRequired as exc:
        await session.commit()
        return problem(
            401,
            "This account asks for a second-factor code.",
            headers=NO_STORE,
            second_factor_required=True,
            pending=exc.pending,
        )
    tokens = await auth.api_tokens_for(session=session, redis=redis, login=login)
    await session.commit()
    return JSONResponse(tokens.__dict__, headers=NO_STORE)


@router.post(
    "/refresh",
    response_model=ApiTokens,
    responses={401: {"description": "The refresh token is unknown, spent, or its session ended"}},
)
async def refresh(session: DbSession, body: Refresh) -> JSONResponse:
    """New tokens for a refresh token, which is spent; refused once its session ended."""
    tokens = await auth.refresh_api_tokens(
        session=session, redis=get_redis(), refresh_token=body.refresh_token
    )
    await session.commit()
    return JSONResponse(tokens.__dict__, headers=NO_STORE)


@router.post(
    "/logout",
    status_code=204,
    responses={401: {"description": "The token does not stand for a session"}},
)
async def logout(request: Request, session: DbSession) -> Response:
    """End the session the access token stands for (its refresh token ends with it)."""
    await auth.end_api_session(session=session, token=session_token(request))
    await session.commit()
    return Response(status_code=204)
