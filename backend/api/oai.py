"""OAI-PMH 2.0 at /oai: the six verbs, Dublin Core (`oai_dc`), a set per public
collection (its slug), selective harvesting by date and set, resumption tokens, and
deleted records (backend.documents.harvest says what a harvester sees and when).

Written with lxml against the protocol (openarchives.org, OAI-PMH v2.0, 2002/2015), not
with pyoai's server: that one is synchronous and pages by offset, so the millionth record
of a harvest would cost a scan of all those before it. Here a resumption token carries
the position of the last record sent (its datestamp and id): every page is an index range.

- Identifiers: `oai:HOST:ID`, HOST from PUBLIC_URL, ID the document's id.
- Datestamps: seconds, UTC (`YYYY-MM-DDThh:mm:ssZ`); `from` and `until` may also be days.
- deletedRecord: `transient`. Deleted and hidden documents are answered as deleted, but
  the list is not promised forever (a document hidden and deleted while hidden, say).
- Resumption tokens do not expire; a list changed since may show a record again (moved
  datestamp), never skip one that was there all along.
"""

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from lxml import etree
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.deps import DbSession
from backend.api.xmltext import clean
from backend.documents import catalogue, harvest
from backend.ids import MAX_ID
from backend.settings import get_settings

router = APIRouter(tags=["interoperability"])

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
PAGE = 100
MEDIA_TYPE = "text/xml; charset=utf-8"

# Each verb's arguments: required, optional, exclusive (resumptionToken, alone).
VERBS: dict[str, tuple[set[str], set[str], bool]] = {
    "Identify": (set(), set(), False),
    "ListMetadataFormats": (set(), {"identifier"}, False),
    "ListSets": (set(), set(), True),
    "GetRecord": ({"identifier", "metadataPrefix"}, set(), False),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}, True),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}, True),
}


class OaiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def base_url() -> str:
    return get_settings().public_url.rstrip("/") + "/oai"


def _host() -> str:
    return urlsplit(get_settings().public_url).hostname or "localhost"


def identifier(document_id: int) -> str:
    return f"oai:{_host()}:{document_id}"


def _no_such(value: str) -> OaiError:
    return OaiError("idDoesNotExist", f"No record has the identifier {value[:200]!r}.")


def _document_id(value: str) -> int:
    prefix = f"oai:{_host()}:"
    tail = value.removeprefix(prefix) if value.startswith(prefix) else ""
    if not tail.isdigit() or not 1 <= int(tail) <= MAX_ID:
        raise _no_such(value)
    return int(tail)


def _when(value: str, *, end: bool) -> tuple[datetime, str]:
    """A `from` or `until` argument: the instant it starts at (for `until`, the instant
    just after it: the whole second or day is included), and its granularity."""
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day + timedelta(days=1) if end else day), "day"
        if len(value) == 20 and value.endswith("Z"):
            second = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return (second + timedelta(seconds=1) if end else second), "second"
    except ValueError:
        pass
    raise OaiError("badArgument", f"{value[:40]!r} is not a date (YYYY-MM-DD or ...T hh:mm:ssZ).")


# --- resumption tokens ------------------------------------------------------------------


def _token(args: Mapping[str, Any], last: harvest.Entry) -> str:
    state: dict[str, Any] = {
        k: args[k] for k in ("verb", "metadataPrefix", "from", "until", "set") if k in args
    }
    state["after"] = [last.datestamp.isoformat(), last.document_id]
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, verb: str) -> dict[str, Any]:
    bad = OaiError("badResumptionToken", "That resumption token is not one of ours.")
    if len(token) > 1000:
        raise bad
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        at, last_id = state["after"]
        if not isinstance(state, dict) or state.get("verb") != verb:
            raise bad
        state["after"] = (datetime.fromisoformat(at), int(last_id))
        if state["after"][0].tzinfo is None:
            raise bad
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise bad from None
    return dict(state)


# --- the answer ---------------------------------------------------------------------------


def _envelope(args: Mapping[str, str], valid: bool) -> tuple[Any, Any]:
    root = etree.Element(_q(OAI, "OAI-PMH"), nsmap={None: OAI, "xsi": XSI})
    root.set(_q(XSI, "schemaLocation"), f"{OAI} {OAI_SCHEMA}")
    etree.SubElement(root, _q(OAI, "responseDate")).text = _stamp(datetime.now(UTC))
    request = etree.SubElement(root, _q(OAI, "request"))
    request.text = base_url()
    if valid:  # the request's arguments are echoed only when they were all good
        for name, value in args.items():
            request.set(name, value)
    return root, request


def _xml(root: Any) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-store"})


