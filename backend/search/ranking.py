"""How every engine ranks a query of words: one set of parameters, shared by the engines.

A query of words written side by side matches every document that has any of them (no
word is required, so a question never loses its documents to ranking). Documents are
ordered by BM25 over weighted fields plus:
- a coordination bonus for each word of the query a document has, so that documents
  with every word come first when the query is short, and stay near the top when it is
  long;
- a bonus where neighbouring words of the query stand close together;
- for questions in many words, pseudo-relevance feedback (words that stand out in the
  best first matches are added as optional words: the same documents, a better order).

The values are chosen by bench/relevance across every test collection at once (tuned on
all but one, reported on the one left out, see its results.md), never on one of them.
An engine whose own measurements chose otherwise has its values in FOR_ENGINE (its BM25
differs: tantivy's k1 and b are fixed in its index, PostgreSQL's are read per search).
The benchmark swaps them with `use`; nothing else does.
"""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Ranking:
    # BM25 (PostgreSQL's engine; tantivy's are fixed at the same values).
    k1: float = 1.2
    b: float = 0.75
    # Field weights: a word in the title counts more than the same word in the text.
    title: float = 1.6
    people: float = 1.4  # authors and subjects
    description: float = 1.2
    body: float = 1.0
    # A word's best field counts fully, its other fields this much.
    tie_breaker: float = 0.3
    # Added for each word of the query that a document has (in BM25 units; an ordinary
    # word scores about 2-8). Queries of up to `every_word_first` words put the documents
    # with all of them before any other. Every leave-one-collection-out fold of
    # bench/relevance chose no bonus for tantivy (1.0 before): BM25's sum already favours
    # documents with more words; the every-word tier for short queries stays.
    coordination: float = 0.0
    every_word_first: int = 3
    # Neighbouring words of the query within `proximity_slop` positions in the text.
    proximity: float = 0.3
    proximity_slop: int = 8
    # Pseudo-relevance feedback, for questions of `question_words` content words or more.
    question_words: int = 4
    feedback_weight: float = 1.0
    feedback_docs: int = 10
    feedback_words: int = 10
    feedback_chars: int = 6000

    def but(self, **changes: float) -> "Ranking":
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT = Ranking()
FOR_ENGINE: dict[str, Ranking] = {
    # Every leave-one-collection-out fold but time's chose lighter, wider feedback for
    # PostgreSQL's BM25 (time's chose the same with b=0.5): held out, 1.047 of plain BM25
    # against 1.023 with the shared defaults (bench/relevance/results.md).
    "postgres": DEFAULT.but(feedback_weight=0.3, feedback_words=30),
}
_override: Ranking | None = None


def current(engine: str = "") -> Ranking:
    """The parameters `engine` ranks with (its name: tantivy, postgres, meilisearch)."""
    if _override is not None:
        return _override
    return FOR_ENGINE.get(engine, DEFAULT)


def use(ranking: Ranking | None) -> None:
    """Rank with other parameters from now on, or (None) with the defaults again
    (bench/relevance's tuning only)."""
    global _override
    _override = ranking
