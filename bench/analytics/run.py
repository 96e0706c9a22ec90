"""Analytics events: what recording costs a request, and how fast the worker stores them.

    .venv/bin/python bench/analytics/run.py [--events 200000] [--calls 5000]

In a throwaway library (embedded PostgreSQL and Redis):
- **Recording**: `events.record` as a request calls it (a search event with the query,
  filters and the visitor's address), timed alone; beside it, in the same run and
  interleaved, a request-sized piece of work (the document page's service call,
  `documents.get`, which records a view) with recording on and with it turned off
  (`record` replaced by a function that returns at once), so the difference shows.
- **Flush**: `--events` events (searches for queries drawn from the shared corpus's
  titles, views, downloads and clicks of documents, logins) appended to the Redis buffer,
  then stored by `events.flush`, the worker's job (batches of 10,000, COPY, insert into
  the month partitions): events per second.

Writes bench/analytics/results.md and results.json (`event_overhead_p95_ms`,
`flush_events_per_s`; the dashboard and users-list figures of issue 13 are added when
those are built).
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, bulk_records, machine, percentile, throwaway_library  # noqa: E402

HERE = ROOT / "bench" / "analytics"


async def run(n_events: int, calls: int) -> dict:  # type: ignore[type-arg]
    from backend.analytics import events
    from backend.db import dispose_engine, session_scope
    from backend.documents import service as documents
    from backend.redis_client import get_redis
    from backend.storage.service import get_store, store_stream
    from backend.users import service as users

    rng = random.Random(7)
    titles = [r["title"] for r, _ in zip(bulk_records(("goodbooks",)), range(5000), strict=False)]
    redis = get_redis()

    # A document to look at, as the document page does.
    async with session_scope() as session:
        from backend.collections import service as collections
        from backend.users.models import Role

        admin = await users.create_admin(
            session=session, email="bench@example.org", password="a bench passphrase here"
        )
        admin.role = Role.ADMIN.value
        shelf = await collections.create(session=session, actor=admin, name="Bench")

        async def chunks():  # type: ignore[no-untyped-def]
            yield b"A page about tidal mills.\n"

        stored = await store_stream(get_store(), chunks())
        assert shelf.id is not None
        doc, _ = await documents.add_document(
            session=session, actor=admin, collection_id=shelf.id, stored=stored, filename="m.txt"
        )
        await session.commit()
        doc_id = doc.id
    await redis.delete(events.BUFFER)

    # Recording, alone and inside a request-sized call, interleaved with the call without it.
    real_record = events.record

    async def nothing(**kwargs):  # type: ignore[no-untyped-def]
        return None

    alone: list[float] = []
    with_rec: list[float] = []
    without: list[float] = []
    async with session_scope() as session:
        for i in range(calls + 200):
            t0 = time.perf_counter()
            await events.record(
                kind="search",
                query=rng.choice(titles)[:80],
                result_count=rng.randint(0, 500),
                duration_ms=5.0,
                data={"page": 1, "filters": {}, "sort": "relevance", "cached": False},
                client=f"198.51.{i % 250}.{i % 199}",
            )
            t1 = time.perf_counter()
            await documents.get(
                session=session, actor=admin, document_id=doc_id, client="192.0.2.1"
            )
            t2 = time.perf_counter()
            documents.analytics.record = nothing  # type: ignore[assignment]
            try:
                await documents.get(session=session, actor=admin, document_id=doc_id)
            finally:
                documents.analytics.record = real_record  # type: ignore[assignment]
            t3 = time.perf_counter()
            if i >= 200:  # warmed
                alone.append((t1 - t0) * 1000)
                with_rec.append((t2 - t1) * 1000)
                without.append((t3 - t2) * 1000)
            await session.rollback()
    await redis.delete(events.BUFFER)

    # Flush: a realistic mix appended to the buffer, then stored by the worker's job.
    kinds = ["search"] * 5 + ["document_view"] * 3 + ["download", "search_click", "login"]
    started = time.time() - 86400 * 30
    batch = []
    for i in range(n_events):
        kind = rng.choice(kinds)
        entry = {
            "k": f"{rng.getrandbits(128):032x}",
            "t": time.strftime(
                "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started + i * (86400 * 30 / n_events))
            ),
            "n": kind,
            "u": None,
            "v": f"{rng.getrandbits(128):032x}",
            "d": rng.randint(1, 900_000) if kind != "search" and kind != "login" else None,
            "c": rng.randint(1, 4) if kind != "search" and kind != "login" else None,
            "q": rng.choice(titles)[:80] if kind in ("search", "search_click") else "",
            "r": rng.randint(0, 500) if kind == "search" else None,
            "ms": round(rng.uniform(2, 40), 2) if kind == "search" else None,
            "x": {"page": 1, "cached": False, "typing": False} if kind == "search" else {},
        }
        batch.append(json.dumps(entry, separators=(",", ":")))
        if len(batch) == 10_000:
            await redis.rpush(events.BUFFER, *batch)  # type: ignore[misc]
            batch = []
    if batch:
        await redis.rpush(events.BUFFER, *batch)  # type: ignore[misc]
    t0 = time.perf_counter()
    stored = await events.flush(budget_s=3600)
    flush_s = time.perf_counter() - t0
    async with session_scope() as session:
        from sqlalchemy import text

        count = (await session.exec(text("SELECT count(*) FROM analytics_events"))).one()[0]  # type: ignore[call-overload]
    await dispose_engine()
    return {
        "alone": alone,
        "with": with_rec,
        "without": without,
        "stored": stored,
        "count": count,
        "flush_s": flush_s,
        "events": n_events,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    with throwaway_library("bench-analytics-"):
        r = asyncio.run(run(args.events, args.calls))
    rate = r["stored"] / r["flush_s"]
    p95 = {k: percentile(r[k], 0.95) for k in ("alone", "with", "without")}
    p50 = {k: statistics.median(r[k]) for k in ("alone", "with", "without")}
    command = (
        f"`.venv/bin/python bench/analytics/run.py --events {args.events} --calls {args.calls}`"
    )
    lines = [
        "# Analytics events",
        "",
        f"Command: {command}  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"## Recording ({args.calls:,} calls, interleaved)",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| `events.record` alone | {p50['alone']:.3f} | {p95['alone']:.3f} |",
        f"| document page's service call, recording its view | {p50['with']:.3f} "
        f"| {p95['with']:.3f} |",
        f"| the same call, recording nothing | {p50['without']:.3f} | {p95['without']:.3f} |",
        f"| **difference** | {p50['with'] - p50['without']:.3f} "
        f"| **{p95['with'] - p95['without']:.3f}** |",
        "",
        "Goal (issue 13): recording adds at most 0.5 ms to a request at p95. `events.record` "
        "hands the event to a task that sends what has gathered to Redis in one call; that "
        "task's work falls between the calls, so it shows in both columns alike.",
        "",
        "## Flush",
        "",
        f"{r['events']:,} events in the Redis buffer, stored by `events.flush` (the worker's "
        f"job) in {r['flush_s']:.1f} s: **{rate:,.0f} events/s** "
        f"({r['stored']:,} stored; {r['count']:,} rows in the table). Goal: at least 20,000/s.",
        "",
    ]
    md = HERE / "results.md"
    kept = (
        md.read_text().partition("\n## Dashboards at a year of events")[1:] if md.exists() else ()
    )
    md.write_text("\n".join(lines) + "".join(kept))  # (dashboard.py's section stays)
    out = HERE / "results.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(
        json.dumps(
            data
            | {
                "command": command.strip("`"),
                "machine": machine(),
                "date": time.strftime("%Y-%m-%d"),
                "event_overhead_p95_ms": round(p95["with"] - p95["without"], 3),
                "record_call_p95_ms": round(p95["alone"], 3),
                "request_p95_ms_recording": round(p95["with"], 3),
                "request_p95_ms_not_recording": round(p95["without"], 3),
                "flush_events_per_s": round(rate),
                "flush_events": r["events"],
                "users_page_p95_ms": data.get("users_page_p95_ms"),
            },
            indent=2,
        )
        + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