def _header(parent: Any, entry: harvest.Entry) -> None:
    header = etree.SubElement(parent, _q(OAI, "header"))
    if entry.deleted:
        header.set("status", "deleted")
    etree.SubElement(header, _q(OAI, "identifier")).text = identifier(entry.document_id)
    etree.SubElement(header, _q(OAI, "datestamp")).text = _stamp(entry.datestamp)
    etree.SubElement(header, _q(OAI, "setSpec")).text = entry.set_spec


def _dublin_core(parent: Any, record: catalogue.Catalogued) -> None:
    metadata = etree.SubElement(parent, _q(OAI, "metadata"))
    dc = etree.SubElement(metadata, _q(OAI_DC, "dc"), nsmap={"oai_dc": OAI_DC, "dc": DC})
    dc.set(_q(XSI, "schemaLocation"), f"{OAI_DC} {OAI_DC_SCHEMA}")
    for name, values in record.dublin_core().items():
        for value in values:
            etree.SubElement(dc, _q(DC, name)).text = clean(value)


async def _records(
    session: AsyncSession, parent: Any, entries: list[harvest.Entry], full: bool
) -> None:
    live = await harvest.documents(session, [e.document_id for e in entries if not e.deleted])
    records = dict(
        zip(live, await catalogue.catalogued_many(session, list(live.values())), strict=True)
    )
    for entry in entries:
        if not full:
            _header(parent, entry)
            continue
        record = etree.SubElement(parent, _q(OAI, "record"))
        _header(record, entry)
        if not entry.deleted and entry.document_id in records:
            _dublin_core(record, records[entry.document_id])


def _check_arguments(args: Mapping[str, str], repeated: set[str]) -> str:
    verb = args.get("verb", "")
    if "verb" in repeated or verb not in VERBS:
        raise OaiError("badVerb", "The verb is missing, repeated or not one of the six.")
    required, optional, resumable = VERBS[verb]
    given = set(args) - {"verb"}
    if repeated:
        raise OaiError("badArgument", f"Arguments given twice: {', '.join(sorted(repeated))}.")
    if resumable and "resumptionToken" in given:
        if given != {"resumptionToken"}:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument.")
        return verb
    if unknown := given - required - optional:
        raise OaiError("badArgument", f"Not arguments of {verb}: {', '.join(sorted(unknown))}.")
    if missing := required - given:
        raise OaiError("badArgument", f"{verb} needs {', '.join(sorted(missing))}.")
    return verb


async def answer(session: AsyncSession, args: dict[str, str], repeated: set[str]) -> Response:
    try:
        verb = _check_arguments(args, repeated)
    except OaiError as exc:
        return _error(args, exc)
    root, _ = _envelope(args, valid=True)
    try:
        await VERB_HANDLERS[verb](session, args, root)
    except OaiError as exc:
        return _error(args, exc, valid=exc.code not in ("badArgument", "badResumptionToken"))
    return _xml(root)


def _error(args: Mapping[str, str], exc: OaiError, valid: bool = False) -> Response:
    root, _ = _envelope(args, valid=valid)
    error = etree.SubElement(root, _q(OAI, "error"), code=exc.code)
    error.text = str(exc)
    return _xml(root)


# --- the verbs ----------------------------------------------------------------------------


EMAIL = re.compile(r"^\S+@(\S+\.)+\S+$")  # the protocol's own pattern


def admin_email() -> str:
    """ADMIN_EMAIL, else SMTP_FROM; an address the protocol refuses (a default one at
    localhost, which has no dot) stands as its local name at localhost.localdomain."""
    settings = get_settings()
    given = settings.admin_email or settings.smtp_from
    if EMAIL.match(given):
        return given
    return f"{given.partition('@')[0] or 'library'}@localhost.localdomain"


async def _identify(session: AsyncSession, args: dict[str, str], root: Any) -> None:
    settings = get_settings()
    node = etree.SubElement(root, _q(OAI, "Identify"))
    first = await harvest.earliest(session)
    for name, value in (
        ("repositoryName", settings.library_name),
        ("baseURL", base_url()),
        ("protocolVersion", "2.0"),
        ("adminEmail", admin_email()),
        ("earliestDatestamp", _stamp(first or datetime(2000, 1, 1, tzinfo=UTC))),
        ("deletedRecord", "transient"),
        ("granularity", "YYYY-MM-DDThh:mm:ssZ"),
    ):
        etree.SubElement(node, _q(OAI, name)).text = value


