"""A database that is busy or away (backend.db.unavailable), made so for real: every
connection of the process's pool held, or a server address nothing listens on. A request
is told in words to come back (503, Retry-After) after at most the pool's timeout, instead
of waiting 30 s and failing as a fault of ours; a tab is shown the same sentence. Both
edges are the app's own (the API's exception handler, the app's handler for every event),
so no route or handler has to remember."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from backend.db import AWAY, BUSY, dispose_engine, get_engine
from backend.settings import get_settings
from tests.backend.test_breakers import closed_port


@pytest.fixture
async def pool_of_one(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """This process's pool: one connection, none more, and a short wait for it."""
    settings = get_settings()
    for name, value in {
        "database_pool_size": 1,
        "database_pool_overflow": 0,
        "database_pool_timeout_seconds": 0.3,
    }.items():
        monkeypatch.setattr(settings, name, value)
    await dispose_engine()
    yield
    monkeypatch.undo()
    await dispose_engine()


@pytest.fixture
async def database_away(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    url = f"postgresql+psycopg://library@127.0.0.1:{closed_port()}/library"
    monkeypatch.setattr(get_settings(), "database_url", url)
    await dispose_engine()
    yield
    monkeypatch.undo()
    await dispose_engine()


def _told_to_come_back(answer: httpx.Response, sentence: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"] == sentence
    assert int(answer.headers["retry-after"]) >= 1


async def test_a_request_that_finds_every_connection_taken_is_told_to_come_back(
    api: httpx.AsyncClient, pool_of_one: None
) -> None:
    async with get_engine().connect() as held:  # the pool's only connection
        await held.execute(text("SELECT 1"))
        _told_to_come_back(await api.get("/api/v1/documents/1/record"), BUSY)
        _told_to_come_back(await api.get("/api/v1/collections"), BUSY)
    # Given back: the next request is served as usual.
    assert (await api.get("/api/v1/documents/1/record")).status_code == 404


async def test_a_database_that_is_away_is_said_so(
    api: httpx.AsyncClient, database_away: Any
) -> None:
    _told_to_come_back(await api.get("/api/v1/documents/1/record"), AWAY)
    # The probe of the orchestrator says what is missing, as before.
    ready = await api.get("/api/v1/health/ready", params={"worker": "false"})
    assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"


async def test_a_tab_is_shown_the_sentence_not_an_error_of_ours(
    clean: None, pool_of_one: None
) -> None:
    from tests.state.tabs import Tabs

    async with get_engine().connect() as held:
        await held.execute(text("SELECT 1"))
        async with Tabs() as tabs:
            tab = await tabs.open("/collections")
            assert BUSY in tab.sent()
            assert "An error occurred" not in tab.sent()
            assert tabs.errors  # (what the handler raised, as the app's handler saw it)
