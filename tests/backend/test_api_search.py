"""Search and autocomplete through the REST API, against the real database, index and
Redis: visibility as on the pages, filters and facets, paging, snippets with page
numbers, bad parameters, and the search budget."""

from pathlib import Path
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.users.models import Role
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst


async def _library(db: AsyncSession) -> dict[str, Any]:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Sea and shore")
    closed = await make_collection(db, librarian, "Staff only", is_public=False)
    for i in range(3):
        text = f"The lighthouse keeper number {i} logged the storm.\n".encode()
        await upload_bytes(db, librarian, shelf, text, f"keeper-{i}.txt")
    await upload_bytes(db, librarian, closed, b"lighthouse payroll and wages\n", "payroll.txt")
    await db.commit()
    await run_burst()
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    return {"librarian": {"Authorization": f"Bearer {login.token}"}, "shelf": shelf}


async def test_search_sees_what_the_caller_may_see_with_facets_and_pages(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    world = await _library(db)
    anonymous = await api.get("/api/v1/search", params={"q": "lighthouse"})
    assert anonymous.status_code == 200
    found = anonymous.json()
    assert found["total"] == 3 and {h["title"] for h in found["hits"]} == {
        "keeper 0",
        "keeper 1",
        "keeper 2",
    }
    hit = found["hits"][0]
    assert "page_no" in hit  # (a PDF's hits carry the page the words are on)
    assert [s["text"] for s in hit["snippet"] if s["hit"]] == ["lighthouse"]
    assert [(v["label"], v["count"]) for v in found["facets"]["collection"]] == [
        ("Sea and shore", 3)
    ]
    staff = (
        await api.get("/api/v1/search", params={"q": "lighthouse"}, headers=world["librarian"])
    ).json()
    assert staff["total"] == 4  # the private collection too, for its curator
    filtered = (
        await api.get(
            "/api/v1/search",
            params={"q": "lighthouse", "collection": str(world["shelf"].id)},
            headers=world["librarian"],
        )
    ).json()
    assert filtered["total"] == 3
    paged = (
        await api.get(
            "/api/v1/search", params={"q": "lighthouse", "page_size": 2, "page": 2, "sort": "title"}
        )
    ).json()
    assert [h["title"] for h in paged["hits"]] == ["keeper 2"]
    typo = (await api.get("/api/v1/search", params={"q": "lighthuose"})).json()
    assert typo["suggestion"] == "lighthouse"
    offered = (await api.get("/api/v1/complete", params={"q": "keep"})).json()
    assert any(c["value"].startswith("keeper") for c in offered)


async def test_bad_parameters_are_a_400_with_what_was_wrong(api: httpx.AsyncClient) -> None:
    for params in ({"sort": "chaos"}, {"page_size": 1000}, {"page": 0}, {"q": "x" * 1001}):
        answer = await api.get("/api/v1/search", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["detail"].startswith("Invalid parameter")


async def test_searches_spend_the_search_budget(api: httpx.AsyncClient, rate_limits: Any) -> None:
    """Each search spends one of its address's searches (the gateway spends it with the
    request's other budgets; a feed's route spends its own), and the refusal says so."""
    rate_limits(search="2/minute")
    codes = [(await api.get("/api/v1/search", params={"q": "x"})).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    for refused in (
        await api.get("/api/v1/complete", params={"q": "xy"}),
        await api.get("/api/v1/feeds/search.atom", params={"q": "x"}),
    ):
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["detail"].startswith("Too many searches; try again in")
    rate_limits(search="1/minute")
    feeds = [await api.get("/api/v1/feeds/search.rss", params={"q": "y"}) for _ in range(2)]
    assert [f.status_code for f in feeds] == [200, 429]
    assert (await api.get("/api/v1/search", params={"q": "y"})).status_code == 429
