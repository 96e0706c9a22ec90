"""Saved searches: kept by their owner alone, and watched for them: the alert mails the
documents that became ready since the last look and match, as the owner may see them;
the Atom feed shows the same, behind a key the owner can change. Real PostgreSQL, Redis,
search engine and arq worker."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from arq.jobs import Job as ArqJob
from lxml import etree
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.clock import utcnow
from backend.collections import service as collections
from backend.errors import InvalidInput, NotAuthenticated, NotFound
from backend.mail.models import OutboxMessage
from backend.mail.service import mailbox_dir
from backend.search import saved
from backend.search.models import SavedSearch
from backend.users.models import Role, User
from jobs.tasks import send_search_alerts
from jobs.worker import WorkerSettings
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

ATOM = {"a": "http://www.w3.org/2005/Atom"}
A_DAY_ON = timedelta(days=1)


@pytest.fixture
async def shelves(db: AsyncSession, data_dir: Any) -> AsyncIterator[dict[str, Any]]:
    librarian = await make_user(db, Role.LIBRARIAN)
    shore = await make_collection(db, librarian, "Sea and shore")
    hidden = await make_collection(db, librarian, "Back office", is_public=False)
    patron = await make_user(db, email="patron@example.org")
    member = await make_user(db, email="member@example.org")
    await collections.add_member(
        session=db,
        actor=librarian,
        collection_id=hidden.id,  # type: ignore[arg-type]
        email=member.email,
        role="viewer",
    )
    await db.commit()
    yield {"librarian": librarian, "shore": shore, "hidden": hidden, "patron": patron,
           "member": member}  # fmt: skip
    for path in mailbox_dir().glob("*"):  # the alerts delivered
        path.unlink()


async def _add(db: AsyncSession, shelves: dict[str, Any], where: str, name: str, body: str) -> int:
    document, _ = await upload_bytes(
        db, shelves["librarian"], shelves[where], body.encode(), f"{name}.txt"
    )
    await db.commit()
    await run_burst()  # processed, and in the search engine
    assert document.id is not None
    return document.id


async def _mail(db: AsyncSession, to: str) -> list[OutboxMessage]:
    found = await db.exec(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == to)
        .order_by(col(OutboxMessage.id))
        .execution_options(populate_existing=True)
    )
    return list(found.all())


async def test_a_saved_search_is_its_owners_alone(
    db: AsyncSession, shelves: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    patron: User = shelves["patron"]
    other: User = shelves["member"]
    kept, new = await saved.save(
        session=db, actor=patron, query="  lighthouse   keeper ", filters={"year": ["1927"]}
    )
    assert new and kept.name == "lighthouse keeper" and kept.filters == {"year": ["1927"]}
    again, new = await saved.save(
        session=db, actor=patron, query="lighthouse keeper", filters={"year": ["1927"]}
    )
    assert (again.id, new) == (kept.id, False)  # the same search, kept once
    assert saved.page_address(kept) == "/search?q=lighthouse+keeper&year=1927"
    assert saved.describe(kept) == "“lighthouse keeper” · year: 1927"
    assert [s.id for s in await saved.mine(session=db, actor=patron)] == [kept.id]
    assert await saved.mine(session=db, actor=other) == []
    assert kept.id is not None
    for act in (
        saved.delete(session=db, actor=other, saved_id=kept.id),
        saved.set_alert(session=db, actor=other, saved_id=kept.id, alert=False),
        saved.new_feed_address(session=db, actor=other, saved_id=kept.id),
    ):
        with pytest.raises(NotFound):
            await act
    with pytest.raises(NotAuthenticated):
        await saved.save(session=db, actor=None, query="lighthouse")
    with pytest.raises(InvalidInput, match="Type some words"):
        await saved.save(session=db, actor=patron, query="   ", filters={"nonsense": ["x"]})
    with pytest.raises(InvalidInput, match="Filters are"):
        await saved.save(session=db, actor=patron, query="x", filters={"year": "1927"})
    monkeypatch.setattr(saved, "MAX_PER_PERSON", 2)
    await saved.save(session=db, actor=patron, query="tides")
    with pytest.raises(InvalidInput, match="delete one first"):
        await saved.save(session=db, actor=patron, query="storms")
    await saved.delete(session=db, actor=patron, saved_id=kept.id)
    assert [s.query for s in await saved.mine(session=db, actor=patron)] == ["tides"]


async def test_an_alert_names_the_new_documents_its_owner_may_see_once(
    db: AsyncSession, shelves: dict[str, Any]
) -> None:
    patron, member = shelves["patron"], shelves["member"]
    for person in (patron, member):
        await saved.save(session=db, actor=person, query="lighthouse")
    quiet, _ = await saved.save(session=db, actor=patron, query="keeper")
    await saved.set_alert(session=db, actor=patron, saved_id=quiet.id, alert=False)  # type: ignore[arg-type]
    await db.commit()
    log = await _add(db, shelves, "shore", "log", "The lighthouse keeper's log, night by night.")
    payroll = await _add(db, shelves, "hidden", "payroll", "Salaries of the lighthouse keepers.")
    await _add(db, shelves, "shore", "tides", "Tide tables for the bay.")  # does not match

    counts = await saved.send_alerts(session=db, now=utcnow() + A_DAY_ON)
    assert counts == {"looked": 2, "sent": 2}
    (to_patron,) = await _mail(db, patron.email)
    assert to_patron.subject == "1 new document for “lighthouse”"
    assert f"/documents/{log}" in to_patron.body and f"/documents/{payroll}" not in to_patron.body
    assert "Salaries" not in to_patron.body
    (to_member,) = await _mail(db, member.email)
    assert to_member.subject == "2 new documents for “lighthouse”"
    assert f"/documents/{log}" in to_member.body and f"/documents/{payroll}" in to_member.body
    assert "/search?q=lighthouse" in to_member.body

    # Looked at again the same day: not due. A day later: only what is new since.
    assert await saved.send_alerts(session=db, now=utcnow() + A_DAY_ON) == {"looked": 0, "sent": 0}
    # (The clock of this test is pretend: the last look ended now, not a day ahead.)
    await db.exec(text("UPDATE saved_searches SET alerted_through = now()"))  # type: ignore[call-overload]
    beacon = await _add(db, shelves, "shore", "beacon", "A lighthouse beacon, rebuilt.")
    member.is_active = False  # a deactivated owner is told nothing
    db.add(member)
    await db.commit()
    counts = await saved.send_alerts(session=db, now=utcnow() + A_DAY_ON)
    assert counts == {"looked": 2, "sent": 1}
    first, second = await _mail(db, patron.email)
    assert f"/documents/{beacon}" in second.body and f"/documents/{log}" not in second.body
    assert len(await _mail(db, member.email)) == 1


async def test_the_feed_shows_what_its_owner_may_see_behind_its_key(
    db: AsyncSession, api: httpx.AsyncClient, shelves: dict[str, Any]
) -> None:
    kept, _ = await saved.save(session=db, actor=shelves["patron"], query="lighthouse")
    theirs, _ = await saved.save(session=db, actor=shelves["member"], query="lighthouse")
    await db.commit()
    log = await _add(db, shelves, "shore", "log", "The lighthouse keeper's log.")
    payroll = await _add(db, shelves, "hidden", "payroll", "Salaries of the lighthouse keepers.")

    def entries(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/atom+xml")
        root = etree.fromstring(answer.content)
        return [e.findtext("a:link", namespaces=ATOM) or e.find("a:link", ATOM).get("href")
                for e in root.findall("a:entry", ATOM)]  # fmt: skip

    site = "http://localhost:3000/documents/"
    assert entries(await api.get(saved.feed_path(kept))) == [f"{site}{log}"]
    # newest first
    assert entries(await api.get(saved.feed_path(theirs))) == [f"{site}{payroll}", f"{site}{log}"]
    for wrong in ("", "0" * 40, saved.feed_key(theirs)):
        answer = await api.get(f"/api/v1/saved-searches/{kept.id}/feed.atom", params={"key": wrong})
        assert answer.status_code == 404
    old = saved.feed_path(kept)
    await saved.new_feed_address(session=db, actor=shelves["patron"], saved_id=kept.id)  # type: ignore[arg-type]
    await db.commit()
    assert (await api.get(old)).status_code == 404
    assert entries(await api.get(saved.feed_path(kept))) == [f"{site}{log}"]


def test_the_worker_looks_every_hour() -> None:
    (job,) = [c for c in WorkerSettings.cron_jobs if c.coroutine is send_search_alerts]
    assert (job.minute, job.second, job.hour, job.unique) == ({40}, {10}, None, True)


async def test_the_job_in_a_real_worker_mails_once(
    db: AsyncSession, shelves: dict[str, Any]
) -> None:
    patron = shelves["patron"]
    kept, _ = await saved.save(session=db, actor=patron, query="lighthouse")
    await db.commit()
    log = await _add(db, shelves, "shore", "log", "The lighthouse keeper's log.")
    # As if saved two days ago and the document ready an hour ago.
    kept.alerted_through = utcnow() - 2 * A_DAY_ON
    db.add(kept)
    await db.exec(
        text(
            "UPDATE document_versions SET processed_at = now() - interval '1 hour' "
            "WHERE document_id = :d"
        ).bindparams(d=log)  # type: ignore[call-overload]
    )
    await db.commit()
    for run in ("alerts:1", "alerts:2"):
        await queue.enqueue(queue.Job("send_search_alerts", (), run))
        await run_burst()  # the alerts, then the mail they queued
        pool = await queue.get_pool()
        result = await ArqJob(run, pool, _deserializer=queue.deserialize).result(timeout=5)
        assert result == (
            {"looked": 1, "sent": 1} if run == "alerts:1" else {"looked": 0, "sent": 0}
        )
    (message,) = await _mail(db, patron.email)
    assert message.sent_at is not None  # (and its body, delivered, left the outbox)
    (delivered,) = [p.read_text() for p in mailbox_dir().glob("*") if patron.email in p.read_text()]
    assert f"/documents/{log}" in delivered and "1 new document for" in delivered
    await db.refresh(kept)
    assert kept.last_alert_count == 1 and kept.alerted_through > utcnow() - timedelta(minutes=11)
    assert (await db.get(SavedSearch, kept.id)) is not None


async def test_saved_searches_through_the_api_are_their_owners_alone(
    db: AsyncSession, api: httpx.AsyncClient, shelves: dict[str, Any]
) -> None:
    """Keep, list, rename, switch the alert, re-key the feed and delete over the REST API,
    with a personal token's scopes; someone else's is a 404, as a missing one."""
    from backend.auth import personal_tokens

    async def token(user: User, *scopes: str) -> dict[str, str]:
        made = await personal_tokens.create(session=db, actor=user, name="s", scopes=scopes)
        await db.commit()
        return {"Authorization": f"Bearer {made.secret}"}

    mine = await token(shelves["patron"], "read", "write")
    reader = await token(shelves["patron"], "read")
    other = await token(shelves["member"], "read", "write")
    assert (await api.get("/api/v1/saved-searches")).status_code == 401
    body = {"query": "  lighthouse  keepers ", "filters": {"subject": ["Scotland"]}}
    made = await api.post("/api/v1/saved-searches", json=body, headers=mine)
    assert made.status_code == 201, made.text
    kept = made.json()
    assert kept["query"] == "lighthouse keepers" and kept["name"] == "lighthouse keepers"
    assert made.headers["location"] == f"/api/v1/saved-searches/{kept['id']}"
    assert kept["search_url"].endswith("/search?q=lighthouse+keepers&subject=Scotland")
    assert (await api.get(kept["feed_url"].split("3000", 1)[1])).status_code == 200
    again = await api.post("/api/v1/saved-searches", json=body, headers=mine)
    assert again.status_code == 200 and again.json()["id"] == kept["id"]  # the one kept before
    assert (await api.post("/api/v1/saved-searches", json=body, headers=reader)).status_code == 403
    for wrong in ({"query": ""}, {"filters": {"subject": "x"}}, {"sort": "sideways"}):
        answer = await api.post("/api/v1/saved-searches", json=wrong, headers=mine)
        assert answer.status_code in (400, 422), (wrong, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")

    listed = (await api.get("/api/v1/saved-searches", headers=reader)).json()["items"]
    assert [s["id"] for s in listed] == [kept["id"]]
    assert (await api.get("/api/v1/saved-searches", headers=other)).json()["items"] == []
    one = f"/api/v1/saved-searches/{kept['id']}"
    changed = await api.patch(
        one, json={"name": " Scottish  lights ", "alert": False}, headers=mine
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Scottish lights" and changed.json()["alert"] is False
    assert (await api.patch(one, json={"name": "  "}, headers=mine)).status_code == 422
    rekeyed = await api.post(f"{one}/feed-address", headers=mine)
    assert rekeyed.status_code == 200 and rekeyed.json()["feed_url"] != kept["feed_url"]
    assert (await api.get(kept["feed_url"].split("3000", 1)[1])).status_code == 404
    # Someone else's saved search is not there for them, whatever they ask.
    for method, path, payload in (
        ("GET", one, None),
        ("PATCH", one, {"name": "mine now"}),
        ("POST", f"{one}/feed-address", None),
        ("DELETE", one, None),
    ):
        answer = await api.request(method, path, json=payload, headers=other)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await api.get(one, headers=mine)).json()["name"] == "Scottish lights"
    assert (await api.delete(one, headers=mine)).status_code == 204
    assert (await api.get(one, headers=mine)).status_code == 404
