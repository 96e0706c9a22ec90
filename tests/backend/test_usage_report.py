"""The monthly usage report: each figure of a calendar month in the library's time zone
exactly, beside the month before; its CSV and printable page in the object store (local
folder and S3); e-mails to the admins who asked for it, once; downloads for admins only."""

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import dashboard, events, report, rollups
from backend.analytics.models import UsageReport
from backend.api.routes import create_api
from backend.auth import service as auth
from backend.db import sql
from backend.errors import InvalidInput, NotAuthenticated, PermissionDenied
from backend.mail.models import OutboxMessage
from backend.mail.service import queue_message
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.storage.service import get_store
from backend.users.models import Role, User
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst

ROOT = Path(__file__).resolve().parents[2]
MARCH = report.Month.parse("2026-03")
SCRIPT = "<script>alert('q')</script>"
FORMULA = '=HYPERLINK("http://evil.example")'
TITLE = '<img src=x onerror="alert(1)"> Ledger & Sons'
COLLECTION = "Maps & <b>Charts</b>"
REASON = "<b>Not a PDF</b>"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The library is in New York: March 2026 is [05:00 UTC on the 1st, 04:00 UTC on
    April 1st) (summer time began on the 8th); February began at 05:00 UTC."""
    monkeypatch.setenv("LIBRARY_TIMEZONE", "America/New_York")
    monkeypatch.setattr(dashboard, "_live", {})  # no figures computed by an earlier test
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _read(key: str) -> bytes:
    return b"".join([chunk async for chunk in get_store().read(key)])


def sections(raw: bytes) -> dict[str, list[dict[str, str]]]:
    """The CSV's sections: name -> rows (as dicts of its own header)."""
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    out: dict[str, list[dict[str, str]]] = {}
    i = 0
    while i < len(rows):
        if not rows[i]:
            i += 1
            continue
        assert rows[i][0] == "section", rows[i]
        name, header = rows[i][1], rows[i + 1]
        i += 2
        out[name] = []
        while i < len(rows) and rows[i]:
            out[name].append(dict(zip(header, rows[i], strict=True)))
            i += 1
    return out


async def _make(db: AsyncSession, month: report.Month = MARCH, **kw: Any) -> report.Made:
    return await report.make(session=db, store=get_store(), mail=queue_message, month=month, **kw)


