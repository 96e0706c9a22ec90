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
        ('"boundary layer', "boundary layer", "ignored a quote without its pair"),
        ('messages "i.e', "messages i.e", "ignored a quote without its pair"),
        ("(heat transfer", "heat transfer", "ignored an unmatched bracket"),
        ("heat transfer)", "heat transfer", "ignored an unmatched bracket"),
        ("heat AND", "heat", "ignored"),
        ("OR heat", "heat", "nothing before it"),
        ("heat OR", "heat", "nothing after it"),
        ("heat -", "heat", ""),  # a dash, not an operator
        ("heat !", "heat", "nothing after it"),
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


@pytest.mark.parametrize(
    ("text", "parts", "joined"),
    [
        ("e-mail", ("e", "mail"), "email"),
        ("EL/1", ("EL", "1"), "EL1"),
        ("and/or", ("and", "or"), "andor"),
        ("o'brien", ("o", "brien"), "obrien"),
        ("i.e.", ("i", "e"), "ie"),
        ("non-linear-flow", ("non", "linear", "flow"), "nonlinearflow"),
    ],
)
def test_a_joined_word_is_its_parts_or_the_word_written_as_one(
    text: str, parts: tuple[str, ...], joined: str
) -> None:
    parsed = parse(text)
    assert parsed.tree == Or((Phrase(parts), Term(joined)))
    assert parsed.read_as == text.rstrip(".")  # shown as typed
    assert parsed.notes == []


def test_a_joined_word_keeps_its_field_and_prefix() -> None:
    assert parse("title:e-mail").tree == Or(
        (Phrase(("e", "mail"), "title"), Term("email", "title"))
    )
    assert parse("title:e-mail").read_as == "title:e-mail"
    assert parse("aero-dyn*").tree == Or((Phrase(("aero", "dyn")), Term("aerodyn", prefix=True)))


def test_punctuation_in_a_pasted_question_is_text() -> None:
    # A lone dash between words is a dash; the word after it is wanted, not excluded.
    assert parse("heat - boundary layers").tree == And(
        (Term("heat"), Term("boundary"), Term("layers")), implicit=True
    )
    assert parse("heat -- boundary").read_as == "heat boundary"
    # -word at a word start is still an exclusion, typed plainly.
    assert parse("heat -boundary").tree == And((Term("heat"), Not(Term("boundary"))), implicit=True)
    # A - or ! glued to a phrase or a group at a word start excludes it.
    assert parse('zeppelin -"heating airship"').read_as == 'zeppelin NOT "heating airship"'
    assert parse("a -(b OR c)").read_as == "a NOT (b OR c)"
    assert parse('x !"y z"').read_as == 'x NOT "y z"'
    assert parse('x - "y z"').read_as == 'x "y z"'  # a dash standing alone
    # A quote without its pair is no phrase, wherever it stands.
    assert parse('what about "hot lines').tree == And(
        (Term("what"), Term("about"), Term("hot"), Term("lines")), implicit=True
    )
    assert parse('a "b c" d "e').tree == And(
        (Term("a"), Phrase(("b", "c")), Term("d"), Term("e")), implicit=True
    )
    # Typographic quotes are quotes.
    assert parse("“boundary layer” flow").tree == And(
        (Phrase(("boundary", "layer")), Term("flow")), implicit=True
    )


def test_a_question_in_capitals_reads_and_or_not_as_words() -> None:
    parsed = parse("I AM INTERESTED IN HEAT AND MASS TRANSFER OR NOT")
    assert parsed.tree == And(
        tuple(Term(w) for w in "I AM INTERESTED IN HEAT AND MASS TRANSFER OR NOT".split()),
        implicit=True,
    )
    assert parsed.notes == ["read AND, OR and NOT as words: the text is in capitals"]
    # A short query in capitals is a query: its operators count.
    assert parse("HEAT AND MASS").tree == And((Term("HEAT"), Term("MASS")), implicit=False)
    assert parse("heat OR mass").tree == Or((Term("heat"), Term("mass")))
    # Mixed case: operators typed in capitals inside lower-case words count.
    assert parse("boundary layers NOT turbulent flow").tree == And(
        (Term("boundary"), Term("layers"), Not(Term("turbulent")), Term("flow")), implicit=True
    )


@pytest.mark.parametrize(
    "text",
    [
        "transistor sweep generators",
        "applied stochastic processes",
        "what similarity laws must be obeyed when constructing aeroelastic models of "
        "heated high speed aircraft",
    ],
)
def test_words_side_by_side_are_an_implicit_and_of_plain_words(text: str) -> None:
    """Short query or long question: the engines get the same kind of tree (all words
    wanted, none required), never a phrase or an exclusion."""
    tree = parse(text).tree
    assert isinstance(tree, And) and tree.implicit
    assert all(isinstance(c, Term) for c in tree.children)
