"""Saved searches: a person keeps a search, runs it again, and is told when new documents
match it, by e-mail (a daily job) and by an Atom feed.

"New" is "became ready": a document whose current version finished processing in the
window looked at. The window of an alert runs from the saved search's `alerted_through` to
a few minutes before the job started (`SETTLE`), so a document processed a moment ago, and
perhaps not yet in the search engine, waits for the next run instead of being missed.
Which of the window's documents match is asked of the search engine itself, as the owner
(`service.search(within=…)`): the same words, filters, visibility and ranking as the
search page, on the day of the alert. An owner who may no longer see a collection is not
told of its documents; a deactivated owner is told nothing.

Each alert is committed with its mail in the outbox and the new `alerted_through`, one
saved search at a time, so a job that stops half way sends nothing twice and the next run
picks up where it ended.
"""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import keys
from backend.clock import utcnow
from backend.db import sql
from backend.errors import InvalidInput, NotAuthenticated, NotFound
from backend.mail import service as mail
from backend.search import service
from backend.search.engine import FACETS, SORTS
from backend.search.models import SavedSearch
from backend.search.schemas import Hit
from backend.settings import get_settings
from backend.users.models import User

MAX_PER_PERSON = 100
MAX_NAME = 200
ALERT_HITS = 20  # documents named in one alert; the rest are counted
FEED_DAYS = 30  # a feed's entries: the matches among the documents ready in these days
FEED_ITEMS = 50
SETTLE = timedelta(minutes=10)
# A saved search is looked at again once its last look is this old: the job runs every
# hour, so each is looked at once a day, and a worker that was down catches up.
DUE_AFTER = timedelta(hours=23)
# Documents of a window asked about in one search (a bulk import of many thousands in a
# day is asked about in parts of this size).
CHUNK = 5_000
BATCH = 200  # saved searches read per round of the daily job
FEED_PURPOSE = "saved-search-feed"


@dataclass(frozen=True)
class Matches:
    total: int
    hits: list[tuple[Hit, datetime]]  # newest first: the hit, when it became ready


def _filters(filters: Any) -> dict[str, list[str]]:
    if filters is None:
        return {}
    if not isinstance(filters, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
        for k, v in filters.items()
    ):
        raise InvalidInput("Filters are a list of values for each facet.")
    return service.clean_filters({k: v for k, v in filters.items() if k in FACETS})


def describe(saved: SavedSearch) -> str:
    """The search in words: "lighthouse · author: Woolf, Virginia · year: 1927"."""
    parts = [f"“{saved.query}”"] if saved.query else []
    parts += [f"{facet}: {', '.join(values)}" for facet, values in saved.filters.items()]
    return " · ".join(parts) or "everything"


def page_address(saved: SavedSearch) -> str:
    """The search page's address (relative) that runs the saved search."""
    return service.search_address(saved.query, saved.filters, saved.sort)


def feed_key(saved: SavedSearch) -> str:
    """The key of the saved search's feed address (derived, never stored)."""
    return keys.keyed_hash(FEED_PURPOSE, f"{saved.id}:{saved.feed_nonce}")[:40]


def feed_path(saved: SavedSearch) -> str:
    return f"/api/v1/saved-searches/{saved.id}/feed.atom?key={feed_key(saved)}"


def _person(actor: User | None) -> User:
    if actor is None or actor.id is None or not actor.is_active:
        raise NotAuthenticated("Log in to keep searches.")
    return actor


async def mine(*, session: AsyncSession, actor: User | None) -> list[SavedSearch]:
    person = _person(actor)
    found = await session.exec(
        select(SavedSearch)
        .where(SavedSearch.user_id == person.id)
        .order_by(col(SavedSearch.created_at).desc(), col(SavedSearch.id).desc())
    )
    return list(found.all())


