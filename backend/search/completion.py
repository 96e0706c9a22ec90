"""Autocomplete for the search box: past queries that many people asked, then titles,
authors and subjects that start with the words typed, all within what the searcher may see.

Past queries are shown to everyone, so a query becomes a suggestion only when
- enough different people asked it within the window (settings): a logged-in user counts
  once, a visitor once a day (their address is hashed with a key that changes daily and
  is never kept); repeating a query, or searching as you type, adds nothing;
- each counted search saw no more than an anonymous visitor sees: staff and members of a
  private collection never count, so what they found cannot surface. Checked as the
  search is made (one indexed query for a logged-in patron, none for a visitor), it costs
  no second search; and before a query is offered, and every day after, the worker looks
  for one public document with every word of it, so words from a collection made private
  since, or words that merely rode along in a long query, are not offered;
- it looks like a query: plain words and phrases, 2 to 80 characters, at most 8 words,
  letters, digits and common punctuation only: no links, addresses, long numbers, field
  syntax (which could name a private collection) or operators.

The request path only appends to a Redis list; the worker moves what it holds into
PostgreSQL every minute and decides what is offered.
"""

import hashlib
import hmac
import json
import logging
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import is_staff
from backend.access.scope import visible_ids
from backend.analytics import events as analytics_events
from backend.analytics.visitors import visitor_id
from backend.clock import utcnow
from backend.db import sql
from backend.redis_client import get_redis
from backend.search import cache as search_cache
from backend.search import scopes
from backend.search.engine import ENGLISH_STOPWORDS, EngineQuery, SearchEngine, fold
from backend.search.engines import get_search_engine
from backend.search.query import And, Node, Or, Phrase, Term, parse
from backend.settings import get_settings
from backend.users.models import User

log = logging.getLogger(__name__)
ASKED = "search:asked"  # a Redis list: one JSON entry per counted search since the last flush
ASKED_CAP = 200_000  # while the worker is away, the oldest entries are kept, the rest dropped
MAX_CHARS = 80
MAX_WORDS = 8
PUNCTUATION = frozenset(" '’-.,&\"?!")
_DOMAIN = re.compile(r"[^\W_]+(?:[.-][^\W_]+)*\.[^\W\d_]{2,}\b")
_LONG_NUMBER = re.compile(r"\d{5,}")  # phone, card and account numbers; years have four
_LOCK_KEY = 0x5EA2C5  # one flush at a time, whichever worker runs it
RECHECK_AFTER = timedelta(days=1)
RECHECK_BATCH = 50  # offered queries checked again per flush
# What a text typed completes to, per visibility scope, is kept in Redis until the index
# changes (titles, authors, subjects), and a minute at most (the offered past queries the
# worker decides each minute): everyone typing the same start of a word asks once.
CACHE_SECONDS = 60
OFFERED = "search:completion:offered"  # raised when the worker may have changed what is offered


@dataclass(frozen=True)
class Completion:
    kind: str  # query, title, author, subject
    value: str  # what goes into the search box
    label: str  # what the list shows


def normalise(query: str) -> str:
    return " ".join(query.split()).casefold()


def suggestible(query: str) -> str | None:
    """The query as a suggestion would show it, or None when it may never be one."""
    q = normalise(query)
    if not 2 <= len(q) <= MAX_CHARS or len(q.split()) > MAX_WORDS:
        return None
    for ch in q:
        kind = unicodedata.category(ch)
        if not (kind[0] in "LM" or kind == "Nd" or ch in PUNCTUATION):
            return None  # controls, symbols, ":" of field syntax, "@", "/", "*", brackets
    if _DOMAIN.search(q) or _LONG_NUMBER.search(q):
        return None
    parsed = parse(" ".join(query.split()))  # as typed: operators are written in capitals
    if parsed.notes or not _plain(parsed.tree):
        return None
    return q


def _plain(node: Node | None) -> bool:
    """Words, joined words and phrases side by side: no OR, NOT, -exclusion, ranges,
    fields or prefix*."""
    if isinstance(node, Or) and node.typed:  # "j.k.", "philosopher's": one word typed
        return all(_plain(c) for c in node.children)
    if isinstance(node, Term):
        return node.field is None and not node.prefix
    if isinstance(node, Phrase):
        return node.field is None
    if isinstance(node, And):
        return all(_plain(c) for c in node.children)
    return False


def _key(purpose: str) -> bytes:
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, f"search-completion:{purpose}".encode(), hashlib.sha256).digest()


def searcher_id(actor: User | None, client: str, day: date) -> bytes | None:
    """Who is searching, as 16 bytes that name no one; None when it cannot be told."""
    if actor is not None and actor.id is not None:
        return hmac.new(_key("user"), str(actor.id).encode(), hashlib.sha256).digest()[:16]
    return visitor_id(client, day, "search-completion")


