"""The relevance harness's own rules: how untitled documents are titled, and which
ranking parameters an engine is tuned from."""

import pytest

from backend.search import ranking
from bench.relevance.run import engine_ranking, settings, title_of


def test_a_set_title_is_kept_and_tidied() -> None:
    assert title_of({"title": "  Wing   flutter .", "text": "x"}, "cranfield") == "Wing flutter"


def test_an_untitled_abstract_is_titled_by_its_first_sentence() -> None:
    doc = {"title": "", "text": "correlation of plasma levels . the rest of the abstract ."}
    assert title_of(doc, "med") == "correlation of plasma levels"
    long = {"title": "", "text": " ".join(f"w{i}" for i in range(40))}
    assert len(title_of(long, "med").split()) == 12


def test_an_article_without_a_headline_is_titled_by_source_date_and_page() -> None:
    doc = {"title": "", "date": "1963-01-04", "page": 20, "text": "THE ALLIES AFTER NASSAU ."}
    title = title_of(doc, "time")
    assert title == "TIME, 1963-01-04, page 20"
    assert "ALLIES" not in title  # no words of the article in the title field


def test_tuning_starts_from_each_engine_own_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ranking.FOR_ENGINE, "postgres", ranking.DEFAULT.but(b=0.5))
    assert engine_ranking("postgres").b == 0.5
    assert engine_ranking("tantivy") == ranking.DEFAULT
    assert ranking.current("meilisearch") == ranking.DEFAULT
    # A setting equal to the engine's default is no change: the defaults run once.
    monkeypatch.setattr(
        "bench.relevance.run.GRID", {"postgres": [{"b": [0.5, 0.75]}], "tantivy": []}
    )
    assert settings("postgres") == [{}, {"b": 0.75}]
    ranking.use(ranking.DEFAULT.but(title=9.0))
    try:
        assert ranking.current("postgres").title == 9.0  # the benchmark's override wins
    finally:
        ranking.use(None)
    assert ranking.current("postgres").b == 0.5
