"""Autocomplete: titles, authors and subjects as typed, and past queries that enough
different people asked, whose every word a visitor could have found."""

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import events as analytics_events
from backend.collections import service as collections
from backend.redis_client import get_redis
from backend.search import completion, indexer
from backend.search import service as search
from backend.search.engines import get_search_engine
from backend.settings import get_settings
from backend.users.models import Role, User
from bench.common import bulk_load
from jobs.tasks import expire_search_counts, flush_search_counts
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
SECRET = [{"title": "Harvest ledger", "text": "bluebird payroll fourier", "authors": ["Hidden"]}]


def threshold() -> int:
    return get_settings().completion_min_searchers


def visitor(i: int) -> str:
    return f"203.0.113.{i + 1}"  # documentation addresses (RFC 5737)


async def _values(db: AsyncSession, typed: str, actor: User | None = None) -> list[str]:
    found = await completion.complete(session=db, actor=actor, text_typed=typed)
    return [c.value for c in found]


async def _queries(db: AsyncSession, typed: str, actor: User | None = None) -> list[str]:
    found = await completion.complete(session=db, actor=actor, text_typed=typed)
    return [c.value for c in found if c.kind == "query"]


async def _library(db: AsyncSession, public: bool = False) -> int:
    """The shelf of BOOKS (public); with `public`, nothing else. Otherwise also a private
    collection "Closed" whose ledger has the words "bluebird payroll". Returns the
    private collection's id (0 without one)."""
    await bulk_load(BOOKS, "Shelf")
    closed = 0
    if not public:
        await bulk_load(SECRET, "Closed", public=False)
        closed = (await db.exec(text("SELECT id FROM collections WHERE slug = 'closed'"))).one()[0]
    await indexer.drain(get_search_engine())
    return int(closed)


async def _ask(db: AsyncSession, query: str, people: int, first: int = 0) -> None:
    """`people` different visitors search for `query`."""
    for i in range(first, first + people):
        await search.search(session=db, actor=None, query=query, client=visitor(i))
    await db.commit()


async def test_completes_titles_authors_and_subjects(db: AsyncSession, data_dir: Path) -> None:
    await bulk_load(BOOKS, "Shelf")
    await bulk_load(
        [{"title": "Harvest ledger", "text": "secret", "authors": ["Hidden Hand"]}],
        "Closed",
        public=False,
    )
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


async def test_one_person_short_of_the_threshold_cannot_plant_a_query_and_the_threshold_can(
    db: AsyncSession, data_dir: Path
) -> None:
    await _library(db, public=True)
    await _ask(db, "fourier  Analysis", threshold() - 1)
    assert await flush_search_counts({}) == 1
    assert await flush_search_counts({}) == 0  # nothing new since
    assert await _queries(db, "fou") == []
    await _ask(db, "fourier analysis", 1, first=threshold() - 1)  # one more person
    await flush_search_counts({})
    assert await _queries(db, "fou") == ["fourier analysis"]
    patron = await make_user(db)
    assert await _queries(db, "fourier a", patron) == ["fourier analysis"]


async def test_the_same_visitor_or_patron_counts_once_however_often_they_ask(
    db: AsyncSession, data_dir: Path
) -> None:
    await _library(db, public=True)
    patron = await make_user(db)
    for _ in range(threshold() * 2):
        await search.search(session=db, actor=None, query="wizards", client=visitor(0))
        await search.search(session=db, actor=patron, query="wizards", client=visitor(1))
    # An IPv6 host may use any address of its /64: one visitor.
    for i in range(threshold()):
        await search.search(session=db, actor=None, query="wizards", client=f"2001:db8::{i + 1}")
    await db.commit()
    await flush_search_counts({})
    people = (
        await db.exec(text("SELECT people FROM search_queries WHERE query = 'wizards'"))
    ).one()[0]
    assert people == 3
    assert await _queries(db, "wiz") == []


async def test_searches_as_you_type_visitors_without_an_address_and_empty_results_never_count(
    db: AsyncSession, data_dir: Path
) -> None:
    await _library(db, public=True)
    for i in range(threshold()):
        await search.search(session=db, actor=None, query="fable", client=visitor(i), typing=True)
        await search.search(session=db, actor=None, query="fable", client="")
        await search.search(session=db, actor=None, query="nothing zzz", client=visitor(i))
    await db.commit()
    assert await flush_search_counts({}) == 0
    assert await _queries(db, "fab") == []


