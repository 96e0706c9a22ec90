"""The Meilisearch engine's own translation work, without a server (none can be had here):
the exact requests it sends, and what it makes of answers shaped as Meilisearch's
documented responses. The engine contract (test_engines.py) runs the whole engine against
a server whenever MEILI_URL is set."""

import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backend.search.engine import EngineQuery, IndexDoc
from backend.search.meili_documents import (
    MAX_POSITIONS,
    POST,
    PRE,
    batches,
    cut,
    document,
    page_of,
    position_bound,
    segments,
)
from backend.search.meili_engine import (
    MIN_VERSION,
    MeiliEngine,
    MeiliError,
    parse_version,
    result,
    settings,
    suggestion,
)
from backend.search.meili_query import (
    MAX_QUERY_TERMS,
    Compiler,
    MeiliQuery,
    filter_key,
    quote_value,
)
from backend.search.query import And, Or, Phrase, Term, parse

ROOT = Path(__file__).resolve().parents[2]
ENGLISH_AND_FRENCH = Compiler(["en", "fr", "plain"])


def _queries(text: str, compiler: Compiler = ENGLISH_AND_FRENCH) -> list[MeiliQuery]:
    tree = parse(text).tree
    assert tree is not None
    return compiler.queries(tree)


def _qs(text: str, compiler: Compiler = ENGLISH_AND_FRENCH) -> list[str]:
    return [q.q for q in _queries(text, compiler) if not q.filters]  # as typed


# --- how Meilisearch reads a q (milli's parse_query.rs), to check our q against -----------


def _read(q: str) -> tuple[list[str], list[str], str | None]:
    """(positive terms, excluded words and phrases, the prefix word) as Meilisearch reads
    `q`: ten positive terms at most (everything after the tenth is dropped), `-` before a
    word or phrase excludes it, the last word is a prefix unless something follows it."""
    terms: list[str] = []
    excluded: list[str] = []
    tokens = re.findall(r'-?"[^"]*"|\S+', q)
    for tok in tokens:
        if len(terms) >= MAX_QUERY_TERMS:
            break
        (excluded if tok.startswith("-") else terms).append(tok.lstrip("-"))
    last = tokens[-1] if tokens and not q.endswith(" ") else None
    prefix = last if last and not last.startswith(('"', "-")) else None
    return terms, excluded, prefix


# --- documents ---------------------------------------------------------------------------


def _meili_positions(text: str) -> int:
    """The last position Meilisearch gives a word of `text`, for ASCII text: a word per
    run of letters and digits, eight after a hard separator (. , ; : ! ? and new lines in
    the worst case), one after a soft one."""
    position, end = -1, 0
    for m in re.finditer(r"[A-Za-z0-9]+", text):
        if position >= 0:
            position += 8 if re.search(r"[.,;:!?\n]", text[end : m.start()]) else 1
        else:
            position = 0
        end = m.end()
    return max(position, 0)


@pytest.mark.parametrize(
    "text",
    [
        " ".join(f"w{i % 97}" for i in range(150_000)) + " zeppelin",  # plain words
        ",".join(str(i % 1000) for i in range(60_000)) + ",zeppelin",  # no space at all
        "数" * 100_000 + "zeppelin",  # a script written without spaces
        "x" * 300_000 + " zeppelin",  # one endless word
    ],
)
def test_long_texts_are_cut_under_the_position_limit_whatever_their_spaces(text: str) -> None:
    parts = cut(text)
    assert len(parts) > 1
    assert all(position_bound(text[s:e]) <= MAX_POSITIONS for s, e in parts)
    assert all(_meili_positions(text[s:e]) < 65_535 for s, e in parts)
    assert text[parts[-1][0] : parts[-1][1]].endswith("zeppelin")  # the tail is indexed
    # Every character is in a part, and each part starts inside the one before (overlap).
    assert parts[0][0] == 0 and parts[-1][1] == len(text)
    assert all(s2 <= e1 for (_, e1), (s2, _) in zip(parts, parts[1:], strict=False))


