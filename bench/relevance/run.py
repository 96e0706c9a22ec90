"""Ranking quality on five test collections, beside a plain BM25, through the real search.

    .venv/bin/python bench/relevance/run.py            # the current ranking parameters
    .venv/bin/python bench/relevance/run.py --tune     # and cross-validated tuning (GRID)

Options: --sets cranfield,adi (default: all five), --engines tantivy (default: tantivy and
postgres, and meili when MEILI_URL is set).

For each set of ../shared/corpus/relevance (cranfield, med, time, adi, lisa):
1. The plain BM25 reference of the corpus README, computed here (bench/relevance/metrics.py),
   checked against the README's table (within 0.005, else the run stops).
2. The set's documents are loaded into a throwaway library (embedded PostgreSQL and Redis,
   a temporary data folder), one collection per set. For each engine, the index is emptied
   and filled with that set alone by the real indexer (outbox, `indexer.drain`), so word
   statistics never mix sets.
3. Every judged query goes through `backend.search.service.search` exactly as the search
   page sends it (the text as typed, default parsing, visibility, snippets; page_size
   1000, record=False, use_cache=False): nDCG@10 (linear gain), MAP and recall over the
   first 1,000, queries that found nothing, and per query win/tie/loss against BM25 on
   nDCG@10. A second pass with page_size=10 times the page a person sees (p50, p95).
4. With --tune, every setting of GRID (the current defaults first) is set with
   `ranking.use` and the engine is asked directly (no snippets, no facets) while the set's
   index is there. The objective, over a group of sets, is the mean over the sets of
   (nDCG@10 / BM25's + MAP / BM25's) / 2. Leave one collection out: for each set, the
   setting that is best on the other four is reported on that set. The setting best on
   all five is printed as a `Ranking(...)` to paste into backend/search/ranking.py.

Writes bench/relevance/results.md and results.json.
"""

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, bulk_load, machine, throwaway_library  # noqa: E402
from bench.relevance.metrics import (  # noqa: E402
    REFERENCE,
    RELEVANCE,
    SETS,
    TOLERANCE,
    Collection,
    Scores,
    bm25_runs,
    objective,
    read_collection,
    read_stopwords,
    score,
    win_tie_loss,
)

OUT = ROOT / "bench" / "relevance"
ENGINES = ("tantivy", "postgres")  # and "meili" when MEILI_URL is set
TITLE_WORDS = 12  # a set without titles: its documents are titled by their first words
SOURCE = {"time": "TIME"}  # the publication of a set's dated articles

# The tuning grid, per engine: a list of small grids, each a parameter of
# backend.search.ranking.Ranking -> the values to try, every combination within a grid.
# The settings tried are the current defaults first (so a tie keeps them), then those of
# every grid. Each setting runs all 408 judged queries of the five sets once, straight to
# the engine: about 5 s for tantivy and about 30 s for PostgreSQL on 2 cores, hence its
# smaller grid; results.md gives the whole run's time. tantivy's k1 and b are fixed in
# its index, so only PostgreSQL's are tuned.
GRID: dict[str, list[dict[str, list[Any]]]] = {
    "tantivy": [
        {
            "feedback_focus": [4.0, 5.0, 6.0, 8.0],
            "feedback_weight": [0.6, 1.0],
            "feedback_words": [20, 30],
        }
    ],
    "postgres": [
        {
            "feedback_focus": [4.0, 5.0, 6.0, 8.0],
            "feedback_weight": [0.6, 1.0],
            "feedback_words": [20, 30],
        }
    ],
    "meili": [{"coordination": [0.0, 2.0]}, {"title": [1.0, 2.5]}],
}


@dataclass
class Outcome:
    """One engine on one set."""

    scores: Scores
    no_results: int
    ms10: list[float]  # the page of 10, one figure per query
    ms1000: list[float]  # the run itself (1,000 results with snippets)
    index_s: float
    indexed: int
    # With --tune: the measures of each GRID setting, in settings() order.
    tuned: list[Scores] = field(default_factory=list)
    # Judged queries that the query language reads otherwise than in lower case (capital
    # AND, OR or NOT read as operators), and, when there are any, every query again in
    # lower case.
    operators: int = 0
    lowered: Scores | None = None


