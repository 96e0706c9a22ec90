"""RSS and Atom feeds of searches and collections, read back by a real feed parser's
rules (the XML itself, here with lxml), and the sitemap and robots.txt for crawlers."""

from typing import Any

import httpx
import pytest
from lxml import etree
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api import feeds
from backend.documents import metadata
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

ATOM = {"a": "http://www.w3.org/2005/Atom"}
DC = {"dc": "http://purl.org/dc/elements/1.1/"}
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture
async def library(db: AsyncSession, api: httpx.AsyncClient) -> dict[str, Any]:
    librarian = await make_user(db, Role.LIBRARIAN)
    shore = await make_collection(db, librarian, "Sea and shore")
    hidden = await make_collection(db, librarian, "Back office", is_public=False)
    ids = {}
    for collection, name, text in (
        (shore, "lighthouse", "The lighthouse keeper's log, night by night."),
        (shore, "tides", "Tide tables for the lighthouse bay."),
        (hidden, "payroll", "Salaries of the lighthouse keepers."),
    ):
        document, _ = await upload_bytes(db, librarian, collection, text.encode(), f"{name}.txt")
        ids[name] = document.id
    await db.commit()
    await run_burst()
    record, _ = await metadata.editable(session=db, actor=librarian, document_id=ids["tides"])
    record.creators = ["Le Goff, Yann"]
    await metadata.update(session=db, actor=librarian, document_id=ids["tides"], record=record)
    await db.commit()
    return {"ids": ids, "shore": shore, "hidden": hidden, "librarian": librarian}


async def test_a_search_as_rss_and_atom(api: httpx.AsyncClient, library: dict[str, Any]) -> None:
    ids = library["ids"]
    rss = await api.get("/api/v1/feeds/search.rss", params={"q": "lighthouse"})
    assert rss.status_code == 200 and rss.headers["content-type"].startswith("application/rss+xml")
    channel = etree.fromstring(rss.content).find("channel")
    items = channel.findall("item")
    links = {i.findtext("link") for i in items}
    assert links == {f"http://localhost:3000/documents/{ids[n]}" for n in ("lighthouse", "tides")}
    tides = next(i for i in items if i.findtext("link").endswith(f"/{ids['tides']}"))
    assert tides.findtext("dc:creator", namespaces=DC) == "Le Goff, Yann"
    assert "lighthouse" in tides.findtext("description")
    assert tides.findtext("guid") == tides.findtext("link")
    assert tides.findtext("pubDate")

    atom = await api.get("/api/v1/feeds/search.atom", params={"q": "lighthouse"})
    root = etree.fromstring(atom.content)
    entries = root.findall("a:entry", ATOM)
    assert len(entries) == 2
    assert {e.findtext("a:author/a:name", namespaces=ATOM) for e in entries} == {
        "Le Goff, Yann",
        None,
    }
    assert (
        root.find("a:link[@rel='self']", ATOM)
        .get("href")
        .endswith("/api/v1/feeds/search.atom?q=lighthouse")
    )
    assert (await api.get("/api/v1/feeds/search.json", params={"q": "x"})).status_code == 404


async def test_characters_xml_cannot_hold_are_left_out(
    api: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    """A control character in the words searched (or in an extracted title) is dropped,
    not a failed feed (schemathesis found the 500)."""
    for kind in ("rss", "atom"):
        answer = await api.get(f"/api/v1/feeds/search.{kind}", params={"q": "lighthouse\x03\x1b"})
        assert answer.status_code == 200, answer.text
        assert b"\x03" not in answer.content and etree.fromstring(answer.content) is not None


async def test_a_collections_feed_and_a_private_ones(
    api: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    shore, hidden = library["shore"], library["hidden"]
    atom = await api.get(f"/api/v1/collections/{shore.id}/feed.atom")
    entries = etree.fromstring(atom.content).findall("a:entry", ATOM)
    ids = library["ids"]
    assert [e.findtext("a:id", namespaces=ATOM) for e in entries] == [
        f"http://localhost:3000/documents/{ids[n]}" for n in ("tides", "lighthouse")
    ]  # newest first
    assert (await api.get(f"/api/v1/collections/{hidden.id}/feed.rss")).status_code == 404


async def test_sitemap_and_robots(
    api: httpx.AsyncClient, library: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = library["ids"]
    index = etree.fromstring((await api.get("/sitemap.xml")).content)
    parts = [e.text for e in index.iterfind("s:sitemap/s:loc", SITEMAP)]
    assert parts[0].endswith("/sitemaps/collections.xml")
    urls: list[str] = []
    for part in parts:
        got = await api.get(part.removeprefix("http://localhost:3000"))
        assert got.status_code == 200
        urls += [e.text for e in etree.fromstring(got.content).iterfind("s:url/s:loc", SITEMAP)]
    assert f"http://localhost:3000/documents/{ids['lighthouse']}" in urls
    assert f"http://localhost:3000/documents/{ids['payroll']}" not in urls
    assert "http://localhost:3000/collections/sea-and-shore" in urls
    assert "http://localhost:3000/collections/back-office" not in urls
    # Parts of at most 50,000 addresses each, by document id.
    monkeypatch.setattr(feeds, "SITEMAP_PART", 1)
    index = etree.fromstring((await api.get("/sitemap.xml")).content)
    public_ids = (ids["lighthouse"], ids["tides"])
    assert len(index.findall("s:sitemap", SITEMAP)) == 1 + max(public_ids) + 1
    robots = (await api.get("/robots.txt")).text
    assert "Sitemap: http://localhost:3000/sitemap.xml" in robots and "Disallow: /api/" in robots
