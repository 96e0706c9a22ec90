"""How every engine ranks a query of words: one set of parameters, shared by the engines.

A query of words written side by side matches every document that has any of them (no
word is required, so a question never loses its documents to ranking). Documents are
ordered by BM25 over the whole record plus each word's BM25 in its best named field
(title, names, description) at that field's weight, plus:
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
    # A word counts by BM25 over the whole record (title, names, description and text
    # as one text: one length, one document frequency) at `body`'s weight, plus its BM25
    # in its best named field at that field's weight (a word in the title counts more
    # than the same word in the text), the other named fields by `tie_breaker`. Scoring
    # fields apart only (each its own length and document frequency, the best fully)
    # ranked below plain BM25 on long questions: a word rare in titles but common in
    # texts took the title's high IDF (bench/relevance, lisa and time).
    title: float = 0.3
    people: float = 0.3  # authors and subjects
    description: float = 0.3
    body: float = 1.0
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
    feedback_weight: float = 0.6
    feedback_docs: int = 10
    feedback_words: int = 30
    feedback_chars: int = 6000
    # A feedback document's words count by (its score / the best score) ** focus: the
    # words come mostly from the documents that match clearly best, so that a question
    # with one or two relevant documents is not pulled towards what the next eight share
    # (with focus 1, TIME's questions ranked below plain BM25).
    feedback_focus: float = 6.0

    def but(self, **changes: float) -> "Ranking":
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT = Ranking()
# None today: since the whole record is scored as one text and feedback is focused, the
# same values serve both engines (bench/relevance/results.md).
FOR_ENGINE: dict[str, Ranking] = {}
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