def test_the_old_count_of_spaces_would_overflow_the_limit() -> None:
    text = ",".join(str(i % 1000) for i in range(60_000))
    assert len(text.split()) == 1  # one "word" by spaces: never cut before
    assert _meili_positions(text) > 65_535  # but Meilisearch stops indexing it
    assert position_bound(text) >= _meili_positions(text)


def test_a_phrase_across_a_cut_is_whole_in_one_part() -> None:
    text = " ".join(f"w{i}" for i in range(40_000))
    parts = cut(text, limit=20_000)
    for (_, end), (start, _) in zip(parts, parts[1:], strict=False):
        # The next part repeats the last words of the one before: a phrase of up to that
        # many words that a cut splits is whole in the next part.
        assert len(text[start:end].split()) >= 20


def _doc(**kw: Any) -> IndexDoc:
    kw.setdefault("collection_id", 3)
    kw.setdefault("collection", "Archives privées archives")
    kw.setdefault("title", "The Heated Café")
    kw.setdefault("language", "en")
    kw.setdefault("added", datetime(2026, 1, 2, tzinfo=UTC))
    return IndexDoc(document_id=7, **kw)


def test_one_meilisearch_document_per_library_document() -> None:
    long_page = " ".join(f"filler{i % 500}" for i in range(80_000)) + " zeppelin"
    d = document(
        _doc(
            authors=["Doe, Jane", "Back\\slash, Ann"],
            subjects=["Heat"],
            pages=["Première page.", "Page \x02deux\x03 wedge.", long_page],
            type="pdf",
        )
    )
    # Its primary key is the library document's id: federated search, which merges hits
    # per Meilisearch document, merges them per library document.
    assert d["id"] == 7 and not settings()["distinctAttribute"]
    assert "year" not in d  # no year: no year facet, no year filter match
    assert d["title_sort"] == "heated cafe"
    assert {"heated", "heat", "cafe", "the"} <= set(d["title_w"])
    assert d["collection_w"] == ["archives", "privees"]
    assert d["author_f"] == ["Doe, Jane", "Back\\slash, Ann"]
    assert d["author_k"] == ["Doe, Jane", "Back%5Cslash, Ann"]  # no backslash to escape
    assert "heat" in d["title_stems"].split()
    # The text as nested parts of one attribute, each with the page of each byte offset.
    assert set(d["body"]) == set(d["page_starts"]) and len(d["body"]) >= 2
    assert all(position_bound(t) <= MAX_POSITIONS for t in d["body"].values())
    assert all(position_bound(t) <= MAX_POSITIONS for t in d["stems"].values())
    first = d["body"]["0"]
    assert PRE not in first and POST not in first  # our highlight marks are cleaned out
    assert page_of(d["page_starts"]["0"], first.encode().index(b"wedge")) == 2
    assert page_of(d["page_starts"]["0"], first.encode().index("Première".encode())) == 1
    last = str(len(d["body"]) - 1)
    assert d["body"][last].rstrip().endswith("zeppelin")
    assert d["page_starts"][last][0] == [0, 3]
    assert "zeppelin" in d["stems"][str(len(d["stems"]) - 1)]


def test_nested_parts_rank_as_their_attribute_and_fields_follow_the_ranking() -> None:
    s = settings()
    # Meilisearch gives nested fields (body.0, body.1, …) the weight of `body`; the order
    # of the attributes comes from backend.search.ranking's field weights.
    assert s["searchableAttributes"][:2] == ["title", "title_stems"]
    assert s["searchableAttributes"][-2:] == ["body", "stems"]
    assert not s["distinctAttribute"]


def test_batches_are_sized_in_bytes() -> None:
    docs = [{"id": i, "body": "é" * 1000} for i in range(10)]  # 1,000 chars, 2,000 bytes
    sent = batches(docs, limit=5_000)
    assert all(len(b) <= 5_000 for b in sent)
    assert [d["id"] for b in sent for d in json.loads(b)] == list(range(10))
    assert len(sent) == 5  # by characters, two would have fitted in 2,500
    assert len(batches([{"id": 1, "body": "x" * 9_000}], limit=5_000)) == 1  # alone


