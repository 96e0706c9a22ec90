"""The relevance harness's pure parts: the test collections, the measures, and the plain
BM25 reference, as ../shared/corpus/README.md ("relevance/") defines them.

Nothing here touches the library: bench/relevance/run.py and tests/bench use these.

- nDCG@10 with linear gain (gain = grade), as trec_eval's `ndcg_cut.10`: the ideal
  ranking is made from every judged grade of the query, found or not.
- Average precision over the first 1,000 results, binary (grade > 0), divided by every
  relevant document of the query (found or not); MAP is its mean.
- Recall at 1,000: the share of the query's relevant documents among the first 1,000.
- Queries without a relevant document are skipped, as trec_eval does (in these five sets
  every query has one).
- The reference: BM25 with k1 = 1.2, b = 0.75 over title + text, lower-case `[a-z0-9]+`
  tokens without the words of `relevance/stopwords.txt`, Porter stemming (NLTK's
  PorterStemmer, its default mode), idf = ln(1 + (N - df + 0.5) / (df + 0.5)), a word
  repeated in the query counted as often as it is written, ties in document order. It
  gives the README's figures to within 0.001 on every set.
"""

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
RELEVANCE = CORPUS / "relevance"
SETS = ("cranfield", "med", "time", "adi", "lisa")
DEPTH = 1000  # MAP and recall are taken over this many results
# The README's table: plain BM25, (nDCG@10 linear, MAP), for each set.
REFERENCE = {
    "cranfield": (0.370, 0.315),
    "med": (0.691, 0.528),
    "time": (0.756, 0.698),
    "adi": (0.490, 0.407),
    "lisa": (0.446, 0.356),
}
TOLERANCE = 0.005  # how close the harness's BM25 must come to REFERENCE
_TOKEN = re.compile(r"[a-z0-9]+")

Judged = dict[str, int]  # document id -> grade


@dataclass
class Collection:
    """One test collection as read from ../shared/corpus/relevance/<name>."""

    name: str
    docs: list[dict]  # type: ignore[type-arg]  # id, title, text, and the set's extra fields
    queries: list[dict]  # type: ignore[type-arg]  # id, text
    qrels: dict[str, Judged] = field(default_factory=dict)

    def judged(self) -> list[tuple[str, str, Judged]]:
        """(query id, text, judgments) of each query with at least one relevant document."""
        out = []
        for q in self.queries:
            judged = self.qrels.get(q["id"], {})
            if any(g > 0 for g in judged.values()):
                out.append((q["id"], q["text"], judged))
        return out


def read_collection(name: str, root: Path = RELEVANCE) -> Collection:
    folder = root / name
    with (folder / "docs.jsonl").open() as fh:
        docs = [json.loads(line) for line in fh if line.strip()]
    with (folder / "queries.jsonl").open() as fh:
        queries = [json.loads(line) for line in fh if line.strip()]
    qrels: dict[str, Judged] = defaultdict(dict)
    for line in (folder / "qrels.tsv").read_text().splitlines()[1:]:
        if line.strip():
            qid, did, grade = line.split("\t")
            qrels[qid][did] = int(grade)
    return Collection(name, docs, queries, dict(qrels))


# --- the measures -------------------------------------------------------------------------


