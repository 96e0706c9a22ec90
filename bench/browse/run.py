"""Browse speed in a million-document library: a page of each classifier at its start,
middle and end, through `backend.browse.service`, as an anonymous patron (visibility is
part of every statement) and as a librarian.

    .venv/bin/python bench/browse/run.py [--documents 1000000] [--reps 20]

Loads the real records of ../shared/corpus/bulk (10k books with authors, 64k Debian
packages with sections and tags as a subject tree, 886k PyPI projects with years), cycled
to the number of documents asked for, into a throwaway library (embedded PostgreSQL)
with their catalogue records and browse entries; 1% of them go into a private
collection. Then, for every classifier, times a page of 100 keys and a page of 50
documents under its biggest key, at the start, middle and end of each list (the middle
and end reached by keyset positions, as the page's links do). Writes
bench/browse/results.md.
"""

import argparse
import asyncio
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
    machine,
    throwaway_library,
)

END = "\U0010ffff"  # after every key: `before` it is the last page


def records(n: int) -> list[dict]:  # type: ignore[type-arg]
    base = list(bulk_records())
    out = []
    for i in range(n):
        r = dict(base[i % len(base)])
        if i >= len(base):  # a second copy: another edition
            r["title"] = f"{r['title']} (edition {i // len(base) + 1})"
        out.append(r)
    return out


