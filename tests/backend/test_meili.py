"""The Meilisearch engine's own translation work: chunks, filters, queries, snippets and
"did you mean". These run without a server (none can be had here); the engine contract
(test_engines.py) runs the whole engine against a server whenever MEILI_URL is set."""

from datetime import UTC, datetime

import pytest

from backend.search.engine import EngineQuery, IndexDoc
from backend.search.meili_engine import (
    CHUNK_WORDS,
    POST,
    PRE,
    Compiler,
    MeiliEngine,
    chunk_documents,
    page_of,
    quote_value,
    segments,
    split_pages,
    suggestion,
)
from backend.search.query import parse

ENGLISH_AND_FRENCH = Compiler(["en", "fr", "plain"])


def _queries(text: str) -> list[tuple[str, str, list[str], list[str]]]:
    """(strategy, q, languages, filters) of each query the text becomes."""
    out = []
    tree = parse(text).tree
    assert tree is not None
    for c in ENGLISH_AND_FRENCH.conjunctions(tree):
        for q, langs in ENGLISH_AND_FRENCH.texts(c):
            out.append((c.strategy, q, langs, c.filters))
    return out


def test_a_long_text_is_split_into_chunks_that_keep_page_numbers() -> None:
    pages = ["one two", " ".join(["w"] * (2 * CHUNK_WORDS + 10)) + " zeppelin", "last page"]
    chunks = split_pages(pages)
    # Page 1 alone (page 2 would not fit beside it), page 2 cut in three, its tail with page 3.
    assert [sum(len(t.split()) for _, t in c) for c in chunks] == [2, CHUNK_WORDS, CHUNK_WORDS, 13]
    assert [[n for n, _ in c] for c in chunks] == [[1], [2], [2], [2, 3]]
    assert chunks[3][0][1].endswith("zeppelin")


def test_chunk_documents_carry_what_filters_sorting_and_stemming_need() -> None:
    doc = IndexDoc(
        document_id=7,
        collection_id=3,
        collection="Archives privées archives",
        title="The Heated Café",
        authors=["Doe, Jane"],
        subjects=["Heat"],
        pages=["Première page.", "Page \x02deux\x03 wedge.", ""],
        year=None,
        type="pdf",
        language="en",
        added=datetime(2026, 1, 2, tzinfo=UTC),
    )
    [chunk] = chunk_documents(doc)
    assert chunk["id"] == "7-0" and chunk["document_id"] == 7 and chunk["chunk"] == 0
    assert "year" not in chunk  # no year: no year facet, no year filter match
    assert chunk["title_sort"] == "heated cafe"
    assert {"heated", "heat", "cafe", "the"} <= set(chunk["title_w"])
    assert chunk["collection_w"] == ["archives", "privees"]
    assert chunk["author_w"] == ["doe", "jane"]
    assert "heat" in chunk["title_stems"].split()
    assert PRE not in chunk["body"] and POST not in chunk["body"]  # our highlight marks
    body = chunk["body"].encode()
    assert page_of(chunk["page_starts"], body.index(b"wedge")) == 2
    assert page_of(chunk["page_starts"], body.index("Première".encode())) == 1


def test_each_and_of_the_query_is_one_query_as_typed_and_stemmed() -> None:
    assert _queries("(wing OR ailes) -flutter") == [
        ("all", "wing -flutt -flutter", [], []),
        ("all", "ailes -flutt -flutter", [], []),
        ("all", "ail -flutt -flutter", ["en", "fr"], []),
    ]
    assert _queries("heated") == [("all", "heated", [], []), ("all", "heat", ["en"], [])]
    assert _queries('"flat plate"') == [("all", '"flat plate"', [], [])]
    assert _queries("super*") == [("all", "super", [], [])]  # the prefix is the last word
    assert _queries("tolk* ring")[0][1] == "ring tolk"


def test_field_words_years_types_and_languages_are_filters() -> None:
    assert _queries('author:"doe jane"') == [
        ("all", "", [], ['author_w IN ["doe"] AND author_w IN ["jane"]'])
    ]
    assert _queries("title:boundaries")[0][3] == [
        'title_w IN ["boundar", "boundari", "boundaries"]'
    ]
    assert _queries("title:tolk*")[0][3] == ['title_w STARTS WITH "tolk"']
    assert _queries("year:1959..1965")[0][3] == ["year 1959 TO 1965"]
    assert _queries("year:<1959")[0][3] == ["year <= 1958"]
    assert _queries("language:french")[0][3] == ['language IN ["fr"]']
    assert _queries("collection:archives")[0][3] == ['collection_w IN ["archives"]']
    assert _queries("wing NOT author:smith")[0][3] == ['NOT (author_w IN ["smith"])']


def test_long_and_tangled_queries_are_read_loosely() -> None:
    [(strategy, q, _, _), *_] = _queries("what is known about heated plates in supersonic flow")
    assert strategy == "frequency"  # most of the words, not all of them
    assert q == "known heated plates supersonic flow"  # the stop words go
    many = _queries("(wing OR flap) (heat OR cold) (jet OR prop) (lift OR drag)")
    assert len(many) <= 3 and many[0][0] == "frequency"


def test_filter_values_are_quoted() -> None:
    assert quote_value('Smith, "J" \\') == '"Smith, \\"J\\" \\\\"'
    assert quote_value(1971) == "1971"
    engine = MeiliEngine("http://meili.invalid")
    query = EngineQuery(
        tree=None, collections=[], filters={"author": ['Smith, "J"'], "year": ["1971"]}
    )
    [q] = engine._queries(query, ENGLISH_AND_FRENCH)
    assert q["q"] == "" and "sort" not in q
    assert q["filter"] == ["collection_id = -1", 'author_f IN ["Smith, \\"J\\""]', "year IN [1971]"]
    query.sort = "title"
    assert engine._queries(query, ENGLISH_AND_FRENCH)[0]["sort"] == ["title_sort:asc"]
    query.collections = None
    assert engine._queries(query, ENGLISH_AND_FRENCH)[0]["filter"][0].startswith("author_f")


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
    hits = [{"_formatted": {"title": text, "people": [], "body": ""}} for text in formatted]
    tree = parse(typed).tree
    assert tree is not None
    assert suggestion(tree, hits, ENGLISH_AND_FRENCH) == meant
