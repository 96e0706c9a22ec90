"""The served app's web processes hear of changes of who may see which collection as they
commit (backend.access.watch): a search answered from the result cache hides a collection
made private within moments, though no process asks PostgreSQL about it on each search."""

import asyncio
import time

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import watch
from bench.common import bulk_load
from tests.e2e.conftest import ServedApp, index_now

BOOKS = [
    {"title": f"Tide tables of Ushant, part {i}", "text": "High and low water.", "year": 1900}
    for i in (1, 2)
]


async def _listeners(db: AsyncSession) -> int:
    await db.rollback()  # (a new snapshot each time)
    found = await db.exec(
        text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a").bindparams(
            a=watch.APPLICATION
        )
    )
    return int(found.one()[0])


async def test_a_cached_search_hides_a_collection_made_private_within_moments(
    served_app: ServedApp, app_db: AsyncSession
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    await bulk_load(BOOKS, "Ushant shelf", engine=engine)
    await index_now(served_app, engine)
    await engine.dispose()

    deadline = time.monotonic() + 30
    while await _listeners(app_db) < 1:  # the web server's lifespan starts the listener
        assert time.monotonic() < deadline, "no web process listens for visibility changes"
        await asyncio.sleep(0.2)

    async with httpx.AsyncClient(base_url=served_app.url, timeout=10) as client:

        async def total() -> int:
            answer = await client.get("/api/v1/search", params={"q": "ushant"})
            assert answer.status_code == 200, answer.text
            return int(answer.json()["total"])

        assert [await total() for _ in range(3)] == [2, 2, 2]  # cached, the scope trusted
        await app_db.exec(text("UPDATE collections SET is_public = false"))
        await app_db.commit()
        made_private = time.monotonic()
        while await total() != 0:
            # Trusted without a word from PostgreSQL, it would show for a minute.
            assert time.monotonic() - made_private < 5, "the private collection still shows"
            await asyncio.sleep(0.2)
        await app_db.exec(text("UPDATE collections SET is_public = true"))
        await app_db.commit()
        made_public = time.monotonic()
        while await total() != 2:
            assert time.monotonic() - made_public < 5, "the public collection does not show"
            await asyncio.sleep(0.2)