# --- filters -----------------------------------------------------------------------------


def test_filter_values_never_carry_a_backslash() -> None:
    assert filter_key('Back\\slash "J" 100%') == "Back%5Cslash %22J%22 100%25"
    assert quote_value('Back\\slash "J"') == '"Back%5Cslash %22J%22"'
    assert quote_value(1971) == "1971"
    engine = MeiliEngine("http://meili.invalid", index="lib")
    query = EngineQuery(
        tree=None,
        collections=[],
        filters={"author": ['Back\\slash, "J"'], "subject": ["a\\b"], "year": ["1971"]},
    )
    [q] = engine.requests(query, ENGLISH_AND_FRENCH)
    assert q["q"] == "" and "sort" not in q
    assert q["filter"] == [
        "collection_id = -1",
        'author_k IN ["Back%5Cslash, %22J%22"]',
        'subject_k IN ["a%5Cb"]',
        "year IN [1971]",
    ]
    assert "\\" not in "".join(q["filter"])
    # The stored key of that author is exactly the value the filter asks for.
    stored = document(_doc(authors=['Back\\slash, "J"'], pages=[]))["author_k"][0]
    assert q["filter"][1] == f'author_k IN ["{stored}"]'
    query.sort = "title"
    assert engine.requests(query, ENGLISH_AND_FRENCH)[0]["sort"] == ["title_sort:asc"]


def test_field_words_years_types_and_languages_are_filters() -> None:
    def filters(text: str) -> list[str]:
        return _queries(text)[0].filters

    assert filters('author:"doe jane"') == ['author_w IN ["doe"] AND author_w IN ["jane"]']
    assert filters("title:boundaries") == ['title_w IN ["boundar", "boundari", "boundaries"]']
    assert filters("title:tolk*") == ['title_w STARTS WITH "tolk"']
    assert filters("year:1959..1965") == ["year 1959 TO 1965"]
    assert filters("year:<1959") == ["year <= 1958"]
    assert filters("language:french") == ['language IN ["fr"]']
    assert filters("collection:archives") == ['collection_w IN ["archives"]']
    assert filters("wing NOT author:smith") == ['NOT (author_w IN ["smith"])']
    assert _queries("title:boundaries")[0].q == ""  # no words: every document, filtered


# --- queries -----------------------------------------------------------------------------


def test_a_word_is_whole_unless_marked_prefix_and_exclusions_never_take_its_place() -> None:
    # Meilisearch reads the last word of q as a prefix unless a space follows it.
    assert _read(_qs("wing")[0]) == (["wing"], [], None)
    assert _read(_qs("super*")[0]) == (["super"], [], "super")
    # `word* -x`: the exclusion goes first, the prefix stays last.
    [q] = _qs("word* -x")
    assert _read(q) == (["word"], ["x"], "word")
    # `word* "a b"`: the phrase before the prefix word.
    [q] = _qs('word* "a b"')
    assert _read(q) == (['"a b"', "word"], [], "word")
    # Two words marked prefix*: Meilisearch reads one; the last one typed is it.
    assert _read(_qs("tolk* ring*")[0])[2] == "ring"


def test_a_word_no_document_has_is_read_as_the_start_of_a_word() -> None:
    compiler = Compiler(["en"], unknown={"aeroel"})
    assert [_read(q)[2] for q in _qs("aeroel", compiler)] == ["aeroel"]
    assert _read(_qs("aeroel jets", compiler)[0]) == (["jets", "aeroel"], [], "aeroel")
    assert _read(_qs("aeroel jets")[0])[2] is None  # known words are whole words


