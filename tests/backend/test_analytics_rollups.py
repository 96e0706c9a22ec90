"""The daily rollups: each figure exactly, days cut where the library's day ends."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import events, rollups
from backend.settings import get_settings
from tests.factories import make_user


def at(hhmm: str, day: int = 1) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def auckland(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The library is in Auckland: UTC+13 in December, its day ends at 11:00 UTC."""
    monkeypatch.setenv("LIBRARY_TIMEZONE", "Pacific/Auckland")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _daily(db: AsyncSession, collection: int = 0) -> dict[tuple[str, str], float]:
    rows = await db.exec(  # type: ignore[call-overload]
        text("SELECT day, metric, value FROM analytics_daily WHERE collection_id = :c").bindparams(
            c=collection
        )
    )
    return {(str(d), m): v for d, m, v in rows.all()}


async def _record_a_week(db: AsyncSession) -> tuple[int, int]:
    ada, bo = await make_user(db), await make_user(db)
    await db.commit()
    assert ada.id is not None and bo.id is not None
    r = events.record
    # Searches either side of Auckland's midnight (11:00 UTC).
    first = await r(kind="search", query="Tidal mills", result_count=4, at=at("10:59"))
    await r(kind="search", query="tidal mills ", result_count=4, at=at("11:00"))
    await r(kind="search", query="zeppelin", result_count=0, at=at("10:00"))
    await r(kind="search", query="zep", result_count=0, at=at("10:01"), data={"typing": True})
    await r(
        kind="search", query="tidal mills", result_count=4, at=at("10:02"), data={"cached": True}
    )
    # Two results of the first search opened: its first click had rank 1.
    for rank, minute in ((3, "10:59"), (1, "10:59")):
        await r(
            kind="search_click",
            query="tidal mills",
            document_id=11,
            collection_id=5,
            at=at(minute),
            data={"rank": rank, "search": first.hex},
        )
    # Views: one visitor three times in an hour counts once; in another hour again.
    for t in ("09:05", "09:40", "09:55", "10:05"):
        await r(
            kind="document_view", document_id=11, collection_id=5, client="198.51.100.7", at=at(t)
        )
    await r(kind="document_view", actor=ada, document_id=11, collection_id=5, at=at("09:06"))
    await r(kind="download", actor=ada, document_id=12, collection_id=6, at=at("09:07"))
    await r(kind="download", actor=ada, document_id=12, collection_id=6, at=at("09:08"))
    await r(kind="upload", actor=bo, document_id=12, collection_id=6, at=at("08:00"))
    await r(
        kind="ingest",
        document_id=12,
        collection_id=6,
        at=at("08:01"),
        data={"outcome": "ready", "seconds": 12.5},
    )
    await r(
        kind="ingest",
        document_id=13,
        collection_id=6,
        at=at("08:02"),
        data={"outcome": "failed", "step": "extract", "reason": "Not a PDF."},
    )
    await r(kind="registration", actor=bo, at=at("07:00"))
    await r(kind="login", actor=bo, at=at("07:01"))
    await r(kind="login_failed", client="203.0.113.9", at=at("07:02"))
    await events.flush()
    return ada.id, bo.id


