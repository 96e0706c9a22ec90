"""Autocomplete: titles, authors and subjects as typed, and frequent past queries."""

from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.search import completion
from backend.search import service as search
from backend.users.models import Role
from bench.common import bulk_load
from jobs.tasks import flush_search_counts
from tests.factories import make_user

BOOKS = [
    {
        "title": "Harry Potter and the Philosopher's Stone",
        "text": "wizards",
        "authors": ["J.K. Rowling", "Mary GrandPré"],
        "subjects": ["Fantasy"],
        "language": "en",
    },
    {
        "title": "Harmonic analysis",
        "text": "fourier",
        "authors": ["Harald Bohr"],
        "subjects": ["Harmonic analysis", "Mathematics"],
        "language": "en",
    },
    {
        "title": "The hare and the tortoise",
        "text": "a fable",
        "authors": ["Aesop"],
        "language": "en",
    },
]


async def _values(db: AsyncSession, typed: str, actor: object = None) -> list[str]:
    found = await completion.complete(session=db, actor=actor, text_typed=typed)  # type: ignore[arg-type]
    return [c.value for c in found]


async def test_completes_titles_authors_and_subjects(db: AsyncSession, data_dir: Path) -> None:
    await bulk_load(BOOKS, "Shelf")
    await bulk_load(
        [{"title": "Harvest ledger", "text": "secret", "authors": ["Hidden Hand"]}],
        "Closed",
        public=False,
    )
    from backend.search import indexer
    from backend.search.engines import get_search_engine

    await indexer.drain(get_search_engine())
    got = await _values(db, "har")
    assert set(got) == {
        "Harry Potter and the Philosopher's Stone",
        "Harmonic analysis",
        'author:"Harald Bohr"',
        'subject:"Harmonic analysis"',
        "The hare and the tortoise",
    }  # never the private "Harvest ledger"
    assert await _values(db, "harry pot") == ["Harry Potter and the Philosopher's Stone"]
    assert 'author:"Mary GrandPré"' in await _values(db, "mary")
    assert 'author:"J.K. Rowling"' not in await _values(db, "mary")  # a co-author, not a fit
    librarian = await make_user(db, Role.LIBRARIAN)
    assert "Harvest ledger" in await _values(db, "harv", librarian)
    assert await _values(db, "h") == []  # one letter: too little to go on


async def test_frequent_queries_are_offered_once_several_searches_asked_them(
    db: AsyncSession, data_dir: Path
) -> None:
    await bulk_load(BOOKS, "Shelf")
    from backend.search import indexer
    from backend.search.engines import get_search_engine

    await indexer.drain(get_search_engine())
    patron = await make_user(db)
    librarian = await make_user(db, Role.LIBRARIAN)
    for _ in range(3):
        await search.search(session=db, actor=patron, query="fourier  Analysis")
    await search.search(session=db, actor=None, query="fable")  # once only
    for _ in range(3):  # while typing: recorded as such, never counted
        await search.search(session=db, actor=patron, query="fable", typing=True)
    for _ in range(5):  # staff searches never surface
        await search.search(session=db, actor=librarian, query="fourier secrets")
    await search.search(session=db, actor=patron, query="nothing matches zzz")
    await db.commit()
    assert await flush_search_counts({}) == 2
    assert await flush_search_counts({}) == 0
    assert await _values(db, "fou") == ["fourier analysis"]
    assert await _values(db, "fab") == []
    assert await _values(db, "fourier s") == []
