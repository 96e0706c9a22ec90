"""Search speed at a million documents, through the search service, next to bare tantivy.

    .venv/bin/python bench/search/run.py [--limit N] [--reps 5]

Loads the ~960,000 real records of ../shared/corpus/bulk (10k books, 64k Debian packages,
886k PyPI projects) plus the 1,400 Cranfield abstracts into a throwaway library
(embedded PostgreSQL), builds the search index with the real indexer (timed), then runs a
mixed set of queries through `backend.search.service.search` exactly as the search page
does but without the result cache: frequent and rare words, two and three words,
phrases, boolean, misspelt, field filters and facet filters, each with all six facet
counts and ten highlighted hits, as an anonymous patron (visibility is part of the
query). In the same run it times bare tantivy calls doing the same work on the same
index (tantivy's own query parser, top ten with count, the six facet aggregations,
snippets for the ten hits), so the service's overhead shows as a ratio.
Writes bench/search/results.md.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import (  # noqa: E402
    CORPUS,
    ROOT,
    bulk_load,
    bulk_records,
    loaded,
    machine,
    percentile,
    throwaway_library,
)

QUERIES = [
    ("frequent word", "python", {}),
    ("frequent word", "library", {}),
    ("frequent word", "data", {}),
    ("rare word", "zeppelin", {}),
    ("rare word", "ornithology", {}),
    ("two words", "web framework", {}),
    ("two words", "boundary layer", {}),
    ("three words", "machine learning toolkit", {}),
    ("three words", "harry potter stone", {}),
    ("phrase", '"command line"', {}),
    ("phrase", '"heat transfer"', {}),
    ("boolean", "django OR flask", {}),
    ("boolean", "python -django", {}),
    ("boolean", "(json OR yaml) parser", {}),
    ("misspelt", "pyhton", {}),
    ("misspelt", "libary managment", {}),
    ("field", 'author:"Debian Python Team"', {}),
    ("field", "year:2015..2020 json", {}),
    ("field", "title:tolkien", {}),
    ("prefix", "astro*", {}),
    ("facet filter", "python", {"year": ["2020"]}),
    ("facet filter", "games", {"subject": ["games"]}),
]


def bare(engine, text: str) -> None:  # type: ignore[no-untyped-def]
    """The same work with tantivy alone: parse, top 10 with count, 6 facets, 10 snippets."""
    import tantivy

    from backend.search.tantivy_engine import FACET_FIELDS

    index = engine._open()
    searcher = index.searcher()
    fields = ["title_en", "body_en", "title_plain", "body_plain", "people"]
    query, _errors = index.parse_query_lenient(text, fields)
    found = searcher.search(query, 10, count=True)
    for field in FACET_FIELDS.values():
        searcher.aggregate(query, {"f": {"terms": {"field": field, "size": 10}}})
    generator = tantivy.SnippetGenerator.create(searcher, query, engine.schema, "body_en")
    for _, address in found.hits:
        generator.snippet_from_doc(searcher.doc(address))


async def run(limit: int | None, reps: int, folder: Path) -> dict:  # type: ignore[type-arg]
    import json

    from backend.db import dispose_engine, session_scope
    from backend.search import indexer
    from backend.search import service as search
    from backend.search.engines import get_search_engine

    started = time.perf_counter()
    counts = {}
    what = f"search-{limit}"
    kept = loaded(folder, what)  # a library kept by an earlier run with --keep
    for name in ("goodbooks", "debian", "pypi"):
        records = list(bulk_records((name,)))[:limit]
        if not kept:
            await bulk_load(records, name.capitalize())
        counts[name] = len(records)
    cran = [json.loads(line) for line in (CORPUS / "relevance" / "cranfield" / "docs.jsonl").open()]
    if not kept:
        await bulk_load(
            [{"title": d["title"].rstrip(" ."), "text": d["text"], "language": "en"} for d in cran],
            "Cranfield",
        )
    counts["cranfield"] = len(cran)
    load_s = time.perf_counter() - started

    engine = get_search_engine()
    started = time.perf_counter()
    total_docs = await engine.count() if kept else 0
    if kept:
        load_s, index_s = json.loads((folder / f"loaded-{what}").read_text())
    if total_docs == 0:  # (kept, but the index's schema changed since: a new index)
        total_docs = await indexer.rebuild(engine, batch_size=20_000)
        index_s = time.perf_counter() - started
        (folder / f"loaded-{what}").write_text(json.dumps([load_s, index_s]))

    service_ms: dict[str, list[float]] = {}
    bare_ms: dict[str, list[float]] = {}
    totals: dict[str, int] = {}
    async with session_scope() as session:

        async def through_service(q: str, f: dict[str, list[str]]):  # type: ignore[no-untyped-def]
            """As the page searches, but never from the result cache and unrecorded."""
            return await search.search(
                session=session, actor=None, query=q, filters=f, record=False, use_cache=False
            )

        for _ in range(2):  # warm the caches of the OS and the index
            for _, q, f in QUERIES:
                await through_service(q, f)
                bare(engine, q)
        for _ in range(reps):
            for _kind, q, f in QUERIES:
                label = f"{q} {f}" if f else q
                t0 = time.perf_counter()
                found = await through_service(q, f)
                service_ms.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
                totals[label] = found.total
                t0 = time.perf_counter()
                bare(engine, q)
                bare_ms.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
    await dispose_engine()
    return {
        "counts": counts,
        "documents": total_docs,
        "load_s": load_s,
        "index_s": index_s,
        "service": service_ms,
        "bare": bare_ms,
        "totals": totals,
        "kinds": {(f"{q} {f}" if f else q): k for k, q, f in QUERIES},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="records per corpus file")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--keep",
        default="",
        help="a folder for the library, kept afterwards: the next run with it skips loading",
    )
    args = parser.parse_args()
    if not (CORPUS / "bulk").exists():
        sys.exit(f"No bulk records at {CORPUS / 'bulk'}")
    keep = Path(args.keep).resolve() if args.keep else None
    with throwaway_library("bench-search-", keep) as folder:
        r = asyncio.run(run(args.limit, args.reps, folder))
    all_service = [v for vs in r["service"].values() for v in vs]
    all_bare = [v for vs in r["bare"].values() for v in vs]
    rows = []
    for label, values in r["service"].items():
        rows.append(
            f"| {r['kinds'][label]} | `{label}` | {r['totals'][label]:,} | "
            f"{statistics.median(values):.1f} | {statistics.median(r['bare'][label]):.1f} |"
        )
    p = {q: percentile(all_service, q) for q in (0.5, 0.95, 0.99)}
    b = {q: percentile(all_bare, q) for q in (0.5, 0.95, 0.99)}
    command = (
        "`.venv/bin/python bench/search/run.py"
        + (f" --limit {args.limit}" if args.limit else "")
        + f" --reps {args.reps}"
        + (f" --keep {args.keep}" if args.keep else "")
        + "`"
    )
    lines = [
        "# Search speed",
        "",
        f"Command: {command}  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"Library: {r['documents']:,} documents ("
        + ", ".join(f"{n} {c:,}" for n, c in r["counts"].items())
        + f"); loaded into PostgreSQL in {r['load_s']:.0f} s; "
        f"**index built in {r['index_s']:.0f} s** by the indexer (batches of 20,000).",
        "",
        f"{len(r['service'])} queries x {len(all_service) // len(r['service'])} runs, "
        "each with all six facet counts and ten highlighted hits, as an anonymous patron, "
        "result cache off.",
        "",
        "| | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|",
        f"| search service (tantivy) | {p[0.5]:.1f} | {p[0.95]:.1f} | {p[0.99]:.1f} |",
        f"| bare tantivy, same work | {b[0.5]:.1f} | {b[0.95]:.1f} | {b[0.99]:.1f} |",
        f"| ratio | {p[0.5] / b[0.5]:.1f}x | {p[0.95] / b[0.95]:.1f}x | {p[0.99] / b[0.99]:.1f}x |",
        "",
        "Goals (issue 12): service p50 at most 2x bare; p95 at most 25 ms and at most 1.5x bare.",
        "",
        "| kind | query | found | service p50 ms | bare p50 ms |",
        "|---|---|---|---|---|",
        *rows,
    ]
    out = "\n".join(lines) + "\n"
    print(out)
    (ROOT / "bench" / "search" / "results.md").write_text(out)
    figures = {
        "command": command.strip("`"),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "documents": r["documents"],
        "service_p50_ms": round(p[0.5], 2),
        "service_p95_ms": round(p[0.95], 2),
        "bare_p50_ms": round(b[0.5], 2),
        "bare_p95_ms": round(b[0.95], 2),
        "per_query_p50_ms": {
            label: {
                "service": round(statistics.median(v), 2),
                "bare": round(statistics.median(r["bare"][label]), 2),
            }
            for label, v in r["service"].items()
        },
    }
    (ROOT / "bench" / "search" / "results.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
