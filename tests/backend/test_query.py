"""The query language: what people type, and how it is read."""

import pytest

from backend.search.query import And, Not, Or, Phrase, Range, Term, parse


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("heat transfer", "heat transfer"),
        ("heat AND transfer", "heat AND transfer"),
        ("heat && transfer", "heat AND transfer"),
        ("war and peace", "war and peace"),  # lower-case words are words
        ("heat OR mass", "heat OR mass"),
        ("heat | mass", "heat OR mass"),
        ("heat -boundary", "heat NOT boundary"),
        ("heat NOT boundary", "heat NOT boundary"),
        ("heat !boundary", "heat NOT boundary"),
        ('"boundary layer" flow', '"boundary layer" flow'),
        ("(heat OR mass) transfer", "(heat OR mass) transfer"),
        ("title:wing", "title:wing"),
        ('author:"van dyke"', 'author:"van dyke"'),
        ("by:smith", "author:smith"),
        ("aero*", "aero*"),
        ("year:1990..2000", "year:1990..2000"),
        ("year:1990", "year:1990"),
        ("year:>=1990", "year:1990.."),
        ("year:<1990", "year:..1989"),
        ("e-mail", "e-mail"),  # the engines' word splitting makes it a phrase
        ("Café naïve", "Café naïve"),
        ("a OR b c", "a OR (b c)"),
        ("NOT NOT heat", "heat"),
    ],
)
def test_reads_the_query_language(text: str, read_as: str) -> None:
    parsed = parse(text)
    assert parsed.read_as == read_as
    assert parsed.notes == []


@pytest.mark.parametrize(
    ("text", "read_as", "note"),
    [
        ('"boundary layer', '"boundary layer"', "closed an unclosed quote"),
        ("(heat transfer", "heat transfer", "ignored an unmatched bracket"),
        ("heat transfer)", "heat transfer", "ignored an unmatched bracket"),
        ("heat AND", "heat", "ignored"),
        ("OR heat", "heat", "nothing before it"),
        ("heat OR", "heat", "nothing after it"),
        ("heat -", "heat", "nothing after it"),
        ("-heat", "heat", "cannot only exclude"),
        ("year:soon", "soon", "not a year"),
        ("year:2000..1990", "year:1990..2000", "read year:2000..1990"),
        ("colour:red", "colour red", "not a field"),
        ("title:", "", "with no value"),
        ("***", "", ""),
        (")(", "", "unmatched bracket"),
    ],
)
def test_a_malformed_query_is_read_leniently_and_says_how(
    text: str, read_as: str, note: str
) -> None:
    parsed = parse(text)
    assert parsed.read_as == read_as
    assert any(note in n for n in parsed.notes) or (note == "" and parsed.notes == [])


def test_the_tree() -> None:
    tree = parse('title:"jet engine" (noise OR sound) -model year:1950..').tree
    assert tree == And(
        (
            Phrase(("jet", "engine"), "title"),
            Or((Term("noise"), Term("sound"))),
            Not(Term("model")),
            Range("year", 1950, None),
        ),
        implicit=True,
    )
    assert parse("flow AND heat").tree == And((Term("flow"), Term("heat")), implicit=False)
    assert parse("aero*").tree == Term("aero", prefix=True)
    assert parse('flow "heat transfer" -x').terms() == ["flow", "heat", "transfer"]


def test_a_pasted_essay_is_cut_not_refused() -> None:
    parsed = parse(" ".join(f"w{i}" for i in range(500)))
    assert isinstance(parsed.tree, And) and len(parsed.tree.children) == 64
    assert parsed.notes == ["used the first 64 words"]


@pytest.mark.parametrize("text", ["", "   ", "((((", '"', "AND OR NOT", "-", "::", "year:"])
def test_nothing_to_search_for_is_an_empty_tree(text: str) -> None:
    assert parse(text).tree is None