async def _library(db: AsyncSession) -> dict[str, Any]:
    """Two documents (one added in February, one in March), two patrons, and events of
    February, March, and just outside them."""
    librarian = await make_user(db, Role.LIBRARIAN)
    ada, bo = await make_user(db), await make_user(db)
    maps = await make_collection(db, librarian, COLLECTION)
    a, _ = await upload_bytes(db, librarian, maps, b"tide tables of the estuary\n", "a.txt")
    b, _ = await upload_bytes(db, librarian, maps, b"ledger\n", "b.txt")
    await db.commit()
    await run_burst()
    for doc, when in ((a, "2026-02-15 12:00"), (b, "2026-03-20 12:00")):
        for table, column in (("documents", "id"), ("document_versions", "document_id")):
            await sql(
                db,
                text(f"UPDATE {table} SET created_at = :at WHERE {column} = :id").bindparams(
                    at=utc(when), id=doc.id
                ),
            )
    await sql(
        db, text("UPDATE documents SET title = :t WHERE id = :id").bindparams(t=TITLE, id=a.id)
    )
    await db.commit()
    await events.flush()  # (the registrations and uploads of today)

    r = events.record
    here = {"document_id": a.id, "collection_id": maps.id}
    # March in New York, from its first instant to its last.
    first = await r(kind="search", query="Tidal mills", result_count=4, at=utc("2026-03-01 05:00"))
    await r(
        kind="search_click",
        query="tidal mills",
        **here,
        at=utc("2026-03-01 05:01"),
        data={"rank": 2, "search": first.hex},
    )
    await r(
        kind="search",
        query="tidal mills ",
        result_count=4,
        at=utc("2026-03-15 12:00"),
        data={"cached": True},
    )
    await r(
        kind="search",
        query="tid",
        result_count=4,
        at=utc("2026-03-02 12:00"),
        data={"typing": True},
    )
    await r(kind="search", query=SCRIPT, result_count=0, at=utc("2026-03-20 12:00"))
    await r(kind="search", query=FORMULA, result_count=0, at=utc("2026-03-31 12:00"))
    await r(kind="search", query="kraken", result_count=0, at=utc("2026-04-01 03:59"))
    # One visitor three times in an hour counts once, Ada once more.
    for t in ("14:05", "14:20", "14:50"):
        await r(kind="document_view", **here, client="198.51.100.7", at=utc(f"2026-03-10 {t}"))
    await r(kind="document_view", actor=ada, **here, at=utc("2026-03-10 15:00"))
    await r(kind="download", actor=ada, **here, at=utc("2026-03-11 10:00"))
    await r(kind="download", actor=ada, **here, at=utc("2026-03-11 10:30"))
    await r(
        kind="download",
        actor=bo,
        document_id=b.id,
        collection_id=maps.id,
        at=utc("2026-03-21 10:00"),
    )
    await r(kind="upload", **here, at=utc("2026-03-05 10:00"))
    await r(
        kind="ingest",
        **here,
        at=utc("2026-03-05 10:01"),
        data={"outcome": "ready", "seconds": 10.0},
    )
    await r(kind="upload", **here, at=utc("2026-03-06 10:00"))
    await r(
        kind="ingest",
        **here,
        at=utc("2026-03-06 10:01"),
        data={"outcome": "failed", "step": "extract", "reason": REASON},
    )
    await r(kind="registration", actor=ada, at=utc("2026-03-08 09:00"))
    await r(kind="login", actor=ada, at=utc("2026-03-03 09:00"))
    await r(kind="login", actor=bo, at=utc("2026-03-04 09:00"))
    await r(kind="login", actor=bo, at=utc("2026-03-05 09:00"))
    for _ in range(2):
        await r(kind="login_failed", client="203.0.113.9", at=utc("2026-03-07 09:00"))
    # February in New York: its first instant, and its last (March 1st, 04:59 UTC).
    await r(kind="search", query="feb", result_count=0, at=utc("2026-02-01 05:00"))
    await r(kind="search", query="feb", result_count=2, at=utc("2026-03-01 04:59"))
    await r(kind="document_view", actor=bo, **here, at=utc("2026-02-10 12:00"))
    await r(kind="upload", **here, at=utc("2026-02-20 12:00"))
    # Outside both: the last minute of January, the first of April.
    await r(kind="search", query="january", result_count=0, at=utc("2026-02-01 04:59"))
    await r(kind="search", query="april", result_count=0, at=utc("2026-04-01 04:00"))
    await r(kind="login_failed", client="203.0.113.9", at=utc("2026-04-01 04:00"))
    await events.flush()
    return {"a": a, "b": b, "maps": maps, "librarian": librarian}


# figure -> (March, February), as the CSV writes them.
EXPECTED = {
    "searches": ("5", "2"),
    "zero_result_share": ("0.6", "0.5"),
    "click_through_rate": ("0.2", "0.0"),
    "mean_first_click_rank": ("2.0", ""),
    "cached_share": ("0.1667", "0.0"),
    "searches_typing": ("1", "0"),
    "views": ("2", "1"),
    "downloads": ("2", "0"),
    "uploads": ("2", "1"),
    "ingest_ready": ("1", "0"),
    "ingest_failed": ("1", "0"),
    "ingest_quarantined": ("0", "0"),
    "ingest_duplicate": ("0", "0"),
    "mean_seconds_to_searchable": ("10.0", ""),
    "active_users": ("2", "1"),
    "registrations": ("1", "0"),
    "logins": ("3", "0"),
    "logins_failed": ("2", "0"),
    "documents_added": ("1", "1"),
    "documents_held": ("2", "1"),
    "pages_held": ("2", "1"),
}