async def test_each_figure_of_a_day_in_the_library_time_zone(
    db: AsyncSession, auckland: None
) -> None:
    ada_id, bo_id = await _record_a_week(db)
    span = await rollups.roll(db, now=at("00:00", day=5))  # Auckland: Dec 5, 13:00
    assert span == rollups.Span(date(2026, 12, 1), date(2026, 12, 4), "Pacific/Auckland")
    daily = await _daily(db)
    dec1, dec2 = "2026-12-01", "2026-12-02"
    assert daily[(dec1, "searches")] == 3  # 10:59, 10:00, 10:02 (typing apart)
    assert daily[(dec2, "searches")] == 1  # 11:00 UTC is Dec 2 in Auckland
    assert daily[(dec1, "searches_typing")] == 1
    assert daily[(dec1, "zero_results")] == 1
    assert daily[(dec1, "cached_searches")] == 1
    assert daily[(dec1, "clicks")] == 2
    assert daily[(dec1, "searches_clicked")] == 1
    assert daily[(dec1, "first_click_rank_sum")] == 1
    assert daily[(dec1, "views")] == 3  # the visitor in hours 9 and 10, and Ada
    assert daily[(dec1, "downloads")] == 1  # Ada twice in one hour
    assert daily[(dec1, "uploads")] == 1
    assert daily[(dec1, "ingest_ready")] == 1 and daily[(dec1, "ingest_failed")] == 1
    assert daily[(dec1, "ingest_seconds")] == 12.5
    assert daily[(dec1, "registrations")] == 1 and daily[(dec1, "logins")] == 1
    assert daily[(dec1, "logins_failed")] == 1
    assert daily[(dec1, "active_users")] == 2  # Ada and Bo
    assert not [k for k in daily if k[0] > dec2]  # nothing happened after
    # Per collection: what happened to its documents.
    five, six = await _daily(db, 5), await _daily(db, 6)
    assert five == {(dec1, "clicks"): 2, (dec1, "views"): 3}
    assert six == {
        (dec1, "downloads"): 1,
        (dec1, "uploads"): 1,
        (dec1, "ingest_ready"): 1,
        (dec1, "ingest_failed"): 1,
        (dec1, "ingest_seconds"): 12.5,
    }
    docs = (
        await db.exec(
            text(  # type: ignore[call-overload]
                "SELECT document_id, collection_id, views, downloads FROM analytics_daily_documents"
                " ORDER BY document_id"
            )
        )
    ).all()
    assert [tuple(d) for d in docs] == [(11, 5, 3, 0), (12, 6, 0, 1)]
    queries = (
        await db.exec(
            text(  # type: ignore[call-overload]
                "SELECT day::text, collection_id, query, searches, zero_results, clicks"
                " FROM analytics_daily_queries ORDER BY 1, 2, 3"
            )
        )
    ).all()
    assert [tuple(q) for q in queries] == [
        (dec1, 0, "tidal mills", 2, 0, 2),
        (dec1, 0, "zeppelin", 1, 1, 0),
        (dec1, 5, "tidal mills", 0, 0, 2),
        (dec2, 0, "tidal mills", 1, 0, 0),
    ]
    sketches = (
        await db.exec(
            text(  # type: ignore[call-overload]
                "SELECT day::text, sketch FROM analytics_daily_sketches WHERE kind = 'active_users'"
            )
        )
    ).all()
    assert [d for d, _ in sketches] == [dec1]  # Ada and Bo, on the 1st only
    assert rollups.distinct([bytes(k) for _, k in sketches]) == 2
    both = rollups.sketch_of([ada_id, bo_id])
    assert rollups.distinct([both, rollups.sketch_of([ada_id])]) == 2  # a union, not a sum
    failures = (
        await db.exec(
            text(  # type: ignore[call-overload]
                "SELECT collection_id, outcome, step, reason, count FROM analytics_daily_failures"
            )
        )
    ).all()
    assert [tuple(f) for f in failures] == [(6, "failed", "extract", "Not a PDF.", 1)]


async def test_a_roll_stores_new_days_and_the_last_ones_again_and_follows_the_time_zone(
    db: AsyncSession, auckland: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _record_a_week(db)
    await rollups.roll(db, now=at("00:00", day=5))
    assert await rollups.roll(db, now=at("01:00", day=5)) == rollups.Span(
        date(2026, 12, 3), date(2026, 12, 4), "Pacific/Auckland"
    )  # the same day: the last LATE_DAYS again only
    # A late event of Dec 4 (Auckland) is counted by the next roll.
    await events.record(kind="registration", at=at("12:00", day=3))
    await events.flush()
    await rollups.roll(db, now=at("02:00", day=5))
    assert (await _daily(db))[("2026-12-04", "registrations")] == 1
    # The library moves to UTC: every day is cut again at UTC midnight.
    monkeypatch.setenv("LIBRARY_TIMEZONE", "UTC")
    get_settings.cache_clear()
    span = await rollups.roll(db, now=at("00:00", day=5))
    assert span is not None and span.first == date(2026, 12, 1) and span.timezone == "UTC"
    daily = await _daily(db)
    assert daily[("2026-12-01", "searches")] == 4 and ("2026-12-02", "searches") not in daily
    assert daily[("2026-12-03", "registrations")] == 1