def engine_ranking(engine: str) -> Any:
    """The parameters the engine ranks with by default (ranking.current)."""
    from backend.search.ranking import current

    return current({"meili": "meilisearch"}.get(engine, engine))


def settings(engine: str) -> list[dict[str, Any]]:
    """The changes to the engine's defaults that tuning tries: {} (the defaults) first."""
    from backend.search.ranking import Ranking

    known = {f.name for f in fields(Ranking)}
    defaults = asdict(engine_ranking(engine))
    out: list[dict[str, Any]] = [{}]
    for grid in GRID.get(engine, []):
        unknown = set(grid) - known
        if unknown:
            sys.exit(f"GRID[{engine!r}] names no parameter of Ranking: {sorted(unknown)}")
        for values in itertools.product(*grid.values()):
            change = {k: v for k, v in zip(grid, values, strict=True) if defaults[k] != v}
            if change not in out:
                out.append(change)
    return out


def title_of(doc: dict[str, Any], name: str) -> str:
    """The set's title. Without one: a dated article with no headline (time) is titled by
    its source, date and page, as a cataloguer titles it; an untitled abstract (med) by
    its text's first words, up to the end of its first sentence, which is the paper's
    title run into the abstract."""
    title = " ".join(str(doc.get("title") or "").split()).rstrip(" .")
    if title:
        return title
    if doc.get("date"):
        return f"{SOURCE.get(name, name.upper())}, {doc['date']}, page {doc.get('page', '?')}"
    words = doc["text"].split()[:TITLE_WORDS]
    for i, w in enumerate(words):
        if w == "." or (w.endswith(".") and len(w) > 3):  # "U.S ." is no sentence end
            words = words[: i + 1]
            break
    return " ".join(words).rstrip(" .")


def record(doc: dict[str, Any], name: str) -> dict[str, Any]:
    authors = [doc["author"]] if doc.get("author") else []
    return {"title": title_of(doc, name), "text": doc["text"], "authors": authors, "language": "en"}


# --- the library --------------------------------------------------------------------------


def use_engine(name: str, meili_url: str) -> Any:
    from backend.search.engines import get_search_engine, reset_search_engine
    from backend.settings import get_settings

    os.environ["SEARCH_ENGINE"] = "postgres" if name == "postgres" else "tantivy"
    os.environ["MEILI_URL"] = meili_url if name == "meili" else ""
    get_settings.cache_clear()
    reset_search_engine()
    engine = get_search_engine()
    engine.prepare()
    expected = {"meili": "meilisearch"}.get(name, name)
    assert engine.name == expected, (name, engine.name)
    return engine


async def index_alone(engine: Any, collection_id: int) -> tuple[int, float]:
    """Empty the engine, then index one collection's documents with the real indexer."""
    from sqlalchemy import text

    from backend.db import session_scope, sql
    from backend.search import indexer

    started = time.perf_counter()
    async with session_scope() as session:
        await engine.clear()
        await sql(session, text("DELETE FROM search_outbox"))
        await sql(
            session,
            text(
                "INSERT INTO search_outbox (document_id, created_at)"
                " SELECT id, now() FROM documents WHERE collection_id = :c"
            ).bindparams(c=collection_id),
        )
        await session.commit()
    await indexer.drain(engine, batch_size=5000)
    return await engine.count(), time.perf_counter() - started


def as_typed(text: str) -> str:
    """What the service searches for: the text with its spaces tidied, cut as it cuts."""
    from backend.search.service import MAX_QUERY_CHARS

    return " ".join(text.split())[:MAX_QUERY_CHARS]


async def page_runs(
    ids: dict[int, str], queries: list[str], page_size: int
) -> tuple[list[list[str]], list[float]]:
    """Each query through the search service, as the search page sends it."""
    from backend.db import session_scope
    from backend.search import service

    runs, took = [], []
    async with session_scope() as session:
        for q in queries:
            started = time.perf_counter()
            found = await service.search(
                session=session,
                actor=None,
                query=q,
                page_size=page_size,
                record=False,
                use_cache=False,
            )
            took.append((time.perf_counter() - started) * 1000)
            runs.append([ids[h.document_id] for h in found.hits])
    return runs, took


async def visitor_scope() -> list[int] | None:
    """The collections a visitor may see, as the service passes them to the engine."""
    from backend.db import session_scope
    from backend.search import service

    async with session_scope() as session:
        return await service.visible_collections(session, None)