def count_search(
    *, actor: User | None, client: str, query: str, found: int, only_public: bool
) -> None:
    """Count a search towards the suggestions, when it may ever make one (see above).
    `only_public`: the searcher finds exactly what an anonymous visitor finds (no private
    collection is visible to them), as the search checked it."""
    if found <= 0 or is_staff(actor) or not only_public:
        return
    q = suggestible(query)
    day = utcnow().date()
    who = searcher_id(actor, client, day)
    if q is None or who is None:
        return
    entry = json.dumps({"q": q, "day": day.isoformat(), "who": who.hex()})
    analytics_events.append_later(ASKED, entry, ASKED_CAP)


async def flush_counts(session: AsyncSession, engine: SearchEngine | None = None) -> int:
    """The worker, every minute: record who asked what, count the people within the
    window for each query asked, and decide which queries are offered. Returns how many
    different queries were asked since the last flush."""
    await analytics_events.sent()  # the searches this process counted, in the list first
    redis = get_redis()
    flushing = f"{ASKED}:flushing"
    try:
        if not await redis.exists(flushing):  # else a failed flush left it: that one first
            await redis.rename(ASKED, flushing)
    except RedisError as exc:
        if "no such key" not in str(exc).lower():
            raise
    # redis-py types its commands for both of its clients; this one is the asyncio one.
    entries = [json.loads(e) for e in await redis.lrange(flushing, 0, -1)]  # type: ignore[misc]
    settings = get_settings()
    cap = settings.completion_min_searchers
    await sql(session, text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK_KEY))
    per_day: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        per_day.setdefault((e["q"], e["day"]), set()).add(e["who"])
    rows = [(q, day, who) for (q, day), people in per_day.items() for who in sorted(people)[:cap]]
    if rows:
        # Up to `cap` more people per query and day: enough to decide, bounded in size.
        await sql(
            session,
            text(
                "INSERT INTO search_query_searchers (query, day, searcher) "
                "SELECT t.q, t.d, decode(t.w, 'hex') "
                "FROM unnest(CAST(:qs AS text[]), CAST(:ds AS date[]), CAST(:ws AS text[])) "
                "AS t(q, d, w) "
                "WHERE (SELECT count(*) FROM search_query_searchers s "
                "       WHERE s.query = t.q AND s.day = t.d) < :cap "
                "ON CONFLICT DO NOTHING"
            ).bindparams(
                qs=[r[0] for r in rows],
                ds=[date.fromisoformat(r[1]) for r in rows],
                ws=[r[2] for r in rows],
                cap=cap,
            ),
        )
    asked = sorted({q for q, _ in per_day})
    if asked:
        await _count_people(session, asked)
    await _decide(session, engine or get_search_engine(), asked)
    await session.commit()
    await search_cache.raise_generation(OFFERED)
    await redis.delete(flushing)  # only once PostgreSQL has them
    return len(asked)


async def _count_people(session: AsyncSession, queries: list[str] | None) -> None:
    """Different people within the window, for these queries (None: for every query)."""
    since = utcnow().date() - timedelta(days=get_settings().completion_window_days - 1)
    which = "" if queries is None else "AND s.query = ANY(:qs)"
    stmt = text(
        f"""
        WITH counted AS (
            SELECT s.query, count(DISTINCT s.searcher) AS people
            FROM search_query_searchers s
            WHERE s.day >= :since {which}
            GROUP BY s.query
        )
        INSERT INTO search_queries AS q (query, people, offered, last_at)
        SELECT query, people, false, now() FROM counted
        ON CONFLICT (query) DO UPDATE SET people = excluded.people,
            last_at = CASE WHEN :asked THEN now() ELSE q.last_at END
        """
    ).bindparams(since=since, asked=queries is not None)
    if queries is not None:
        stmt = stmt.bindparams(qs=queries)
    await sql(session, stmt)


async def _decide(session: AsyncSession, engine: SearchEngine, asked: list[str]) -> None:
    """Offer the queries with enough people once a public document has every word; check
    the offered ones again each day; withdraw those short of people."""
    n = get_settings().completion_min_searchers
    await sql(
        session,
        text("UPDATE search_queries SET offered = false WHERE offered AND people < :n").bindparams(
            n=n
        ),
    )
    rows = await sql(
        session,
        text(
            "SELECT query FROM search_queries WHERE people >= :n AND "
            "(query = ANY(:asked) AND NOT offered OR checked_at IS NULL "
            " OR checked_at < now() - make_interval(secs => :after)) "
            "ORDER BY checked_at NULLS FIRST LIMIT :batch"
        ).bindparams(
            n=n, asked=asked, after=RECHECK_AFTER.total_seconds(), batch=RECHECK_BATCH + len(asked)
        ),
    )
    candidates = [q for (q,) in rows.all()]
    if not candidates:
        return
    public = await visible_ids(session, None)
    for q in candidates:
        found = await _public_document_has_every_word(engine, public, q)
        await sql(
            session,
            text(
                "UPDATE search_queries SET offered = :ok, checked_at = now() WHERE query = :q"
            ).bindparams(ok=found, q=q),
        )