def test_exclusions_and_their_stems_apply_to_the_document() -> None:
    queries = _queries("(wing OR ailes) -flutter")
    assert queries[0].q == "-flutt -flutter wing ailes "
    assert all(_read(q.q)[1] == ["flutt", "flutter"] for q in queries)
    # A joined word excluded: both its forms (the parts together, and written as one).
    assert _read(_qs("wing -o'brien")[0])[1] == ["obrien", '"o brien"']
    assert _read(_qs('wing -"flat plate"')[0])[1] == ['"flat plate"']


def test_each_query_runs_as_typed_and_stemmed_for_the_documents_of_each_language() -> None:
    assert [(q.q, q.filters) for q in _queries("heated")] == [
        ("heated ", []),
        ("heat ", ['stem_lang IN ["en"]']),
    ]
    assert [(q.q, q.filters) for q in _queries('"flat plate"')] == [('"flat plate" ', [])]


def test_words_side_by_side_are_optional_and_every_one_of_them_can_find_a_document() -> None:
    queries = [q for q in _queries("heat transfer plates") if not q.filters]
    assert [(q.q, q.strategy, q.weight) for q in queries] == [
        ("heat transfer plates ", "last", 1.0),
        ("transfer plates ", "last", 0.6667),
        ("plates ", "last", 0.3333),
    ]
    # "last" drops words from the end of q but never the first: each word is the first
    # of some query, so a document with only that word is found.
    firsts = {_read(q.q)[0][0] for q in queries}
    assert firsts == {"heat", "transfer", "plates"}


def test_explicit_and_phrases_and_fields_stay_required() -> None:
    [q] = _queries("wing AND flutter", Compiler([]))
    assert (q.q, q.strategy) == ("wing flutter ", "all")
    # A phrase among optional words: Meilisearch never drops a phrase, so one query.
    [q] = _queries('wing "flat plate"', Compiler([]))
    assert (q.q, q.strategy) == ('"flat plate" wing ', "last")
    # Required words among optional ones: one-word phrases, never dropped.
    [q] = _queries("(wing AND flutter) heat", Compiler([]))
    assert (q.q, q.strategy) == ('"wing" "flutter" heat ', "last")


def test_any_tree_of_words_phrases_ors_and_nots_is_translated() -> None:
    compiler = Compiler([])
    # The parser's reading of "e-mail" inside words side by side: optional words.
    email = Or((Phrase(("e", "mail")), Term("email")))
    tree = And((Term("send"), email), implicit=True)
    qs = [q.q for q in compiler.queries(tree)]
    assert qs[0] == "send e mail email "
    assert {_read(q)[0][0] for q in qs} == {"send", "e", "mail", "email"}
    # The same on its own is an OR: a phrase or a word.
    assert [q.q for q in compiler.queries(email)] == ['"e mail" ', "email "]
    # NOT of a group: De Morgan.
    assert [q.q for q in compiler.queries(parse("wing NOT (flutter AND heat)").tree)] == [  # type: ignore[arg-type]
        "-flutter wing ",
        "-heat wing ",
    ]
    # A tangle with too many combinations is read as its words, all optional.
    many = _queries("(wing OR flap) AND (heat OR cold) AND (jet OR prop) AND (lift OR drag)")
    assert all(q.strategy == "last" for q in many)
    assert {w for q in many for w in _read(q.q)[0]} >= {"wing", "flap", "lift", "drag"}


def test_long_queries_are_never_cut_at_ten_words() -> None:
    words = [f"word{i}" for i in range(1, 16)]
    queries = _queries(" ".join(words), Compiler([]))
    read = [_read(q.q)[0] for q in queries]
    assert all(len(terms) <= MAX_QUERY_TERMS for terms in read)
    assert {w for terms in read for w in terms} == set(words)  # every word is searched
    assert {terms[0] for terms in read} == set(words)  # and each can find a document
    # Exclusions come before the ten terms, so they are never dropped.
    queries = _queries(" ".join(words) + " -zeppelin", Compiler([]))
    assert all(_read(q.q)[1] == ["zeppelin"] for q in queries)
    # Phrases count as one term each.
    long_phrase = '"' + " ".join(words) + '"'
    assert _read(_qs(long_phrase, Compiler([]))[0])[0] == [long_phrase]