async def test_staff_searches_never_count(db: AsyncSession, data_dir: Path) -> None:
    await _library(db, public=True)
    for i in range(threshold()):
        staff = await make_user(db, Role.LIBRARIAN if i % 2 else Role.ADMIN)
        await search.search(session=db, actor=staff, query="fourier", client=visitor(i))
    await db.commit()
    assert await flush_search_counts({}) == 0
    assert await _queries(db, "fou") == []


async def test_members_searches_about_a_private_collection_never_become_a_suggestion(
    db: AsyncSession, data_dir: Path
) -> None:
    closed = await _library(db)
    librarian = await make_user(db, Role.LIBRARIAN)
    admin = await make_user(db, Role.ADMIN)
    members = [await make_user(db) for _ in range(threshold() + 1)]
    for m in members:
        await collections.add_member(session=db, actor=admin, collection_id=closed, email=m.email)
    await db.commit()
    for i, m in enumerate(members):
        found = await search.search(
            session=db, actor=m, query="bluebird payroll", client=visitor(i)
        )
        assert found.total == 1  # they see their collection's ledger
        # A member sees more than a visitor: even a public-looking search does not count.
        await search.search(session=db, actor=m, query="fourier", client=visitor(i))
    await db.commit()
    assert await flush_search_counts({}) == 0
    for actor in (None, members[0], librarian):
        assert await _queries(db, "blue", actor) == []
        assert await _queries(db, "fou", actor) == []


async def test_words_only_a_private_document_has_cannot_ride_along_a_long_query(
    db: AsyncSession, data_dir: Path
) -> None:
    await _library(db)
    # Of four words or more a search needs two: a visitor finds the public book.
    query = "fourier analysis bluebird payroll"
    found = await search.search(session=db, actor=None, query=query, client=visitor(0))
    assert found.total == 1
    await _ask(db, query, threshold())
    assert await flush_search_counts({}) == 1
    assert await _queries(db, "fourier") == []
    offered = (await db.exec(text("SELECT offered, people FROM search_queries"))).one()
    assert tuple(offered) == (False, threshold())


@pytest.mark.parametrize(
    "query",
    [
        "fourier OR bluebird",  # an operator: the private word need not match
        "fourier -bluebird",
        "fourier NOT bluebird",
        "collection:closed OR fourier",  # field syntax naming a private collection
        'title:"harmonic analysis"',
        "fourier*",
    ],
)
async def test_queries_with_operators_or_fields_are_never_offered(
    db: AsyncSession, data_dir: Path, query: str
) -> None:
    await _library(db)
    await _ask(db, query, threshold())
    found = await search.search(session=db, actor=None, query=query, client=visitor(0))
    assert found.total >= 1  # they do find the public book
    await db.commit()
    assert await flush_search_counts({}) == 0
    assert (await db.exec(text("SELECT count(*) FROM search_queries"))).one()[0] == 0


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("  Fourier   Analysis ", "fourier analysis"),
        ("Harry Potter and the Philosopher's Stone", "harry potter and the philosopher's stone"),
        ("war & peace", "war & peace"),
        ('"harmonic analysis"', '"harmonic analysis"'),
        ("café crème 1984", "café crème 1984"),
        ("j.k. rowling", "j.k. rowling"),
        ("a", None),  # too short
        ("x" * 81, None),  # too long
        ("one two three four five six seven eight nine", None),  # more than 8 words
        ("fourier\x00analysis", None),  # a control character
        ("fourier\u202eanalysis", None),  # a direction override
        ("see https://evil.example/x", None),
        ("visit evil.example now", None),
        ("www.evil.com", None),
        ("mail me@example.org", None),
        ("call 5551234567", None),  # a long number: a phone or card
        ("author:bohr", None),
        ("collection:closed", None),
        ("fourier OR bluebird", None),
        ("fourier -bluebird", None),
        ("!bluebird fourier", None),
        ("fourier*", None),
        ("(fourier)", None),
        ("fourier <script>", None),
        ("100% true", None),
        ('"unclosed quote', None),
        ("buy now $$$", None),
        ("😀 smile", None),
    ],
)
def test_only_what_looks_like_a_query_may_become_a_suggestion(query: str, kept: str | None) -> None:
    assert completion.suggestible(query) == kept


