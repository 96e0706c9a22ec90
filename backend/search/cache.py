"""A Redis cache of search results, keyed on the normalised query, filters, sort, page and
the searcher's visibility scope, and emptied whenever the index changes.

"Emptied" is done by a generation number the indexer raises after every batch it hands to
the engine: keys carry the generation, so every older entry becomes unreachable at once and
expires on its own. A cache that cannot be reached is skipped, never an error.
"""

import dataclasses
import hashlib
import json
import logging
from typing import Any

from redis.exceptions import RedisError

from backend.redis_client import get_redis
from backend.search.schemas import FacetValue, Hit, SearchResults, Segment

log = logging.getLogger(__name__)
GENERATION = "search:generation"
TTL_SECONDS = 300


def key(generation: int, **parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return f"search:cache:{generation}:{digest}"


def scope_key(collections: list[int] | None) -> str:
    if collections is None:
        return "all"
    return hashlib.sha256(",".join(map(str, sorted(collections))).encode()).hexdigest()[:16]


async def generation() -> int | None:
    try:
        return int(await get_redis().get(GENERATION) or 0)
    except RedisError as exc:
        log.warning("search cache unavailable: %s", exc)
        return None


async def index_changed() -> None:
    """Called by the indexer after the engine took a batch: every cached result is stale."""
    try:
        await get_redis().incr(GENERATION)
    except RedisError as exc:
        log.warning("could not empty the search cache: %s", exc)


async def get(cache_key: str) -> SearchResults | None:
    try:
        raw = await get_redis().get(cache_key)
    except RedisError:
        return None
    return _load(json.loads(raw)) if raw else None


async def put(cache_key: str, results: SearchResults) -> None:
    try:
        await get_redis().set(cache_key, json.dumps(dataclasses.asdict(results)), ex=TTL_SECONDS)
    except RedisError as exc:
        log.warning("search cache unavailable: %s", exc)


def _load(data: dict[str, Any]) -> SearchResults:
    data["hits"] = [
        Hit(**{**h, "snippet": [Segment(**s) for s in h["snippet"]]}) for h in data["hits"]
    ]
    data["facets"] = {f: [FacetValue(**v) for v in vs] for f, vs in data["facets"].items()}
    return SearchResults(**data)