async def run(n: int, reps: int) -> dict:  # type: ignore[type-arg]
    from sqlalchemy import text

    from backend.browse import service as browse
    from backend.db import dispose_engine, session_scope
    from backend.users.models import Role, User

    all_records = records(n)
    private_n = n // 100
    started = time.perf_counter()
    await bulk_load(all_records[private_n:], "Open stacks", catalogue=True)
    await bulk_load(all_records[:private_n], "Special collections", public=False, catalogue=True)
    load_s = time.perf_counter() - started
    librarian = User(id=0, email="l@example.org", role=Role.LIBRARIAN.value, is_active=True)
    timings: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    async with session_scope() as session:
        await session.exec(text("ANALYZE"))  # type: ignore[call-overload]
        counts = dict(
            (
                await session.exec(
                    text("SELECT facet, count(DISTINCT key) FROM browse_counts GROUP BY facet")  # type: ignore[call-overload]
                )
            ).all()
        )
        cases = []
        for actor_name, actor in (("patron", None), ("librarian", librarian)):
            for classifier in browse.CLASSIFIERS:
                # The middle of the key list, found once (the page would link to it).
                middle = (
                    await session.exec(
                        text(
                            "SELECT key FROM (SELECT DISTINCT key FROM browse_counts"  # type: ignore[call-overload]
                            " WHERE facet = :f) k ORDER BY key"
                            " OFFSET (SELECT count(DISTINCT key) / 2 FROM browse_counts"
                            " WHERE facet = :f) LIMIT 1"
                        ).bindparams(f=classifier)
                    )
                ).first()
                for where, kw in (
                    ("start", {}),
                    ("middle", {"after": middle[0] if middle else None}),
                    ("end", {"before": END}),
                ):
                    cases.append(
                        (
                            f"{actor_name} | {classifier} keys | {where}",
                            browse.keys,
                            dict(session=session, actor=actor, classifier=classifier, **kw),
                        )
                    )
                biggest = (
                    await session.exec(
                        text(
                            "SELECT key, sum(n) FROM browse_counts WHERE facet = :f"  # type: ignore[call-overload]
                            " GROUP BY key ORDER BY 2 DESC LIMIT 1"
                        ).bindparams(f=classifier)
                    )
                ).first()
                if biggest is None:
                    continue
                key = None if classifier == "title" else biggest[0]
                sizes[classifier] = n if key is None else int(biggest[1])
                mid = (
                    await session.exec(
                        text(
                            "SELECT sort_key || chr(31) || document_id FROM browse_entries"  # type: ignore[call-overload]
                            " WHERE facet = :f AND (CAST(:k AS text) IS NULL OR key = :k)"
                            " ORDER BY key, sort_key, document_id"
                            " OFFSET (SELECT count(*) / 2 FROM browse_entries"
                            " WHERE facet = :f AND (CAST(:k AS text) IS NULL OR key = :k)) LIMIT 1"
                        ).bindparams(f=classifier, k=key)
                    )
                ).first()
                label = "all titles A-Z" if key is None else f"documents of {biggest[1]:,}"
                for where, kw in (
                    ("start", {}),
                    ("middle", {"after": mid[0] if mid else None}),
                    ("end", {"before": END + "\x1f0"}),
                ):
                    cases.append(
                        (
                            f"{actor_name} | {classifier}: {label} | {where}",
                            browse.documents,
                            dict(
                                session=session, actor=actor, classifier=classifier, key=key, **kw
                            ),
                        )
                    )
            # The subject tree as the page shows it: the top, and the biggest branch.
            branch = (
                await session.exec(
                    text(
                        "SELECT s.id FROM subjects s JOIN browse_counts c"  # type: ignore[call-overload]
                        " ON c.facet = 'subject' AND c.key = s.id::text"
                        " WHERE EXISTS (SELECT 1 FROM subjects k WHERE k.parent_id = s.id)"
                        " GROUP BY s.id ORDER BY sum(c.n) DESC LIMIT 1"
                    )
                )
            ).first()
            for where, parent in (("top", None), ("biggest branch", branch[0] if branch else None)):
                cases.append(
                    (
                        f"{actor_name} | subject tree | {where}",
                        browse.subject_children,
                        dict(session=session, actor=actor, parent_id=parent),
                    )
                )
        for _ in range(2):  # warm up
            for _label, call, kw in cases:
                await call(**kw)
        shown: dict[str, int] = {}
        for _ in range(reps):
            for label, call, kw in cases:
                t0 = time.perf_counter()
                page = await call(**kw)
                timings.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
                if isinstance(page, tuple):  # subject tree: (nodes, next position)
                    shown[label] = len(page[0])
                else:
                    shown[label] = len(page.keys if hasattr(page, "keys") else page.documents)
    await dispose_engine()
    return {
        "load_s": load_s,
        "n": n,
        "private": private_n,
        "timings": timings,
        "shown": shown,
        "keys": counts,
        "sizes": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    if not (CORPUS / "bulk").exists():
        sys.exit(f"No bulk records at {CORPUS / 'bulk'}")
    with throwaway_library("bench-browse-"):
        r = asyncio.run(run(args.documents, args.reps))
    every = [v for vs in r["timings"].values() for v in vs]
    ordered = sorted(every)
    worst = max(r["timings"].items(), key=lambda kv: statistics.median(kv[1]))
    lines = [
        "# Browse speed",
        "",
        f"Command: `.venv/bin/python bench/browse/run.py --documents {args.documents}"
        f" --reps {args.reps}`  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"Library: {r['n']:,} documents ({r['private']:,} of them in a private collection),"
        f" loaded with their catalogue records and browse entries in {r['load_s']:.0f} s."
        " Keys per classifier: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["keys"].items()))
        + ".",
        "",
        f"Every page: {len(r['timings'])} cases x {args.reps} runs, through"
        " `backend.browse.service` with a real session. p50 "
        f"{statistics.median(every):.1f} ms, p95 {ordered[int(len(ordered) * 0.95)]:.1f} ms,"
        f" slowest case p50 {statistics.median(worst[1]):.1f} ms (`{worst[0]}`).",
        "",
        "| who | list | where | shown | p50 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, values in r["timings"].items():
        lines.append(
            f"| {label} | {r['shown'][label]} | {statistics.median(values):.1f} |"
            f" {max(values):.1f} |"
        )
    out = ROOT / "bench" / "browse" / "results.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
