"""OAI-PMH 2.0 (backend.api.oai): every answer checked against the protocol's XML schema
(tests/fixtures/oai/OAI-PMH.xsd, as published by the Open Archives Initiative), the six
verbs, sets, selective harvesting, resumption tokens, deleted records, every error code;
and a whole harvest by a real OAI-PMH client (sickle) from the API served over HTTP."""

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api import oai
from backend.api.routes import create_api
from backend.collections import service as collections
from backend.documents import metadata
from backend.documents import service as documents
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

SCHEMA = etree.XMLSchema(
    etree.parse(str(Path(__file__).parents[1] / "fixtures" / "oai" / "OAI-PMH.xsd"))
)
NS = {"o": oai.OAI, "dc": oai.DC, "oai_dc": oai.OAI_DC}
DC_ELEMENTS = {
    "title", "creator", "subject", "description", "publisher", "contributor", "date", "type",
    "format", "identifier", "source", "language", "relation", "coverage", "rights",
}  # fmt: skip


async def ask(api: httpx.AsyncClient, **args: str) -> Any:
    """An OAI-PMH answer, checked against the protocol's schema."""
    got = await api.get("/oai", params=args)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/xml")
    tree = etree.fromstring(got.content)
    if not SCHEMA.validate(tree):
        pytest.fail(f"not valid OAI-PMH: {SCHEMA.error_log}\n{got.text[:2000]}")
    return tree


def error_of(tree: Any) -> str | None:
    found = tree.find("o:error", NS)
    return found.get("code") if found is not None else None