def test_what_is_sent_for_a_page_without_snippets() -> None:
    engine = MeiliEngine("http://meili.invalid", index="lib")
    tree = parse("wing").tree
    bare = engine.requests(EngineQuery(tree=tree, collections=[1], snippets=False), Compiler([]))
    assert bare == [
        {
            "indexUid": "lib",
            "attributesToRetrieve": ["id", "page_starts"],
            "attributesToHighlight": ["title", "authors", "subjects"],
            "highlightPreTag": PRE,
            "highlightPostTag": POST,
            "q": "wing ",
            "filter": ["collection_id IN [1]"],
            "matchingStrategy": "all",
            "federationOptions": {"weight": 1.0},
        }
    ]
    full = engine.requests(EngineQuery(tree=tree, collections=[1]), Compiler([]))[0]
    assert full["attributesToCrop"] == ["body"] and full["showMatchesPosition"] is True
    assert "body" in full["attributesToHighlight"]


# --- answers -------------------------------------------------------------------------------


def test_snippets_are_plain_text_with_whole_words_marked() -> None:
    got = segments(f"…the {PRE}Aeroel{POST}astic <script>x</script>\n {PRE}wing{POST}s end")
    assert [(s.text, s.hit) for s in got] == [
        ("…the ", False),
        ("Aeroelastic", True),
        (" <script>x</script> ", False),
        ("wings", True),
        (" end", False),
    ]
    assert segments("nothing matched here") == []


def _hit(doc_id: int, score: float, **kw: Any) -> dict[str, Any]:
    """A federated hit as Meilisearch returns it (attributesToRetrieve id, page_starts)."""
    return {
        "id": doc_id,
        "page_starts": kw.pop("page_starts", {}),
        "_formatted": {"id": str(doc_id), **kw.pop("formatted", {})},
        "_matchesPosition": kw.pop("positions", {}),
        "_federation": {"indexUid": "lib", "queriesPosition": 0, "weightedRankingScore": score},
    }


def _federated(hits: list[dict[str, Any]], total: int, **facets: dict[str, int]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "hits": hits,
        "processingTimeMs": 3,
        "limit": 10,
        "offset": 0,
        "estimatedTotalHits": total,
    }
    if facets:
        answer["facetsByIndex"] = {"lib": {"distribution": facets, "stats": {}}}
    return answer


def test_answers_become_hits_with_the_best_part_its_page_and_document_counts() -> None:
    long_doc = _hit(
        9,
        0.91,
        page_starts={"0": [[0, 1], [120, 2]], "1": [[0, 40], [3000, 41]]},
        formatted={
            "title": "A very long report",
            "body": {
                "0": f"…the {PRE}zeppelin{POST} flew…",
                "1": f"…{PRE}zeppelin{POST} and {PRE}airship{POST} both…",
            },
        },
        positions={
            "body.0": [{"start": 130, "length": 8}],
            "body.1": [{"start": 3010, "length": 8}],
        },
    )
    short = _hit(4, 0.5, formatted={"title": f"{PRE}Zeppelin{POST}s", "body": {"0": "Pilots."}})
    query = EngineQuery(tree=parse("zeppelin airship").tree, collections=None)
    main = _federated([long_doc, short], total=2, author_f={"Lee, Ann": 1, "Doe, Jane": 1})
    found = result(query, [main], "lib", Compiler([]))
    assert found.total == 2  # documents, however many parts matched
    assert [h.document_id for h in found.hits] == [9, 4]
    assert found.hits[0].page_no == 41  # the part with both words, its page
    assert [s.text for s in found.hits[0].snippet if s.hit] == ["zeppelin", "airship"]
    assert found.hits[1].snippet == [] and found.hits[1].page_no is None  # title only
    assert dict(found.facets["author"]) == {"Lee, Ann": 1, "Doe, Jane": 1}
    query.snippets = False
    bare = result(query, [main], "lib", Compiler([]))
    assert all(h.snippet == [] and h.page_no is None for h in bare.hits)


