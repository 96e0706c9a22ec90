"""Autocomplete for the search box: frequent past queries, then titles, authors and
subjects that start with the words typed, all within what the searcher may see."""

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import is_staff
from backend.redis_client import get_redis
from backend.search.engines import get_search_engine
from backend.users.models import User

log = logging.getLogger(__name__)
POPULAR = "search:popular"  # a Redis hash: normalised query -> searches since the last flush
MIN_SEARCHES = 3  # a past query is offered once this many searches asked it
MAX_CHARS = 200


@dataclass(frozen=True)
class Completion:
    kind: str  # query, title, author, subject
    value: str  # what goes into the search box
    label: str  # what the list shows


def normalise(query: str) -> str:
    return " ".join(query.split()).casefold()[:MAX_CHARS]


async def count_search(actor: User | None, query: str, found: int) -> None:
    """Remember a query that found something, if a patron or visitor asked it."""
    q = normalise(query)
    if not q or found <= 0 or is_staff(actor):
        return
    try:
        await get_redis().hincrby(POPULAR, q, 1)
    except RedisError as exc:
        log.warning("could not count a search: %s", exc)


async def flush_counts(session: AsyncSession) -> int:
    """Move the counts gathered in Redis into PostgreSQL (the worker, every minute)."""
    redis = get_redis()
    flushing = f"{POPULAR}:flushing"
    try:
        if not await redis.exists(flushing):
            await redis.rename(POPULAR, flushing)
    except RedisError as exc:  # nothing counted since the last flush
        if "no such key" in str(exc).lower():
            return 0
        raise
    counts = await redis.hgetall(flushing)
    for query, n in counts.items():
        await session.exec(
            text(
                "INSERT INTO search_queries (query, searches, last_at) VALUES (:q, :n, now()) "
                "ON CONFLICT (query) DO UPDATE SET searches = search_queries.searches + :n, "
                "last_at = now()"
            ).bindparams(q=query[:MAX_CHARS], n=int(n))
        )
    await session.commit()
    await redis.delete(flushing)  # only once PostgreSQL has them
    return len(counts)


async def complete(
    *, session: AsyncSession, actor: User | None, text_typed: str, limit: int = 8
) -> list[Completion]:
    from backend.search.service import visible_collections

    typed = " ".join(text_typed.split())[:MAX_CHARS]
    if len(typed) < 2:
        return []
    scope = await visible_collections(session, actor)
    found = await get_search_engine().complete(typed, scope, 5)
    out: list[Completion] = []
    like = normalise(typed).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await session.exec(
        text(
            "SELECT query FROM search_queries WHERE query LIKE :p ESCAPE '\\' "
            "AND searches >= :n ORDER BY searches DESC, query LIMIT 4"
        ).bindparams(p=like + "%", n=MIN_SEARCHES)
    )
    out += [Completion("query", q, q) for (q,) in rows.all()]
    if found.documents:
        titles = await session.exec(
            text("SELECT id, title FROM documents WHERE id = ANY(:ids)").bindparams(
                ids=found.documents
            )
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