@pytest.fixture
async def library(db: AsyncSession, api: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    librarian = await make_user(db, Role.LIBRARIAN)
    shore = await make_collection(db, librarian, "Sea and shore")
    hills = await make_collection(db, librarian, "Hills")
    hidden = await make_collection(db, librarian, "Back office", is_public=False)
    made = {}
    for collection, name, text in (
        (shore, "lighthouse", "The lighthouse keeper's log."),
        (shore, "tides", "Tide tables for the bay."),
        (hills, "shepherd", "A shepherd's year.\x07"),
        (hidden, "payroll", "Salaries."),
    ):
        document, _ = await upload_bytes(
            db, librarian, collection, f"{text}\n".encode(), f"{name}.txt"
        )
        made[name] = document.id
    await db.commit()
    await run_burst()
    record, _ = await metadata.editable(session=db, actor=librarian, document_id=made["tides"])
    record.creators = ["Le Goff, Yann"]
    record.subject_ids = []
    await metadata.update(session=db, actor=librarian, document_id=made["tides"], record=record)
    await db.commit()
    yield {"librarian": librarian, "ids": made, "shore": shore, "hills": hills, "hidden": hidden}


def identifiers(tree: Any) -> list[str]:
    return [e.text for e in tree.iterfind(".//o:header/o:identifier", NS)]


def oai_id(document_id: int) -> str:
    return oai.identifier(document_id)


async def test_identify_formats_and_sets(api: httpx.AsyncClient, library: dict[str, Any]) -> None:
    tree = await ask(api, verb="Identify")
    identify = tree.find("o:Identify", NS)
    assert identify.findtext("o:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("o:baseURL", namespaces=NS) == oai.base_url()
    assert identify.findtext("o:deletedRecord", namespaces=NS) == "transient"
    assert tree.find("o:request", NS).get("verb") == "Identify"
    formats = await ask(api, verb="ListMetadataFormats")
    assert [e.text for e in formats.iterfind(".//o:metadataPrefix", NS)] == ["oai_dc"]
    sets = await ask(api, verb="ListSets")
    assert [e.text for e in sets.iterfind(".//o:setSpec", NS)] == ["hills", "sea-and-shore"]


async def test_records_in_dublin_core_for_what_anyone_may_see(
    api: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    ids = library["ids"]
    tree = await ask(api, verb="ListRecords", metadataPrefix="oai_dc")
    assert sorted(identifiers(tree)) == sorted(
        oai_id(ids[n]) for n in ("lighthouse", "tides", "shepherd")
    )
    for dc in tree.iterfind(".//oai_dc:dc", NS):
        assert {etree.QName(e).localname for e in dc} <= DC_ELEMENTS
        assert all(etree.QName(e).namespace == oai.DC for e in dc)
    one = await ask(api, verb="GetRecord", metadataPrefix="oai_dc", identifier=oai_id(ids["tides"]))
    assert one.findtext(".//dc:creator", namespaces=NS) == "Le Goff, Yann"
    assert one.findtext(".//o:setSpec", namespaces=NS) == "sea-and-shore"
    assert f"/documents/{ids['tides']}" in one.findtext(".//dc:identifier", namespaces=NS)
    # A control character in a document's text does not break the XML.
    await ask(api, verb="GetRecord", metadataPrefix="oai_dc", identifier=oai_id(ids["shepherd"]))
    private = await ask(
        api, verb="GetRecord", metadataPrefix="oai_dc", identifier=oai_id(ids["payroll"])
    )
    assert error_of(private) == "idDoesNotExist"


async def test_selective_harvesting_by_set_and_date(
    api: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    ids = library["ids"]
    shore = await ask(api, verb="ListIdentifiers", metadataPrefix="oai_dc", set="sea-and-shore")
    assert sorted(identifiers(shore)) == sorted(oai_id(ids[n]) for n in ("lighthouse", "tides"))
    assert (
        error_of(await ask(api, verb="ListIdentifiers", metadataPrefix="oai_dc", set="back-office"))
        == "noRecordsMatch"
    )
    stamps = [e.text for e in shore.iterfind(".//o:datestamp", NS)]
    latest = max(stamps)
    since = await ask(api, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": latest})
    assert oai_id(ids["tides"]) in identifiers(since)  # the edited one is among the latest
    until = await ask(api, verb="ListIdentifiers", metadataPrefix="oai_dc", until="2000-01-01")
    assert error_of(until) == "noRecordsMatch"
    day = latest[:10]
    same_day = await ask(
        api, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": day, "until": day}
    )
    assert len(identifiers(same_day)) == 3


async def test_long_lists_come_in_parts(
    api: httpx.AsyncClient, library: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oai, "PAGE", 2)
    first = await ask(api, verb="ListRecords", metadataPrefix="oai_dc")
    token = first.find(".//o:resumptionToken", NS)
    assert len(identifiers(first)) == 2 and token.text
    second = await ask(api, verb="ListRecords", resumptionToken=token.text)
    last = second.find(".//o:resumptionToken", NS)
    assert len(identifiers(second)) == 1 and last is not None and not last.text
    assert set(identifiers(first)).isdisjoint(identifiers(second))
    # A token of another verb, or not ours, is refused.
    wrong = await ask(api, verb="ListIdentifiers", resumptionToken=token.text)
    assert error_of(wrong) == "badResumptionToken"
    for junk in ("abc", "eyJ2ZXJiIjoxfQ", "x" * 2000):
        assert error_of(await ask(api, verb="ListRecords", resumptionToken=junk)) == (
            "badResumptionToken"
        )


async def test_deleted_and_hidden_documents_are_deleted_records(
    api: httpx.AsyncClient, db: AsyncSession, library: dict[str, Any]
) -> None:
    ids, librarian = library["ids"], library["librarian"]
    await documents.delete_document(session=db, actor=librarian, document_id=ids["lighthouse"])
    await db.commit()
    gone = await ask(
        api, verb="GetRecord", metadataPrefix="oai_dc", identifier=oai_id(ids["lighthouse"])
    )
    header = gone.find(".//o:header", NS)
    assert header.get("status") == "deleted" and gone.find(".//o:metadata", NS) is None
    listed = await ask(api, verb="ListRecords", metadataPrefix="oai_dc", set="sea-and-shore")
    states = {
        h.findtext("o:identifier", namespaces=NS): h.get("status")
        for h in listed.iterfind(".//o:header", NS)
    }
    assert states == {oai_id(ids["lighthouse"]): "deleted", oai_id(ids["tides"]): None}

    hills = library["hills"]
    await collections.update(
        session=db, actor=librarian, collection_id=hills.id, name="Hills", description="",
        is_public=False,
    )  # fmt: skip
    await db.commit()
    hidden = await ask(
        api, verb="GetRecord", metadataPrefix="oai_dc", identifier=oai_id(ids["shepherd"])
    )
    assert hidden.find(".//o:header", NS).get("status") == "deleted"
    before = hidden.findtext(".//o:datestamp", namespaces=NS)
    await asyncio.sleep(1.1)  # datestamps are in seconds
    await collections.update(
        session=db, actor=librarian, collection_id=hills.id, name="Hills", description="",
        is_public=True,
    )  # fmt: skip
    await db.commit()
    back = await ask(
        api, verb="GetRecord", metadataPrefix="oai_dc", identifier=oai_id(ids["shepherd"])
    )
    assert back.find(".//o:header", NS).get("status") is None
    assert back.findtext(".//o:datestamp", namespaces=NS) > before  # harvests since find it


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({}, "badVerb"),
        ({"verb": "Harvest"}, "badVerb"),
        ({"verb": "ListRecords"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "colour": "red"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "yesterday"}, "badArgument"),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "oai_dc",
                "from": "2020-01-01",
                "until": "2021-01-01T00:00:00Z",
            },
            "badArgument",
        ),  # fmt: skip
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "oai_dc",
                "from": "2021-01-02",
                "until": "2021-01-01",
            },
            "badArgument",
        ),  # fmt: skip
        ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
        (
            {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:x:1"},
            "idDoesNotExist",
        ),
        ({"verb": "Identify", "set": "x"}, "badArgument"),
        (
            {"verb": "ListRecords", "resumptionToken": "x", "metadataPrefix": "oai_dc"},
            "badArgument",
        ),
        ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ],
)
async def test_every_error_is_an_oai_error(
    api: httpx.AsyncClient, args: dict[str, str], code: str
) -> None:
    tree = await ask(api, **args)
    assert error_of(tree) == code
    if code in ("badVerb", "badArgument"):
        assert dict(tree.find("o:request", NS).attrib) == {}  # arguments not echoed


