"""schemathesis over the whole REST API schema, as an anonymous caller, a patron and an
admin: every operation, with data generated from its schema (valid and invalid), sent over
HTTP to the API served behind the gateway in a process of its own. No answer may be a
server error, and none may fall outside what the schema says of it: its status, its media
type, its headers, its body."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend import db as backend_db
from backend.api.routes import create_api
from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.users.models import Role
from bench.common import served_api
from tests.factories import PASSWORD, empty_library, make_collection, make_user, upload_bytes
from tests.worker import run_burst

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schemathesis.openapi.from_dict(create_api().openapi())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = settings(
    max_examples=int(os.environ.get("SCHEMA_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,  # the same cases on every run: CI never meets a new one by chance
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The API behind the gateway (bench/api/serve.py), served by granian."""
    with served_api(Path(os.environ["DATA_DIR"] + "-schema.log"), workers=1) as base:
        yield base


@pytest.fixture(scope="module")
async def callers(served: str) -> AsyncIterator[dict[str, dict[str, str]]]:
    """A library with a public collection and a document in it; the headers of each role
    (a patron's and an admin's access tokens). Everything is removed afterwards."""
    async with backend_db.session_scope() as session:
        admin = await make_user(session, Role.ADMIN)
        patron = await make_user(session)
        shelf = await make_collection(session, admin, "Open shelf")
        await upload_bytes(session, admin, shelf, b"A lighthouse on the open shelf.\n", "a.txt")
        await session.commit()
        tokens = {}
        for name, user in (("patron", patron), ("admin", admin)):
            login = await auth.login(
                session=session, redis=get_redis(), email=user.email, password=PASSWORD
            )
            tokens[name] = {"Authorization": f"Bearer {login.token}"}
        await session.commit()
    await run_burst()
    yield {"anonymous": {}, **tokens}
    await empty_library()  # (with the files the served API stored for generated uploads)


def _check(case: Any, base: str, headers: dict[str, str]) -> None:
    checks = CHECKS
    if case.operation.path == "/api/v1/health/ready":  # 503 is its answer while not ready
        checks = [c for c in CHECKS if c is not not_a_server_error]
    case.call_and_validate(base_url=base, headers=headers, checks=checks, timeout=30)


@SCHEMA.parametrize()
@EXAMPLES
def test_anonymous(case: Any, served: str, callers: dict[str, dict[str, str]]) -> None:
    _check(case, served, callers["anonymous"])


@SCHEMA.parametrize()
@EXAMPLES
def test_patron(case: Any, served: str, callers: dict[str, dict[str, str]]) -> None:
    _check(case, served, callers["patron"])


@SCHEMA.parametrize()
@EXAMPLES
def test_admin(case: Any, served: str, callers: dict[str, dict[str, str]]) -> None:
    _check(case, served, callers["admin"])