async def engine_runs(
    engine: Any, ids: dict[int, str], trees: list[Any], scope: list[int] | None
) -> list[list[str]]:
    """Each query straight to the engine: the order only (tuning's quick path). With the
    visitor's scope, as the service sends it: without it (collections=None) tantivy's
    scores differ a little, and so would the defaults' figures from the run's."""
    from backend.search.engine import EngineQuery

    runs = []
    for tree in trees:
        found = await engine.search(
            EngineQuery(tree=tree, collections=scope, limit=1000, facets=False, snippets=False)
        )
        runs.append([ids[h.document_id] for h in found.hits])
    return runs


async def evaluate(
    collections: dict[str, Collection],
    engines: list[str],
    tune: bool,
    meili_url: str,
) -> dict[str, dict[str, Outcome]]:
    from backend.db import dispose_engine
    from backend.search import ranking
    from backend.search.query import parse

    ids: dict[int, str] = {}
    cids: dict[str, int] = {}
    for name, c in collections.items():
        started = time.perf_counter()
        doc_ids = await bulk_load([record(d, name) for d in c.docs], f"Relevance {name}")
        ids.update({i: d["id"] for i, d in zip(doc_ids, c.docs, strict=True)})
        cids[name] = await _collection_of(doc_ids[0])
        print(f"loaded {name}: {len(doc_ids)} documents, {time.perf_counter() - started:.1f} s")

    out: dict[str, dict[str, Outcome]] = {name: {} for name in collections}
    scope = await visitor_scope()
    for engine_name in engines:
        engine = use_engine(engine_name, meili_url)
        original = ranking.current(engine.name)
        grid = settings(engine_name) if tune else []
        for name, c in collections.items():
            indexed, index_s = await index_alone(engine, cids[name])
            judged = c.judged()
            texts = [text for _, text, _ in judged]
            runs, ms1000 = await page_runs(ids, texts, 1000)
            _, ms10 = await page_runs(ids, texts, 10)
            scores = score(runs, [j for _, _, j in judged])
            outcome = Outcome(scores, scores.empty, ms10, ms1000, index_s, indexed)
            outcome.operators = sum(reads_capitals(t) for t in texts)
            if outcome.operators:
                # A diagnostic beside the run as typed: how the same ranking does when
                # the capitals are not read as operators (straight to the engine).
                lowered = [parse(as_typed(t.lower())).tree for t in texts]
                runs = await engine_runs(engine, ids, lowered, scope)
                outcome.lowered = score(runs, [j for _, _, j in judged])
            if grid:
                trees = [parse(as_typed(t)).tree for t in texts]
                started = time.perf_counter()
                try:
                    for change in grid:
                        ranking.use(original.but(**change))
                        tuned = await engine_runs(engine, ids, trees, scope)
                        outcome.tuned.append(score(tuned, [j for _, _, j in judged]))
                finally:
                    ranking.use(None)
                print(
                    f"  tuned {engine_name} on {name}: {len(grid)} settings, "
                    f"{time.perf_counter() - started:.0f} s"
                )
            out[name][engine_name] = outcome
            m = scores.means
            print(
                f"{engine_name} on {name}: {indexed} indexed in {index_s:.1f} s, "
                f"nDCG@10 {m['ndcg10']:.3f} MAP {m['map']:.3f}, "
                f"{statistics.median(ms10):.0f} ms a page of 10",
                flush=True,
            )
        if engine_name == "meili":
            await engine.clear()
    await dispose_engine()
    return out


def reads_capitals(text: str) -> bool:
    """Whether the query language reads the text otherwise than the same text in lower
    case (a capital AND, OR or NOT taken as an operator)."""
    from backend.search.query import parse

    return folded(parse(as_typed(text)).tree) != folded(parse(as_typed(text.lower())).tree)


def folded(node: Any) -> Any:
    """A parsed query with its words in lower case (the rest of it as it is)."""
    from dataclasses import replace

    from backend.search.query import And, Not, Or, Phrase, Term

    if isinstance(node, Term):
        return replace(node, text=node.text.lower())
    if isinstance(node, Phrase):
        return replace(node, words=tuple(w.lower() for w in node.words))
    if isinstance(node, Not):
        return replace(node, child=folded(node.child))
    if isinstance(node, And | Or):
        return replace(node, children=tuple(folded(c) for c in node.children))
    return node