async def save(
    *,
    session: AsyncSession,
    actor: User | None,
    query: str,
    filters: Any = None,
    sort: str = "relevance",
    name: str = "",
    alert: bool = True,
) -> tuple[SavedSearch, bool]:
    """Keep a search for the actor; (the saved search, whether it is new). The same search
    saved again is the one kept before."""
    person = _person(actor)
    if not isinstance(query, str) or not isinstance(name, str) or not isinstance(sort, str):
        raise InvalidInput("A search is its words, filters and order.")
    words, chosen = service.plain_query(query), _filters(filters)
    if not words and not chosen:
        raise InvalidInput("Type some words or choose a filter before keeping a search.")
    order = sort if sort in SORTS else "relevance"
    kept_now = await mine(session=session, actor=person)
    for kept in kept_now:
        if (kept.query, kept.filters, kept.sort) == (words, chosen, order):
            return kept, False
    if len(kept_now) >= MAX_PER_PERSON:
        raise InvalidInput(
            f"You keep {MAX_PER_PERSON} searches, the most one person may; delete one first."
        )
    saved = SavedSearch(
        user_id=person.id,  # type: ignore[arg-type]
        name=(" ".join(name.split()) or words or "Filtered search")[:MAX_NAME],
        query=words,
        filters=chosen,
        sort=order,
        alert=bool(alert),
        feed_nonce=secrets.token_hex(16),
    )
    session.add(saved)
    await session.flush()
    return saved, True


async def one(*, session: AsyncSession, actor: User | None, saved_id: int) -> SavedSearch:
    """One of the actor's saved searches (anyone else's: NotFound)."""
    return await _own(session, actor, saved_id)


async def _own(session: AsyncSession, actor: User | None, saved_id: int) -> SavedSearch:
    person = _person(actor)
    saved = await session.get(SavedSearch, saved_id) if isinstance(saved_id, int) else None
    if saved is None or saved.user_id != person.id:
        raise NotFound("No such saved search.")
    return saved


async def set_alert(
    *, session: AsyncSession, actor: User | None, saved_id: int, alert: bool
) -> SavedSearch:
    """Turn a saved search's e-mail alert on or off. Turned on, it tells of documents
    that become ready from now on (not of those it was not watching for)."""
    saved = await _own(session, actor, saved_id)
    if alert and not saved.alert:
        saved.alerted_through = utcnow()
    saved.alert = bool(alert)
    session.add(saved)
    await session.flush()
    return saved


async def rename(
    *, session: AsyncSession, actor: User | None, saved_id: int, name: str
) -> SavedSearch:
    """Give a saved search another name (its words, filters and order stay)."""
    saved = await _own(session, actor, saved_id)
    plain = " ".join(name.split()) if isinstance(name, str) else ""
    if not plain:
        raise InvalidInput("A saved search needs a name.")
    if len(plain) > MAX_NAME:
        raise InvalidInput(f"A name has at most {MAX_NAME} characters.")
    saved.name = plain
    session.add(saved)
    await session.flush()
    return saved


async def new_feed_address(
    *, session: AsyncSession, actor: User | None, saved_id: int
) -> SavedSearch:
    """A new feed key: the old address stops working (given away by mistake)."""
    saved = await _own(session, actor, saved_id)
    saved.feed_nonce = secrets.token_hex(16)
    session.add(saved)
    await session.flush()
    return saved


async def delete(*, session: AsyncSession, actor: User | None, saved_id: int) -> None:
    saved = await _own(session, actor, saved_id)
    await session.delete(saved)
    await session.flush()


# --- what is new ---------------------------------------------------------------------------


async def _ready_between(
    session: AsyncSession, since: datetime, until: datetime, limit: int | None = None
) -> list[tuple[int, datetime]]:
    """Documents whose current version became ready in (since, until], newest first."""
    statement = text(
        "SELECT d.id, v.processed_at FROM document_versions v "
        "JOIN documents d ON d.current_version_id = v.id "
        "WHERE v.status = 'ready' AND v.processed_at > :since AND v.processed_at <= :until "
        "ORDER BY v.processed_at DESC, d.id DESC LIMIT :limit"
    ).bindparams(since=since, until=until, limit=limit)
    rows = await sql(session, statement)
    return [(doc_id, at) for doc_id, at in rows.all()]