async def test_the_address_is_never_kept_and_its_hash_changes_every_day(
    db: AsyncSession, data_dir: Path
) -> None:
    from datetime import date

    await _library(db, public=True)
    await search.search(session=db, actor=None, query="wizards", client="198.51.100.7")
    await db.commit()
    await analytics_events.sent()  # (counted searches leave the process with the events)
    held = await get_redis().lrange(completion.ASKED, 0, -1)
    assert len(held) == 1 and "198.51.100.7" not in held[0]
    monday = completion.searcher_id(None, "198.51.100.7", date(2026, 1, 5))
    tuesday = completion.searcher_id(None, "198.51.100.7", date(2026, 1, 6))
    assert monday is not None and tuesday is not None and monday != tuesday
    assert completion.searcher_id(None, "198.51.100.8", date(2026, 1, 5)) != monday
    await flush_search_counts({})
    stored = (await db.exec(text("SELECT searcher FROM search_query_searchers"))).all()
    assert len(stored) == 1 and b"198.51.100.7" not in bytes(stored[0][0])


async def test_a_suggestion_goes_when_its_collection_turns_private_or_its_people_age_out(
    db: AsyncSession, data_dir: Path
) -> None:
    await _library(db, public=True)
    await _ask(db, "wizards", threshold())
    await _ask(db, "fourier", threshold())
    await flush_search_counts({})
    assert await _queries(db, "wiz") == ["wizards"]
    assert await _queries(db, "fou") == ["fourier"]

    librarian = await make_user(db, Role.ADMIN)
    shelf = (await db.exec(text("SELECT id FROM collections WHERE slug = 'shelf'"))).one()[0]
    await collections.update(
        session=db,
        actor=librarian,
        collection_id=shelf,
        name="Shelf",
        description="",
        is_public=False,
    )
    await db.commit()
    # A day later the worker looks again for a public document with the words: none.
    await db.exec(text("UPDATE search_queries SET checked_at = now() - interval '25 hours'"))
    await db.commit()
    await flush_search_counts({})
    assert await _queries(db, "wiz") == []
    assert await _queries(db, "wiz", librarian) == []

    await collections.update(
        session=db,
        actor=librarian,
        collection_id=shelf,
        name="Shelf",
        description="",
        is_public=True,
    )
    await db.commit()
    await db.exec(text("UPDATE search_queries SET checked_at = now() - interval '25 hours'"))
    await db.commit()
    await flush_search_counts({})
    assert await _queries(db, "fou") == ["fourier"]
    # The window passes with nobody asking again: the people age out, and so does it.
    days = get_settings().completion_window_days
    await db.exec(text("UPDATE search_query_searchers SET day = day - :d").bindparams(d=days))
    await db.commit()
    assert await expire_search_counts({}) == 2
    assert await _queries(db, "fou") == []
    assert (await db.exec(text("SELECT count(*) FROM search_query_searchers"))).one()[0] == 0


async def test_a_completion_is_kept_per_scope_until_the_index_or_the_offered_queries_change(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _library(db)
    engine = get_search_engine()
    real = type(engine).complete
    asked: list[str] = []

    async def counted(self: object, typed: str, *rest: object) -> object:
        asked.append(typed)
        return await real(self, typed, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(type(engine), "complete", counted)
    librarian = await make_user(db, Role.LIBRARIAN)
    assert "Harvest ledger" in await _values(db, "harv", librarian)
    assert "Harvest ledger" in await _values(db, "harv", librarian)
    assert asked == ["harv"]  # the second time from Redis
    # A visitor's scope is not the librarian's: never their kept entry.
    assert "Harvest ledger" not in await _values(db, "harv")
    assert asked == ["harv", "harv"]

    await bulk_load([{"title": "Harvest moon", "text": "autumn"}], "Shelf 2")
    await indexer.drain(engine)  # the index changed: completed afresh
    assert "Harvest moon" in await _values(db, "harv")
    assert len(asked) == 3

    await _ask(db, "harvest moon", threshold())
    await flush_search_counts({})  # the worker offers a query: completed afresh
    assert await _queries(db, "harv") == ["harvest moon"]
    assert len(asked) == 4
