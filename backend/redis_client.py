"""One shared async Redis client per process."""

from typing import Any, cast

from redis.asyncio import Redis

from backend.settings import get_settings

_client: Redis | None = None


def get_redis() -> Redis:
    global _client
    if _client is None:
        url = get_settings().redis_url
        if not url:
            raise RuntimeError("REDIS_URL is not set; start the app with ./run.sh or set REDIS_URL")
        _client = Redis.from_url(url, decode_responses=True)
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None


# How long a web process keeps a tab's state in memory after an event, Redis's lock on it
# held, before writing it back: the events that follow within it (a person typing) skip
# two Redis round trips each. A process killed inside it loses at most that much of the
# tab's changes; another process that wants the tab asks for the lock and gets it at once.
TAB_STATE_LEASE = "1s"


def tab_state_env(url: str) -> dict[str, str]:
    """Reflex's settings for tab states kept in the Redis at `url`: its opportunistic lock
    (REFLEX_OPLOCK_*), when the server is Redis 7 or newer, whose PEXPIRE takes the XX that
    Reflex's lock extension sends (6.2 refuses it, and every event would fail). Nothing
    when the server does not answer: the process then runs without it."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            info = cast(dict[str, Any], client.info("server"))  # (the sync client's)
            version = str(info["redis_version"])
        finally:
            client.close()
    except (redis.RedisError, OSError, KeyError):
        return {}
    if int(version.split(".", 1)[0]) < 7:
        return {}
    return {"REFLEX_OPLOCK_ENABLED": "true", "REFLEX_OPLOCK_HOLD_TIME": TAB_STATE_LEASE}
