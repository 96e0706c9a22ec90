"""The dashboards' panels: stored days and today's live figures add up exactly, the span
before is beside them, and librarians see their own collections' figures only."""

import csv
import io
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import dashboard, events, rollups
from backend.api.routes import create_api
from backend.auth import service as auth
from backend.errors import InvalidInput, NotFound
from backend.redis_client import get_redis
from backend.users.models import Role
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst


def day_at(days_ago: int, hour: int) -> datetime:
    """An instant `days_ago` days before today (UTC, the tests' library time zone)."""
    today = rollups.today()
    return datetime.combine(today - timedelta(days=days_ago), time(hour), UTC)


async def test_stored_days_and_today_add_up_beside_the_span_before(db: AsyncSession) -> None:
    admin = await make_user(db, Role.ADMIN)
    await db.commit()
    r = events.record
    for days_ago, n, zero in ((0, 2, 1), (1, 3, 0), (6, 1, 1), (7, 4, 2)):
        for i in range(n):
            key = await r(
                kind="search",
                query=f"q{i}",
                result_count=0 if i < zero else 5,
                at=day_at(days_ago, 0) + timedelta(minutes=i),
            )
            if i == n - 1 and days_ago == 1:  # one search of yesterday opened, at rank 2
                await r(
                    kind="search_click",
                    query=f"q{i}",
                    document_id=1,
                    collection_id=1,
                    at=day_at(1, 1),
                    data={"rank": 2, "search": key.hex},
                )
    ada, bo = await make_user(db), await make_user(db)
    await db.commit()
    for who, days_ago in ((ada, 1), (ada, 0), (bo, 0), (bo, 7)):
        await r(kind="login", actor=who, at=day_at(days_ago, 2))
    await events.flush()
    await rollups.roll(db)  # the days before today are stored; today is computed live
    span = dashboard.span_of(7)
    found = await dashboard.panel(session=db, actor=admin, name="searches", span=span)
    assert found["totals"]["searches"] == 2 + 3 + 1  # days 0..6
    assert found["previous"]["searches"] == 4  # day 7 is in the 7 days before
    assert found["totals"]["zero_result_share"] == round(2 / 6, 4)
    assert found["previous"]["zero_result_share"] == 0.5
    assert found["totals"]["click_through_rate"] == round(1 / 6, 4)
    assert found["totals"]["mean_first_click_rank"] == 2
    assert [d["searches"] for d in found["series"]] == [1, 0, 0, 0, 0, 3, 2]
    assert found["series"][-1]["day"] == rollups.today().isoformat()

    people = await dashboard.panel(session=db, actor=admin, name="users", span=span)
    # Different people: Ada (yesterday and today), Bo and the admin (who registered
    # today) are three, not four; Bo a week ago is the span before's one.
    assert people["totals"]["active_users"] == 3 and people["previous"]["active_users"] == 1
    assert [d["active_users"] for d in people["series"]][-2:] == [1, 3]
    assert sum(w["active_users"] for w in people["weekly_active"]) >= 3
    queries = await dashboard.panel(session=db, actor=admin, name="queries", span=span)
    assert queries["top"][0] == {"query": "q0", "searches": 3, "clicks": 0}
    assert [z["query"] for z in queries["zero_results"]] == ["q0"]
    await dashboard.mark_handled(session=db, actor=admin, query=" Q0 ")
    queries = await dashboard.panel(session=db, actor=admin, name="queries", span=span)
    assert queries["zero_results"] == [{"query": "q0", "searches": 2, "handled": True}]