def _server(
    handle: Callable[[str, str, Any], Any], seen: list[tuple[str, str, Any]]
) -> httpx.MockTransport:
    def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        answer = handle(request.method, request.url.path, body)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(reply)


async def test_a_chosen_facet_is_counted_without_its_own_choice_per_document() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handle(method: str, path: str, body: Any) -> Any:
        if path == "/indexes/lib/search":  # the languages in use
            return {"hits": [], "facetDistribution": {"stem_lang": {"en": 4}}}
        if "federation" not in body:  # which words some document has
            return {"results": [{"hits": [], "estimatedTotalHits": 2} for _ in body["queries"]]}
        if body["federation"]["limit"] == 0:
            return _federated([], 5, author_f={"Smith, John": 2, "Doe, Jane": 1})
        return _federated([_hit(1, 0.9)], 2, type={"pdf": 1, "epub": 1})

    engine = MeiliEngine("http://meili.invalid", index="lib", transport=_server(handle, seen))
    query = EngineQuery(
        tree=parse("wing").tree, collections=None, filters={"author": ["Smith, John"]}
    )
    found = await engine.search(query)
    federated = [b for _, p, b in seen if p == "/multi-search" and "federation" in b]
    main = next(b for b in federated if b["federation"]["limit"] == 10)
    facet = next(b for b in federated if b["federation"]["limit"] == 0)
    assert main["federation"]["facetsByIndex"] == {
        "lib": ["collection_id", "subject_f", "year", "type", "language"]
    }
    assert all('author_k IN ["Smith, John"]' in q["filter"] for q in main["queries"])
    assert facet["federation"]["facetsByIndex"] == {"lib": ["author_f"]}
    assert all(not any("author_k" in f for f in q["filter"]) for q in facet["queries"])
    assert found.total == 2
    assert dict(found.facets["author"]) == {"Smith, John": 2, "Doe, Jane": 1}
    assert dict(found.facets["type"]) == {"pdf": 1, "epub": 1}


async def test_author_completion_finds_a_word_inside_the_name() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handle(method: str, path: str, body: Any) -> Any:
        if path.endswith("/facet-search"):
            if body["facetName"] == "author_f":
                hits = [
                    {"value": "J. R. R. Tolkien", "count": 3},
                    {"value": "Lewis, C. S.", "count": 1},
                ]
            else:
                hits = []
            return {"facetHits": hits, "facetQuery": None, "processingTimeMs": 1}
        return {"hits": [{"id": 5}], "estimatedTotalHits": 1}

    engine = MeiliEngine("http://meili.invalid", index="lib", transport=_server(handle, seen))
    found = await engine.complete("tolk", [1, 2], 5)
    assert found.authors == ["J. R. R. Tolkien"]  # a co-author without the word is left out
    assert found.documents == [5]
    asked = [b for _, p, b in seen if p.endswith("/facet-search")]
    body = next(b for b in asked if b["facetName"] == "author_f")
    assert body == {
        "facetName": "author_f",
        "q": "tolk",
        "attributesToSearchOn": ["authors"],
        "matchingStrategy": "all",
        "filter": ["collection_id IN [1, 2]"],
    }


def _prepare_server(version: str, old_settings: dict[str, Any] | None) -> tuple[MeiliEngine, list]:
    seen: list[tuple[str, str, Any]] = []

    def handle(method: str, path: str, body: Any) -> Any:
        if path == "/version":
            return {"commitSha": "b" * 40, "commitDate": "2024-12-23", "pkgVersion": version}
        if path == "/indexes/lib" and method == "GET":
            if old_settings is None:
                return httpx.Response(404, json={"message": "Index `lib` not found."})
            return {"uid": "lib", "primaryKey": "id"}
        if path == "/indexes/lib/settings" and method == "GET":
            return old_settings
        if path.startswith("/tasks/"):
            return {"uid": 1, "status": "succeeded"}
        return httpx.Response(202, json={"taskUid": 1, "status": "enqueued"})

    return MeiliEngine("http://m.invalid", index="lib", transport=_server(handle, seen)), seen