async def _collection_of(document_id: int) -> int:
    from sqlalchemy import text

    from backend.db import session_scope, sql

    async with session_scope() as session:
        row = await sql(
            session,
            text("SELECT collection_id FROM documents WHERE id = :i").bindparams(i=document_id),
        )
        return int(row.scalar_one())


# --- tuning -------------------------------------------------------------------------------


def best(
    grid: list[dict[str, Any]],
    tuned: dict[str, list[Scores]],  # set -> the measures of each setting
    bm25: dict[str, dict[str, float]],
    on: list[str],
) -> tuple[int, float]:
    """The setting with the highest objective on the sets `on` (the first of equals)."""
    values = [objective({s: tuned[s][i].means for s in on}, bm25) for i in range(len(grid))]
    top = max(range(len(grid)), key=lambda i: (values[i], -i))
    return top, values[top]


def literal(engine: str, change: dict[str, Any]) -> str:
    return repr(engine_ranking(engine).but(**change))


def describe(change: dict[str, Any]) -> str:
    """k=v, ... (a grid's lists as they are)."""
    return ", ".join(f"{k}={v}" for k, v in change.items()) or "the defaults"


# --- the report ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tune", action="store_true", help="cross-validated tuning (GRID)")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--engines", default="")
    parser.add_argument(
        "--grid",
        default="",
        help='replaces GRID for the engines it names, as JSON: {"tantivy": [{"b": [0.5]}]}',
    )
    parser.add_argument("--out", default=str(OUT), help="folder for results.md and .json")
    args = parser.parse_args()
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.grid:
        GRID.update(json.loads(args.grid))
    if not RELEVANCE.exists():
        sys.exit(f"No test collections at {RELEVANCE}")
    meili_url = os.environ.get("MEILI_URL", "")
    names = [s for s in args.sets.split(",") if s]
    engines = [e for e in args.engines.split(",") if e] or [
        *ENGINES,
        *(["meili"] if meili_url else []),
    ]
    unknown = [s for s in names if s not in SETS] + [
        e for e in engines if e not in (*ENGINES, "meili")
    ]
    if unknown or ("meili" in engines and not meili_url):
        sys.exit(f"Unknown set or engine (meili needs MEILI_URL): {unknown or ['meili']}")
    started = time.perf_counter()

    # 1. The plain BM25 reference, checked against the corpus README.
    stopwords = read_stopwords()
    collections = {s: read_collection(s) for s in names}
    bm25: dict[str, Scores] = {}
    for s, c in collections.items():
        bm25[s] = score(bm25_runs(c, stopwords), [j for _, _, j in c.judged()])
    check = []
    for s in names:
        m, (ref_ndcg, ref_map) = bm25[s].means, REFERENCE[s]
        ok = abs(m["ndcg10"] - ref_ndcg) <= TOLERANCE and abs(m["map"] - ref_map) <= TOLERANCE
        check.append((s, m["ndcg10"], ref_ndcg, m["map"], ref_map, ok))
        print(
            f"BM25 {s}: nDCG@10 {m['ndcg10']:.4f} (README {ref_ndcg:.3f}), "
            f"MAP {m['map']:.4f} (README {ref_map:.3f}) {'ok' if ok else 'DIFFERS'}"
        )
    if not all(row[-1] for row in check):
        sys.exit("The BM25 reference does not reproduce the corpus README: fix it first.")
    bm25_s = time.perf_counter() - started

    # 2-4. The engines, through the search service, and the tuning.
    with throwaway_library("bench-relevance-"):
        results = asyncio.run(evaluate(collections, engines, args.tune, meili_url))
    total_s = time.perf_counter() - started

    command = ".venv/bin/python bench/relevance/run.py" + (" --tune" if args.tune else "")
    if args.sets != ",".join(SETS):
        command += f" --sets {args.sets}"
    if args.engines:
        command += f" --engines {args.engines}"
    if args.grid:
        command += f" --grid '{args.grid}'"
    report = write(results, bm25, check, engines, names, args.tune, command, total_s, bm25_s)
    print(report)