async def test_librarians_see_their_collections_and_patrons_nothing(
    db: AsyncSession, data_dir: Path
) -> None:
    admin, librarian = await make_user(db, Role.ADMIN), await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    mine = await make_collection(db, librarian, "Mine")
    theirs = await make_collection(db, admin, "Theirs")
    a, _ = await upload_bytes(db, librarian, mine, b"harbour charts\n", "charts.txt")
    b, _ = await upload_bytes(db, admin, theirs, b"secret ledger\n", "ledger.txt")
    await db.commit()
    await run_burst()
    for doc, coll, n in ((a, mine, 2), (b, theirs, 5)):
        for i in range(n):
            await events.record(
                kind="download", document_id=doc.id, collection_id=coll.id, client=f"198.51.100.{i}"
            )
            await events.record(
                kind="search_click",
                query=f"about {coll.name}",
                document_id=doc.id,
                collection_id=coll.id,
                data={"rank": 1},
            )
    await events.flush()
    span = dashboard.span_of(30)

    seen = await dashboard.panel(session=db, actor=librarian, name="documents", span=span)
    assert [d["title"] for d in seen["most_downloads"]] == ["charts"]
    assert seen["totals"]["downloads"] == 2 and seen["collections"][0]["name"] == "Mine"
    led = await dashboard.panel(session=db, actor=librarian, name="queries", span=span)
    assert led == {"top": [{"query": "about mine", "searches": 0, "clicks": 2}]}
    uploads = await dashboard.panel(session=db, actor=librarian, name="uploads", span=span)
    assert uploads["totals"]["uploads"] == 1 and uploads["totals"]["ingest_ready"] == 1
    store = await dashboard.panel(session=db, actor=librarian, name="storage", span=span)
    assert store["now"] == {"documents": 1, "pages": 1, "bytes": len(b"harbour charts\n")}
    assert store["totals"]["documents_added"] == 1
    for name in dashboard.LIBRARY_ONLY:
        with pytest.raises(NotFound):
            await dashboard.panel(session=db, actor=librarian, name=name, span=span)
    with pytest.raises(NotFound):
        await dashboard.mark_handled(session=db, actor=librarian, query="x")
    assert await dashboard.panels_for(db, librarian) == [
        "queries",
        "documents",
        "uploads",
        "storage",
    ]

    everything = await dashboard.panel(session=db, actor=admin, name="documents", span=span)
    assert everything["totals"]["downloads"] == 7
    assert [d["title"] for d in everything["most_downloads"]] == ["ledger", "charts"]
    for actor in (patron, None):
        for name in dashboard.PANELS:
            with pytest.raises(NotFound):
                await dashboard.panel(session=db, actor=actor, name=name, span=span)


def test_a_span_is_checked() -> None:
    today = rollups.today()
    assert dashboard.span_of(7).first == today - timedelta(days=6)
    custom = dashboard.span_of(first="2026-01-01", last="2026-01-31")
    assert (custom.first.day, custom.last.day) == (1, 31)
    prev = dashboard.previous(custom)
    assert (prev.first.isoformat(), prev.last.isoformat()) == ("2025-12-01", "2025-12-31")
    for bad in (
        {"days": 0},
        {"days": 400},
        {"first": "2026-02-01", "last": "2026-01-01"},
        {"first": "yesterday", "last": "2026-01-01"},
        {"first": "2020-01-01", "last": "2026-01-01"},
        {"first": today.isoformat(), "last": (today + timedelta(days=1)).isoformat()},
    ):
        with pytest.raises(InvalidInput):
            dashboard.span_of(**bad)  # type: ignore[arg-type]


async def test_every_table_downloads_as_csv_for_whoever_may_see_it(db: AsyncSession) -> None:
    admin, patron = await make_user(db, Role.ADMIN), await make_user(db)
    await db.commit()
    for i in range(3):
        await events.record(kind="search", query=f"=cmd|{i}", result_count=i)
    await events.flush()
    tokens = {}
    for name, user in (("admin", admin), ("patron", patron)):
        login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
        tokens[name] = login.token
    await db.commit()
    transport = httpx.ASGITransport(app=create_api(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:

        async def get(url: str, who: str) -> httpx.Response:
            return await client.get(url, headers={"Authorization": f"Bearer {tokens[who]}"})

        got = await get("/api/v1/admin/analytics/searches.csv?days=7", "admin")
        assert got.status_code == 200 and got.headers["cache-control"] == "private, no-store"
        rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert len(rows) == 7 and rows[-1]["day"] == rollups.today().isoformat()
        assert float(rows[-1]["searches"]) == 3 and float(rows[-1]["zero_results"]) == 1
        got = await get("/api/v1/admin/analytics/queries.csv?part=top&days=7", "admin")
        top = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
        # A query that looks like a formula is written as text.
        assert sorted(r["query"] for r in top) == ["'=cmd|0", "'=cmd|1", "'=cmd|2"]
        missing = await get("/api/v1/admin/analytics/nothing.csv", "admin")
        for url in ("searches.csv?days=7", "queries.csv?part=top", "storage.csv"):
            refused = await get(f"/api/v1/admin/analytics/{url}", "patron")
            assert (refused.status_code, refused.text) == (404, missing.text)
        bad = await get(
            "/api/v1/admin/analytics/searches.csv?from=2026-02-01&to=2026-01-01", "admin"
        )
        assert bad.status_code == 422
