"""The PostgreSQL engine ranks by BM25 from its own tables (postings, document
frequencies, lengths), with the shared parameters of backend/search/ranking.py."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from backend.db import session_scope, sql
from backend.search import ranking
from backend.search.engine import EngineQuery, IndexDoc
from backend.search.postgres_engine import PostgresEngine
from backend.search.query import parse

FILLER = "the report describes the tests that were made in the laboratory last year"


def _doc(doc_id: int, title: str, body: str = "") -> IndexDoc:
    return IndexDoc(
        document_id=doc_id,
        collection_id=1,
        collection="Shelf",
        title=title,
        pages=[body],
        language="en",
        added=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.fixture
async def engine(clean: None) -> AsyncIterator[PostgresEngine]:
    yield PostgresEngine()


async def _ids(engine: PostgresEngine, q: str, **kw: object) -> list[int]:
    found = await engine.search(EngineQuery(tree=parse(q).tree, collections=None, **kw))  # type: ignore[arg-type]
    return [h.document_id for h in found.hits]


async def _frequency(lexeme: str) -> int:
    async with session_scope() as session:
        row = await sql(
            session,
            text("SELECT ndoc FROM search_pg_lexemes WHERE lexeme = :w").bindparams(w=lexeme),
        )
        return int(row.scalar() or 0)


async def test_a_rare_word_outranks_a_common_one(engine: PostgresEngine) -> None:
    await engine.apply(
        [
            _doc(1, "Report one", f"glacier {FILLER}"),
            *(_doc(i, f"Report {i}", f"turbine {FILLER}") for i in range(2, 9)),
        ],
        [],
    )
    # One document has "glacier", seven have "turbine": the rare word weighs more.
    assert (await _ids(engine, "turbine glacier"))[0] == 1
    assert (await _ids(engine, "glacier turbine"))[0] == 1


async def test_a_document_with_every_word_of_a_short_query_ranks_first(
    engine: PostgresEngine,
) -> None:
    await engine.apply(
        [
            _doc(1, "Solar notes", "solar solar solar panels and solar cells, solar power"),
            _doc(2, "Field notes", f"wind measured near a solar farm; {FILLER} {FILLER}"),
            _doc(3, "Wind", "wind wind wind and more wind"),
        ],
        [],
    )
    found = await engine.search(EngineQuery(tree=parse("solar wind").tree, collections=None))
    assert [h.document_id for h in found.hits][0] == 2
    assert found.total == 3 and found.every_word == 1


async def test_a_long_question_finds_a_document_with_only_some_of_its_words(
    engine: PostgresEngine,
) -> None:
    await engine.apply(
        [
            _doc(1, "Boundary layers", "laminar boundary layer on a heated flat plate"),
            _doc(2, "Supersonic inlets", "shock waves in a supersonic inlet"),
            _doc(3, "Libraries", "opening hours of the public library"),
        ],
        [],
    )
    question = "what is known about transition of the laminar boundary layer over cooled cones"
    found = await _ids(engine, question)
    assert found[:1] == [1]
    assert 3 not in found


async def test_idf_comes_from_the_engines_tables_and_follows_deletes(
    engine: PostgresEngine,
) -> None:
    await engine.apply(
        [
            _doc(1, "Alpha", f"quartz {FILLER}"),
            _doc(2, "Beta", f"basalt {FILLER}"),
            *(_doc(i, f"Gamma {i}", f"quartz {FILLER}") for i in range(3, 8)),
        ],
        [],
    )
    assert await _frequency("quartz") == 6 and await _frequency("basalt") == 1
    assert (await _ids(engine, "quartz basalt"))[0] == 2  # basalt is the rare word
    # Quartz becomes rare and basalt common: the order follows.
    await engine.apply([_doc(i, f"Gamma {i}", f"basalt {FILLER}") for i in range(3, 8)], [])
    assert await _frequency("quartz") == 1 and await _frequency("basalt") == 6
    assert (await _ids(engine, "quartz basalt"))[0] == 1
    await engine.apply([], [1, 3, 4])
    assert await _frequency("quartz") == 0 and await _frequency("basalt") == 4
    async with session_scope() as session:
        stats = (await sql(session, text("SELECT ndoc FROM search_pg_stats"))).scalar()
        postings = (
            await sql(
                session,
                text(
                    "SELECT count(*) FROM search_pg_postings WHERE document_id = ANY(:i)"
                ).bindparams(i=[1, 3, 4]),
            )
        ).scalar()
    assert stats == 4 and postings == 0
    await engine.clear()
    assert await _frequency("basalt") == 0 and await engine.count() == 0


async def test_ranking_parameters_are_read_at_every_search(
    engine: PostgresEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.apply(
        [
            _doc(1, "Meteorites", f"{FILLER} {FILLER}"),
            _doc(2, "Notes", "meteorites meteorites meteorites"),
        ],
        [],
    )
    assert (await _ids(engine, "meteorites"))[0] == 2
    # The title's weight is applied at query time, not stored with the counts.
    monkeypatch.setattr(ranking, "_override", ranking.current("postgres").but(title=20.0))
    assert (await _ids(engine, "meteorites"))[0] == 1


async def test_snippets_only_for_the_page_shown(engine: PostgresEngine) -> None:
    await engine.apply([_doc(i, f"Report {i}", f"ozone {FILLER}") for i in range(1, 6)], [])
    page = await engine.search(
        EngineQuery(tree=parse("ozone").tree, collections=None, offset=2, limit=2)
    )
    assert page.total == 5 and len(page.hits) == 2
    assert all(any(s.hit for s in h.snippet) for h in page.hits)
    bare = await engine.search(
        EngineQuery(tree=parse("ozone").tree, collections=None, snippets=False)
    )
    assert bare.total == 5 and all(not h.snippet for h in bare.hits)
    beyond = await engine.search(
        EngineQuery(tree=parse("ozone").tree, collections=None, offset=10, limit=2)
    )
    assert beyond.total == 5 and beyond.hits == []


async def test_facets_counted_with_the_ranking_match_those_counted_apart(
    engine: PostgresEngine,
) -> None:
    docs = [_doc(i, f"Report {i}", f"ozone {FILLER}") for i in range(1, 4)]
    docs[0].authors, docs[1].authors = ["Lee, Ann", "Doe, Jane"], ["Lee, Ann"]
    docs[2].year = 1990
    await engine.apply([*docs, _doc(9, "Other", "nothing alike")], [])
    tree = parse("ozone report").tree
    together = await engine.search(EngineQuery(tree=tree, collections=None))
    assert dict(together.facets["author"]) == {"Lee, Ann": 2, "Doe, Jane": 1}
    assert dict(together.facets["year"]) == {"1990": 1}
    assert dict(together.facets["collection"]) == {"1": 3} and together.total == 3
    # With a choice, the facets are counted apart (each under the others' choices).
    chosen = await engine.search(
        EngineQuery(tree=tree, collections=None, filters={"author": ["Doe, Jane"]})
    )
    assert chosen.total == 1
    assert dict(chosen.facets["author"]) == {"Lee, Ann": 2, "Doe, Jane": 1}
    assert dict(chosen.facets["collection"]) == {"1": 1}
    nothing = await engine.search(EngineQuery(tree=parse("zeppelin").tree, collections=None))
    assert nothing.total == 0 and all(v == [] for v in nothing.facets.values())


async def test_a_large_change_gives_the_planner_statistics_at_once(
    engine: PostgresEngine,
) -> None:
    await engine.apply([_doc(i, f"Report {i}", f"ozone {FILLER}") for i in range(1, 151)], [])
    async with session_scope() as session:
        known = await sql(
            session,
            text(
                "SELECT reltuples FROM pg_class WHERE oid = CAST('search_pg_documents' AS regclass)"
            ),
        )
        assert known.scalar() == 150  # VACUUM (ANALYZE) ran after the batch
    assert (
        await engine.search(EngineQuery(tree=parse("ozone").tree, collections=None))
    ).total == 150


async def test_the_coordination_bonus_counts_the_words_a_document_has(
    engine: PostgresEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.apply(
        [
            _doc(1, "Glaciers", "glacier glacier glacier glacier melt"),
            _doc(2, "Notes", f"glacier basalt quartz {FILLER}"),
        ],
        [],
    )
    q = "glacier basalt quartz melt"  # four words: no every-word tier
    assert (await _ids(engine, q, facets=False))[0] == 2  # the rarer words win anyway
    monkeypatch.setattr(ranking, "_override", ranking.current("postgres").but(coordination=0.0))
    plain = await engine.search(EngineQuery(tree=parse(q).tree, collections=None))
    monkeypatch.setattr(ranking, "_override", ranking.current("postgres").but(coordination=5.0))
    bonus = await engine.search(EngineQuery(tree=parse(q).tree, collections=None))
    by_id = {h.document_id: h.score for h in plain.hits}
    for h in bonus.hits:  # 2 has three of the words, 1 has two
        assert h.score - by_id[h.document_id] == pytest.approx(15.0 if h.document_id == 2 else 10.0)


def test_a_word_asked_again_is_read_once_and_weighs_its_times() -> None:
    from backend.search.postgres_bm25 import Group, Stats, ranked_params

    groups = [
        Group(lexemes=["zebra"], idf=1.0),
        Group(lexemes=["lion"], idf=2.0),
        Group(lexemes=["zebra"], idf=1.0),
        Group(lexemes=["zebra"], idf=1.0, title_only=True),  # title:zebra, weighed apart
    ]
    r = ranking.DEFAULT
    params = ranked_params(groups, Stats(documents=10, lengths=(10, 10, 10, 10)), r)
    assert params["q_lexeme"] == ["zebra", "lion", "zebra"]
    assert params["q_weight"] == pytest.approx([2 * (r.k1 + 1), 2 * (r.k1 + 1), r.k1 + 1])
    assert params["q_bit"] == [0b0101, 0b0010, 0b1000]
    assert params["q_a"] == [r.title, r.title, r.body]


async def test_proximity_pairs_are_valid_tsqueries_whatever_the_lexemes(clean: None) -> None:
    from backend.search.postgres_bm25 import Group, near_params

    groups = [
        Group(lexemes=["o'neil", "back\\slash"], idf=1.0),
        Group(lexemes=["wing"], idf=2.0),
        Group(lexemes=[], idf=0.0),  # a word no document has: no pair
    ]
    params = near_params(groups, [(0, 1), (1, 2)], ranking.DEFAULT)
    assert len(params["near_q"]) == 1
    assert params["near_w"] == [pytest.approx(ranking.DEFAULT.proximity * 3.0 * 2.2)]
    q = params["near_q"][0]

    async def matches(first: str, at: int) -> bool:
        """Whether the pair's tsquery matches a text with `first` at 1 and wing at `at`."""
        lexeme = "'" + first.replace("\\", "\\\\").replace("'", "''") + "'"
        async with session_scope() as session:
            row = await sql(
                session,
                text("SELECT CAST(:v AS tsvector) @@ CAST(:q AS tsquery)").bindparams(
                    v=f"{lexeme}:1 'wing':{at}", q=q
                ),
            )
            return bool(row.scalar())

    slop = ranking.DEFAULT.proximity_slop
    for first in ("o'neil", "back\\slash"):
        assert await matches(first, 2)  # side by side
        assert await matches(first, 2 + slop)  # `slop` words between
        assert not await matches(first, 3 + slop)