async def new_matches(
    *,
    session: AsyncSession,
    saved: SavedSearch,
    owner: User,
    since: datetime,
    until: datetime,
    limit: int,
    newest: int | None = None,
) -> Matches:
    """The documents that became ready in (since, until] and match the saved search as its
    owner may see it: how many, and the newest `limit` of them. `newest`: look only at the
    window's newest documents (a feed)."""
    ready = await _ready_between(session, since, until, newest)
    when = dict(ready)
    total, hits = 0, []
    for start in range(0, len(ready), CHUNK):
        part = [doc_id for doc_id, _ in ready[start : start + CHUNK]]
        found = await service.search(
            session=session,
            actor=owner,
            query=saved.query,
            filters=saved.filters,
            sort=saved.sort,
            page_size=max(limit, 1),
            record=False,
            use_cache=False,
            within=part,
        )
        total += found.total
        hits += found.hits
    ordered = sorted(hits, key=lambda h: (when[h.document_id], h.document_id), reverse=True)
    return Matches(total=total, hits=[(h, when[h.document_id]) for h in ordered[:limit]])


async def for_feed(*, session: AsyncSession, saved_id: int, key: str) -> tuple[SavedSearch, User]:
    """The saved search a feed address names, and its owner, if the key is right."""
    saved = await session.get(SavedSearch, saved_id)
    if saved is None or not hmac.compare_digest(feed_key(saved), key or ""):
        raise NotFound("No such feed.")
    owner = await session.get(User, saved.user_id)
    if owner is None or not owner.is_active:
        raise NotFound("No such feed.")
    return saved, owner


async def feed_matches(*, session: AsyncSession, saved: SavedSearch, owner: User) -> Matches:
    """The feed's entries: the matches among the documents ready in the last FEED_DAYS
    (at most the newest CHUNK of them), newest first."""
    now = utcnow()
    return await new_matches(
        session=session,
        saved=saved,
        owner=owner,
        since=now - timedelta(days=FEED_DAYS),
        until=now,
        limit=FEED_ITEMS,
        newest=CHUNK,
    )


def _message(saved: SavedSearch, found: Matches) -> tuple[str, str]:
    site = get_settings().public_url.rstrip("/")
    library = get_settings().library_name
    count = f"{found.total} new document{'s' if found.total != 1 else ''}"
    subject = f"{count} for “{saved.name}”"[:300]
    said = f"your saved search “{saved.name}” ({describe(saved)})"
    lines = [f"{count} in {library} match {said}.", ""]
    for hit, _ in found.hits:
        by = f" — {', '.join(hit.authors)}" if hit.authors else ""
        year = f" ({hit.year})" if hit.year else ""
        lines += [f"• {hit.title}{by}{year}", f"  {site}/documents/{hit.document_id}"]
    if found.total > len(found.hits):
        lines.append(f"… and {found.total - len(found.hits)} more.")
    lines += [
        "",
        f"Run the search: {site}{page_address(saved)}",
        f"Stop these e-mails, or change them, on your account page: {site}/account",
    ]
    return subject, "\n".join(lines)


async def send_alerts(*, session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    """The alerts' job (every hour): every watched search last looked at a day ago, its
    window looked at, its owner told of what is new (one mail per saved search that found
    something). Committed per search."""
    until = (now or utcnow()) - SETTLE
    counts = {"looked": 0, "sent": 0}
    after = 0
    while True:
        batch = (
            await session.exec(
                select(SavedSearch)
                .where(
                    col(SavedSearch.alert),
                    col(SavedSearch.id) > after,
                    col(SavedSearch.alerted_through) <= until - DUE_AFTER,
                )
                .order_by(col(SavedSearch.id))
                .limit(BATCH)
            )
        ).all()
        if not batch:
            return counts
        for saved in batch:
            after = saved.id or after
            owner = await session.get(User, saved.user_id)
            counts["looked"] += 1
            if owner is not None and owner.is_active:
                found = await new_matches(
                    session=session,
                    saved=saved,
                    owner=owner,
                    since=saved.alerted_through,
                    until=until,
                    limit=ALERT_HITS,
                )
                if found.total:
                    subject, body = _message(saved, found)
                    await mail.queue_message(
                        session=session, to_address=owner.email, subject=subject, body=body
                    )
                    saved.last_alert_at, saved.last_alert_count = utcnow(), found.total
                    counts["sent"] += 1
            saved.alerted_through = until
            session.add(saved)
            await session.commit()
