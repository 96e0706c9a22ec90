"""A Redis cache of search results, keyed on the normalised query, filters, sort, page and
the searcher's visibility scope, and emptied whenever the index changes.

"Emptied" is done by a generation number the indexer raises after every batch it hands to
the engine: each entry is stored with the generation it was searched under, and is read
with the current one in the same round trip (MGET), so every older entry is unusable at
once and expires on its own. A cache that cannot be reached is skipped, never an error.
Entries are JSON, read and written by pydantic-core.
"""

import hashlib
import json
import logging
from typing import Any

from pydantic import TypeAdapter
from redis.exceptions import RedisError

from backend.redis_client import get_redis
from backend.search.schemas import SearchResults

log = logging.getLogger(__name__)
GENERATION = "search:generation"
TTL_SECONDS = 300
RESULTS = TypeAdapter(SearchResults)


def key(**parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return f"search:cache:{digest}"


def scope_key(collections: list[int] | None) -> str:
    if collections is None:
        return "all"
    return hashlib.sha256(",".join(map(str, sorted(collections))).encode()).hexdigest()[:16]


async def index_changed() -> None:
    """Called by the indexer after the engine took a batch: every cached result is stale."""
    await raise_generation(GENERATION)


async def lookup(cache_key: str) -> tuple[str | None, SearchResults | None]:
    """The current generation (None: no cache now) and the entry under `cache_key`, when
    it was stored under that generation."""
    gen, body = await lookup_text(cache_key)
    return gen, None if body is None else RESULTS.validate_json(body)


async def put(cache_key: str, gen: str, results: SearchResults) -> None:
    await put_text(cache_key, gen, RESULTS.dump_json(results).decode())


async def lookup_text(cache_key: str, *generations: str) -> tuple[str | None, str | None]:
    """`lookup` for any text kept until the index changes (what is derived from the
    indexed documents: result pages, the collections' counts), or until one of the
    further counters named in `generations` is raised. The generation returned is the
    one to store a fresh entry under."""
    try:
        *current, raw = await get_redis().mget(GENERATION, *generations, cache_key)
    except RedisError as exc:
        log.warning("search cache unavailable: %s", exc)
        return None, None
    gen = ".".join(str(int(c or 0)) for c in current)
    stored, _, body = (raw or "").partition(":")
    if not body or stored != gen:
        return gen, None
    return gen, body


async def put_text(cache_key: str, gen: str, body: str, seconds: int = TTL_SECONDS) -> None:
    try:
        await get_redis().set(cache_key, f"{gen}:{body}", ex=seconds)
    except RedisError as exc:
        log.warning("search cache unavailable: %s", exc)


async def raise_generation(counter: str) -> None:
    """Every entry looked up with `counter` among its generations is stale."""
    try:
        await get_redis().incr(counter)
    except RedisError as exc:
        log.warning("could not empty the cache of %s: %s", counter, exc)