def write(
    results: dict[str, dict[str, Outcome]],
    bm25: dict[str, Scores],
    check: list[tuple[str, float, float, float, float, bool]],
    engines: list[str],
    names: list[str],
    tune: bool,
    command: str,
    total_s: float,
    bm25_s: float,
) -> str:
    ref = {s: bm25[s].means for s in names}
    data: dict[str, dict[str, Any]] = {}
    lines = [
        "# Relevance on five test collections",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}  ",
        f"Run time: {total_s / 60:.1f} min (the BM25 reference: {bm25_s:.0f} s)",
        "",
        "Each set alone in the index (word statistics never mix sets), indexed by the real "
        "indexer; every judged query through `backend.search.service.search` as the search "
        "page sends it (the text as typed, default parsing, snippets; 1,000 results). "
        "nDCG@10 has linear gain (gain = grade, trec_eval's `ndcg_cut.10`); MAP (binary, "
        "grade > 0) and recall are over the first 1,000. W/T/L: queries where the engine's "
        "nDCG@10 is above / equal to / below plain BM25's. ms: one search for a page of 10 "
        "through the service (p50 / p95 over the set's queries). Ranking parameters: "
        + "; ".join(f"{e} `{engine_ranking(e)!r}`" for e in engines)
        + ".",
        "",
        *summary(results, bm25, engines, names),
        "## Plain BM25, computed here, against the corpus README",
        "",
        "| set | queries | nDCG@10 | README | MAP | README | R@1000 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s, nd, ref_nd, ap, ref_ap, _ in check:
        lines.append(
            f"| {s} | {len(bm25[s].ndcg10)} | {nd:.4f} | {ref_nd:.3f} | {ap:.4f} | {ref_ap:.3f} "
            f"| {ref[s]['recall1000']:.3f} |"
        )
    for s in names:
        lines += [
            "",
            f"## {s}",
            "",
            "| engine | nDCG@10 | MAP | R@1000 | nDCG@10 / BM25 | MAP / BM25 | no results "
            "| W/T/L vs BM25 | ms p50 | ms p95 |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
            f"| plain BM25 | {ref[s]['ndcg10']:.3f} | {ref[s]['map']:.3f} "
            f"| {ref[s]['recall1000']:.3f} | 1 | 1 | {bm25[s].empty} | | | |",
        ]
        data[s] = {"bm25": {**ref[s], "queries": len(bm25[s].ndcg10), "no_results": bm25[s].empty}}
        for e in engines:
            o = results[s][e]
            m = o.scores.means
            w, t, loss = win_tie_loss(o.scores.ndcg10, bm25[s].ndcg10)
            row = {
                **m,
                "ndcg10_ratio": m["ndcg10"] / ref[s]["ndcg10"],
                "map_ratio": m["map"] / ref[s]["map"],
                "no_results": o.no_results,
                "win_tie_loss": [w, t, loss],
                "ms10_p50": statistics.median(o.ms10),
                "ms10_p95": pct(o.ms10, 0.95),
                "ms1000_mean": statistics.fmean(o.ms1000),
                "indexed": o.indexed,
                "index_s": o.index_s,
            }
            data[s][e] = row
            lines.append(
                f"| {e} | {m['ndcg10']:.3f} | {m['map']:.3f} | {m['recall1000']:.3f} "
                f"| {row['ndcg10_ratio']:.2f} | {row['map_ratio']:.2f} | {o.no_results} "
                f"| {w}/{t}/{loss} | {row['ms10_p50']:.0f} | {row['ms10_p95']:.0f} |"
            )
            if o.lowered is not None:
                lm = o.lowered.means
                lw, lt, ll = win_tie_loss(o.lowered.ndcg10, bm25[s].ndcg10)
                row["operators"] = o.operators
                row["lowered"] = {**lm, "no_results": o.lowered.empty}
                lines.append(
                    f"| {e}, queries in lower case* | {lm['ndcg10']:.3f} | {lm['map']:.3f} "
                    f"| {lm['recall1000']:.3f} | {lm['ndcg10'] / ref[s]['ndcg10']:.2f} "
                    f"| {lm['map'] / ref[s]['map']:.2f} | {o.lowered.empty} "
                    f"| {lw}/{lt}/{ll} | | |"
                )
        operators = max((results[s][e].operators for e in engines), default=0)
        if operators:
            lines += [
                "",
                f"\\* {operators} of the {len(bm25[s].ndcg10)} queries are read by the "
                "query language otherwise than in lower case (capital AND, OR or NOT taken "
                "as operators), as the search page reads them. The starred rows send every "
                "query in lower case instead, straight to the engine. They are a diagnostic "
                "only; the figures above them are the run.",
            ]
    lines += [
        "",
        "## All sets",
        "",
        "Objective (what tuning maximises): the mean over the sets of "
        "(nDCG@10 / BM25's + MAP / BM25's) / 2; plain BM25 scores 1.",
        "",
        "| engine | objective | sets below BM25 on nDCG@10 or MAP | W/T/L vs BM25 "
        "| ms p50 / p95 (all queries) | index s (all sets) |",
        "|---|---:|---|---|---|---:|",
    ]
    for e in engines:
        means = {s: results[s][e].scores.means for s in names}
        below = [
            s
            for s in names
            if means[s]["ndcg10"] < ref[s]["ndcg10"] or means[s]["map"] < ref[s]["map"]
        ]
        wtl = [sum(x) for x in zip(*(data[s][e]["win_tie_loss"] for s in names), strict=True)]
        ms = [x for s in names for x in results[s][e].ms10]
        lines.append(
            f"| {e} | {objective(means, ref):.3f} | {', '.join(below) or 'none'} "
            f"| {wtl[0]}/{wtl[1]}/{wtl[2]} | {statistics.median(ms):.0f} / {pct(ms, 0.95):.0f} "
            f"| {sum(results[s][e].index_s for s in names):.0f} |"
        )
    if tune:
        lines += tuning(results, ref, engines, names, data)
    lines += ["", "## Notes", "", *NOTES]
    out = "\n".join(lines) + "\n"
    (OUT / "results.md").write_text(out)
    (OUT / "results.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return out


def summary(
    results: dict[str, dict[str, Outcome]],
    bm25: dict[str, Scores],
    engines: list[str],
    names: list[str],
) -> list[str]:
    """A few sentences made from the figures, so that they stay true on the next run."""
    ref = {s: bm25[s].means for s in names}
    lines = ["## In short", ""]
    for e in engines:
        means = {s: results[s][e].scores.means for s in names}
        above = [s for s in names if means[s]["ndcg10"] >= ref[s]["ndcg10"]]
        below = [
            f"{s} ({means[s]['ndcg10'] / ref[s]['ndcg10']:.2f})"
            for s in names
            if means[s]["ndcg10"] < ref[s]["ndcg10"]
        ]
        empty = {s: results[s][e].no_results for s in names if results[s][e].no_results}
        lines.append(
            f"- {e}: objective {objective(means, ref):.3f} (plain BM25: 1). nDCG@10 at or "
            f"above BM25's on {', '.join(above) or 'no set'}; below on "
            f"{', '.join(below) or 'no set'} (ratio to BM25). Judged queries that found "
            "nothing: "
            + (", ".join(f"{s} {n}" for s, n in empty.items()) if empty else "none")
            + "."
        )
        lowered = [(s, results[s][e].lowered) for s in names]
        parts = [
            f"{s} nDCG@10 {o.means['ndcg10']:.3f} "
            f"({o.means['ndcg10'] / ref[s]['ndcg10']:.2f}), {o.empty} empty"
            for s, o in lowered
            if o is not None
        ]
        if parts:
            lines.append(
                "  The same queries in lower case (not read as AND/OR/NOT): "
                + ", ".join(parts)
                + "."
            )
    ops = {s: max(results[s][e].operators for e in engines) for s in names}
    if any(ops.values()):
        empty = sum(results[s][e].no_results for s in names for e in engines if ops[s])
        left = sum(
            o.empty for s in names for e in engines if (o := results[s][e].lowered) is not None
        )
        lines.append(
            "- Queries that the query language reads otherwise than in lower case "
            "(capital AND, OR or NOT taken as operators): "
            + ", ".join(f"{s} {n}" for s, n in ops.items() if n)
            + f". Empty results on those sets (all engines): {empty} as typed, {left} with "
            "every query in lower case (the starred rows). The run keeps the page's reading."
        )
    lines.append("")
    return lines


def tuning(
    results: dict[str, dict[str, Outcome]],
    ref: dict[str, dict[str, float]],
    engines: list[str],
    names: list[str],
    data: dict[str, dict[str, Any]],
) -> list[str]:
    lines = [
        "",
        "## Tuning, leaving one collection out",
        "",
        "Each engine asked directly (no snippets) with every setting of the GRID in run.py; "
        "for each set, the setting best on the other sets, reported on the set left out. "
        "`defaults` is the same set with the current parameters, by the same path.",
    ]
    for e in engines:
        grid = settings(e)
        tuned = {s: results[s][e].tuned for s in names}
        lines += [
            "",
            f"### {e}: {len(grid)} settings",
            "",
            "Grids (every combination within each): "
            + "; ".join(describe(g) for g in GRID.get(e, [])),
            "",
            "| held out | chosen on the others | nDCG@10 | MAP | R@1000 | nDCG@10 / BM25 "
            "| MAP / BM25 | defaults nDCG@10 / MAP |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for s in names:
            others = [x for x in names if x != s] or [s]
            i, _ = best(grid, tuned, ref, others)
            m, d = tuned[s][i].means, tuned[s][0].means
            lines.append(
                f"| {s} | {describe(grid[i])} | {m['ndcg10']:.3f} | {m['map']:.3f} "
                f"| {m['recall1000']:.3f} | {m['ndcg10'] / ref[s]['ndcg10']:.2f} "
                f"| {m['map'] / ref[s]['map']:.2f} | {d['ndcg10']:.3f} / {d['map']:.3f} |"
            )
            data[s][e]["held_out"] = {**m, "setting": grid[i]}
            data[s][e]["settings"] = [
                {"setting": g, **tuned[s][k].means} for k, g in enumerate(grid)
            ]
        i, value = best(grid, tuned, ref, names)
        default_value = objective({s: tuned[s][0].means for s in names}, ref)
        held = objective({s: data[s][e]["held_out"] for s in names}, ref)
        lines += [
            "",
            f"Objective on the held-out sets: {held:.3f} (defaults: {default_value:.3f}). "
            f"Chosen on all {len(names)} sets: {describe(grid[i])}, objective {value:.3f}. "
            "To ship it, in backend/search/ranking.py:",
            "",
            "```text",
            f"FOR_ENGINE[{e!r}] = {literal(e, grid[i])}",
            "```",
        ]
        spread = [objective({s: tuned[s][k].means for s in names}, ref) for k in range(len(grid))]
        if max(spread) - min(spread) < 1e-9:
            lines += [
                "",
                f"Every setting ranked alike on every set: {e} does not read these "
                "parameters yet, so the choice is the defaults by the tie rule.",
            ]
        direct = objective({s: tuned[s][0].means for s in names}, ref)
        service = objective({s: results[s][e].scores.means for s in names}, ref)
        if abs(direct - service) > 0.001:
            lines += [
                "",
                f"The direct path and the service disagree on the defaults ({direct:.3f} "
                f"against {service:.3f}).",
            ]
    return lines


NOTES = [
    "- Titles: med and time have none. A MED text opens with its paper's title sentence: "
    f"those documents are titled with the text's first words up to the first full stop, at "
    f"most {TITLE_WORDS} words (the title field repeats them, as Cranfield's and ADI's texts "
    "repeat their titles). A TIME article has no headline at all: it is titled by its "
    "source, date and page (`TIME, 1963-01-04, page 20`), as a cataloguer titles it. Runs "
    "before 2026-12-04 titled TIME articles with their first words, which put a dozen words "
    "of the article into the title field, weighted as a headline; plain BM25, which reads "
    "title + text as one field, lost nothing by it, the engines lost 3-6 % of nDCG@10 there.",
    "- The service cuts a query to 500 characters and the parser to 64 words: 7 of LISA's "
    "35 queries are longer than 500 characters (the requester's text, then keywords), so "
    "the engines see less of them than BM25 does.",
    "- Recall: like plain BM25, the engines find every document with any word written "
    "side by side (documents with every word of a short query first); only explicit AND, "
    "NOT, phrases and fields are strict, so R@1000 stays near BM25's.",
    "- Figures on ADI (35 queries, 82 documents) are noisy; figures on TIME and MED rest on "
    "30-83 queries. Compare ratios to BM25 across sets, not a single set's figure.",
]


if __name__ == "__main__":
    main()