async def test_each_figure_of_a_month_beside_the_month_before(
    db: AsyncSession, data_dir: Path, new_york: None
) -> None:
    world = await _library(db)
    a, b, maps = world["a"], world["b"], world["maps"]
    made = await _make(db)
    assert made == report.Made(MARCH, built=True, mailed=0)

    found = sections(await _read("exports/usage/2026-03.csv"))
    assert list(found) == [
        "report",
        "figures",
        "top_queries",
        "zero_result_queries",
        "most_viewed_documents",
        "most_downloaded_documents",
        "collections",
        "ingest_failures",
    ]
    (meta,) = found["report"]
    assert (meta["month"], meta["previous_month"], meta["timezone"]) == (
        "2026-03",
        "2026-02",
        "America/New_York",
    )
    assert (meta["starts"], meta["ends"]) == (
        "2026-03-01T05:00:00+00:00",
        "2026-04-01T04:00:00+00:00",
    )
    figures = {f["figure"]: (f["month"], f["previous_month"]) for f in found["figures"]}
    sizes = (len(b"tide tables of the estuary\n"), len(b"ledger\n"))
    assert figures == {
        **EXPECTED,
        "bytes_added": (str(sizes[1]), str(sizes[0])),
        "bytes_held": (str(sum(sizes)), str(sizes[0])),
    }
    assert found["top_queries"][0] == {
        "rank": "1",
        "query": "tidal mills",
        "searches": "2",
        "clicks": "1",
    }
    # A query a spreadsheet would run as a formula is written as text.
    others = {(q["query"], q["searches"], q["clicks"]) for q in found["top_queries"][1:]}
    assert others == {(SCRIPT, "1", "0"), ("'" + FORMULA.lower(), "1", "0"), ("kraken", "1", "0")}
    assert {q["query"] for q in found["zero_result_queries"]} == {
        SCRIPT,
        "'" + FORMULA.lower(),
        "kraken",
    }
    assert found["most_viewed_documents"] == [
        {
            "rank": "1",
            "document_id": str(a.id),
            "title": TITLE,
            "collection": COLLECTION,
            "views": "2",
        }
    ]
    assert [(d["document_id"], d["downloads"]) for d in found["most_downloaded_documents"]] == [
        (str(a.id), "1"),
        (str(b.id), "1"),
    ]
    assert found["collections"] == [
        {
            "rank": "1",
            "collection_id": str(maps.id),
            "name": COLLECTION,
            "views": "2",
            "downloads": "2",
        }
    ]
    assert found["ingest_failures"] == [
        {"rank": "1", "outcome": "failed", "step": "extract", "reason": REASON, "count": "1"}
    ]

    page = (await _read("exports/usage/2026-03.html")).decode()
    for raw in (SCRIPT, TITLE, COLLECTION, REASON, "<b>", "<img", "<script"):
        assert raw not in page, raw
    for escaped in (
        "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;",
        "Ledger &amp; Sons",
        "Maps &amp; &lt;b&gt;Charts&lt;/b&gt;",
        "&lt;b&gt;Not a PDF&lt;/b&gt;",
    ):
        assert escaped in page, escaped
    assert "<script" not in page.lower() and "<link" not in page and "<style>" in page
    assert "@page" in page and "March 2026" in page and "February 2026" in page
    assert '<tr id="figure-searches"><td>Searches</td><td class="n">5</td>' in page

    # The days stored by the hourly rollup give the same figures as the events.
    await rollups.roll(db)
    again = await _make(db, force=True)
    assert again == report.Made(MARCH, built=True, mailed=0)
    rolled = sections(await _read("exports/usage/2026-03.csv"))
    assert {k: v for k, v in rolled.items() if k != "report"} == {
        k: v for k, v in found.items() if k != "report"
    }


async def _admins(db: AsyncSession) -> dict[str, User]:
    people = {
        "asked": await make_user(db, Role.ADMIN, email="asked@example.org"),
        "disabled": await make_user(db, Role.ADMIN, email="disabled@example.org"),
        "silent": await make_user(db, Role.ADMIN, email="silent@example.org"),
        "librarian": await make_user(db, Role.LIBRARIAN, email="librarian@example.org"),
        "patron": await make_user(db, email="patron@example.org"),
    }
    for who in ("asked", "disabled"):
        assert await report.set_opt_in(session=db, actor=people[who], opt_in=True) is True
    # An admin who asked, then was made a librarian, and an account since disabled.
    people["librarian"].usage_report_opt_in = True
    people["disabled"].is_active = False
    for user in people.values():
        db.add(user)
    await db.commit()
    return people


