"""The admin's users list at two million accounts: any page and any search.

    .venv/bin/python bench/analytics/users.py [--users 2000000] [--reps 30] [--keep DIR]

In a throwaway library (or one kept by an earlier run with --keep): `--users` accounts
with names drawn from 300 first and 1,000 last names (so a last name is shared by about
2,000 people), e-mail addresses made of them, one in a thousand a librarian, one in
thirty disabled. Then, as an admin, through `backend.auth.admin.page_accounts` (the
service the Users page calls): the first page, pages deep in the list, searches for a
common and a rare name, part of an e-mail address, two letters, a role and a status,
each `--reps` times. Adds to bench/analytics/results.md and results.json
(`users_page_p95_ms`: the highest p95).
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
from bench.common import (  # noqa: E402
    ROOT,
    loaded,
    machine,
    percentile,
    throwaway_library,
    write_section,
)

HERE = ROOT / "bench" / "analytics"


async def load(n: int) -> float:
    from sqlalchemy import text

    from backend.db import get_engine

    rng = random.Random(5)
    syllables = [
        "an",
        "bel",
        "cor",
        "dan",
        "el",
        "fer",
        "gar",
        "hol",
        "is",
        "jon",
        "kel",
        "lin",
        "mar",
        "nor",
        "ol",
        "per",
        "quin",
        "ros",
        "sal",
        "tor",
        "ul",
        "ver",
        "wil",
        "xan",
        "yor",
        "zel",
    ]

    def name() -> str:  # noqa: E306
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).capitalize()

    firsts = sorted({name() for _ in range(400)})[:300]
    lasts = sorted({name() + rng.choice(["son", "er", "ez", "ski", "ford"]) for _ in range(1500)})[
        :1000
    ]
    started = time.perf_counter()
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO users (email, display_name, password_hash, role, is_active,
                                   created_at, last_login_at)
                SELECT lower(f) || '.' || lower(l) || '.' || n
                           || '@mail' || (n % 50) || '.example',
                       f || ' ' || l, 'x',
                       CASE WHEN n % 1000 = 0 THEN 'librarian' ELSE 'patron' END,
                       n % 30 <> 0, now() - make_interval(days => n % 700),
                       CASE WHEN n % 3 = 0 THEN NULL
                            ELSE now() - make_interval(hours => n % 5000) END
                FROM generate_series(1, :n) n,
                     LATERAL (SELECT
                         (CAST(:firsts AS text[]))[1 + (n::bigint * 7919) % :nf] AS f,
                         (CAST(:lasts AS text[]))[1 + (n::bigint * 104729) % :nl] AS l) x
                """
            ).bindparams(n=n, firsts=firsts, lasts=lasts, nf=len(firsts), nl=len(lasts))
        )
        await conn.execute(text("ANALYZE users"))
    return time.perf_counter() - started


async def measure(reps: int) -> dict[str, list[float]]:
    from sqlalchemy import text

    from backend.auth import admin as accounts
    from backend.db import session_scope
    from backend.users import service as users

    async with session_scope() as session:
        boss = await users.create_admin(
            session=session, email="aaa-bench-admin@example.org", password="a bench passphrase here"
        )
        await session.commit()
        emails = [
            e
            for (e,) in (
                await session.exec(
                    text(  # type: ignore[call-overload]
                        "SELECT email FROM users WHERE id % 97 = 0 LIMIT 200"
                    )
                )
            ).all()
        ]
        common = (
            await session.exec(
                text(  # type: ignore[call-overload]
                    "SELECT split_part(display_name, ' ', 2) FROM users GROUP BY 1 "
                    "ORDER BY count(*) DESC LIMIT 1"
                )
            )
        ).one()[0]
    rng = random.Random(9)
    cases = {
        "first page": lambda: {},
        "a page deep in the list": lambda: {"after": rng.choice(emails)},
        "a common last name": lambda: {"search": common},
        "a name nobody has": lambda: {"search": "zzqxw"},
        "part of an e-mail address": lambda: {"search": rng.choice(emails).split("@")[0][-9:]},
        "two letters": lambda: {"search": "ma"},
        "librarians": lambda: {"role": "librarian"},
        "disabled, deep": lambda: {"status": "disabled", "after": rng.choice(emails)},
        "librarians named": lambda: {"role": "librarian", "search": common[:4]},
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    async with session_scope() as session:
        for rep in range(reps + 3):
            for label, make in cases.items():
                args = make()
                t0 = time.perf_counter()
                await accounts.page_accounts(session=session, actor=boss, **args)
                if rep >= 3:
                    times[label].append((time.perf_counter() - t0) * 1000)
            await session.rollback()
    return times


async def run(n: int, reps: int, folder: Path) -> dict[str, object]:
    from backend.db import dispose_engine

    what = f"users-{n}"
    if loaded(folder, what):
        load_s = json.loads((folder / f"loaded-{what}").read_text())
    else:
        load_s = await load(n)
        (folder / f"loaded-{what}").write_text(json.dumps(load_s))
    times = await measure(reps)
    await dispose_engine()
    return {"load_s": load_s, "times": times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--keep", default="", help="a folder kept for the next run")
    args = parser.parse_args()
    keep = Path(args.keep).resolve() if args.keep else None
    with throwaway_library("bench-users-", keep) as folder:
        r = asyncio.run(run(args.users, args.reps, folder))
    times: dict[str, list[float]] = r["times"]  # type: ignore[assignment]
    p95 = {k: percentile(v, 0.95) for k, v in times.items()}
    command = f"`.venv/bin/python bench/analytics/users.py --users {args.users} --reps {args.reps}`"
    lines = [
        "",
        f"## Users list at {args.users:,} accounts",
        "",
        f"Command: {command}  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"Accounts inserted in {r['load_s']:.0f} s. A page is 50 accounts in e-mail order "
        "(keyset), through `backend.auth.admin.page_accounts`, as an admin.",
        "",
        "| page | p50 ms | p95 ms |",
        "|---|---|---|",
        *(f"| {k} | {statistics.median(v):.1f} | {p95[k]:.1f} |" for k, v in times.items()),
        "",
        "Goal (issue 13): any page and any search p95 at most 20 ms.",
        "",
    ]
    write_section(HERE / "results.md", "Users list at", lines, "# Analytics")
    out = HERE / "results.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data.update(
        {
            "users_page_p95_ms": round(max(p95.values()), 1),
            "users_page_p95_ms_each": {k: round(v, 1) for k, v in p95.items()},
            "users": args.users,
            "users_command": command.strip("`"),
        }
    )
    out.write_text(json.dumps(data, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