def ndcg_at(ranked: Sequence[str], judged: Judged, k: int = 10) -> float:
    """nDCG@k with linear gain (trec_eval's ndcg_cut.k)."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def average_precision(ranked: Sequence[str], judged: Judged, depth: int = DEPTH) -> float:
    """Average precision over the first `depth` results (relevant: grade > 0)."""
    relevant = {d for d, g in judged.items() if g > 0}
    hits, total = 0, 0.0
    for i, d in enumerate(ranked[:depth]):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant) if relevant else 0.0


def recall_at(ranked: Sequence[str], judged: Judged, k: int = DEPTH) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


@dataclass
class Scores:
    """The measures of one run (a ranked list per judged query) on one collection."""

    ndcg10: list[float]
    ap: list[float]
    recall: list[float]
    empty: int  # judged queries that found nothing

    @property
    def means(self) -> dict[str, float]:
        n = len(self.ndcg10)
        return {
            "ndcg10": sum(self.ndcg10) / n,
            "map": sum(self.ap) / n,
            "recall1000": sum(self.recall) / n,
        }


def score(runs: Sequence[Sequence[str]], judged: Sequence[Judged]) -> Scores:
    """Each run is the ranked document ids for the judged query at the same position."""
    return Scores(
        ndcg10=[ndcg_at(r, j) for r, j in zip(runs, judged, strict=True)],
        ap=[average_precision(r, j) for r, j in zip(runs, judged, strict=True)],
        recall=[recall_at(r, j) for r, j in zip(runs, judged, strict=True)],
        empty=sum(1 for r in runs if not r),
    )


def win_tie_loss(
    ours: Sequence[float], theirs: Sequence[float], tie: float = 1e-9
) -> tuple[int, int, int]:
    """Per query: how often `ours` is above, equal to (within `tie`), below `theirs`."""
    win = tie_ = loss = 0
    for a, b in zip(ours, theirs, strict=True):
        if abs(a - b) <= tie:
            tie_ += 1
        elif a > b:
            win += 1
        else:
            loss += 1
    return win, tie_, loss


def objective(means: dict[str, dict[str, float]], bm25: dict[str, dict[str, float]]) -> float:
    """What tuning maximises, over the sets in `means`: the mean of
    (nDCG@10 / BM25's + MAP / BM25's) / 2, so that each set weighs the same."""
    parts = [
        (m["ndcg10"] / bm25[s]["ndcg10"] + m["map"] / bm25[s]["map"]) / 2 for s, m in means.items()
    ]
    return sum(parts) / len(parts)


# --- the plain BM25 reference -------------------------------------------------------------


def read_stopwords(path: Path = RELEVANCE / "stopwords.txt") -> frozenset[str]:
    return frozenset(w.strip() for w in path.read_text().split() if w.strip())


@lru_cache(maxsize=1)
def porter() -> Callable[[str], str]:
    """NLTK's Porter stemmer (its default mode), a word's stem remembered."""
    from nltk.stem.porter import PorterStemmer

    return lru_cache(maxsize=None)(PorterStemmer().stem)


def analyse(text: str, stopwords: frozenset[str], stem: Callable[[str], str]) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in stopwords]


class Bm25:
    """Plain BM25 over one collection's documents (title + text); nothing else mixed in."""

    def __init__(
        self,
        docs: Iterable[tuple[str, str]],  # (id, title + " " + text)
        stopwords: frozenset[str],
        stem: Callable[[str], str] | None = None,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self.stopwords, self.stem = stopwords, stem or porter()
        self.k1, self.b = k1, b
        self.ids: list[str] = []
        self.lengths: list[int] = []
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, (doc_id, text) in enumerate(docs):
            words = analyse(text, stopwords, self.stem)
            self.ids.append(doc_id)
            self.lengths.append(len(words))
            for word, tf in Counter(words).items():
                self.postings[word].append((i, tf))
        self.n = len(self.ids)
        self.avgdl = sum(self.lengths) / self.n if self.n else 0.0

    @classmethod
    def of(cls, collection: Collection, stopwords: frozenset[str]) -> "Bm25":
        return cls(((d["id"], f"{d['title']} {d['text']}") for d in collection.docs), stopwords)

    def idf(self, word: str) -> float:
        df = len(self.postings.get(word, ()))
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> dict[str, float]:
        """The BM25 score of each document with any word of the query."""
        return {self.ids[i]: v for i, v in self._scores(query).items()}

    def _scores(self, query: str) -> dict[int, float]:
        scores: dict[int, float] = defaultdict(float)
        for word, qtf in Counter(analyse(query, self.stopwords, self.stem)).items():
            postings = self.postings.get(word)
            if not postings:
                continue
            idf = self.idf(word)
            for i, tf in postings:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avgdl)
                scores[i] += qtf * idf * tf * (self.k1 + 1) / (tf + norm)
        return scores

    def rank(self, query: str, depth: int = DEPTH) -> list[str]:
        """Ids of the documents with any word of the query, best first (ties in document
        order)."""
        best = sorted(self._scores(query).items(), key=lambda kv: (-kv[1], kv[0]))[:depth]
        return [self.ids[i] for i, _ in best]


def bm25_runs(collection: Collection, stopwords: frozenset[str] | None = None) -> list[list[str]]:
    """The reference's ranked list for each judged query of the collection."""
    engine = Bm25.of(collection, stopwords or read_stopwords())
    return [engine.rank(text) for _, text, _ in collection.judged()]