async def test_repeated_arguments_and_post(api: httpx.AsyncClient, clean: None) -> None:
    repeated = await api.get("/oai?verb=Identify&verb=Identify")
    assert error_of(etree.fromstring(repeated.content)) == "badVerb"
    posted = await api.post("/oai", data={"verb": "Identify"})
    tree = etree.fromstring(posted.content)
    assert SCHEMA.validate(tree) and tree.find("o:Identify", NS) is not None


# --- a real harvester ----------------------------------------------------------------------


@pytest.fixture
def served_api() -> Iterator[str]:
    """The API served over HTTP by uvicorn, in a thread of this process."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_api(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


async def test_sickle_harvests_everything_through_the_resumption_tokens(
    library: dict[str, Any], served_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sickle import Sickle

    monkeypatch.setattr(oai, "PAGE", 1)  # every record in its own part

    def harvest() -> tuple[str, list[str], list[list[str]], list[str]]:
        client = Sickle(f"{served_api}/oai", max_retries=1, timeout=30)
        name = client.Identify().repositoryName
        records = list(client.ListRecords(metadataPrefix="oai_dc"))
        sets = [s.setSpec for s in client.ListSets()]
        return (
            name,
            [r.header.identifier for r in records],
            [r.metadata["title"] for r in records],
            sets,
        )

    name, harvested, titles, sets = await asyncio.to_thread(harvest)
    ids = library["ids"]
    assert name == "Library"
    assert sorted(harvested) == sorted(oai_id(ids[n]) for n in ("lighthouse", "tides", "shepherd"))
    assert all(len(t) == 1 and t[0] for t in titles)
    assert sets == ["hills", "sea-and-shore"]