async def _mails(db: AsyncSession) -> list[OutboxMessage]:
    return list((await db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def test_mailed_once_to_the_active_admins_who_asked(
    db: AsyncSession, data_dir: Path, new_york: None
) -> None:
    people = await _admins(db)
    await events.record(
        kind="search", query="tidal mills", result_count=3, at=utc("2026-03-02 12:00")
    )
    await events.flush()
    assert await _make(db) == report.Made(MARCH, built=True, mailed=1)
    (mail,) = await _mails(db)
    assert mail.to_address == "asked@example.org"
    assert mail.subject == "Usage report: March 2026"
    base = get_settings().public_url.rstrip("/")
    assert f"{base}/api/v1/admin/reports/usage/2026-03.html" in mail.body
    assert f"{base}/api/v1/admin/reports/usage/2026-03.csv" in mail.body
    assert "Searches: 1 (February 2026: 0)" in mail.body

    # Made and mailed: asked again (the worker each hour), nothing happens.
    assert await _make(db) == report.Made(MARCH, built=False, mailed=0)
    row = await db.get(UsageReport, MARCH.first)
    assert row is not None and row.recipients == 1 and row.timezone == "America/New_York"
    built_at = row.built_at
    # Made again by the command: the files are replaced, nobody is mailed twice...
    assert await _make(db, force=True) == report.Made(MARCH, built=True, mailed=0)
    await db.refresh(row)
    assert row.built_at > built_at
    assert len(await _mails(db)) == 1
    # ... unless asked to.
    assert await _make(db, force=True, mail_again=True) == report.Made(MARCH, True, 1)
    assert [m.to_address for m in await _mails(db)] == ["asked@example.org"] * 2
    with pytest.raises(InvalidInput):
        await _make(db, month=report.this_month())  # not ended yet
    listed = await report.months(session=db, actor=people["asked"])
    assert [m.name for m in listed] == ["2026-03"]
    for who in ("librarian", "patron", "disabled"):
        assert await report.months(session=db, actor=people[who]) == []


async def test_last_month_is_due_on_the_1st_at_0320_library_time(
    db: AsyncSession, data_dir: Path, new_york: None
) -> None:
    # April 1st, 03:19 and 03:20 in New York (summer time: UTC-4).
    assert report.due_month(utc("2026-04-01 07:19")) is None
    assert report.due_month(utc("2026-04-01 07:20")) == MARCH
    assert report.due_month(utc("2026-04-30 23:00")) == MARCH  # a worker down for weeks
    assert report.due_month(utc("2026-04-01 03:59")) == report.Month.parse("2026-02")
    store = get_store()
    early = await report.make_due(
        session=db, store=store, mail=queue_message, now=utc("2026-04-01 07:19")
    )
    assert early is None and await db.get(UsageReport, MARCH.first) is None
    made = await report.make_due(
        session=db, store=store, mail=queue_message, now=utc("2026-04-03 12:00")
    )
    assert made == report.Made(MARCH, built=True, mailed=0)
    assert await store.exists("exports/usage/2026-03.csv")
    assert await store.exists("exports/usage/2026-03.html")
    later = await report.make_due(
        session=db, store=store, mail=queue_message, now=utc("2026-04-03 13:00")
    )
    assert later == report.Made(MARCH, built=False, mailed=0)


async def test_only_admins_may_ask_for_the_report(db: AsyncSession) -> None:
    admin = await make_user(db, Role.ADMIN)
    librarian, patron = await make_user(db, Role.LIBRARIAN), await make_user(db)
    await db.commit()
    for who in (librarian, patron):
        for choice in (True, False):
            with pytest.raises(PermissionDenied):
                await report.set_opt_in(session=db, actor=who, opt_in=choice)
        assert await report.opted_in(session=db, actor=who) is None
    with pytest.raises(NotAuthenticated):
        await report.set_opt_in(session=db, actor=None, opt_in=True)
    await db.commit()
    await db.refresh(librarian)
    await db.refresh(patron)
    assert not librarian.usage_report_opt_in and not patron.usage_report_opt_in
    assert await report.opted_in(session=db, actor=admin) is False
    await report.set_opt_in(session=db, actor=admin, opt_in=True)
    await db.commit()
    await db.refresh(admin)
    assert admin.usage_report_opt_in and await report.opted_in(session=db, actor=admin) is True
    assert await report.set_opt_in(session=db, actor=admin, opt_in=False) is False


async def _tokens(db: AsyncSession, **users: User) -> dict[str, str]:
    tokens = {"anonymous": ""}
    for name, user in users.items():
        login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
        tokens[name] = login.token
    await db.commit()
    return tokens


async def _check_downloads(db: AsyncSession) -> None:
    admin, librarian = await make_user(db, Role.ADMIN), await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    await db.commit()
    await events.record(kind="search", query=SCRIPT, result_count=0, at=utc("2026-03-02 12:00"))
    await events.flush()
    await _make(db)
    tokens = await _tokens(db, admin=admin, librarian=librarian, patron=patron)
    transport = httpx.ASGITransport(app=create_api(), raise_app_exceptions=False)
    url = "/api/v1/admin/reports/usage"
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:

        async def get(path: str, who: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
            return await client.get(f"{url}/{path}", headers=headers)

        got = await get("2026-03.csv", "admin")
        assert got.status_code == 200, got.text
        assert got.content == await _read("exports/usage/2026-03.csv")
        assert got.headers["content-type"] == "text/csv; charset=utf-8"
        assert got.headers["cache-control"] == "private, no-store"
        assert "usage-report-2026-03.csv" in got.headers["content-disposition"]
        assert sections(got.content)["zero_result_queries"][0]["query"] == SCRIPT
        page = await get("2026-03.html", "admin")
        assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert SCRIPT not in page.text and "&lt;script&gt;" in page.text
        missing = await get("2025-01.csv", "admin")
        assert missing.status_code == 404
        for path in ("2026-13.csv", "2026-3.csv", "march.html", "2026-03.pdf", "2026-03.csv.html"):
            got = await get(path, "admin")
            assert (got.status_code, got.text) == (404, missing.text), path
        for who in ("librarian", "patron", "anonymous"):
            for path in ("2026-03.csv", "2026-03.html", "2025-01.csv"):
                got = await get(path, who)
                assert (got.status_code, got.text) == (404, missing.text), (who, path)


async def test_downloads_are_for_admins_only(
    db: AsyncSession, data_dir: Path, new_york: None
) -> None:
    await _check_downloads(db)


async def test_the_report_is_kept_in_s3_too(
    db: AsyncSession, new_york: None, s3_store: str
) -> None:
    await _check_downloads(db)
    bucket = boto3.client(
        "s3", endpoint_url=s3_store.split("endpoint=")[1].split("&")[0], region_name="us-east-1"
    )
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket="library")["Contents"]}
    assert {"objects/exports/usage/2026-03.csv", "objects/exports/usage/2026-03.html"} <= keys
    # Made again: the objects are replaced, not refused.
    await _make(db, force=True)
    assert sections(await _read("exports/usage/2026-03.csv"))["report"][0]["month"] == "2026-03"


async def test_the_command_makes_a_month_again(
    db: AsyncSession, data_dir: Path, new_york: None
) -> None:
    admin = await make_user(db, Role.ADMIN)
    await report.set_opt_in(session=db, actor=admin, opt_in=True)
    await db.commit()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli", "usage-report", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "LIBRARY_TIMEZONE": "America/New_York"},
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    done = cli("2026-03")
    assert done.returncode == 0, done.stderr
    assert "March 2026 made" in done.stdout and "1 e-mail queued" in done.stdout
    assert await get_store().exists("exports/usage/2026-03.html")
    again = cli("2026-03")
    assert again.returncode == 0 and "0 e-mails queued" in again.stdout
    assert "1 e-mail queued" in cli("2026-03", "--mail").stdout
    assert len(await _mails(db)) == 2
    for bad in ("2026-13", report.this_month().name):
        refused = cli(bad)
        assert refused.returncode == 1 and "Error:" in refused.stderr
        assert "Traceback" not in refused.stderr
