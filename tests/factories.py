"""Rows for tests, made through the real services."""

import itertools
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyotp
from reflex.istate.data import HeaderData, RouterData
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import db as backend_db
from backend.analytics import report
from backend.auth import second_factor
from backend.auth.tokens import DEVICE_COOKIE, SESSION_COOKIE
from backend.collections import service as collections
from backend.collections.models import Collection
from backend.documents import service as documents
from backend.documents.models import Document, DocumentVersion
from backend.models import metadata
from backend.redis_client import get_redis
from backend.storage.service import get_store, store_stream
from backend.users import service as users
from backend.users.models import Role, User

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


async def empty_library() -> None:
    """What a test (or a module of tests) leaves behind, gone: every table's rows, Redis,
    this process's search engine and index, and the stored files (DATA_DIR's objects,
    including what a served app stored for the test's requests)."""
    from backend.search.engines import reset_search_engine

    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with backend_db.get_engine().begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await get_redis().flushdb()
    reset_search_engine()
    for leftover in ("search", "objects", "cache"):
        shutil.rmtree(Path(os.environ["DATA_DIR"]) / leftover, ignore_errors=True)


async def make_user(session: AsyncSession, role: Role = Role.PATRON, email: str = "") -> User:
    user = await users.register(
        session=session,
        email=email or f"user{next(_seq)}@example.org",
        password=PASSWORD,
        display_name=f"{role.value.title()} {next(_seq)}",
    )
    user.role = role.value
    session.add(user)
    await session.flush()
    return user


async def make_collection(
    session: AsyncSession, actor: User, name: str = "", is_public: bool = True
) -> Collection:
    return await collections.create(
        session=session, actor=actor, name=name or f"Collection {next(_seq)}", is_public=is_public
    )


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def upload_bytes(
    session: AsyncSession, actor: User, collection: Collection, data: bytes, filename: str
) -> tuple[Document, DocumentVersion]:
    stored = await store_stream(get_store(), _chunks(data))
    assert collection.id is not None
    return await documents.add_document(
        session=session, actor=actor, collection_id=collection.id, stored=stored, filename=filename
    )


async def upload_file(
    session: AsyncSession, actor: User, collection: Collection, path: Path
) -> tuple[Document, DocumentVersion]:
    return await upload_bytes(session, actor, collection, path.read_bytes(), path.name)


def log_in_tab(tab_state: Any, token: str, *, device_cookie: str = "") -> None:
    """Make a browser tab's state act as the holder of a session token, as the websocket
    handshake of a page load with the `library_session` cookie would (pass any state of
    the tab: the root state's router headers are what `state.session.acting()` reads).
    An empty token logs the tab out. Other headers of the tab are kept."""
    root = tab_state._get_root_state()
    raw = {k: v for k, v in root.router.headers.raw_headers.items() if k != "cookie"}
    cookies = [f"{SESSION_COOKIE}={token}"] if token else []
    if device_cookie:
        cookies.append(f"{DEVICE_COOKIE}={device_cookie}")
    if cookies:
        raw["cookie"] = "; ".join(cookies)
    root.rx_router_headers = HeaderData.from_router_data({"headers": raw})


def open_in_tab(tab_state: Any, path: str) -> None:
    """Point a tab at a page (its URL and query), keeping its headers and so its login."""
    root = tab_state._get_root_state()
    headers = dict(root.router.headers.raw_headers)
    root.router = RouterData.from_router_data(
        {"pathname": path.split("?")[0], "asPath": path, "headers": headers}
    )


def posted_form(spec: Any) -> tuple[str, dict[str, str]]:
    """The action and fields of the POST form that `state.session.post_navigation` sends."""
    script = spec.args[0][1]._var_value
    action = re.search(r"f\.action = (\"[^\"]*\")", script)
    fields = re.search(r"Object\.entries\((\{.*?\})\)", script)
    assert action and fields, script
    return json.loads(action.group(1)), json.loads(fields.group(1))


def totp_code(secret: str, steps_from_now: int = 0) -> str:
    """The TOTP code of a 30-second step near now (a used step is never accepted again,
    so a test that needs several codes takes the previous, current and next step)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


async def enable_second_factor(session: AsyncSession, user: User) -> str:
    """Set up TOTP for a user through the real service (with the previous step's code, so
    the current and next steps stay usable); returns the secret."""
    setup = await second_factor.begin_setup(session=session, actor=user)
    await second_factor.confirm_setup(session=session, actor=user, code=totp_code(setup.secret, -1))
    return setup.secret


def stored_files(data_dir: Path) -> set[str]:
    """The documents' files in the local store (not the monthly usage report, which a
    worker running at twenty past the hour makes: its cron)."""
    root = data_dir / "objects"
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and not str(p.relative_to(root)).startswith(report.EXPORTS + "/")
    }