async def _formats(session: AsyncSession, args: dict[str, str], root: Any) -> None:
    if "identifier" in args:
        if await harvest.entry(session, _document_id(args["identifier"])) is None:
            raise OaiError(
                "idDoesNotExist", f"No record has the identifier {args['identifier']!r}."
            )
    node = etree.SubElement(root, _q(OAI, "ListMetadataFormats"))
    fmt = etree.SubElement(node, _q(OAI, "metadataFormat"))
    etree.SubElement(fmt, _q(OAI, "metadataPrefix")).text = "oai_dc"
    etree.SubElement(fmt, _q(OAI, "schema")).text = OAI_DC_SCHEMA
    etree.SubElement(fmt, _q(OAI, "metadataNamespace")).text = OAI_DC


async def _sets(session: AsyncSession, args: dict[str, str], root: Any) -> None:
    if "resumptionToken" in args:  # every set fits in one answer: we never give one
        raise OaiError("badResumptionToken", "ListSets answers in one part.")
    node = etree.SubElement(root, _q(OAI, "ListSets"))
    for collection in await harvest.sets(session):
        item = etree.SubElement(node, _q(OAI, "set"))
        etree.SubElement(item, _q(OAI, "setSpec")).text = collection.slug
        etree.SubElement(item, _q(OAI, "setName")).text = clean(collection.name)


def _format(prefix: str) -> None:
    if prefix != "oai_dc":
        raise OaiError("cannotDisseminateFormat", f"{prefix[:40]!r} is not offered: use oai_dc.")


async def _get_record(session: AsyncSession, args: dict[str, str], root: Any) -> None:
    _format(args["metadataPrefix"])
    found = await harvest.entry(session, _document_id(args["identifier"]))
    if found is None:
        raise _no_such(args["identifier"])
    await _records(session, etree.SubElement(root, _q(OAI, "GetRecord")), [found], full=True)


async def _list(session: AsyncSession, args: dict[str, str], root: Any, full: bool) -> None:
    verb = args["verb"]
    state: dict[str, Any] = (
        _untoken(args["resumptionToken"], verb) if "resumptionToken" in args else dict(args)
    )
    _format(str(state.get("metadataPrefix", "")))
    since, since_grain = _when(state["from"], end=False) if "from" in state else (None, "")
    before, before_grain = _when(state["until"], end=True) if "until" in state else (None, "")
    if since_grain and before_grain and since_grain != before_grain:
        raise OaiError("badArgument", "from and until must have the same granularity.")
    if since and before and since >= before:
        raise OaiError("badArgument", "from is later than until.")
    entries = await harvest.entries(
        session,
        set_spec=state.get("set"),
        since=since,
        before=before,
        after=state.get("after"),
        limit=PAGE + 1,
    )
    if not entries and "resumptionToken" not in args:
        raise OaiError("noRecordsMatch", "No record matches these arguments.")
    node = etree.SubElement(root, _q(OAI, verb))
    page = entries[:PAGE]
    await _records(session, node, page, full=full)
    if "resumptionToken" in args or len(entries) > PAGE:
        token = etree.SubElement(node, _q(OAI, "resumptionToken"))
        if len(entries) > PAGE:  # an empty token closes a list that had more than one part
            token.text = _token({**state, "verb": verb}, page[-1])


async def _identifiers(session: AsyncSession, args: dict[str, str], root: Any) -> None:
    await _list(session, args, root, full=False)


async def _list_records(session: AsyncSession, args: dict[str, str], root: Any) -> None:
    await _list(session, args, root, full=True)


VERB_HANDLERS = {
    "Identify": _identify,
    "ListMetadataFormats": _formats,
    "ListSets": _sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _identifiers,
    "ListRecords": _list_records,
}


async def _arguments(request: Request) -> tuple[dict[str, str], set[str]]:
    if request.method == "POST":
        pairs = list((await request.form()).multi_items())
    else:
        pairs = list(request.query_params.multi_items())
    args: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in args:
            repeated.add(name)
        args[name] = str(value)[:2000]
    return args, repeated


OAI_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/xml": {}}, "description": "An OAI-PMH answer (errors too)"}
}


@router.get("/oai", response_class=Response, responses=OAI_ANSWER, operation_id="oai_get")
async def oai(request: Request, session: DbSession) -> Response:
    """OAI-PMH 2.0 (Identify, ListMetadataFormats, ListSets, ListIdentifiers,
    ListRecords, GetRecord) over the public collections, in Dublin Core."""
    args, repeated = await _arguments(request)
    return await answer(session, args, repeated)


@router.post("/oai", response_class=Response, responses=OAI_ANSWER, operation_id="oai_post")
async def oai_posted(request: Request, session: DbSession) -> Response:
    """The same, with the arguments as a form (application/x-www-form-urlencoded)."""
    return await oai(request, session)
