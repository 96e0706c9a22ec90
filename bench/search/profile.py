"""Where a search's time goes: each step of the service and the engine, per query.

    .venv/bin/python bench/search/run.py --keep /tmp/lib    # once: loads and indexes
    .venv/bin/python bench/search/profile.py --keep /tmp/lib [--reps 5]

Runs bench/search's queries through the search service on the library a run with
`--keep` left, timing each step (median ms over the runs): the service's PostgreSQL reads,
the engine's compile, top hits, every-word count, facets, snippets, feedback. Prints a
table; writes nothing.
"""

import argparse
import asyncio
import functools
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import throwaway_library  # noqa: E402
from bench.search.run import QUERIES  # noqa: E402

TIMES: dict[str, list[float]] = defaultdict(list)


def timed(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                TIMES[label].append((time.perf_counter() - t0) * 1000)

        setattr(owner, name, wrapper_async)
        return

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TIMES[label].append((time.perf_counter() - t0) * 1000)

    setattr(owner, name, wrapper)


async def run(reps: int) -> None:
    from backend.db import dispose_engine, session_scope
    from backend.search import service, tantivy_engine
    from backend.search.engines import get_search_engine

    engine = get_search_engine()
    print(f"{await engine.count():,} documents")
    steps = [
        (service, "_visible", "service: visible collections"),
        (service, "_rows", "service: hit rows"),
        (tantivy_engine.TantivyEngine, "search_now", "engine (all)"),
        (tantivy_engine._Compiler, "compile", "engine: compile"),
        (tantivy_engine.TantivyEngine, "_top", "engine: top + count"),
        (tantivy_engine.TantivyEngine, "_every_word", "engine: every-word count"),
        (tantivy_engine.TantivyEngine, "_facets", "engine: facets"),
        (tantivy_engine.TantivyEngine, "_highlight", "engine: snippets"),
        (tantivy_engine.TantivyEngine, "_related_words", "engine: feedback"),
    ]
    for owner, name, label in steps:
        timed(owner, name, label)
    rows: dict[str, dict[str, float]] = {}
    async with session_scope() as session:
        for rep in range(reps + 1):
            for _kind, q, f in QUERIES:
                TIMES.clear()
                t0 = time.perf_counter()
                await service.search(
                    session=session, actor=None, query=q, filters=f, record=False, use_cache=False
                )
                total = (time.perf_counter() - t0) * 1000
                if rep == 0:
                    continue  # warming
                label = f"{q} {f}" if f else q
                row = rows.setdefault(label, defaultdict(list))  # type: ignore[arg-type]
                row["total"].append(total)  # type: ignore[attr-defined]
                for step, values in TIMES.items():
                    row[step].append(sum(values))  # type: ignore[attr-defined]
    await dispose_engine()
    labels = ["total", *(label for _, _, label in steps)]
    short = [s.split(": ")[-1][:10] for s in labels]
    print("| query | " + " | ".join(short) + " |")
    print("|---|" + "---:|" * len(labels))
    for q, row in rows.items():
        cells = [f"{statistics.median(row[s]):.1f}" if row.get(s) else "" for s in labels]  # type: ignore[arg-type]
        print(f"| `{q}` | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", required=True, help="the folder a run.py --keep filled")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with throwaway_library("bench-profile-", Path(args.keep).resolve()):
        asyncio.run(run(args.reps))


if __name__ == "__main__":
    main()