def test_the_server_version_is_checked_at_start() -> None:
    engine, _ = _prepare_server("1.11.3", None)
    with pytest.raises(MeiliError, match=r"1\.11\.3 is too old.*1\.12\.0 or newer"):
        engine.prepare()
    engine, seen = _prepare_server("1.12.0", None)
    assert engine.prepare() is True
    assert ("POST", "/indexes", {"uid": "lib", "primaryKey": "id"}) in seen
    assert ("PATCH", "/indexes/lib/settings", settings()) in seen
    # An index laid out by the engine before (a Meilisearch document per chunk): rebuilt.
    engine, seen = _prepare_server(
        "1.44.0", {"distinctAttribute": "document_id", "searchableAttributes": ["title"]}
    )
    assert engine.prepare() is True
    assert ("DELETE", "/indexes/lib", None) in seen
    engine, seen = _prepare_server("1.44.0", settings())
    assert engine.prepare() is False
    assert not any(m == "DELETE" for m, _, _ in seen)


@pytest.mark.parametrize(
    ("typed", "formatted", "meant"),
    [
        ("supersnic jets", [f"{PRE}Supersonic{POST} {PRE}jets{POST}"], "supersonic jets"),
        ("aeroel", [f"{PRE}Aeroel{POST}asticity", f"{PRE}Aeroel{POST}astic models"], "aeroelastic"),
        ("heating", [f"{PRE}Heat{POST} transfer"], None),  # a stem of the word: no correction
        ("wing", [f"{PRE}Wing{POST} flutter"], None),
        ("zebra", [f"{PRE}Wing{POST} flutter"], None),  # nothing near it
    ],
)
def test_did_you_mean_comes_from_the_words_the_hits_were_found_by(
    typed: str, formatted: list[str], meant: str | None
) -> None:
    hits = [{"_formatted": {"title": t, "authors": [], "body": {"0": ""}}} for t in formatted]
    tree = parse(typed).tree
    assert tree is not None
    assert suggestion(tree, hits, ENGLISH_AND_FRENCH) == meant


# --- deployment ----------------------------------------------------------------------------


def test_compose_runs_a_meilisearch_the_engine_accepts_and_says_what_it_needs() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    service = compose["services"]["meilisearch"]
    tag = service["image"].rsplit(":v", 1)[1]
    assert parse_version(tag) >= MIN_VERSION
    # Production refuses to start without a master key of 16 bytes or more; development
    # runs without one.
    assert service["environment"]["MEILI_ENV"] == "${MEILI_ENV:-production}"
    needed = f"Meilisearch {MIN_VERSION[0]}.{MIN_VERSION[1]}"
    assert needed in (ROOT / "README.md").read_text()
    assert needed in (ROOT / "deploy" / "README.md").read_text()


@pytest.mark.parametrize(
    ("env", "starts"),
    [
        ({"MEILI_ENV": "production", "MEILI_MASTER_KEY": ""}, False),
        ({"MEILI_ENV": "production", "MEILI_MASTER_KEY": "short"}, False),
        ({"MEILI_ENV": "production", "MEILI_MASTER_KEY": "k" * 16}, True),
        ({"MEILI_ENV": "development", "MEILI_MASTER_KEY": ""}, True),
    ],
)
def test_compose_meilisearch_says_why_it_cannot_start(
    env: dict[str, str], starts: bool, tmp_path: Path
) -> None:
    """The service's own command, run with a stand-in `meilisearch` on the PATH."""
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    command = [part.replace("$$", "$") for part in compose["services"]["meilisearch"]["command"]]
    fake = tmp_path / "meilisearch"
    fake.write_text("#!/bin/sh\necho started\n")
    fake.chmod(0o755)
    run = subprocess.run(
        command, env={**env, "PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert (run.stdout.strip() == "started") == starts
    if not starts:
        assert run.returncode != 0 and "MEILI_MASTER_KEY must be 16 bytes" in run.stderr