async def _public_document_has_every_word(
    engine: SearchEngine, public: list[int], query: str
) -> bool:
    """Whether an anonymous visitor finds a document with every word of the query.

    Every word, where a search of four words or more needs only two of them: a word that
    no public document has must not ride into a suggestion beside words that do."""
    if not public or not suggestible(query):
        return False
    tree = parse(query).tree
    if isinstance(tree, And):
        words = [c for c in tree.children if not _stop_word(c)] or list(tree.children)
        tree = And(tuple(words), implicit=False) if len(words) > 1 else words[0]
    if tree is None:
        return False
    found = await engine.search(EngineQuery(tree=tree, collections=public, limit=1, facets=False))
    return found.total > 0


def _stop_word(node: Node) -> bool:
    return isinstance(node, Term) and fold(node.text) in ENGLISH_STOPWORDS


async def expire_counts(session: AsyncSession, engine: SearchEngine | None = None) -> int:
    """The worker, every hour: forget who asked what before the window, count the people
    again and withdraw what is now short of them. Returns how many queries were forgotten."""
    since = utcnow().date() - timedelta(days=get_settings().completion_window_days - 1)
    await sql(session, text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK_KEY))
    await sql(
        session,
        text("DELETE FROM search_query_searchers WHERE day < :since").bindparams(since=since),
    )
    await sql(
        session,
        text(
            "UPDATE search_queries q SET people = 0 WHERE people > 0 AND NOT EXISTS "
            "(SELECT 1 FROM search_query_searchers s WHERE s.query = q.query)"
        ),
    )
    await _count_people(session, None)
    gone = await sql(session, text("DELETE FROM search_queries WHERE people = 0"))
    await _decide(session, engine or get_search_engine(), [])
    await session.commit()
    await search_cache.raise_generation(OFFERED)
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


async def _scope(session: AsyncSession, actor: User | None) -> list[int] | None:
    """The collections the actor may see (None: all): remembered while trusted, else read
    without holding a connection of the session while the engine completes (on a
    connection outside any transaction, unless the session has begun one)."""
    return (await scopes.current(session, actor)).ids


async def complete(
    *, session: AsyncSession, actor: User | None, text_typed: str, limit: int = 8
) -> list[Completion]:
    """What the words typed may become: offered past queries, then titles, authors and
    subjects of documents the actor may see."""
    typed = " ".join(text_typed.split())[:200]
    if len(typed) < 2:
        return []
    scope = await _scope(session, actor)
    cache_key = search_cache.key(
        kind="completion",
        typed=typed,
        scope=search_cache.scope_key(scope),
        limit=limit,
        people=get_settings().completion_min_searchers,
    )
    gen, kept = await search_cache.lookup_text(cache_key, OFFERED)
    if kept is not None:
        return [Completion(**c) for c in json.loads(kept)]
    found = await _completed(session, typed, scope, limit)
    if gen is not None:
        body = json.dumps([asdict(c) for c in found])
        await search_cache.put_text(cache_key, gen, body, CACHE_SECONDS)
    return found


async def _completed(
    session: AsyncSession, typed: str, scope: list[int] | None, limit: int
) -> list[Completion]:
    found = await get_search_engine().complete(typed, scope, 5)
    out: list[Completion] = []
    like = normalise(typed).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await sql(
        session,
        text(
            "SELECT query FROM search_queries WHERE offered AND query LIKE :p ESCAPE '\\' "
            "AND people >= :n ORDER BY people DESC, query LIMIT 4"
        ).bindparams(p=like + "%", n=get_settings().completion_min_searchers),
    )
    out += [Completion("query", q, q) for (q,) in rows.all()]
    if found.documents:
        titles = await sql(
            session,
            text("SELECT id, title FROM documents WHERE id = ANY(:ids)").bindparams(
                ids=found.documents
            ),
        )
        by_id = dict(titles.all())
        out += [Completion("title", by_id[i], by_id[i]) for i in found.documents if i in by_id]
    out += [Completion("author", f'author:"{a}"', f"{a} (author)") for a in found.authors]
    out += [Completion("subject", f'subject:"{s}"', f"{s} (subject)") for s in found.subjects]
    seen: set[str] = set()
    unique = []
    for c in out:
        if c.value.casefold() not in seen:
            seen.add(c.value.casefold())
            unique.append(c)
    return unique[:limit]
