"""The outbox feeds the search engine in batches; nothing is missed, even if it was away."""

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections.models import Collection
from backend.search import indexer
from backend.search import service as search
from backend.search.engines import get_search_engine
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


async def _outbox(db: AsyncSession) -> int:
    return int((await db.exec(text("SELECT count(*) FROM search_outbox"))).one()[0])


async def _titles(db: AsyncSession, q: str, actor: object = None) -> list[str]:
    found = await search.search(session=db, actor=actor, query=q)  # type: ignore[arg-type]
    return sorted(h.title for h in found.hits)


async def _total(db: AsyncSession, q: str) -> int:
    return (await search.search(session=db, actor=None, query=q, use_cache=False)).total


class _Away:
    """The real engine behind a connection that fails the first `down` times."""

    def __init__(self, down: int) -> None:
        self.real, self.down, self.name = get_search_engine(), down, "away"

    async def apply(self, upserts: list, deletes: list[int]) -> None:  # type: ignore[type-arg]
        if self.down > 0:
            self.down -= 1
            raise ConnectionError("search engine unreachable")
        await self.real.apply(upserts, deletes)


async def test_an_engine_that_was_away_catches_up(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    for i, word in enumerate(["otter", "beaver", "heron"]):
        await upload_bytes(db, librarian, shelf, f"the {word} report\n".encode(), f"{word}{i}.txt")
    await db.commit()
    await run_burst()
    assert await _titles(db, "report") == ["beaver1", "heron2", "otter0"]

    await db.exec(text("INSERT INTO search_outbox (document_id, created_at) VALUES (1, now())"))
    await db.exec(text("DELETE FROM documents WHERE id = 2"))  # removed behind the index's back
    await db.commit()
    engine = _Away(down=1)
    with pytest.raises(ConnectionError):
        await indexer.drain(engine)  # type: ignore[arg-type]
    assert await _outbox(db) == 1  # kept for the next try
    await db.exec(text("INSERT INTO search_outbox (document_id, created_at) VALUES (2, now())"))
    await db.commit()
    assert await indexer.drain(engine, batch_size=1) == 2  # type: ignore[arg-type]
    assert await _outbox(db) == 0
    assert await get_search_engine().count() == 2
    assert await _titles(db, "report") == ["heron2", "otter0"]


async def test_rebuild_refills_the_index_from_the_database(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    await upload_bytes(db, librarian, shelf, b"kelp forests\n", "kelp.txt")
    await upload_bytes(db, librarian, shelf, b"kelp harvest\n", "harvest.txt")
    await db.commit()
    await run_burst()
    engine = get_search_engine()
    await engine.clear()
    assert await _titles(db, "kelp") == []
    assert await indexer.rebuild(engine) == 2
    assert await _titles(db, "kelp") == ["harvest", "kelp"]


async def test_making_a_collection_private_hides_it_at_once(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian)
    await upload_bytes(db, librarian, shelf, b"lighthouse keepers\n", "keepers.txt")
    await db.commit()
    await run_burst()
    assert await _titles(db, "lighthouse", patron) == ["keepers"]
    collection = await db.get(Collection, shelf.id)
    assert collection is not None
    collection.is_public = False
    db.add(collection)
    await db.commit()
    # No reindexing: the engine's query carries the collections the patron may see.
    assert await _outbox(db) == 0
    assert await _titles(db, "lighthouse", patron) == []
    assert await _titles(db, "lighthouse", librarian) == ["keepers"]


async def test_the_postgres_engine_serves_the_whole_path(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.search.engines import reset_search_engine
    from backend.settings import get_settings

    monkeypatch.setenv("SEARCH_ENGINE", "postgres")
    get_settings.cache_clear()
    reset_search_engine()
    try:
        assert get_search_engine().name == "postgres"
        librarian = await make_user(db, Role.LIBRARIAN)
        patron = await make_user(db)
        shelf = await make_collection(db, librarian, "Harbour")
        closed = await make_collection(db, librarian, "Closed", is_public=False)
        await upload_bytes(db, librarian, shelf, b"the harbour pilots and their boats\n", "p.txt")
        await upload_bytes(db, librarian, closed, b"harbour pilots payroll\n", "pay.txt")
        await db.commit()
        await run_burst()
        found = await search.search(session=db, actor=patron, query="pilot")
        assert [h.title for h in found.hits] == ["p"]
        assert [s.text for s in found.hits[0].snippet if s.hit] == ["pilots"]
        assert [(v.label, v.count) for v in found.facets["collection"]] == [("Harbour", 1)]
        assert (await search.search(session=db, actor=librarian, query="pilot")).total == 2
        typo = await search.search(session=db, actor=patron, query="pilotts")
        assert typo.total == 1 and typo.suggestion == "pilots"
    finally:
        monkeypatch.delenv("SEARCH_ENGINE")
        get_settings.cache_clear()
        reset_search_engine()


async def test_the_reindex_command_rebuilds_and_empties_the_result_cache(
    db: AsyncSession, data_dir: Path
) -> None:
    import os
    import subprocess
    import sys

    from backend.redis_client import get_redis
    from backend.search import cache
    from bench.common import ROOT, bulk_load

    await bulk_load([{"title": "Tide mill ledger", "text": "grain and water"}], "Mills")
    await db.commit()
    generation = int(await get_redis().get(cache.GENERATION) or 0)
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "reindex"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Indexed 1 documents." in result.stdout
    assert await _titles(db, "ledger") == ["Tide mill ledger"]
    assert await _outbox(db) == 0
    assert int(await get_redis().get(cache.GENERATION) or 0) > generation


async def test_the_last_document_of_a_run_is_indexed_without_waiting_for_its_window(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes wait for the end of their batching window (an hour here), except when the
    pipeline finishes a document and no other is waiting or in it: the outbox is indexed
    at once, so a single upload (or a run's last) is searchable when it says "ready"."""
    import time

    from backend import queue
    from backend.ingest import pipeline
    from backend.redis_client import get_redis
    from backend.settings import get_settings
    from backend.storage.service import get_store

    async def index_jobs() -> dict[str, float]:
        """The index jobs queued, each with the seconds until it is due."""
        queued = await get_redis().zrange(queue.QUEUE_NAME, 0, -1, withscores=True)
        now = time.time()
        return {
            (job.decode() if isinstance(job, bytes) else job): score / 1000 - now
            for job, score in queued
            if (job.decode() if isinstance(job, bytes) else job).startswith("search:index")
        }

    monkeypatch.setattr(get_settings(), "index_batch_seconds", 3600.0)
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    _, first = await upload_bytes(db, librarian, shelf, b"walrus tusks\n", "tusks.txt")
    _, second = await upload_bytes(db, librarian, shelf, b"walrus colonies\n", "colonies.txt")
    await db.commit()
    await get_redis().delete(queue.QUEUE_NAME)  # the uploads' ingest jobs: run here instead

    assert await pipeline.run(first.id, store=get_store()) == "ready"
    windowed = await index_jobs()
    assert len(windowed) == 1 and all(job.startswith("search:index:w") for job in windowed)
    assert await _outbox(db) == 1

    assert await pipeline.run(second.id, store=get_store()) == "ready"
    now = {job: due for job, due in (await index_jobs()).items() if job not in windowed}
    assert len(now) == 1 and list(now.values())[0] <= 0
    assert await indexer.drain(get_search_engine()) == 2
    assert await _titles(db, "walrus") == ["colonies", "tusks"]


@pytest.mark.parametrize("engine_name", ["tantivy", "postgres"])
async def test_a_rebuild_is_built_beside_the_live_index_and_searches_answer_throughout(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch, engine_name: str
) -> None:
    import asyncio

    from backend.documents import service as documents
    from backend.search.engines import reset_search_engine
    from backend.settings import get_settings

    monkeypatch.setenv("SEARCH_ENGINE", engine_name)
    get_settings.cache_clear()
    reset_search_engine()
    try:
        librarian = await make_user(db, Role.LIBRARIAN)
        shelf = await make_collection(db, librarian)
        made = []
        for n in range(12):
            doc, _ = await upload_bytes(
                db, librarian, shelf, f"tern colony {n}\n".encode(), f"t{n}.txt"
            )
            made.append(doc.id)
        await db.commit()
        await run_burst()
        engine = get_search_engine()
        assert await _total(db, "tern") == 12

        # The live index answers every search while the new one is filled, two documents
        # at a time (each batch its own commit): never empty, never partial.
        started = asyncio.Event()
        slow = engine.build_beside

        async def watched() -> object:
            build = await slow()
            real = build.apply

            async def apply(upserts: list) -> None:  # type: ignore[type-arg]
                started.set()
                await real(upserts)
                await asyncio.sleep(0.05)

            build.apply = apply  # type: ignore[method-assign]
            return build

        monkeypatch.setattr(engine, "build_beside", watched)
        rebuilding = asyncio.create_task(indexer.rebuild(engine, batch_size=2))
        await started.wait()
        # A change made during the build waits in the outbox: the indexer leaves it.
        await documents.delete_document(session=db, actor=librarian, document_id=made[0])
        await db.commit()
        assert await indexer.drain(engine) == 0
        seen = []
        while not rebuilding.done():
            seen.append(await _total(db, "tern"))
        assert await rebuilding == 12
        assert seen and all(n in (11, 12) for n in seen), seen  # (11: the deleted one hidden)
        # Once live, the new index has the change made meanwhile.
        assert await _total(db, "tern") == 11
        assert await _outbox(db) == 0
        # One rebuild at a time.
        started.clear()
        first = asyncio.create_task(indexer.rebuild(engine, batch_size=2))
        await started.wait()
        from backend.errors import Conflict

        with pytest.raises(Conflict, match="being rebuilt already"):
            await indexer.rebuild(engine)
        assert await first == 11
    finally:
        monkeypatch.delenv("SEARCH_ENGINE")
        get_settings.cache_clear()
        reset_search_engine()
