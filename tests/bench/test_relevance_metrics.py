"""bench/relevance's measures and its plain BM25 reference, on cases worked by hand."""

import math

import pytest

from bench.relevance.metrics import (
    REFERENCE,
    RELEVANCE,
    TOLERANCE,
    Bm25,
    analyse,
    average_precision,
    bm25_runs,
    ndcg_at,
    objective,
    read_collection,
    read_stopwords,
    recall_at,
    score,
    win_tie_loss,
)


def test_ndcg_linear_gain_with_the_ideal_from_every_judged_grade() -> None:
    judged = {"a": 3, "b": 1, "c": 0, "z": 2}  # z is never found
    ranked = ["b", "a", "c", "x"]
    dcg = 1 / math.log2(2) + 3 / math.log2(3)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, judged) == pytest.approx(dcg / idcg)
    assert ndcg_at(["a", "z", "b"], judged) == pytest.approx(1.0)
    assert ndcg_at([], judged) == 0.0
    # Only the first k count.
    assert ndcg_at(["x", "a"], judged, k=1) == 0.0


def test_average_precision_is_binary_and_divides_by_every_relevant_document() -> None:
    judged = {"a": 2, "b": 1, "c": 0, "d": 1}
    # Relevant at ranks 1 and 3; d never found: (1/1 + 2/3) / 3.
    assert average_precision(["a", "c", "b", "x"], judged) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision(["a", "b", "d"], judged) == pytest.approx(1.0)
    # Beyond the depth nothing counts.
    assert average_precision(["x", "a"], judged, depth=1) == 0.0


def test_recall_at_depth() -> None:
    judged = {"a": 1, "b": 1, "c": 0, "d": 4}
    assert recall_at(["c", "a", "x", "d"], judged) == pytest.approx(2 / 3)
    assert recall_at(["c", "a", "x", "d"], judged, k=2) == pytest.approx(1 / 3)


def test_scores_count_queries_without_results() -> None:
    s = score([["a"], []], [{"a": 1}, {"b": 1}])
    assert s.empty == 1
    assert s.means == {"ndcg10": 0.5, "map": 0.5, "recall1000": 0.5}


def test_win_tie_loss_and_the_objective() -> None:
    assert win_tie_loss([0.5, 0.2, 0.0, 0.3], [0.4, 0.2, 0.0, 0.6]) == (1, 2, 1)
    bm25 = {"x": {"ndcg10": 0.5, "map": 0.4}, "y": {"ndcg10": 0.2, "map": 0.2}}
    means = {"x": {"ndcg10": 0.5, "map": 0.2}, "y": {"ndcg10": 0.3, "map": 0.2}}
    # x: (1 + 0.5) / 2 = 0.75; y: (1.5 + 1) / 2 = 1.25; every set weighs the same.
    assert objective(means, bm25) == pytest.approx(1.0)


def test_bm25_on_a_tiny_collection() -> None:
    docs = [
        ("1", "Wing flutter at supersonic speed"),  # 4 words once the stop words are out
        ("2", "The wings of birds"),  # 2
        ("3", "Supersonic flows, supersonic flows and more supersonic flows"),  # 7
        ("4", "Nothing to see here"),  # 2
    ]
    stem = str  # no stemming: the arithmetic alone
    engine = Bm25(docs, frozenset({"the", "of", "at", "and", "to", "here"}), stem=stem)
    assert analyse("The Wings, of BIRDS!", engine.stopwords, stem) == ["wings", "birds"]
    assert engine.n == 4 and engine.avgdl == pytest.approx((4 + 2 + 7 + 2) / 4)
    # idf = ln(1 + (N - df + 0.5) / (df + 0.5)): never negative, higher for rarer words.
    assert engine.idf("flutter") == pytest.approx(math.log(1 + 3.5 / 1.5))
    assert engine.idf("supersonic") == pytest.approx(math.log(1 + 2.5 / 2.5))
    assert engine.rank("xyzzy") == []

    def part(word: str, tf: int, length: int) -> float:
        norm = 1.2 * (1 - 0.75 + 0.75 * length / engine.avgdl)
        return engine.idf(word) * tf * 2.2 / (tf + norm)

    scores = engine.scores("supersonic flutter")
    assert scores == pytest.approx(
        {"1": part("supersonic", 1, 4) + part("flutter", 1, 4), "3": part("supersonic", 3, 7)}
    )
    assert engine.rank("supersonic flutter") == ["1", "3"]
    assert engine.rank("supersonic") == ["3", "1"]
    # A word written twice in the query counts twice.
    assert engine.scores("flutter flutter")["1"] == pytest.approx(2 * part("flutter", 1, 4))
    # Equal scores keep the documents' order; depth cuts the list.
    twins = Bm25([("b", "same words"), ("a", "same words")], frozenset(), stem=stem)
    assert twins.rank("words") == ["b", "a"]
    assert twins.rank("words", depth=1) == ["b"]


@pytest.mark.skipif(
    not (RELEVANCE / "adi").exists(),
    reason=f"no test collections at {RELEVANCE} (../shared/corpus is only on the team's machines)",
)
def test_bm25_reproduces_the_corpus_readme_on_adi() -> None:
    adi = read_collection("adi")
    judged = adi.judged()
    assert len(adi.docs) == 82 and len(judged) == 35
    means = score(bm25_runs(adi, read_stopwords()), [j for _, _, j in judged]).means
    ndcg, map_ = REFERENCE["adi"]
    assert means["ndcg10"] == pytest.approx(ndcg, abs=TOLERANCE)
    assert means["map"] == pytest.approx(map_, abs=TOLERANCE)
